package rpc

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperlan/hyperlan/dht/ktable"
)

// Internal commands (dht-rpc lib/commands.js); they travel with the internal flag set.
const (
	CmdPing        = 0
	CmdPingNAT     = 1
	CmdFindNode    = 2
	CmdDownHint    = 3
	CmdDelayedPing = 4
)

// Handler serves one user (non-internal) command. It runs on the socket's read goroutine and
// must not block: it answers with [Request.Reply], [Request.Error] or [Request.Relay], now or
// later from another goroutine, or not at all. It must not call [Node.Destroy] (which waits for
// that goroutine); hand such work to another goroutine.
type Handler func(req *Request)

// Node is a dht-rpc node: two UDP sockets, a Kademlia routing table, the request engine and
// the background work (bootstrap, ticks, refresh, NAT sampling). It is safe for concurrent use.
//
// Concurrency: the sockets are read by one goroutine each; one run goroutine owns the timers
// (drain, tick, request deadlines); bootstrap and refresh queries run on goroutines the node
// waits for in [Node.Destroy]. All mutable state below mu is guarded by it; callbacks (request
// completions, handlers, events) are never called with mu held.
type Node struct {
	opts   Options
	log    *slog.Logger
	events *emitter

	server *socket                      // public socket; its port is the node's port
	client *socket                      // requests go out here while firewalled
	extra  map[net.PacketConn]*attached // guarded by mu; sockets added with Attach

	ctx    context.Context // cancelled by Destroy
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup // run, readers, background queries, delayed pings
	ready  chan struct{}  // closed when bootstrapped
	timerW chan struct{}  // wakes run when the earliest request deadline moved

	handlersMu sync.RWMutex
	handlers   map[uint64]Handler // guarded by handlersMu

	malformed atomic.Uint64 // datagrams dropped by the decoder

	mu            sync.Mutex
	table         *ktable.Table[*peer]
	nodes         tos
	nat           *natSampler
	tok           tokens
	cwnd          congestion
	tid           uint16
	inflight      map[uint16]*request
	deadlines     deadlineHeap
	queued        []*request // waiting for congestion room, FIFO
	ephemeral     bool
	firewalled    bool
	adaptive      bool
	forcePersist  bool
	bootstrapped  bool
	destroyed     bool
	tick          int
	refreshTicks  int
	stableTicks   int
	lastTick      time.Time
	lastHost      netip.Addr
	repinging     int
	checks        int
	downHintsSent int
	delayedPings  int              // DELAYED_PING replies waiting, at most maxDelayedPings
	bootSamples   []netip.AddrPort // id-less responders whose "to" we sampled
	watchers      []*hostWatch
	closerScratch []*peer
	addrScratch   []netip.AddrPort
	health        health
	stats         Stats
	online        bool
	degraded      bool
}

// Stats are counters of a node's traffic.
type Stats struct {
	Requests struct {
		Active, Total, Responses, Timeouts, Retries int
	}
	// Commands counts internal commands sent (Tx) and answered (Rx), by command number.
	Commands [4]struct{ Tx, Rx int }
	Queries  struct{ Active, Total int }
	// Malformed counts datagrams the decoder dropped.
	Malformed uint64
}

// Timing of the background work (dht-rpc index.js).
const (
	tickInterval    = 5 * time.Second
	sleepingGap     = 3 * tickInterval
	stableTicks     = 240 // ~20 min
	moreStableTicks = 3 * stableTicks
	refreshTicks    = 60 // ~5 min
	recentNode      = 12 // ticks: heard from less than a minute ago
	oldNode         = 360
)

// New binds the node's sockets and starts joining the network in the background; use
// [Node.Ready] to wait for the bootstrap to finish.
func New(opts Options) (*Node, error) {
	return newNode(opts, nil)
}

// Bootstrapper starts a bootstrap node: a persistent node at the public address host:port
// from the first moment, with no bootstrap list of its own and no port fallback. host must be
// the IPv4 address other nodes reach it at; opts.Host is the address to bind (default
// 0.0.0.0). Unlike the reference, port 0 is accepted: the server socket gets a free port and
// the node's public address (and id) use that port, which must then be public as bound.
func Bootstrapper(port int, host string, opts Options) (*Node, error) {
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("rpc: bootstrapper: port %d out of range", port)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Is4() {
		return nil, fmt.Errorf("rpc: bootstrapper: host %q must be an IPv4 address", host)
	}
	if ip.IsUnspecified() {
		return nil, fmt.Errorf("rpc: bootstrapper: host %q is not a reachable address", host)
	}
	opts.Port = port
	opts.Mode = ModePersistent
	opts.FixedPort = true
	opts.Bootstrap = nil
	return newNode(opts, func(n *Node) {
		n.firewalled = false
		n.nat.add(ip, n.server.port)
	})
}

func newNode(opts Options, setup func(*Node)) (*Node, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.MaxWindow <= 0 {
		opts.MaxWindow = DefaultMaxWindow
	}
	if opts.MaxPingDelay <= 0 {
		opts.MaxPingDelay = DefaultMaxPingDelay
	}
	if opts.DownHintsRateLimit == 0 {
		opts.DownHintsRateLimit = DefaultDownHintsRateLimit
	}
	if opts.Host == "" {
		opts.Host = "0.0.0.0"
	}
	if opts.ListenPacket == nil {
		opts.ListenPacket = net.ListenPacket
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var tableID ktable.ID
	rand.Read(tableID[:])
	n := &Node{
		opts:         opts,
		log:          log,
		ready:        make(chan struct{}),
		timerW:       make(chan struct{}, 1),
		handlers:     make(map[uint64]Handler),
		table:        ktable.New[*peer](tableID, ktable.K),
		nat:          &natSampler{},
		tok:          tokens{random: func(b []byte) { rand.Read(b) }},
		cwnd:         congestion{maxWindow: opts.MaxWindow},
		tid:          uint16(mrand.UintN(65536)),
		inflight:     make(map[uint16]*request),
		ephemeral:    true,
		firewalled:   true,
		adaptive:     opts.Mode == ModeAdaptive,
		forcePersist: opts.Mode == ModePersistent,
		tick:         randomOffset(100),
		refreshTicks: randomOffset(refreshTicks),
		online:       true,
	}
	if n.adaptive {
		n.stableTicks = stableTicks
	}
	if err := n.bind(); err != nil {
		return nil, err
	}
	if setup != nil {
		setup(n)
	}
	n.events = newEmitter(opts.OnEvent)
	n.ctx, n.cancel = context.WithCancelCause(context.Background())
	n.lastTick = time.Now()
	for i := len(opts.Nodes) - 1; i >= 0; i-- {
		n.AddNode(opts.Nodes[i])
	}
	n.wg.Add(4)
	go n.readLoop(n.server)
	go n.readLoop(n.client)
	go n.run()
	go n.bootstrap()
	return n, nil
}

// randomOffset spreads periodic work over the network: n minus up to half of n.
func randomOffset(n int) int {
	return n - int(mrand.Float64()*0.5*float64(n))
}

// bind opens the server socket on the preferred port range (falling back to a random port
// unless FixedPort) and the client socket on a random port.
func (n *Node) bind() error {
	var candidates []int
	if n.opts.Port != 0 {
		for p := n.opts.Port; p < n.opts.Port+portRangeSize && p <= 65535; p++ {
			candidates = append(candidates, p)
		}
	}
	var server *socket
	var lastErr error
	for _, p := range candidates {
		s, err := n.listen(p, true)
		if err == nil {
			server = s
			break
		}
		lastErr = err
		if n.opts.FixedPort {
			return fmt.Errorf("rpc: bind server socket: %w", err)
		}
	}
	if server == nil {
		s, err := n.listen(0, true)
		if err != nil {
			if lastErr != nil {
				err = lastErr
			}
			return fmt.Errorf("rpc: bind server socket: %w", err)
		}
		server = s
	}
	client, err := n.listen(0, false)
	if err != nil {
		server.pc.Close()
		return fmt.Errorf("rpc: bind client socket: %w", err)
	}
	n.server, n.client = server, client
	return nil
}

func (n *Node) listen(port int, server bool) (*socket, error) {
	pc, err := n.opts.ListenPacket("udp4", net.JoinHostPort(n.opts.Host, strconv.Itoa(port)))
	if err != nil {
		return nil, err
	}
	return newSocket(pc, server), nil
}

// Ready blocks until the node has bootstrapped, the node is destroyed, or ctx is done. After
// Destroy it returns net.ErrClosed, also for a node that had bootstrapped.
func (n *Node) Ready(ctx context.Context) error {
	if n.closed() {
		return net.ErrClosed
	}
	select {
	case <-n.ready:
		return nil
	case <-n.ctx.Done():
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Handle registers h for the user command cmd, replacing an earlier handler. Requests for
// commands without a handler are answered with [CodeUnknownCommand]. A nil h unregisters.
func (n *Node) Handle(cmd uint64, h Handler) {
	n.handlersMu.Lock()
	defer n.handlersMu.Unlock()
	if h == nil {
		delete(n.handlers, cmd)
		return
	}
	n.handlers[cmd] = h
}

// ID returns the node id, which exists only while the node is persistent.
func (n *Node) ID() (ktable.ID, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.table.ID(), !n.ephemeral
}

// TableID returns the id the routing table is organised around (random until the node
// learns its public address).
func (n *Node) TableID() ktable.ID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.table.ID()
}

// Ephemeral reports whether the node is ephemeral (not serving others, no id).
func (n *Node) Ephemeral() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ephemeral
}

// Firewalled reports whether the node believes others cannot reach its server socket.
func (n *Node) Firewalled() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.firewalled
}

// Bootstrapped reports whether the bootstrap has finished.
func (n *Node) Bootstrapped() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.bootstrapped
}

// PublicAddr returns the address other nodes see this node at, as voted by the NAT sampler.
// The port is 0 behind a randomizing NAT; the result is invalid while unknown.
func (n *Node) PublicAddr() netip.AddrPort {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nat.addr()
}

// RemoteAddr returns the address others can reach this node's server socket at: known only
// when the node is not firewalled and the public port equals the local server port.
func (n *Node) RemoteAddr() (netip.AddrPort, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a := n.nat.addr()
	if !a.IsValid() || a.Port() == 0 || n.firewalled || a.Port() != n.server.port {
		return netip.AddrPort{}, false
	}
	return a, true
}

// Randomized reports whether the NAT in front of the node changes ports per destination.
func (n *Node) Randomized() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nat.host.IsValid() && n.nat.port == 0
}

// LocalAddr returns the server socket's local address.
func (n *Node) LocalAddr() netip.AddrPort { return n.server.local }

// ClientAddr returns the client socket's local address.
func (n *Node) ClientAddr() netip.AddrPort { return n.client.local }

// Socket returns the socket the node talks from: the client socket while it is firewalled,
// else the server socket (dht-rpc's dht.socket). Connections of the layers above use it too.
func (n *Node) Socket() net.PacketConn {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.expectedSocketLocked().pc
}

// ServerSocket returns the server socket, which other nodes reach this node at.
func (n *Node) ServerSocket() net.PacketConn { return n.server.pc }

// Online reports the health state: false after ticks with requests but no responses.
func (n *Node) Online() (online, degraded bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.online, n.degraded
}

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	s := n.stats
	n.mu.Unlock()
	s.Malformed = n.malformed.Load()
	return s
}

// Destroy stops the node: pending requests fail with [ErrDestroyed], the sockets close, and
// Destroy returns once every goroutine of the node has exited. It is idempotent; later calls
// return nil at once. Blocking calls made after Destroy return net.ErrClosed.
func (n *Node) Destroy() error {
	n.mu.Lock()
	if n.destroyed {
		n.mu.Unlock()
		return nil
	}
	n.destroyed = true
	done := n.failAllLocked(ErrDestroyed)
	extra := n.attachedLocked()
	n.mu.Unlock()
	n.cancel(net.ErrClosed)
	for _, r := range done {
		r.finish(nil, ErrDestroyed)
	}
	for _, pc := range extra {
		pc.Close()
	}
	err := errors.Join(n.server.pc.Close(), n.client.pc.Close())
	n.wg.Wait()
	n.events.emit(Event{Kind: EventClose})
	n.events.close()
	return err
}

func (n *Node) closed() bool {
	select {
	case <-n.ctx.Done():
		return true
	default:
		return false
	}
}
