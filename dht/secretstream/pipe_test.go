package secretstream

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// errPipeReset is what a pipe end reads after the other end aborted (Close),
// like udx.ErrReset.
var errPipeReset = errors.New("pipe: connection reset by peer")

// pipeEnd is one end of an in-memory reliable stream with the parts of a UDX
// stream a Conn uses: buffered writes that block when the peer is behind,
// half-close, abort, a write deadline and datagrams.
//
//	a.Write -> buffer (limit bytes) -> b.Read
//	a.CloseWrite -> b reads io.EOF after the data
//	a.Close -> b reads errPipeReset (unread data is discarded); a's calls net.ErrClosed
//	a.Send -> queue -> b's onMessage, on b's delivery goroutine (copies; drops when full)
type pipeEnd struct {
	p    *pipe
	side int // index into pipe.dir for what this end writes

	onMessage func([]byte) // set before the first Send of the peer
	msgs      chan []byte
	msgDone   chan struct{}
}

type pipe struct {
	mu      sync.Mutex
	changed chan struct{} // guarded by mu; closed and replaced on every change
	dir     [2]direction  // guarded by mu; dir[i] is what end i writes
	closed  [2]bool       // guarded by mu; end i was closed (aborted)
	writeDL [2]time.Time  // guarded by mu
	limit   int
	ends    [2]*pipeEnd
}

// direction is the bytes in flight one way: buf[r:w], in an array of twice
// the pipe's limit that is compacted when the writer reaches its end, so a
// steady flow allocates nothing.
type direction struct {
	buf   []byte
	r, w  int
	ended bool
}

func (d *direction) len() int { return d.w - d.r }

func (d *direction) put(b []byte, limit int) {
	if d.buf == nil {
		d.buf = make([]byte, 2*limit)
	}
	if d.w+len(b) > len(d.buf) {
		d.w = copy(d.buf, d.buf[d.r:d.w])
		d.r = 0
	}
	d.w += copy(d.buf[d.w:], b)
}

func (d *direction) take(b []byte) int {
	n := copy(b, d.buf[d.r:d.w])
	d.r += n
	if d.r == d.w {
		d.r, d.w = 0, 0
	}
	return n
}

// newPipe returns two connected ends whose buffers hold limit bytes each
// way. Their message goroutines stop in t.Cleanup.
func newPipe(t testing.TB, limit int) (a, b *pipeEnd) {
	p := &pipe{changed: make(chan struct{}), limit: limit}
	for i := range p.ends {
		e := &pipeEnd{p: p, side: i, msgs: make(chan []byte, 64), msgDone: make(chan struct{})}
		p.ends[i] = e
		go e.deliver()
	}
	t.Cleanup(func() {
		for _, e := range p.ends {
			close(e.msgs)
			<-e.msgDone
		}
	})
	return p.ends[0], p.ends[1]
}

func (p *pipe) changedLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait blocks until the pipe changes or until deadline (if not zero).
// It unlocks p.mu while waiting and locks it again; it reports false when
// the deadline passed.
func (p *pipe) wait(deadline time.Time) bool {
	ch := p.changed
	p.mu.Unlock()
	defer p.mu.Lock()
	if deadline.IsZero() {
		<-ch
		return true
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

func (e *pipeEnd) Read(b []byte) (int, error) {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	in := &p.dir[1-e.side]
	for {
		switch {
		case p.closed[e.side]:
			return 0, net.ErrClosed
		case p.closed[1-e.side]:
			return 0, errPipeReset
		case in.len() > 0:
			n := in.take(b)
			p.changedLocked()
			return n, nil
		case in.ended:
			return 0, io.EOF
		}
		p.wait(time.Time{})
	}
}

func (e *pipeEnd) Write(b []byte) (int, error) {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	out := &p.dir[e.side]
	n := 0
	for {
		switch {
		case p.closed[e.side]:
			return n, net.ErrClosed
		case p.closed[1-e.side]:
			return n, errPipeReset
		case out.ended:
			return n, errors.New("pipe: write after end")
		case n == len(b):
			return n, nil
		case !p.writeDL[e.side].IsZero() && !time.Now().Before(p.writeDL[e.side]):
			return n, os.ErrDeadlineExceeded
		}
		if room := p.limit - out.len(); room > 0 {
			k := min(room, len(b)-n)
			out.put(b[n:n+k], p.limit)
			n += k
			p.changedLocked()
			continue
		}
		p.wait(p.writeDL[e.side])
	}
}

func (e *pipeEnd) CloseWrite() error {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dir[e.side].ended = true
	p.changedLocked()
	return nil
}

func (e *pipeEnd) Close() error {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed[e.side] = true
	p.changedLocked()
	return nil
}

func (e *pipeEnd) SetWriteDeadline(t time.Time) error {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writeDL[e.side] = t
	p.changedLocked()
	return nil
}

// Send queues a copy of b for the peer's onMessage, or drops it when the
// queue is full or either end is closed.
func (e *pipeEnd) Send(b []byte) error {
	p := e.p
	p.mu.Lock()
	closed := p.closed[0] || p.closed[1]
	p.mu.Unlock()
	if closed {
		return net.ErrClosed
	}
	select {
	case p.ends[1-e.side].msgs <- bytes.Clone(b):
	default:
	}
	return nil
}

func (e *pipeEnd) TrySend(b []byte) error { return e.Send(b) }

// SendBefore is Send, failing as a full queue would once deadline has passed.
func (e *pipeEnd) SendBefore(b []byte, deadline time.Time) error {
	if !time.Now().Before(deadline) {
		return os.ErrDeadlineExceeded
	}
	return e.Send(b)
}

// MaxMessage is that of a UDX stream at its base MTU, searching.
func (e *pipeEnd) MaxMessage() (int, bool) { return 1152, false }

func (e *pipeEnd) deliver() {
	defer close(e.msgDone)
	for m := range e.msgs {
		if e.onMessage != nil {
			e.onMessage(m)
		}
	}
}

// aborted reports whether the end was closed, which a Conn does when it
// fails.
func (e *pipeEnd) aborted() bool {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	return e.p.closed[e.side]
}

// waitAborted waits until the end has been closed.
func (e *pipeEnd) waitAborted(t *testing.T) {
	t.Helper()
	timeout := time.Now().Add(10 * time.Second)
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.closed[e.side] {
		if !p.wait(timeout) {
			t.Fatal("raw stream not aborted")
		}
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}
