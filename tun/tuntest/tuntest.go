// Package tuntest provides an in-memory [tun.Device] for tests of the VPN
// engine, and helpers that build and parse the IP packets such tests send.
//
// [NewPair] returns two devices wired back to back: what one end writes, the
// other reads. Give one end to the engine and play the operating system with
// the other. The devices keep the contract of a real one (the offset Write
// needs, buffers that must hold an MTU, net.ErrClosed after Close), they
// copy every packet, and they allocate nothing per packet. They use only
// channels, so they work inside testing/synctest bubbles when created there.
//
// Import it from _test.go files only.
package tuntest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/hyperlan/hyperlan/tun"
)

// DefaultQueueLen is the number of packets in flight per direction when
// [Options.QueueLen] is 0.
const DefaultQueueLen = 256

// Options configure [NewPair]; zero values mean the documented defaults.
type Options struct {
	// Name is the name of the first device; the second is Name+"-os".
	// "" means "tuntest0".
	Name string
	// MTU of both devices; 0 means tun.DefaultMTU. A packet longer than the
	// MTU is refused by Write, as a real TUN never carries one.
	MTU int
	// BatchSize of both devices; 0 means tun.IdealBatchSize.
	BatchSize int
	// QueueLen is the number of packets in flight per direction; a Write
	// that finds the queue full waits for the reader. 0 means
	// DefaultQueueLen.
	QueueLen int
}

// Device is one end of a pair. It implements [tun.Device].
type Device struct {
	name  string
	mtu   int
	batch int
	in    *queue // packets the peer wrote, for Read
	out   *queue // packets for the peer to read
	peer  *Device

	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

// queue carries packets one way. Its buffers are allocated once: a packet
// moves from free to full and back, so nothing is allocated per packet.
type queue struct {
	free chan []byte // empty buffers of MTU bytes
	full chan []byte // written packets, in order
}

func newQueue(n, mtu int) *queue {
	q := &queue{free: make(chan []byte, n), full: make(chan []byte, n)}
	slab := make([]byte, n*mtu)
	for i := range n {
		q.free <- slab[i*mtu : (i+1)*mtu : (i+1)*mtu]
	}
	return q
}

// NewPair returns two devices wired back to back.
func NewPair(opts Options) (*Device, *Device) {
	if opts.Name == "" {
		opts.Name = "tuntest0"
	}
	if opts.MTU <= 0 {
		opts.MTU = tun.DefaultMTU
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = tun.IdealBatchSize
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = DefaultQueueLen
	}
	ab, ba := newQueue(opts.QueueLen, opts.MTU), newQueue(opts.QueueLen, opts.MTU)
	a := &Device{name: opts.Name, mtu: opts.MTU, batch: opts.BatchSize, in: ba, out: ab, done: make(chan struct{})}
	b := &Device{name: opts.Name + "-os", mtu: opts.MTU, batch: opts.BatchSize, in: ab, out: ba, done: make(chan struct{})}
	a.peer, b.peer = b, a
	return a, b
}

var (
	errEmpty     = errors.New("tuntest: empty packet")
	errOffset    = fmt.Errorf("tuntest: write offset below the %d bytes of headroom", tun.Headroom)
	errBufs      = errors.New("tuntest: read with fewer sizes than buffers")
	errTooBig    = errors.New("tuntest: packet longer than the MTU")
	errNoBuffers = errors.New("tuntest: read without buffers")
)

// Read waits for packets written by the peer and copies up to min(len(bufs),
// BatchSize) of them. A packet that does not fit its buffer is dropped and
// Read returns io.ErrShortBuffer with the packets before it.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	switch {
	case len(bufs) == 0:
		return 0, errNoBuffers
	case len(sizes) < len(bufs):
		return 0, errBufs
	}
	if d.isClosed() {
		return 0, net.ErrClosed
	}
	var p []byte
	select {
	case <-d.done:
		return 0, net.ErrClosed
	case p = <-d.in.full:
	}
	limit := min(len(bufs), d.batch)
	n := 0
	for {
		if len(bufs[n]) < offset+len(p) {
			d.in.free <- p[:cap(p)]
			return n, io.ErrShortBuffer
		}
		sizes[n] = copy(bufs[n][offset:], p)
		d.in.free <- p[:cap(p)]
		n++
		if n == limit {
			return n, nil
		}
		select {
		case p = <-d.in.full:
		default:
			return n, nil
		}
	}
}

// Write copies the packets bufs[i][offset:] to the peer, waiting while its
// queue is full. Like a real device it overwrites the Headroom bytes in front
// of each packet. Once the peer is closed, packets are dropped.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	switch {
	case offset < tun.Headroom:
		return 0, errOffset
	case d.isClosed():
		return 0, net.ErrClosed
	case d.peer.isClosed():
		return len(bufs), nil
	}
	for i, b := range bufs {
		p := b[offset:]
		switch {
		case len(p) == 0:
			return i, errEmpty
		case len(p) > d.mtu:
			return i, errTooBig
		}
		var buf []byte
		select {
		case <-d.done:
			return i, net.ErrClosed
		case <-d.peer.done:
			return len(bufs), nil
		case buf = <-d.out.free:
		}
		clear(b[offset-tun.Headroom : offset])
		d.out.full <- buf[:copy(buf, p)]
	}
	return len(bufs), nil
}

func (d *Device) isClosed() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// BatchSize returns Options.BatchSize.
func (d *Device) BatchSize() int { return d.batch }

// MTU returns Options.MTU.
func (d *Device) MTU() int { return d.mtu }

// Name returns the device's name.
func (d *Device) Name() string { return d.name }

// Close makes Read and Write return net.ErrClosed; the peer's writes are
// dropped from then on. It is idempotent.
func (d *Device) Close() error {
	d.closeOnce.Do(func() { close(d.done) })
	return nil
}

var _ tun.Device = (*Device)(nil)
