package holepunch

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// Options configure a [Puncher].
type Options struct {
	Pool *Pool
	// Initiator is true for the client: it connects on the first punch it receives. The
	// server (responder) answers punches and connects when a stream packet reaches it.
	Initiator bool
	// RemoteFirewall is the peer's firewall as its handshake payload gave it.
	RemoteFirewall Firewall
	// Limiter is the node's limit on random punches; nil means one of the puncher's own.
	Limiter *Limiter
	Config  Config
	// OnConnect is called once, for the initiator only, when the first punch arrives: sock
	// is the socket it arrived on and from the peer's address. It runs on the socket's read
	// goroutine and must not block. The puncher keeps that socket until Destroy.
	OnConnect func(sock *udx.Socket, from netip.AddrPort)
	// OnAbort is called once, on a goroutine of the puncher, when its strategy ran out
	// without a connection; the puncher is destroyed by then. Destroy does not call it.
	OnAbort func()
}

// RemoteAddr is an address the peer gave for itself; Verified means the peer proved it
// receives at its host (it echoed our token for that host).
type RemoteAddr struct {
	Addr     netip.AddrPort
	Verified bool
}

// Puncher is one side's holepunching for one connection (hyperdht lib/holepuncher.js): a
// pooled socket and the classification of its NAT, what the peer told about itself, and,
// once both sides agreed to punch ([Puncher.Punch]), the strategy running in the background.
// A punch that reaches any of its sockets connects the initiator ([Options.OnConnect]).
//
// It is safe for concurrent use. Its goroutines belong to the pool and end on Destroy.
type Puncher struct {
	pool   *Pool
	rpc    *rpc.Node
	opts   Options
	cfg    Config
	lim    *Limiter
	ctx    context.Context // cancelled by Destroy and on connection: the strategies stop
	cancel context.CancelFunc

	mu             sync.Mutex
	nat            *NAT          // guarded by mu; replaced when the socket is reopened
	main           *Ref          // guarded by mu; the socket rounds and probes go from
	refs           []*Ref        // guarded by mu; every socket, main first
	remoteFirewall Firewall      // guarded by mu
	remote         []RemoteAddr  // guarded by mu
	remotePunching bool          // guarded by mu
	punching       bool          // guarded by mu; a strategy runs
	connected      bool          // guarded by mu
	reached        bool          // guarded by mu; a responder got a punch from the initiator
	destroyed      bool          // guarded by mu
	randomized     bool          // guarded by mu; counted by the limiter
	strategy       Strategy      // guarded by mu
	reopening      chan struct{} // guarded by mu; closed when reopening ended
	reopenedOK     bool          // guarded by mu
	punched        chan struct{} // guarded by mu; closed when Punch decided
	punchOK        bool          // guarded by mu
}

// New acquires a socket and starts classifying its NAT: it pings up to 4 DHT nodes from it
// (each once, then once more with other nodes when too few answered).
func New(o Options) (*Puncher, error) {
	ref, err := o.Pool.Acquire()
	if err != nil {
		return nil, err
	}
	p := &Puncher{pool: o.Pool, rpc: o.Pool.opts.RPC, opts: o, cfg: o.Config.withDefaults(), lim: o.Limiter,
		remoteFirewall: o.RemoteFirewall}
	if p.lim == nil {
		p.lim = new(Limiter)
	}
	p.ctx, p.cancel = context.WithCancel(o.Pool.ctx)
	p.main = ref
	p.refs = []*Ref{ref}
	p.nat = NewNAT(p.rpc.Firewalled)
	ref.setOnPunch(p.onPunch)
	p.startSampling(p.nat, ref)
	return p, nil
}

// startSampling pings DHT nodes from ref's socket and feeds their answers to nat.
func (p *Puncher) startSampling(nat *NAT, ref *Ref) {
	started := p.pool.goroutine(func() {
		for range 2 {
			var nodes []netip.AddrPort
			for _, n := range p.rpc.Nodes(0) {
				nodes = append(nodes, n.Addr)
			}
			var wg sync.WaitGroup
			for _, addr := range nat.pick(nodes) {
				wg.Go(func() {
					res, err := p.rpc.Request(p.ctx, addr, rpc.Outgoing{Command: rpc.CmdPing, Internal: true},
						&rpc.RequestOptions{Retries: -1, Socket: ref.sock})
					if err == nil {
						nat.Add(res.To, res.From)
					}
				})
			}
			wg.Wait()
			if !nat.short() || p.ctx.Err() != nil {
				break
			}
		}
		nat.Stop()
	})
	if !started {
		nat.Stop()
	}
}

// Socket returns the socket holepunch rounds and probes go from.
func (p *Puncher) Socket() *udx.Socket {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.main.sock
}

// NAT returns the classification of the socket's NAT.
func (p *Puncher) NAT() *NAT {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nat
}

// UpdateRemote records what the peer said about itself in a round: whether it punches, its
// firewall and addresses. verified is the host the peer just proved it receives at (invalid
// for none); hosts verified before stay verified.
func (p *Puncher) UpdateRemote(punching bool, firewall Firewall, addrs []netip.AddrPort, verified netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	remote := make([]RemoteAddr, 0, len(addrs))
	for _, a := range addrs {
		ok := verified.IsValid() && a.Addr() == verified
		for _, old := range p.remote {
			ok = ok || (old.Verified && old.Addr.Addr() == a.Addr())
		}
		remote = append(remote, RemoteAddr{Addr: a, Verified: ok})
	}
	p.remoteFirewall, p.remote, p.remotePunching = firewall, remote, punching
}

// Remote returns what the peer said about itself last.
func (p *Puncher) Remote() (firewall Firewall, addrs []RemoteAddr, punching bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.remoteFirewall, append([]RemoteAddr(nil), p.remote...), p.remotePunching
}

// State reports whether a strategy runs, whether the initiator connected, whether the
// puncher is destroyed, and the strategy chosen (None before Punch).
func (p *Puncher) State() (punching, connected, destroyed bool, strategy Strategy) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.punching, p.connected, p.destroyed, p.strategy
}

// Started reports whether Punch was called: the puncher's punch is under way or over. A
// repeated holepunch round of the same handshake must not count that punch against the
// random-punch limit a second time.
func (p *Puncher) Started() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.punched != nil
}

// Ping sends a punch to addr from the main socket (the server's fast-open answer).
func (p *Puncher) Ping(addr netip.AddrPort) { p.mainRef().punch(addr, defaultTTL) }

// OpenSession sends a low-TTL punch to addr from the main socket: it opens our NAT's mapping
// towards addr without reaching the peer's NAT on a real network.
func (p *Puncher) OpenSession(addr netip.AddrPort) { p.mainRef().punch(addr, lowTTL) }

func (p *Puncher) mainRef() *Ref {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.main
}

// unstable: our NAT is not classified, or both NATs are random.
func (p *Puncher) unstable() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	local := p.nat.Firewall()
	return local == Unknown || (local >= Random && p.remoteFirewall >= Random)
}

// Analyze waits for the NAT's analysis and reports whether the pair looks punchable: our
// NAT is classified and not both NATs are random. If not and allowReopen is set, it tries up
// to 3 fresh sockets (a mobile NAT may map a new socket better), once per puncher, and
// reports whether our NAT then looks consistent. It returns false when ctx ends or the
// puncher is destroyed first.
func (p *Puncher) Analyze(ctx context.Context, allowReopen bool) bool {
	select {
	case <-p.NAT().Analyzed():
	case <-ctx.Done():
		return false
	case <-p.ctx.Done():
		return false
	}
	if !p.unstable() {
		return true
	}
	if !allowReopen {
		return false
	}
	p.mu.Lock()
	ch := p.reopening
	if ch == nil {
		ch = make(chan struct{})
		p.reopening = ch
		if !p.pool.goroutine(func() { p.reopen(ch) }) {
			close(ch)
		}
	}
	p.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reopenedOK
}

func (p *Puncher) reopen(done chan struct{}) {
	defer close(done)
	for i := 0; i < p.cfg.MaxReopens && p.unstable(); i++ {
		punching, connected, destroyed, _ := p.State()
		if punching || connected || destroyed {
			break
		}
		nat, ok := p.reset()
		if !ok {
			break
		}
		select {
		case <-nat.Analyzed():
		case <-p.ctx.Done():
		}
	}
	p.mu.Lock()
	p.reopenedOK = p.nat.Firewall().coerce() == Consistent
	p.mu.Unlock()
}

// reset replaces the main socket and its NAT with fresh ones.
func (p *Puncher) reset() (*NAT, bool) {
	ref, err := p.pool.Acquire()
	if err != nil {
		return nil, false
	}
	nat := NewNAT(p.rpc.Firewalled)
	p.mu.Lock()
	if p.destroyed || p.connected || p.reached {
		// A responder the initiator already reached keeps the socket it reached.
		p.mu.Unlock()
		ref.Release()
		return nil, false
	}
	prev, prevNAT := p.main, p.nat
	p.refs[len(p.refs)-1] = ref // before punching the main socket is the only one
	p.main, p.nat = ref, nat
	p.mu.Unlock()
	ref.setOnPunch(p.onPunch)
	prev.Release()
	prevNAT.Stop()
	p.startSampling(nat, ref)
	return nat, true
}

// Reached reports whether a punch from the initiator arrived at a responder: the path to
// its current socket works, whatever the NAT analysis says.
func (p *Puncher) Reached() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reached
}

// Punch starts the strategy for the two firewalls, in the background, and reports whether
// there is one; later calls report the first call's answer. For the birthday strategy it
// returns once the 256 sockets are open.
func (p *Puncher) Punch() bool {
	p.mu.Lock()
	if ch := p.punched; ch != nil {
		p.mu.Unlock()
		<-ch
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.punchOK
	}
	ch := make(chan struct{})
	p.punched = ch
	p.mu.Unlock()
	ok := p.punch()
	p.mu.Lock()
	p.punchOK = ok
	close(ch)
	p.mu.Unlock()
	return ok
}

func (p *Puncher) punch() bool {
	p.mu.Lock()
	if p.destroyed || p.connected || len(p.remote) == 0 {
		p.mu.Unlock()
		return false
	}
	var target netip.AddrPort
	for _, a := range p.remote {
		if a.Verified {
			target = a.Addr
			break
		}
	}
	s := Choose(p.nat.Firewall(), p.remoteFirewall, target.IsValid())
	p.strategy = s
	p.punching = s != None
	if s == RandomProbes || s == Birthday {
		p.randomized = true
		p.lim.begin()
	}
	p.mu.Unlock()
	switch s {
	case ConsistentProbe:
		p.pool.goroutine(p.consistentProbe)
	case RandomProbes:
		p.pool.goroutine(func() { p.randomProbes(target) })
	case Birthday:
		p.openBirthdaySockets(target)
		p.pool.goroutine(func() { p.keepAliveRandom(target) })
	default:
		return false
	}
	return true
}

func (p *Puncher) isPunching() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.punching
}

// sleep waits d; it reports false when the puncher stopped first.
func (p *Puncher) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.ctx.Done():
		return false
	}
}

func (p *Puncher) consistentProbe() {
	if !p.opts.Initiator && !p.sleep(p.cfg.ConsistentInterval) {
		p.giveUp()
		return
	}
	for try := 1; try <= p.cfg.ConsistentTries && p.isPunching(); try++ {
		_, remote, _ := p.Remote()
		main := p.mainRef()
		for _, a := range remote {
			if a.Verified || try&3 == 0 {
				main.punch(a.Addr, defaultTTL)
			}
		}
		if !p.sleep(p.cfg.ConsistentInterval) {
			break
		}
	}
	p.giveUp()
}

func (p *Puncher) randomProbes(target netip.AddrPort) {
	for range p.cfg.RandomTries {
		if !p.isPunching() {
			break
		}
		port := uint16(1000 + rand.IntN(65536-1000))
		p.mainRef().punch(netip.AddrPortFrom(target.Addr(), port), defaultTTL)
		if !p.sleep(p.cfg.ProbeInterval) {
			break
		}
	}
	p.giveUp()
}

// openBirthdaySockets opens sockets until there are BirthdaySockets, each punching target
// once with a low TTL: each opens a mapping of our random NAT towards the peer.
func (p *Puncher) openBirthdaySockets(target netip.AddrPort) {
	for {
		p.mu.Lock()
		more := p.punching && len(p.refs) < p.cfg.BirthdaySockets
		p.mu.Unlock()
		if !more {
			return
		}
		ref, err := p.pool.Acquire()
		if err != nil {
			return
		}
		p.mu.Lock()
		if !p.punching {
			p.mu.Unlock()
			ref.Release()
			return
		}
		p.refs = append(p.refs, ref)
		p.mu.Unlock()
		ref.setOnPunch(p.onPunch)
		ref.punch(target, lowTTL)
	}
}

// keepAliveRandom has the birthday sockets take turns punching target, the first round with
// a low TTL, so that their mappings stay open while the peer probes ports.
func (p *Puncher) keepAliveRandom(target netip.AddrPort) {
	if !p.sleep(p.cfg.KeepAliveDelay) {
		p.giveUp()
		return
	}
	i, lowRounds := 0, 1
	for range p.cfg.RandomTries {
		p.mu.Lock()
		if !p.punching {
			p.mu.Unlock()
			break
		}
		if i >= len(p.refs) {
			i = 0
			if lowRounds > 0 {
				lowRounds--
			}
		}
		ref := p.refs[i]
		p.mu.Unlock()
		i++
		ttl := defaultTTL
		if lowRounds > 0 {
			ttl = lowTTL
		}
		ref.punch(target, ttl)
		if !p.sleep(p.cfg.RandomInterval) {
			break
		}
	}
	p.giveUp()
}

// onPunch handles a punch that arrived at ref's socket from from, on the socket's read
// goroutine.
func (p *Puncher) onPunch(ref *Ref, from netip.AddrPort) {
	if !p.opts.Initiator {
		p.mu.Lock()
		p.reached = true
		p.mu.Unlock()
		ref.punch(from, defaultTTL) // keep our mapping towards the client open
		return
	}
	p.mu.Lock()
	if p.connected || p.destroyed {
		p.mu.Unlock()
		return
	}
	p.connected, p.punching = true, false
	var others []*Ref
	for _, r := range p.refs {
		if r != ref {
			others = append(others, r)
		}
	}
	p.refs, p.main = []*Ref{ref}, ref
	randomized := p.randomized
	p.randomized = false
	p.mu.Unlock()
	p.cancel()
	if randomized {
		p.lim.end()
	}
	if len(others) > 0 && !p.pool.goroutine(func() { releaseAll(others) }) {
		releaseAll(others)
	}
	if p.opts.OnConnect != nil {
		p.opts.OnConnect(ref.sock, from)
	}
}

func releaseAll(refs []*Ref) {
	for _, r := range refs {
		r.Release()
	}
}

// giveUp ends a strategy that ran out: unless connected, the puncher is destroyed and
// OnAbort called.
func (p *Puncher) giveUp() {
	p.mu.Lock()
	connected := p.connected
	p.mu.Unlock()
	if connected {
		return
	}
	if p.destroy() && p.opts.OnAbort != nil {
		p.opts.OnAbort()
	}
}

// Destroy stops the strategy and sampling and releases the sockets (a socket a stream holds
// stays open for it). It is idempotent and does not call OnAbort.
func (p *Puncher) Destroy() { p.destroy() }

// destroy reports whether it destroyed a puncher that had not connected.
func (p *Puncher) destroy() bool {
	p.mu.Lock()
	if p.destroyed {
		p.mu.Unlock()
		return false
	}
	p.destroyed, p.punching = true, false
	refs, nat := p.refs, p.nat
	p.refs = nil
	randomized, connected := p.randomized, p.connected
	p.randomized = false
	p.mu.Unlock()
	p.cancel()
	nat.Stop()
	// Closing sockets waits for their goroutines, and Destroy may run on one of them.
	if !p.pool.goroutine(func() { releaseAll(refs) }) {
		releaseAll(refs)
	}
	if randomized {
		p.lim.end()
	}
	return !connected
}
