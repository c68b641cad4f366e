package peers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/routing"
	"github.com/hyperlan/hyperlan/tun"
)

// Router is the OS side of the network state the engine wants: the addresses and MTU of the
// TUN interface and the routes into it. *routing.Router implements it. Set is called with
// the whole desired state each time it changes (never concurrently); Close removes it all.
type Router interface {
	Set(routing.Config) error
	Close() error
}

// Deps are what an [Engine] runs on. Each may be nil, and New then makes it from the config
// as `hyperlan up` needs it; tests pass in-memory ones. New takes ownership of all of them,
// given or made: [Engine.Close] (or a failing New) destroys the node, closes the device and
// closes the router, which removes the addresses and routes it set.
type Deps struct {
	// Node is the DHT node the engine listens, announces, looks up and connects through.
	// nil: New starts one (dht.New) on cfg.Node.ListenPort with cfg.DHT.Bootstrap and the
	// node's key pair, opening its sockets with ListenPacket.
	Node *dht.Node

	// TUN is the VPN's device. nil: New opens cfg.Node.Interface with MTU cfg.Node.MTU
	// (tun.Open, in the network namespace of the calling thread).
	TUN tun.Device

	// Router sets the addresses, MTU and routes of the device. nil: New makes a
	// routing.Router for the device's name (in the calling thread's namespace).
	Router Router

	// ListenPacket and InterfaceAddrs are passed to the DHT node New starts (see
	// dht.Options); nil means the host's own. Unused when Node is given. Either way the
	// node shares no address inside the mesh as a same-LAN candidate: none on the TUN
	// device, none in the network's prefixes or in a subnet routed into the device.
	ListenPacket   func(network, address string) (net.PacketConn, error)
	InterfaceAddrs func() []netip.Addr

	// Logger receives the engine's events (peers joining and leaving, refusals, route
	// changes); nil discards. Nothing is logged per packet: see [Status] for the counters.
	Logger *slog.Logger
}

// Engine is the VPN engine of one member: it keeps connections to the other members of the
// network and moves IP packets between the TUN device and them. Create it with [New], start
// it with [Engine.Run], stop it with [Engine.Close] or by cancelling Run's context. Its
// methods are safe for concurrent use.
type Engine struct {
	cfg    *configs.Config
	kp     dht.KeyPair
	self   configs.PublicKey
	secret []byte   // the network secret; nil when members are admitted by key only
	topic  [32]byte // valid when secret != nil
	log    *slog.Logger
	timing timing

	node   *dht.Node
	dev    tun.Device
	router Router

	// relayThrough picks the blind relay of each connection (dht.relay_through); nil when
	// the config names none.
	relayThrough dht.RelaySelector
	relayKeys    []configs.PublicKey // the keys relayThrough picks from
	// relayKP is the key pair this node serves as a blind relay on (node.relay, derived
	// with configs.RelaySeed); nil when it does not serve.
	relayKP *dht.KeyPair

	// Own addresses: host prefixes (/32, /128) and the subnets this node serves. No peer
	// may claim them.
	selfAddrs  []netip.Prefix
	selfRoutes []netip.Prefix

	table    atomic.Pointer[table] // where packets go; rebuilt on every change
	conns    sync.Map              // *dht.Conn -> *session, for datagrams
	counters counters
	rx       *bufferPool  // buffers of packets for the device
	toTUN    chan *buffer // packets for routineWriteTUN
	floor    int          // the largest packet every session carries

	mu        sync.Mutex
	peers     map[configs.PublicKey]*peer     // guarded by mu
	refused   map[configs.PublicKey]time.Time // guarded by mu; keys that failed to prove membership, until
	pending   int                             // guarded by mu; sessions in their handshake
	routes    *routing.Config                 // guarded by mu; the last config given to the router
	dirty     bool                            // guarded by mu; the router's config may be out of date
	announced time.Time                       // guarded by mu; when the topic was last announced
	listened  bool                            // guarded by mu; the server is listening
	server    *dht.Server                     // guarded by mu; replaced when a Listen fails (dht closes it)
	relay     *dht.BlindRelay                 // guarded by mu; the relay this node serves, once announced
	closing   bool                            // guarded by mu; shutdown has begun

	wake chan struct{} // capacity 1: something for routineManage to look at

	ctx    context.Context // cancelled by shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine of the engine

	lifeMu    sync.Mutex
	ran       bool          // guarded by lifeMu; Run was called
	stopped   bool          // guarded by lifeMu; Close was called
	stop      chan struct{} // closed by Close
	fatal     chan error    // capacity 1: a failure that ends Run
	done      chan struct{} // closed when shutdown has finished
	closeOnce sync.Once
	closeErr  error
}

// Errors of the engine.
var (
	// ErrRunning is returned by a second call of Run, and by Run after Close.
	ErrRunning = errors.New("peers: engine already ran")
	// ErrNotMember is why a session ends when the remote key is neither a configured peer
	// nor proved that it knows the network secret.
	ErrNotMember = errors.New("peers: remote is not a member of the network")
	// ErrTimeout is why a session ends when the remote stopped answering.
	ErrTimeout = errors.New("peers: remote stopped answering")
	// ErrReplaced is why a session ends when another session with the same member won the
	// tie-break (one connection per pair).
	ErrReplaced = errors.New("peers: replaced by another connection to the same member")
)

// New checks cfg, makes the missing deps (see [Deps]) and returns an engine that does
// nothing until Run. cfg must be a validated config (configs.Load or configs.Parse); the
// engine keeps it and reads it, so it must not be changed afterwards. On error, New has
// released every dep.
func New(cfg *configs.Config, deps Deps) (e *Engine, err error) {
	defer func() {
		if err != nil {
			releaseDeps(deps)
		}
	}()
	kp, err := dht.NewKeyPair(cfg.Node.Seed[:])
	if err != nil {
		return nil, fmt.Errorf("peers: key pair: %w", err)
	}
	if kp.PublicKey != cfg.Node.PublicKey {
		return nil, errors.New("peers: node.public_key does not match the seed in node.key_file")
	}
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	var relayKP *dht.KeyPair
	if cfg.Node.Relay {
		rs := configs.RelaySeed(cfg.Node.Seed)
		k, err := dht.NewKeyPair(rs[:])
		if err != nil {
			return nil, fmt.Errorf("peers: relay key pair: %w", err)
		}
		relayKP = &k
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var shared *meshFilter
	if deps.Node == nil {
		device := cfg.Node.Interface
		if deps.TUN != nil {
			device = deps.TUN.Name()
		}
		shared = newMeshFilter(cfg, device, deps.InterfaceAddrs)
		deps.Node, err = dht.New(dht.Options{
			Bootstrap:           bootstrap(cfg.DHT.Bootstrap),
			Port:                cfg.Node.ListenPort,
			KeyPair:             kp,
			ListenPacket:        deps.ListenPacket,
			InterfaceAddrs:      shared.InterfaceAddrs,
			ConnectionKeepAlive: keepAlive(cfg.Node.KeepAlive),
			Logger:              log.With("layer", "dht"),
		})
		if err != nil {
			return nil, fmt.Errorf("peers: start the DHT node: %w", err)
		}
	}
	if deps.TUN == nil {
		deps.TUN, err = tun.Open(tun.Options{Name: cfg.Node.Interface, MTU: cfg.Node.MTU})
		if err != nil {
			return nil, err
		}
	}
	if deps.Router == nil {
		r, err := routing.New(deps.TUN.Name(), routing.Options{Logger: log.With("layer", "routing")})
		if err != nil {
			return nil, err
		}
		deps.Router = r
	}
	e = newEngine(cfg, kp, relayKP, deps, log)
	if shared != nil {
		shared.engine.Store(e)
	}
	return e, nil
}

// checkConfig checks what the engine relies on beyond configs' own validation.
func checkConfig(cfg *configs.Config) error {
	n := cfg.Network
	switch {
	case !n.IPv4.IsValid() || !n.IPv4.Addr().Is4():
		return errors.New("peers: the network has no IPv4 prefix")
	case !cfg.Node.Address.IsValid() || !n.IPv4.Contains(cfg.Node.Address):
		return fmt.Errorf("peers: node address %v outside the network %v", cfg.Node.Address, n.IPv4)
	case n.IPv6.IsValid() && cfg.Node.Address6.IsValid() && !n.IPv6.Contains(cfg.Node.Address6):
		return fmt.Errorf("peers: node address %v outside the network %v", cfg.Node.Address6, n.IPv6)
	case n.Secret != nil && len(n.Secret) != configs.SecretSize:
		return fmt.Errorf("peers: network secret of %d bytes, want %d", len(n.Secret), configs.SecretSize)
	}
	return checkPeers(cfg, cfg.Peers)
}

// checkPeers checks a peer list against the node.
func checkPeers(cfg *configs.Config, list []configs.Peer) error {
	seen := make(map[configs.PublicKey]bool, len(list))
	for _, p := range list {
		switch {
		case p.PublicKey == cfg.Node.PublicKey:
			return fmt.Errorf("peers: peer %q has the node's own public key", p.Name)
		case seen[p.PublicKey]:
			return fmt.Errorf("peers: peer %q: public key %v listed twice", p.Name, p.PublicKey)
		}
		seen[p.PublicKey] = true
	}
	return nil
}

func bootstrap(list []configs.Bootstrap) []rpc.BootstrapNode {
	if list == nil {
		return nil // the public HyperDHT
	}
	out := make([]rpc.BootstrapNode, 0, len(list))
	for _, b := range list {
		out = append(out, rpc.BootstrapNode{Host: b.Host, Port: b.Port, Suggested: b.Suggested})
	}
	return out
}

// keepAlive maps node.keep_alive (0 means never) to dht.Options.ConnectionKeepAlive (0
// means the default, negative never).
func keepAlive(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func releaseDeps(d Deps) {
	if d.Router != nil {
		d.Router.Close()
	}
	if d.TUN != nil {
		d.TUN.Close()
	}
	if d.Node != nil {
		d.Node.Destroy(context.Background(), dht.DestroyOptions{Force: true})
	}
}

// Run starts the engine and blocks until ctx is cancelled, Close is called or the engine
// fails; it then shuts the engine down (as Close does) and returns. It returns nil after a
// cancel or Close, and otherwise the failure: the device failed, or the router refused the
// first config (an address or route that collides with the system's). The network being
// unreachable is no failure: the engine keeps trying. Run may be called once; later calls
// (and a Run after Close) return ErrRunning.
func (e *Engine) Run(ctx context.Context) error {
	e.lifeMu.Lock()
	if e.ran || e.stopped {
		e.lifeMu.Unlock()
		return ErrRunning
	}
	e.ran = true
	e.lifeMu.Unlock()
	err := e.start()
	if err == nil {
		select {
		case <-ctx.Done():
		case <-e.stop:
		case err = <-e.fatal:
		}
	}
	e.shutdown()
	return err
}

// Close stops the engine: it unannounces, closes every connection, closes the server, stops
// the data plane and releases the deps (the router removes the addresses and routes, the
// device closes, the node is destroyed). It waits for a running Run to return and for every
// goroutine of the engine to end. Close is idempotent and returns the first error of the
// release.
func (e *Engine) Close() error {
	e.lifeMu.Lock()
	first, ran := !e.stopped, e.ran
	e.stopped = true
	e.lifeMu.Unlock()
	if first {
		close(e.stop)
	}
	if !ran {
		e.shutdown()
	}
	<-e.done
	return e.closeErr
}

// Reload replaces the list of configured peers (a new config's [[peer]] tables, after
// SIGHUP): new keys are admitted and dialled, removed keys lose their connection unless the
// member proved the network secret, and changed addresses and routes take effect at once.
// The rest of the config is not reloaded. It fails, changing nothing, if the list names the
// node's own key or a key twice.
func (e *Engine) Reload(list []configs.Peer) error {
	if err := checkPeers(e.cfg, list); err != nil {
		return err
	}
	var closing []*session
	e.mu.Lock()
	closing = e.reloadLocked(list)
	e.mu.Unlock()
	for _, s := range closing {
		s.close(ErrNotMember)
	}
	e.poke()
	return nil
}

// PublicKey returns the node's public key.
func (e *Engine) PublicKey() configs.PublicKey { return e.self }
