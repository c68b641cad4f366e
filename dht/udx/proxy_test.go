package udx_test

import (
	"container/heap"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// udpProxy is a UDP proxy on 127.0.0.1 between clients and one server, in
// the manner of quic-go's integrationtests/tools/proxy:
//
//	client A ---> proxy.Addr() ---+--- back socket for A ---> server
//	client B ---> proxy.Addr() ---+--- back socket for B ---> server
//
// Every client address that sends to the proxy gets its own back socket, so
// the server sees one source address per client, and a client that moves to
// another local socket looks to the server like a new source. Whatever
// reaches a back socket goes to its client from Addr, whoever sent it
// (endpoint-independent filtering, as a relay that accepts a new source
// does), so a server that moves to another socket but keeps sending to the
// same back address still gets through.
//
// Every datagram passes through the callback, which decides to drop or delay
// it and may add datagrams (duplicates, replays, mangled copies). Delayed
// datagrams are sent by one scheduler goroutine in order of their due time,
// so delaying some packets reorders them. The callback gets a per-direction
// random source seeded from the seed given to newUDPProxy; the sequence of
// decisions is reproducible for a given arrival order.
//
// The proxy is closed in t.Cleanup; Close stops its goroutines and drops
// whatever is still delayed.
type udpProxy struct {
	listen *net.UDPConn
	server netip.AddrPort
	handle proxyFunc

	rnd [2]struct {
		mu sync.Mutex
		r  *rand.Rand
	}

	mu      sync.Mutex
	clients map[netip.AddrPort]*proxyClient // guarded by mu
	order   []*proxyClient                  // guarded by mu; in order of arrival
	closed  bool                            // guarded by mu

	sched proxyScheduler

	forwarded, dropped, extra atomic.Int64

	done chan struct{}
	wg   sync.WaitGroup
}

// proxyDir is the direction a datagram travels through a [udpProxy].
type proxyDir int

const (
	toServer proxyDir = iota // from a client to the server
	toClient                 // from the server to a client
)

func (d proxyDir) String() string {
	if d == toServer {
		return "to server"
	}
	return "to client"
}

// proxyFunc decides the fate of one datagram travelling in dir. b is the
// proxy's own copy: the callback may keep it (to replay it later) but must
// not modify it. r is the direction's seeded random source, only valid
// during the call. Calls for one direction never run concurrently.
type proxyFunc func(dir proxyDir, b []byte, r *rand.Rand) proxyAction

// proxyAction is what a [proxyFunc] wants done with a datagram.
type proxyAction struct {
	Drop  bool          // do not forward it
	Delay time.Duration // forward it after Delay (0: at once)
	Extra []proxyExtra  // more datagrams to send the same way
}

// proxyExtra is an additional datagram sent in the same direction and to the
// same peer as the one the callback was called for.
type proxyExtra struct {
	Data  []byte
	Delay time.Duration
}

type proxyClient struct {
	addr netip.AddrPort
	back *net.UDPConn
}

// newUDPProxy starts a proxy to server. handle nil forwards everything at
// once.
func newUDPProxy(t testing.TB, server netip.AddrPort, seed uint64, handle proxyFunc) *udpProxy {
	t.Helper()
	l, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	setBuffers(l)
	p := &udpProxy{
		listen: l, server: server, handle: handle,
		clients: make(map[netip.AddrPort]*proxyClient),
		done:    make(chan struct{}),
	}
	for i := range p.rnd {
		p.rnd[i].r = rand.New(rand.NewPCG(seed, uint64(i)))
	}
	p.sched.init()
	p.wg.Add(2)
	go p.readClients()
	go p.sched.run(p.done, &p.wg)
	t.Cleanup(p.Close)
	return p
}

func setBuffers(c *net.UDPConn) {
	c.SetReadBuffer(4 << 20)
	c.SetWriteBuffer(4 << 20)
}

// Addr returns the address clients send to.
func (p *udpProxy) Addr() netip.AddrPort {
	return p.listen.LocalAddr().(*net.UDPAddr).AddrPort()
}

// BackAddrs returns the addresses the server has seen, one per client, in
// the order the clients first sent.
func (p *udpProxy) BackAddrs() []netip.AddrPort {
	p.mu.Lock()
	defer p.mu.Unlock()
	var as []netip.AddrPort
	for _, c := range p.order {
		as = append(as, c.back.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	return as
}

// Stats returns how many datagrams were forwarded, dropped, and added by the
// callback.
func (p *udpProxy) Stats() (forwarded, dropped, extra int64) {
	return p.forwarded.Load(), p.dropped.Load(), p.extra.Load()
}

// Close stops the proxy and waits for its goroutines. It is idempotent.
func (p *udpProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	p.listen.Close()
	for _, c := range p.order {
		c.back.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *udpProxy) readClients() {
	defer p.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := p.listen.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		c := p.client(from)
		if c == nil {
			return // closed
		}
		p.forward(toServer, buf[:n], c.back, p.server)
	}
}

// client returns the client at addr, making its back socket on first use;
// nil once the proxy is closed.
func (p *udpProxy) client(addr netip.AddrPort) *proxyClient {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if c := p.clients[addr]; c != nil {
		return c
	}
	back, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		return nil
	}
	setBuffers(back)
	c := &proxyClient{addr: addr, back: back}
	p.clients[addr] = c
	p.order = append(p.order, c)
	p.wg.Add(1)
	go p.readServer(c)
	return c
}

func (p *udpProxy) readServer(c *proxyClient) {
	defer p.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, _, err := c.back.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.forward(toClient, buf[:n], p.listen, c.addr)
	}
}

// forward runs the callback on a copy of b and sends what it decided
// through conn to to.
func (p *udpProxy) forward(dir proxyDir, b []byte, conn *net.UDPConn, to netip.AddrPort) {
	b = append([]byte(nil), b...)
	var a proxyAction
	if p.handle != nil {
		r := &p.rnd[dir]
		r.mu.Lock()
		a = p.handle(dir, b, r.r)
		r.mu.Unlock()
	}
	if a.Drop {
		p.dropped.Add(1)
	} else {
		p.forwarded.Add(1)
		p.send(conn, to, b, a.Delay)
	}
	for _, e := range a.Extra {
		p.extra.Add(1)
		p.send(conn, to, e.Data, e.Delay)
	}
}

func (p *udpProxy) send(conn *net.UDPConn, to netip.AddrPort, b []byte, delay time.Duration) {
	if delay <= 0 {
		conn.WriteToUDPAddrPort(b, to)
		return
	}
	p.sched.add(time.Now().Add(delay), conn, to, b)
}

// proxyScheduler sends delayed datagrams at their due time, earliest first.
type proxyScheduler struct {
	mu   sync.Mutex
	q    proxyQueue // guarded by mu
	n    uint64     // guarded by mu; ties keep insertion order
	wake chan struct{}
}

type proxyItem struct {
	at   time.Time
	n    uint64
	conn *net.UDPConn
	to   netip.AddrPort
	b    []byte
}

type proxyQueue []proxyItem

func (q proxyQueue) Len() int { return len(q) }
func (q proxyQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].n < q[j].n
}
func (q proxyQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *proxyQueue) Push(x any)   { *q = append(*q, x.(proxyItem)) }
func (q *proxyQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

func (s *proxyScheduler) init() { s.wake = make(chan struct{}, 1) }

func (s *proxyScheduler) add(at time.Time, conn *net.UDPConn, to netip.AddrPort, b []byte) {
	s.mu.Lock()
	s.n++
	heap.Push(&s.q, proxyItem{at: at, n: s.n, conn: conn, to: to, b: b})
	first := s.q[0].n == s.n
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *proxyScheduler) run(done <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.mu.Lock()
		now := time.Now()
		var due []proxyItem
		for len(s.q) > 0 && !s.q[0].at.After(now) {
			due = append(due, heap.Pop(&s.q).(proxyItem))
		}
		next := time.Hour
		if len(s.q) > 0 {
			next = s.q[0].at.Sub(now)
		}
		s.mu.Unlock()
		for _, it := range due {
			it.conn.WriteToUDPAddrPort(it.b, it.to)
		}
		t.Reset(next)
		select {
		case <-done:
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}
