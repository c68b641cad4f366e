package protomux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// FrameStream is what a [Mux] runs on: a reliable, ordered stream of whole
// frames in both directions. *secretstream.Conn is one (hyperdht runs
// protomux on its encrypted connections).
type FrameStream interface {
	// ReadFrame returns the next frame whole. The slice need only stay valid
	// until the next call. io.EOF means the peer ended the stream cleanly.
	ReadFrame() ([]byte, error)

	// WriteFrame sends p as one frame. The Mux calls it from one goroutine
	// at a time and does not touch p afterwards.
	WriteFrame(p []byte) error

	// Close aborts the stream. It must unblock ReadFrame and WriteFrame.
	Close() error
}

// DefaultMaxFrame is the largest frame a Mux writes unless told otherwise:
// the largest plaintext one secret-stream frame holds (2^24-1 bytes of
// frame less 17 of overhead).
const DefaultMaxFrame = 1<<24 - 1 - 17

// Options configure a [Mux]. The zero value is the reference's behaviour.
type Options struct {
	// MaxFrame is the largest frame the stream takes; a message that would
	// not fit fails with ErrFrameTooLarge. 0 means DefaultMaxFrame.
	MaxFrame int
}

// Limits on what the peer can make a Mux hold.
const (
	// maxBuffered is how many bytes of messages for channels that are not
	// open yet are held before the Mux stops reading (the reference's
	// MAX_BUFFERED, with the same count of 512 bytes a message on top of
	// its length).
	maxBuffered = 32 << 10

	// maxBatch is the size at which a batch being built is sent and a new
	// one started (the reference's MAX_BATCH).
	maxBatch = 8 << 20

	// maxChannels bounds the peer's channel ids. The reference has no
	// limit; ids are reused, so a peer needs this many only with this many
	// channels open at once.
	maxChannels = 1 << 16

	// frameQueue is how many frames read ahead of the dispatcher.
	frameQueue = 16
)

// Mux multiplexes channels over a [FrameStream], wire-compatible with npm
// protomux 3.x (see the package doc). Create it with [New], create the
// channels the peer may open first, then call [Mux.Start].
//
// Callbacks (ChannelOptions.OnOpen and OnClose, message handlers, Pair
// handlers) run one at a time on the Mux's dispatch goroutine, in the order
// the events happened. They may call any method of the Mux and its
// channels, including Close, but must not block for long: while one runs
// nothing else is read.
//
// Writes never block: frames queue in memory and a writer goroutine hands
// them to the stream in order. Use [Mux.Flush] to wait for them.
//
// A Mux is safe for concurrent use. It ends when Close is called, when the
// stream fails or ends, when a write fails and when the peer breaks the
// protocol; then every channel closes (OnClose with remote true, as in the
// reference) and calls return ErrClosed.
type Mux struct {
	s        FrameStream
	maxFrame int

	mu       sync.Mutex
	local    []*Channel              // guarded by mu; by local id - 1; nil: free, or closed and waiting for the peer's answer
	free     []uint64                // guarded by mu; local indexes (id - 1) to reuse, last first
	remote   []*remoteSlot           // guarded by mu; by the peer's id - 1; nil: not open
	infos    map[key]*info           // guarded by mu; by protocol and id
	notify   map[key]func(id []byte) // guarded by mu; Pair handlers
	channels map[*Channel]struct{}   // guarded by mu; every channel not closed
	corked   int                     // guarded by mu
	batch    *batch                  // guarded by mu; non-nil while corked
	outq     [][]byte                // guarded by mu; frames for writeLoop
	queued   uint64                  // guarded by mu; frames ever put in outq
	written  uint64                  // guarded by mu; frames writeLoop has written
	wrote    chan struct{}           // guarded by mu; closed and replaced after each write
	tasks    []func()                // guarded by mu; work for the dispatch goroutine
	buffered int                     // guarded by mu; bytes held in remoteSlot.pending, counted as the reference does
	dead     bool                    // guarded by mu; the Mux has ended
	graceful bool                    // guarded by mu; it ended because the peer ended: write what is queued, then end the stream
	err      error                   // guarded by mu; why it ended, nil for Close or a clean end
	started  bool                    // guarded by mu; Start was called

	frames    chan []byte   // readLoop to run; closed when reading stops
	readErr   error         // why reading stopped; read after frames is closed
	wakeRun   chan struct{} // capacity 1: tasks are waiting
	wakeWrite chan struct{} // capacity 1: frames are waiting
	quit      chan struct{} // closed when the Mux ends
	done      chan struct{} // closed when the dispatch goroutine has finished
	wg        sync.WaitGroup
}

// key names a channel kind: a protocol and an id.
type key struct{ protocol, id string }

// info is the pairing state of one protocol and id (the reference's
// per-key info record).
type info struct {
	key      key      // its key in Mux.infos
	opened   int      // channels opened and not closed
	pairing  int      // Pair handlers running for it
	incoming []uint64 // peer ids opened with no local channel yet, oldest first
	outgoing []uint64 // local ids opened with no peer channel yet, oldest first
}

// remoteSlot is one channel the peer opened.
type remoteSlot struct {
	ch        *Channel     // the local channel paired with it; nil until one is
	handshake []byte       // the handshake of the peer's open message, until the channel opens
	pending   []pendingMsg // messages that arrived before the channel opened here
	buffering bool         // messages go to pending
}

type pendingMsg struct {
	typ     uint64
	payload []byte
}

func pendingCost(p []byte) int { return 512 + len(p) }

// New makes a Mux on s. It owns s from now on: it alone reads and writes it
// and closes it when the Mux ends. It starts writing at once (channels can be
// opened) but reads nothing until [Mux.Start].
func New(s FrameStream, opts Options) *Mux {
	m := newMux(s, opts)
	m.wg.Add(1)
	go m.writeLoop()
	go m.run()
	return m
}

// newMux makes a Mux without its goroutines; tests drive it directly.
func newMux(s FrameStream, opts Options) *Mux {
	m := &Mux{
		s: s, maxFrame: opts.MaxFrame,
		infos: map[key]*info{}, notify: map[key]func([]byte){}, channels: map[*Channel]struct{}{},
		wrote: make(chan struct{}), frames: make(chan []byte, frameQueue),
		wakeRun: make(chan struct{}, 1), wakeWrite: make(chan struct{}, 1),
		quit: make(chan struct{}), done: make(chan struct{}),
	}
	if m.maxFrame <= 0 {
		m.maxFrame = DefaultMaxFrame
	}
	return m
}

// Start starts reading the stream. Until then the peer's messages wait in the
// stream, so that the channels created before Start pair with the peer's
// whichever side opens first. A second call does nothing.
func (m *Mux) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started || m.dead {
		return
	}
	m.started = true
	m.wg.Add(1)
	go m.readLoop()
}

// Done is closed when the Mux has ended and every OnClose callback has run.
func (m *Mux) Done() <-chan struct{} { return m.done }

// Err returns why the Mux ended: nil while it runs, after Close and after
// the peer ended the stream cleanly; otherwise the stream's error or a
// protocol error (ErrTruncated, ErrProtocol, a message that failed to parse).
func (m *Mux) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Close ends the Mux at once: it closes the stream, dropping frames not yet
// written (use Flush first to send them), and returns when the reader and
// writer goroutines have exited. Channels close as described on [Mux]; Done
// is closed once their OnClose callbacks have run. Close may be called from
// a callback. It is idempotent and returns nil.
func (m *Mux) Close() error {
	m.shutdown(nil, false)
	m.s.Close()
	m.wg.Wait()
	return nil
}

// Flush waits until every frame queued before the call has been written to
// the stream (for a secret stream: taken by its UDX stream, not yet
// acknowledged). Messages held by Cork are not queued until Uncork.
func (m *Mux) Flush(ctx context.Context) error {
	m.mu.Lock()
	target := m.queued
	for m.written < target {
		if m.dead && !m.graceful {
			m.mu.Unlock()
			return ErrClosed
		}
		wrote := m.wrote
		m.mu.Unlock()
		select {
		case <-wrote:
		case <-m.done:
			return ErrClosed
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		m.mu.Lock()
	}
	m.mu.Unlock()
	return nil
}

// Cork holds the messages sent from now on, on every channel, until the
// matching Uncork, which sends them as batches of frames. Calls nest.
func (m *Mux) Cork() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.corked++
	if m.corked == 1 {
		m.batch = &batch{}
	}
}

// Uncork ends a Cork. It panics without one.
func (m *Mux) Uncork() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.corked == 0 {
		panic("protomux: Uncork without Cork")
	}
	m.corked--
	if m.corked == 0 {
		if len(m.batch.items) > 0 && !m.dead {
			m.enqueueLocked(m.batch.frame())
		}
		m.batch = nil
	}
}

// shutdown ends the Mux with err. graceful means the peer ended the stream:
// the writer sends what is queued, then ends and closes the stream;
// otherwise the caller closes it.
func (m *Mux) shutdown(err error, graceful bool) {
	m.mu.Lock()
	if m.dead {
		m.mu.Unlock()
		return
	}
	m.dead, m.err, m.graceful = true, err, graceful
	m.mu.Unlock()
	close(m.quit)
}

// fail ends the Mux with err and aborts the stream.
func (m *Mux) fail(err error) {
	m.shutdown(err, false)
	m.s.Close()
}

// enqueueLocked queues frame f for the writer.
func (m *Mux) enqueueLocked(f []byte) {
	m.outq = append(m.outq, f)
	m.queued++
	select {
	case m.wakeWrite <- struct{}{}:
	default:
	}
}

// writeLocked sends one message body (its type, then its payload) on
// channel: into the batch while corked, else as a frame of its own.
func (m *Mux) writeLocked(channel uint64, body []byte) error {
	if m.dead {
		return ErrClosed
	}
	if UintLen(channel)+len(body) > m.maxFrame {
		return ErrFrameTooLarge
	}
	if b := m.batch; b != nil {
		if len(b.items) > 0 && (b.size >= maxBatch || b.size+b.itemLen(channel, len(body)) > m.maxFrame) {
			m.enqueueLocked(b.frame())
			*b = batch{}
		}
		if b.itemLen(channel, len(body)) <= m.maxFrame {
			b.push(channel, body)
			return nil
		}
		// Too large for a batch of one, small enough for a frame: the batch
		// is empty, so sending it alone keeps the order.
	}
	f := make([]byte, 0, UintLen(channel)+len(body))
	m.enqueueLocked(append(AppendUint(f, channel), body...))
	return nil
}

// addTaskLocked has the dispatch goroutine run f after what it is doing.
func (m *Mux) addTaskLocked(f func()) {
	m.tasks = append(m.tasks, f)
	select {
	case m.wakeRun <- struct{}{}:
	default:
	}
}

// runTasks runs the waiting tasks, and those they add, in order.
func (m *Mux) runTasks() {
	for {
		m.mu.Lock()
		tasks := m.tasks
		m.tasks = nil
		m.mu.Unlock()
		if len(tasks) == 0 {
			return
		}
		for _, f := range tasks {
			f()
		}
	}
}

// readLoop copies frames from the stream to run.
func (m *Mux) readLoop() {
	defer m.wg.Done()
	for {
		f, err := m.s.ReadFrame()
		if err != nil {
			m.readErr = err
			close(m.frames)
			return
		}
		if len(f) == 0 {
			continue // the reference ignores empty frames (keep-alives)
		}
		select {
		case m.frames <- bytes.Clone(f):
		case <-m.quit:
			return
		}
	}
}

// run is the dispatch goroutine: it handles the peer's frames and runs the
// tasks (channels opening, OnClose callbacks) in between.
func (m *Mux) run() {
	defer m.finish()
	frames := m.frames
	for {
		m.runTasks()
		m.mu.Lock()
		dead, in := m.dead, frames
		if m.buffered > maxBuffered {
			in = nil // wait for the channels holding messages to open
		}
		m.mu.Unlock()
		if dead {
			return
		}
		select {
		case f, ok := <-in:
			if !ok {
				frames = nil
				m.endOfStream(m.readErr)
				continue
			}
			if err := m.handleFrame(f); err != nil {
				m.fail(err)
			}
		case <-m.wakeRun:
		case <-m.quit:
			return
		}
	}
}

// endOfStream ends the Mux when reading stopped with err.
func (m *Mux) endOfStream(err error) {
	if errors.Is(err, io.EOF) {
		m.shutdown(nil, true)
		select {
		case m.wakeWrite <- struct{}{}:
		default:
		}
		return
	}
	m.fail(fmt.Errorf("protomux: read: %w", err))
}

// finish closes every channel once the Mux has ended, runs the callbacks
// that brings, waits for the reader and writer, and closes done.
func (m *Mux) finish() {
	m.mu.Lock()
	reason := m.err
	if reason == nil {
		reason = ErrClosed
	}
	// Opened channels close in the order of their ids, as in the
	// reference, then the others.
	var closed []*Channel
	for _, ch := range m.local {
		if ch != nil && m.closeLocked(ch, reason) {
			closed = append(closed, ch)
		}
	}
	for ch := range m.channels {
		if m.closeLocked(ch, reason) {
			closed = append(closed, ch)
		}
	}
	m.mu.Unlock()
	m.runTasks()
	for _, ch := range closed {
		ch.notifyClosed(true)
	}
	m.runTasks()
	m.wg.Wait()
	close(m.done)
}

// writeLoop hands queued frames to the stream in order.
func (m *Mux) writeLoop() {
	defer m.wg.Done()
	for {
		m.mu.Lock()
		for len(m.outq) == 0 && !m.dead {
			m.mu.Unlock()
			select {
			case <-m.wakeWrite:
			case <-m.quit:
			}
			m.mu.Lock()
		}
		if m.dead && (!m.graceful || len(m.outq) == 0) {
			graceful := m.graceful
			m.mu.Unlock()
			if graceful {
				if cw, ok := m.s.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
				m.s.Close()
			}
			return
		}
		q := m.outq
		m.outq = nil
		m.mu.Unlock()
		for _, f := range q {
			if err := m.s.WriteFrame(f); err != nil {
				m.fail(fmt.Errorf("protomux: write: %w", err))
				m.s.Close()
				return
			}
		}
		m.mu.Lock()
		m.written += uint64(len(q))
		close(m.wrote)
		m.wrote = make(chan struct{})
		m.mu.Unlock()
	}
}
