package protomux

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// errReset is what a pipe end reads after its peer closed (aborted).
var errReset = errors.New("pipe: reset by peer")

// pipeEnd is one end of an in-memory frame stream, like a secret stream:
// whole frames in order, CloseWrite ends our direction (the peer reads
// io.EOF) and Close aborts both (the peer reads errReset).
type pipeEnd struct {
	in, out   chan []byte
	closed    chan struct{} // our Close
	peerGone  chan struct{} // the peer's Close
	closeOnce *sync.Once
	endOnce   sync.Once
	frames    atomic.Int64 // frames written, for tests that count
	mu        sync.Mutex   // held while writing, so that CloseWrite waits
}

func framePipe() (*pipeEnd, *pipeEnd) {
	ab, ba := make(chan []byte, 64), make(chan []byte, 64)
	ca, cb := make(chan struct{}), make(chan struct{})
	a := &pipeEnd{in: ba, out: ab, closed: ca, peerGone: cb, closeOnce: new(sync.Once)}
	b := &pipeEnd{in: ab, out: ba, closed: cb, peerGone: ca, closeOnce: new(sync.Once)}
	return a, b
}

func (p *pipeEnd) ReadFrame() ([]byte, error) {
	select {
	case <-p.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case f, ok := <-p.in:
		if !ok {
			return nil, io.EOF
		}
		return f, nil
	case <-p.closed:
		return nil, net.ErrClosed
	case <-p.peerGone:
		return nil, errReset
	}
}

func (p *pipeEnd) WriteFrame(b []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case p.out <- bytes.Clone(b):
		p.frames.Add(1)
		return nil
	case <-p.closed:
		return net.ErrClosed
	case <-p.peerGone:
		return errReset
	}
}

func (p *pipeEnd) CloseWrite() error {
	p.endOnce.Do(func() {
		p.mu.Lock()
		close(p.out)
		p.mu.Unlock()
	})
	return nil
}

func (p *pipeEnd) Close() error {
	p.closeOnce.Do(func() { close(p.closed) })
	return nil
}

func (p *pipeEnd) written() int { return int(p.frames.Load()) }
