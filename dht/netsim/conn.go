package netsim

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// A Conn is an endpoint bound on a [Network]. It implements
// [net.PacketConn] and, like [*net.UDPConn], [Conn.ReadFromUDPAddrPort] and
// [Conn.WriteToUDPAddrPort]. It is safe for concurrent use.
//
// Errors are [*net.OpError] values, as from a real socket: after Close they
// wrap [net.ErrClosed], and a read past its deadline wraps
// [os.ErrDeadlineExceeded] and has Timeout() true.
type Conn struct {
	n       *Network
	network string         // as passed to ListenPacket
	addr    netip.AddrPort // bound address, also the source of its packets

	done  chan struct{} // closed by shutdown
	avail chan struct{} // capacity 1: a packet may be waiting in queue

	// mu guards the fields below.
	mu            sync.Mutex
	closed        bool
	queue         ring
	readDeadline  time.Time
	writeDeadline time.Time
	deadlineMoved chan struct{} // closed and replaced when readDeadline changes
}

func newConn(n *Network, network string, addr netip.AddrPort) *Conn {
	return &Conn{
		n:             n,
		network:       network,
		addr:          addr,
		done:          make(chan struct{}),
		avail:         make(chan struct{}, 1),
		queue:         ring{max: n.queueLen},
		deadlineMoved: make(chan struct{}),
	}
}

// ReadFrom reads the next packet into b and returns its length and source, a
// [*net.UDPAddr]. A packet longer than b is truncated to len(b) and the rest
// is lost, as with UDP. It blocks until a packet arrives, the read deadline
// passes or the Conn is closed.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromUDPAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// ReadFromUDPAddrPort is ReadFrom returning the source as a [netip.AddrPort].
// IPv4 sources are plain IPv4 addresses, never IPv4-mapped IPv6.
func (c *Conn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, netip.AddrPort{}, c.opError("read", nil, net.ErrClosed)
		}
		deadline := c.readDeadline
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			c.mu.Unlock()
			return 0, netip.AddrPort{}, c.opError("read", nil, os.ErrDeadlineExceeded)
		}
		if c.queue.len() > 0 {
			d := c.queue.pop()
			if c.queue.len() > 0 {
				c.signalLocked() // wake the next reader, if any
			}
			c.mu.Unlock()
			return copy(b, d.b), d.from, nil
		}
		moved := c.deadlineMoved
		c.mu.Unlock()

		var expired <-chan time.Time
		if !deadline.IsZero() {
			if timer == nil {
				timer = time.NewTimer(time.Until(deadline))
			} else {
				timer.Reset(time.Until(deadline))
			}
			expired = timer.C
		}
		select {
		case <-c.avail:
		case <-c.done:
		case <-moved:
		case <-expired:
		}
	}
}

// WriteTo sends a packet with the contents of b to addr, which must be a
// [*net.UDPAddr]. It copies b, so the caller may reuse it at once. Like UDP
// it does not block and does not report loss: a packet that is dropped, or
// sent to an address nobody is bound to, still returns len(b), nil.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok || ua == nil {
		return 0, c.opError("write", addr, fmt.Errorf("netsim: address %v of type %T is not a *net.UDPAddr: %w", addr, addr, syscall.EINVAL))
	}
	return c.WriteToUDPAddrPort(b, ua.AddrPort())
}

// WriteToUDPAddrPort is WriteTo with the destination as a [netip.AddrPort].
// An IPv4-mapped IPv6 destination is the IPv4 address.
func (c *Conn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	c.mu.Lock()
	closed, deadline := c.closed, c.writeDeadline
	c.mu.Unlock()
	switch {
	case closed:
		return 0, c.opError("write", udpAddr(addr), net.ErrClosed)
	case !deadline.IsZero() && !time.Now().Before(deadline):
		return 0, c.opError("write", udpAddr(addr), os.ErrDeadlineExceeded)
	case !addr.IsValid() || addr.Port() == 0:
		return 0, c.opError("write", udpAddr(addr), syscall.EINVAL)
	}
	if err := c.n.send(c, addr, b); err != nil {
		return 0, c.opError("write", udpAddr(addr), err)
	}
	return len(b), nil
}

// Close unbinds the endpoint and unblocks its readers, which return
// [net.ErrClosed]; packets waiting in its queue are discarded. Close is
// idempotent and returns nil.
func (c *Conn) Close() error {
	c.n.mu.Lock()
	if c.n.conns[c.addr] == c {
		delete(c.n.conns, c.addr)
	}
	c.n.mu.Unlock()
	c.shutdown()
	return nil
}

// LocalAddr returns the bound address as a [*net.UDPAddr].
func (c *Conn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.addr) }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the time after which reads fail with
// [os.ErrDeadlineExceeded], including reads already blocked. The zero time
// means no deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.opError("set", nil, net.ErrClosed)
	}
	c.readDeadline = t
	close(c.deadlineMoved)
	c.deadlineMoved = make(chan struct{})
	return nil
}

// SetWriteDeadline sets the time after which writes fail with
// [os.ErrDeadlineExceeded]. Writes never block, so this only matters for
// a deadline already in the past.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.opError("set", nil, net.ErrClosed)
	}
	c.writeDeadline = t
	return nil
}

// enqueue queues a packet for the readers. It reports false if the Conn is
// closed or its queue is full. c.n.mu is held.
func (c *Conn) enqueue(from netip.AddrPort, b []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.queue.len() >= c.queue.max {
		return false
	}
	c.queue.push(datagram{from: from, b: b})
	c.signalLocked()
	return true
}

func (c *Conn) signalLocked() {
	select {
	case c.avail <- struct{}{}:
	default:
	}
}

// shutdown marks c closed and wakes its readers. The caller has unbound it.
func (c *Conn) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.queue = ring{}
	close(c.done)
}

func (c *Conn) opError(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: c.network, Source: c.LocalAddr(), Addr: addr, Err: err}
}

// udpAddr converts a for an error message, keeping a nil interface for the
// zero AddrPort.
func udpAddr(a netip.AddrPort) net.Addr {
	if !a.IsValid() {
		return nil
	}
	return net.UDPAddrFromAddrPort(a)
}

// A datagram is a packet waiting in a receive queue.
type datagram struct {
	from netip.AddrPort
	b    []byte
}

// ring is a FIFO of datagrams that grows on demand up to max.
type ring struct {
	buf     []datagram
	head, n int
	max     int
}

func (r *ring) len() int { return r.n }

func (r *ring) push(d datagram) {
	if r.n == len(r.buf) {
		buf := make([]datagram, min(max(16, 2*len(r.buf)), r.max))
		for i := range r.n {
			buf[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = d
	r.n++
}

func (r *ring) pop() datagram {
	d := r.buf[r.head]
	r.buf[r.head] = datagram{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return d
}
