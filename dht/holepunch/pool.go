package holepunch

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// Punch TTLs (hyperdht lib/holepuncher.js).
const (
	lowTTL     = 5  // HOLEPUNCH_TTL: opens our own NAT's mapping, expires before the peer's
	defaultTTL = 64 // DEFAULT_TTL
)

// punchByte is the whole of a punch datagram.
var punchByte = []byte{0}

// PoolOptions configure a [Pool].
type PoolOptions struct {
	// UDX is the instance the sockets join, so that a stream of the node can connect
	// through any of them.
	UDX *udx.Instance
	// RPC is the node the sockets are attached to (their RPC traffic).
	RPC *rpc.Node
	// ListenPacket opens a UDP socket; nil means net.ListenPacket.
	ListenPacket func(network, address string) (net.PacketConn, error)
	// Host is the address the sockets bind; "" means 0.0.0.0.
	Host string
}

// Pool owns the extra sockets of holepunching (hyperdht lib/socket-pool.js): each one is a
// socket of the node's UDX instance, attached to its RPC node, with a port of its own and so
// a NAT mapping of its own. A datagram of one byte that reaches one of them is a punch and
// goes to the socket's [Ref] holder. A socket closes once nobody refers to it: its holder
// released it and no stream holds it ([Pool.Hold]).
//
// It is safe for concurrent use. Close closes every socket and waits for the goroutines of
// the pool and of its punchers.
type Pool struct {
	opts   PoolOptions
	ctx    context.Context // cancelled by Close: the pool's and its punchers' goroutines end
	cancel context.CancelFunc

	mu     sync.Mutex
	refs   map[*udx.Socket]*Ref // guarded by mu; open sockets
	closed bool                 // guarded by mu
	wg     sync.WaitGroup       // goroutines of the pool and its punchers
}

// ErrPoolClosed is returned by [Pool.Acquire] (and so by [New]) after [Pool.Close].
var ErrPoolClosed = errors.New("holepunch: socket pool closed")

// NewPool returns an empty pool.
func NewPool(o PoolOptions) *Pool {
	if o.ListenPacket == nil {
		o.ListenPacket = net.ListenPacket
	}
	if o.Host == "" {
		o.Host = "0.0.0.0"
	}
	p := &Pool{opts: o, refs: make(map[*udx.Socket]*Ref)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p
}

// Ref is one holder's use of a pooled socket.
type Ref struct {
	pool *Pool
	sock *udx.Socket
	raw  net.PacketConn // the UDP socket under sock, for sends with a TTL

	mu       sync.Mutex
	onPunch  func(r *Ref, from netip.AddrPort) // guarded by mu; nil once released
	users    int                               // guarded by mu; the holder and Hold calls
	released bool                              // guarded by mu
}

// Acquire opens a new socket on a random port of the pool's host. The caller must Release it.
func (p *Pool) Acquire() (*Ref, error) {
	pc, err := p.opts.ListenPacket("udp4", net.JoinHostPort(p.opts.Host, "0"))
	if err != nil {
		return nil, err
	}
	sock := p.opts.UDX.Listen(pc)
	r := &Ref{pool: p, sock: sock, raw: pc, users: 1}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		sock.Close()
		return nil, ErrPoolClosed
	}
	p.refs[sock] = r
	p.mu.Unlock()
	if err := p.opts.RPC.Attach(sock, r.received); err != nil {
		p.mu.Lock()
		delete(p.refs, sock)
		p.mu.Unlock()
		sock.Close()
		return nil, err
	}
	return r, nil
}

// Socket returns the pooled socket.
func (r *Ref) Socket() *udx.Socket { return r.sock }

// received is the RPC node's callback for the socket's one-byte datagrams.
func (r *Ref) received(_ []byte, from netip.AddrPort) {
	r.mu.Lock()
	f := r.onPunch
	r.mu.Unlock()
	if f != nil {
		f(r, from)
	}
}

// setOnPunch names the function punches arriving on the socket go to, on the socket's read
// goroutine.
func (r *Ref) setOnPunch(f func(*Ref, netip.AddrPort)) {
	r.mu.Lock()
	if !r.released {
		r.onPunch = f
	}
	r.mu.Unlock()
}

// Release gives the holder's use up: punches are no longer delivered, and the socket closes
// unless a stream holds it. It is idempotent.
func (r *Ref) Release() {
	r.mu.Lock()
	if r.released {
		r.mu.Unlock()
		return
	}
	r.released = true
	r.onPunch = nil
	r.users--
	last := r.users == 0
	r.mu.Unlock()
	if last {
		r.pool.close(r)
	}
}

// punch sends one punch from the socket to addr with the given TTL. Like any UDP send, a
// failure is not reported.
func (r *Ref) punch(addr netip.AddrPort, ttl int) {
	if ttl != defaultTTL && writeTTL(r.raw, punchByte, addr, ttl) {
		return
	}
	r.sock.WriteToUDPAddrPort(punchByte, addr)
}

// Hold keeps sock open until done is closed, when it is one of the pool's sockets (a
// connection's stream lives on it); it reports whether it is. Other sockets are not the
// pool's business.
func (p *Pool) Hold(sock *udx.Socket, done <-chan struct{}) bool {
	p.mu.Lock()
	r := p.refs[sock]
	if r == nil || p.closed {
		p.mu.Unlock()
		return false
	}
	p.wg.Add(1)
	p.mu.Unlock()
	r.mu.Lock()
	r.users++
	r.mu.Unlock()
	go func() {
		defer p.wg.Done()
		select {
		case <-done:
		case <-p.ctx.Done():
			return
		}
		r.mu.Lock()
		r.users--
		last := r.users == 0
		r.mu.Unlock()
		if last {
			p.close(r)
		}
	}()
	return true
}

// close closes r's socket and forgets it.
func (p *Pool) close(r *Ref) {
	p.mu.Lock()
	delete(p.refs, r.sock)
	p.mu.Unlock()
	r.sock.Close()
}

// Len returns how many sockets are open.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.refs)
}

// goroutine runs f on a goroutine Close waits for; it reports false, and does not run f,
// once the pool is closed.
func (p *Pool) goroutine(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// Close closes every socket of the pool, held or not, and waits for the pool's goroutines
// and those of its punchers. Streams on pooled sockets lose their path. It is idempotent.
func (p *Pool) Close() {
	p.cancel()
	p.mu.Lock()
	p.closed = true
	var socks []*udx.Socket
	for s := range p.refs {
		socks = append(socks, s)
	}
	clear(p.refs)
	p.mu.Unlock()
	for _, s := range socks {
		s.Close()
	}
	p.wg.Wait()
}
