package netsim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero fields of [Options].
const (
	DefaultMTU      = 65507 // largest UDP payload over IPv4
	DefaultQueueLen = 1024  // packets waiting per endpoint
)

// Options configures a [Network]. The zero value is a perfect network: no
// delay, no loss, an MTU of [DefaultMTU] and [DefaultQueueLen] packets of
// receive queue per endpoint.
type Options struct {
	// Delay is the one-way latency added to every packet. With zero Delay
	// and zero Jitter a packet is queued at the receiver before the write
	// returns; the reader still gets it asynchronously, in order.
	Delay time.Duration

	// Jitter adds a uniform random extra delay in [0, Jitter) to every
	// packet, so later packets can overtake earlier ones.
	Jitter time.Duration

	// Loss is the probability, from 0 to 1, that a packet is dropped.
	Loss float64

	// MTU is the largest payload carried; longer packets are dropped
	// (the write still succeeds). 0 means DefaultMTU.
	MTU int

	// Seed seeds the PCG generator behind Loss and Jitter.
	Seed uint64

	// Filter, if non-nil, is called for every packet that fits the MTU,
	// before loss and delay; if it returns false the packet is dropped.
	// from is the sender's bound address and to the destination written to.
	// b is the caller's buffer: Filter must not modify or retain it. Filter
	// runs on the writing goroutine with no lock held, so it may be called
	// from several goroutines at once and may call into the Network.
	// [Network.SetFilter] replaces it.
	Filter func(from, to netip.AddrPort, b []byte) bool

	// QueueLen is the number of packets an endpoint holds before the reader
	// takes them; more are dropped. 0 means DefaultQueueLen.
	QueueLen int
}

// Stats counts packets. Each counter is read atomically, but the three are
// not one snapshot while packets are moving.
type Stats struct {
	Sent      uint64 // packets accepted by a write
	Delivered uint64 // packets queued at the receiving endpoint
	Dropped   uint64 // too big, filtered, lost, unroutable, queue full, or in flight at Close
}

// A Network is an in-memory UDP internet. It is safe for concurrent use.
// See the package documentation for the packet model.
type Network struct {
	delay, jitter time.Duration
	loss          float64
	mtu           int
	queueLen      int

	filter                   atomic.Pointer[filterFunc]
	sent, delivered, dropped atomic.Uint64

	// mu guards the fields below. Lock order: Network.mu before Conn.mu.
	mu       sync.Mutex
	closed   bool
	conns    map[netip.AddrPort]*Conn
	nextPort map[netip.Addr]uint16 // next ephemeral port to try, per address
	rng      *rand.Rand
	seq      uint64      // write order, breaks ties between equal arrival times
	flight   flight      // delayed packets, earliest first
	timer    *time.Timer // AfterFunc(fire), armed for timerAt
	timerAt  time.Time   // zero when the timer is not armed
	firing   int         // timer arms whose callback has not finished
	idle     sync.Cond   // broadcast when firing drops to zero; uses mu
	nats     []*NAT      // routers, added with AddNAT
}

type filterFunc func(from, to netip.AddrPort, b []byte) bool

// New returns a Network with the given options. It panics if a duration,
// MTU or QueueLen is negative or Loss is outside [0, 1].
func New(opts Options) *Network {
	if opts.Delay < 0 || opts.Jitter < 0 || opts.MTU < 0 || opts.QueueLen < 0 {
		panic(fmt.Sprintf("netsim: negative option in %+v", opts))
	}
	if !(opts.Loss >= 0 && opts.Loss <= 1) { // also rejects NaN
		panic(fmt.Sprintf("netsim: Loss %v outside [0, 1]", opts.Loss))
	}
	n := &Network{
		delay:    opts.Delay,
		jitter:   opts.Jitter,
		loss:     opts.Loss,
		mtu:      opts.MTU,
		queueLen: opts.QueueLen,
		conns:    make(map[netip.AddrPort]*Conn),
		nextPort: make(map[netip.Addr]uint16),
		rng:      rand.New(rand.NewPCG(opts.Seed, math.MaxUint64-opts.Seed)),
	}
	if n.mtu == 0 {
		n.mtu = DefaultMTU
	}
	if n.queueLen == 0 {
		n.queueLen = DefaultQueueLen
	}
	n.idle.L = &n.mu
	n.SetFilter(opts.Filter)
	return n
}

// SetFilter replaces [Options.Filter]; nil removes the filter. It applies to
// packets written after it returns.
func (n *Network) SetFilter(f func(from, to netip.AddrPort, b []byte) bool) {
	if f == nil {
		n.filter.Store(nil)
		return
	}
	ff := filterFunc(f)
	n.filter.Store(&ff)
}

// Stats returns the packet counters.
func (n *Network) Stats() Stats {
	return Stats{
		Sent:      n.sent.Load(),
		Delivered: n.delivered.Load(),
		Dropped:   n.dropped.Load(),
	}
}

// Close closes every endpoint, unblocking their readers with
// [net.ErrClosed], and drops the packets in flight. After Close,
// ListenPacket fails with net.ErrClosed. Close returns once no timer
// callback of the Network is running. It is idempotent and returns nil.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	if n.timer != nil && n.timer.Stop() {
		n.firing--
	}
	n.timerAt = time.Time{}
	n.dropped.Add(uint64(len(n.flight)))
	n.flight = nil
	conns := n.conns
	n.conns = nil
	for n.firing > 0 {
		n.idle.Wait()
	}
	n.mu.Unlock()

	for _, c := range conns {
		c.shutdown()
	}
	return nil
}

// send carries one packet written by c. It reports net.ErrClosed if c is
// no longer bound; every other outcome is silent, as with UDP.
func (n *Network) send(c *Conn, to netip.AddrPort, b []byte) error {
	n.sent.Add(1)
	if len(b) > n.mtu {
		n.dropped.Add(1)
		return nil
	}
	if f := n.filter.Load(); f != nil && !(*f)(c.addr, to, b) {
		n.dropped.Add(1)
		return nil
	}
	p := packet{from: c.addr, to: to, b: append([]byte(nil), b...)}

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conns[c.addr] != c {
		n.dropped.Add(1)
		return net.ErrClosed
	}
	var ok bool
	if p.from, p.to, ok = n.routeLocked(p.from, p.to); !ok {
		n.dropped.Add(1)
		return nil
	}
	if n.loss > 0 && n.rng.Float64() < n.loss {
		n.dropped.Add(1)
		return nil
	}
	d := n.delay
	if n.jitter > 0 {
		d += time.Duration(n.rng.Int64N(int64(n.jitter)))
	}
	if d == 0 {
		n.deliverLocked(p)
		return nil
	}
	now := time.Now()
	p.at = now.Add(d)
	p.seq = n.seq
	n.seq++
	n.flight.push(p)
	if n.timerAt.IsZero() || p.at.Before(n.timerAt) {
		n.armLocked(p.at, now)
	}
	return nil
}

// deliverLocked queues p at the endpoint bound to p.to, if any.
func (n *Network) deliverLocked(p packet) {
	c := n.conns[p.to]
	if c == nil || !c.enqueue(p.from, p.b) {
		n.dropped.Add(1)
		return
	}
	n.delivered.Add(1)
}

// armLocked makes the timer fire at at. Every arm ends in exactly one of:
// Stop or Reset cancels it (Stop/Reset returns true), or fire runs. firing
// counts the arms that may still run fire, so Close can wait for them.
func (n *Network) armLocked(at, now time.Time) {
	d := at.Sub(now)
	switch {
	case n.timer == nil:
		n.timer = time.AfterFunc(d, n.fire)
		n.firing++
	case !n.timer.Reset(d):
		// The previous arm already fired (its fire runs or has run) or
		// was stopped; this is a new arm.
		n.firing++
	}
	n.timerAt = at
}

// fire is the timer callback: it delivers every packet that is due and
// re-arms the timer for the next one.
func (n *Network) fire() {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer func() {
		n.firing--
		if n.firing == 0 {
			n.idle.Broadcast()
		}
	}()
	if n.closed {
		return
	}
	now := time.Now()
	for len(n.flight) > 0 && !n.flight[0].at.After(now) {
		n.deliverLocked(n.flight.pop())
	}
	n.timerAt = time.Time{}
	if len(n.flight) > 0 {
		n.armLocked(n.flight[0].at, now)
	}
}
