package secretstream

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperlan/hyperlan/dht/noise"
)

// RawStream is the reliable, ordered byte stream a [Conn] runs on:
// a *udx.Stream in hyperdht, or a *net.TCPConn, or any stream with these
// methods. Close aborts the stream (a UDX DESTROY) and must unblock a pending
// Read and Write; CloseWrite ends the sending direction (a UDX END) and must
// let Read go on.
//
// A Conn also uses these methods when the stream has them:
//
//	Send(b []byte) error               datagrams for Conn.Send (udx.Stream.Send)
//	TrySend(b []byte) error            datagrams for Conn.TrySend
//	SetWriteDeadline(t time.Time) error for Conn.SetWriteDeadline
//	LocalAddr() net.Addr, RemoteAddr() net.Addr
//	Done() <-chan struct{}             closed when the stream has finished (udx.Stream.Done)
type RawStream interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// Options configure a Conn. The zero value is the reference's default: no
// keep-alive, no timeout, empty frames delivered, replayed messages dropped.
type Options struct {
	// KeepAlive, when positive, makes the Conn write an empty frame each
	// time it has written nothing for that long, and makes it drop the
	// empty frames it receives (which it takes for the peer's keep-alives).
	// hyperdht uses 5 s (connectionKeepAlive).
	KeepAlive time.Duration

	// Timeout, when positive, fails the Conn with ErrTimeout when nothing
	// has been read from the raw stream for that long; keep-alives count.
	// The raw stream is read only while the reader keeps up, as with the
	// reference, so a reader that stops for longer than Timeout while data
	// waits also ends the Conn. hyperdht sets none.
	Timeout time.Duration

	// DropEmptyFrames drops received empty frames even without KeepAlive
	// (the reference's filterZeroByteMessages).
	DropEmptyFrames bool

	// OnMessage is called with each unordered message received (see
	// [MessageHook]). b is valid only during the call. It runs on the
	// goroutine that delivers the raw stream's datagrams (for UDX, a socket
	// read goroutine), one message at a time, and must not block; it may
	// call Send. nil drops messages.
	OnMessage func(b []byte)

	// Messages connects the raw stream's datagrams to the Conn: pass its
	// Deliver method to the raw stream (udx.StreamOptions.OnMessage) when
	// creating it. nil: no messages are received.
	Messages *MessageHook

	// AllowReplay turns off the replay window, so that an authentic message
	// received twice is delivered twice, as the reference does. By default
	// a message is delivered at most once and only while it is less than
	// ReplayWindow messages behind the newest one from the same sender.
	AllowReplay bool

	// rand is the source of the secretstream header and the message counter
	// seed, in that order; nil means crypto/rand. Tests fix it to compare
	// with the reference's transcript.
	rand io.Reader
}

// Conn is an encrypted secret-stream session over a [RawStream], the peer
// being @hyperswarm/secret-stream's NoiseSecretStream or another Conn. It is
// a net.Conn and safe for concurrent use.
//
// Data written is encrypted into frames (see the package doc), one frame per
// Write up to MaxWrite bytes. Received frames are decrypted and checked in
// order as the raw stream delivers them; Read returns their plaintext as a
// byte stream, ReadFrame one frame at a time.
//
// Ending follows the reference. CloseWrite ends the raw stream's sending
// direction, with no encrypted end marker; the peer reads io.EOF and may go on
// writing. The end is not authenticated, so a stream cut at a frame boundary
// reads as io.EOF (inside a frame, io.ErrUnexpectedEOF). Close aborts: it
// closes the raw stream (a UDX DESTROY, which the peer sees as a reset). A
// protocol error (see the package's errors) does the same and is returned by
// Read, Write and Err; an error of the raw stream, such as udx.ErrReset when
// the peer aborted, is returned as it is. After Close, calls return
// net.ErrClosed.
type Conn struct {
	raw  RawStream
	opts Options
	hs   noise.Result

	localID, remoteID [IDSize]byte
	epoch             time.Time // zero point of lastRead and lastWrite

	// Write side.
	writeMu   sync.Mutex
	push      State  // guarded by writeMu
	wbuf      []byte // guarded by writeMu; frame scratch
	ended     atomic.Bool
	lastWrite atomic.Int64 // nanoseconds since epoch of the last frame written

	// Read side: readLoop owns pull and fr, and hands frames to readers.
	pull     State
	fr       *frameReader
	frames   chan []byte   // a decrypted frame, aliasing fr's buffer; closed when readLoop returns
	release  chan struct{} // capacity 1: the frame last handed over is no longer used
	readErr  error         // why readLoop stopped (io.EOF at the end); read after frames is closed
	lastRead atomic.Int64  // nanoseconds since epoch of the last raw read that returned data

	readMu  sync.Mutex
	pending []byte // guarded by readMu; the unread rest of the frame being read
	holding bool   // guarded by readMu; a frame is taken from frames and not released
	readDL  deadline

	// Unordered messages.
	sendMu  sync.Mutex
	sendKey [32]byte
	counter uint64 // guarded by sendMu; the last counter used
	seed    uint64 // where counter started
	sbuf    []byte // guarded by sendMu; envelope scratch

	recvMu  sync.Mutex
	recvKey [32]byte
	replay  replayWindow // guarded by recvMu
	rbuf    []byte       // guarded by recvMu; plaintext scratch

	mu     sync.Mutex
	err    error         // guarded by mu; the failure, if any
	closed bool          // guarded by mu; Close was called
	dead   chan struct{} // closed on failure or Close
	opened chan struct{} // closed when the peer's header has arrived

	wg    sync.WaitGroup // readLoop and timerLoop
	stats stats
}

const (
	readBufSize  = 64 << 10                            // the raw read buffer, grown for larger frames
	shrinkAbove  = 1 << 20                             // a read buffer grown past this goes back to readBufSize when empty
	writeBufSize = 64<<10 + LengthSize + Overhead      // the frame scratch: larger frames are written in pieces
	lingerMax    = 2 * time.Second                     // how long Close waits for a gracefully ended raw stream
	msgBufSize   = 2048 + MessageOverhead + LengthSize // message scratch (a libudx datagram at most)
)

// New starts a secret-stream session over raw with the outcome of a Noise
// handshake run elsewhere (hyperdht runs IK inside its PEER_HANDSHAKE;
// hs.Initiator must be true on exactly one side). It writes the header
// frame before returning, without waiting for the peer's, and starts reading
// raw. The Conn owns raw from then on, even when New fails (raw is closed then).
func New(raw RawStream, hs *noise.Result, opts Options) (*Conn, error) {
	c := newConn(raw, opts, nil)
	if err := c.start(hs); err != nil {
		return nil, err
	}
	return c, nil
}

func newConn(raw RawStream, opts Options, fr *frameReader) *Conn {
	if fr == nil {
		fr = &frameReader{raw: raw}
	}
	return &Conn{
		raw:     raw,
		opts:    opts,
		fr:      fr,
		wbuf:    make([]byte, writeBufSize),
		frames:  make(chan []byte),
		release: make(chan struct{}, 1),
		readDL:  newDeadline(),
		dead:    make(chan struct{}),
		opened:  make(chan struct{}),
		rbuf:    make([]byte, 0, msgBufSize),
		epoch:   time.Now(),
	}
}

// start sets up the session's keys, starts the goroutines and writes the
// header frame (NoiseSecretStream _setupSecretStream).
func (c *Conn) start(hs *noise.Result) error {
	c.hs = *hs
	c.localID = StreamID(&hs.Hash, hs.Initiator)
	c.remoteID = StreamID(&hs.Hash, !hs.Initiator)
	c.sendKey = messageKey(&hs.Hash, hs.Initiator)
	c.recvKey = messageKey(&hs.Hash, !hs.Initiator)

	src := c.opts.rand
	if src == nil {
		src = rand.Reader
	}
	var random [HeaderSize + 8]byte
	if _, err := io.ReadFull(src, random[:]); err != nil {
		c.raw.Close()
		return fmt.Errorf("secretstream: reading randomness: %w", err)
	}
	header := [HeaderSize]byte(random[:HeaderSize])
	c.push.Init(&hs.Tx, &header)
	c.seed = binary.LittleEndian.Uint64(random[HeaderSize:])
	c.counter = c.seed

	c.fr.onData = func() { c.lastRead.Store(c.now()) }
	c.wg.Add(1)
	go c.readLoop()
	if c.opts.KeepAlive > 0 || c.opts.Timeout > 0 {
		c.wg.Add(1)
		go c.timerLoop()
	}
	if c.opts.Messages != nil {
		c.opts.Messages.c.Store(c)
	}

	c.writeMu.Lock()
	frame := AppendHeader(c.wbuf[:0], &c.localID, &header)
	_, err := c.raw.Write(frame)
	if err == nil {
		c.lastWrite.Store(c.now())
	}
	c.writeMu.Unlock()
	if err != nil {
		c.Close()
		return fmt.Errorf("secretstream: writing the header: %w", err)
	}
	return nil
}

// now is the time since c.epoch, for lastRead and lastWrite.
func (c *Conn) now() int64 { return int64(time.Since(c.epoch)) }

// IsInitiator reports whether this side is the initiator of the handshake.
func (c *Conn) IsInitiator() bool { return c.hs.Initiator }

// PublicKey returns our static public key, as the handshake gave it.
func (c *Conn) PublicKey() [32]byte { return c.hs.PublicKey }

// RemotePublicKey returns the peer's static public key, as the handshake
// gave it.
func (c *Conn) RemotePublicKey() [32]byte { return c.hs.RemotePublicKey }

// HandshakeHash returns the handshake hash the session is bound to.
func (c *Conn) HandshakeHash() [HashSize]byte { return c.hs.Hash }

// LocalAddr returns the raw stream's local address, or nil if it has none.
func (c *Conn) LocalAddr() net.Addr {
	if a, ok := c.raw.(interface{ LocalAddr() net.Addr }); ok {
		return a.LocalAddr()
	}
	return nil
}

// RemoteAddr returns the raw stream's remote address, or nil if it has none.
func (c *Conn) RemoteAddr() net.Addr {
	if a, ok := c.raw.(interface{ RemoteAddr() net.Addr }); ok {
		return a.RemoteAddr()
	}
	return nil
}

// Done returns a channel that is closed when the Conn has failed or been
// closed.
func (c *Conn) Done() <-chan struct{} { return c.dead }

// Opened is closed once the peer's header has arrived and checked out: the session is open
// both ways (the reference's 'open').
func (c *Conn) Opened() <-chan struct{} { return c.opened }

// WaitOpen blocks until the session is open (nil), the Conn fails or is closed (its error,
// or net.ErrClosed), or ctx ends (ctx's error).
func (c *Conn) WaitOpen(ctx context.Context) error {
	select {
	case <-c.opened:
		return nil
	default:
	}
	select {
	case <-c.opened:
		return nil
	case <-c.dead:
		if err := c.Err(); err != nil {
			return err
		}
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Err returns why the Conn failed: a protocol error of this package or the
// raw stream's error. It is nil while the Conn works and after Close.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// opErr is the error for an operation on a Conn that has failed or been
// closed, and nil while it works.
func (c *Conn) opErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	return c.err
}

// fail ends the Conn with err and aborts the raw stream, unless the Conn
// has already failed or been closed. It does not wait for the goroutines, so
// they may call it.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.closed || c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	close(c.dead)
	c.mu.Unlock()
	c.detach()
	c.raw.Close()
}

// Close aborts the session: it closes the raw stream, which a UDX stream
// does with a DESTROY unless both directions have already ended and been
// acknowledged. After a graceful end (CloseWrite here, io.EOF read from the
// peer) Close first waits up to 2 s for the raw stream to finish, when it
// has a Done method, so that the peer sees a clean close. Close returns when
// the Conn's goroutines have exited; blocked and later calls return
// net.ErrClosed. It is idempotent and returns nil.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closed = true
	alive := c.err == nil
	c.mu.Unlock()
	if alive {
		c.linger()
		close(c.dead)
		c.detach()
		c.raw.Close()
	}
	c.wg.Wait()
	c.readDL.stop()
	return nil
}

// linger waits for a raw stream whose both directions ended to finish.
func (c *Conn) linger() {
	d, ok := c.raw.(interface{ Done() <-chan struct{} })
	if !ok || !c.ended.Load() || !c.stats.eof.Load() {
		return
	}
	t := time.NewTimer(lingerMax)
	defer t.Stop()
	select {
	case <-d.Done():
	case <-t.C:
	}
}

// detach stops message delivery through the hook.
func (c *Conn) detach() {
	if h := c.opts.Messages; h != nil {
		h.c.CompareAndSwap(c, nil)
	}
}

// Stats are counters of a Conn.
type Stats struct {
	FramesWritten    int64 // data frames written, keep-alives included (not the header)
	FramesRead       int64 // data frames read and authenticated, empty ones included
	BytesWritten     int64 // plaintext bytes written
	BytesRead        int64 // plaintext bytes read
	KeepAlives       int64 // keep-alive frames written
	MessagesSent     int64 // unordered messages sealed and handed to the raw stream
	MessagesReceived int64 // unordered messages delivered
	MessagesRejected int64 // envelopes dropped: too short or not authentic
	MessagesReplayed int64 // authentic envelopes dropped by the replay window
}

type stats struct {
	framesWritten, framesRead, bytesWritten, bytesRead, keepAlives atomic.Int64
	msgSent, msgReceived, msgRejected, msgReplayed                 atomic.Int64
	eof                                                            atomic.Bool // the peer's end was read
}

// Stats returns a snapshot of the Conn's counters.
func (c *Conn) Stats() Stats {
	s := &c.stats
	return Stats{
		FramesWritten: s.framesWritten.Load(), FramesRead: s.framesRead.Load(),
		BytesWritten: s.bytesWritten.Load(), BytesRead: s.bytesRead.Load(),
		KeepAlives:   s.keepAlives.Load(),
		MessagesSent: s.msgSent.Load(), MessagesReceived: s.msgReceived.Load(),
		MessagesRejected: s.msgRejected.Load(), MessagesReplayed: s.msgReplayed.Load(),
	}
}
