package dht

import (
	"cmp"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// DefaultPort is the port a HyperDHT node prefers for its server socket.
const DefaultPort = 49737

// DefaultBootstrap lists the public HyperDHT bootstrap nodes (the reference's BOOTSTRAP_NODES):
// a suggested IP that is pinged first, and a host name resolved if it does not answer.
var DefaultBootstrap = []rpc.BootstrapNode{
	{Suggested: netip.MustParseAddr("88.99.3.86"), Host: "node1.hyperdht.org", Port: 49737},
	{Suggested: netip.MustParseAddr("142.93.90.113"), Host: "node2.hyperdht.org", Port: 49737},
	{Suggested: netip.MustParseAddr("138.68.147.8"), Host: "node3.hyperdht.org", Port: 49737},
}

// Options configure a [Node]. The zero value of each field means the reference's default.
type Options struct {
	// Bootstrap nodes to join through. nil means [DefaultBootstrap], the public network; an
	// empty non-nil slice means none (a first node of a private network).
	Bootstrap []rpc.BootstrapNode
	// Nodes are added to the routing table without contacting them.
	Nodes []netip.AddrPort
	// Host is the address to bind; default 0.0.0.0.
	Host string
	// Port is the preferred server port; 0 means 49737 (then 49738..49741, then any).
	Port int
	// FixedPort makes New fail when Port (or 49737) cannot be bound, instead of falling back.
	FixedPort bool
	// Mode: adaptive (default), ephemeral or persistent.
	Mode rpc.Mode
	// KeyPair is the node's default key pair; zero means a random one.
	KeyPair KeyPair
	// MaxSize and MaxAge bound the record stores a persistent node keeps for others
	// (defaults 65536 entries and 20 minutes; mutable and immutable values 48 hours).
	MaxSize int
	MaxAge  time.Duration
	// ListenPacket opens the UDP sockets; nil means net.ListenPacket.
	ListenPacket func(network, address string) (net.PacketConn, error)
	// InterfaceAddrs lists this host's addresses, shared in handshakes for same-LAN
	// connections; nil means the interfaces of the process's network namespace (set it when
	// ListenPacket opens sockets elsewhere, such as in another namespace).
	InterfaceAddrs func() []netip.Addr
	// ConnectionKeepAlive is how often an idle connection sends an encrypted keep-alive;
	// 0 means 5 s (the reference's connectionKeepAlive), negative means never.
	ConnectionKeepAlive time.Duration
	// RandomPunchInterval is the least time between the end of one holepunch involving a
	// randomizing NAT and the start of the next (the reference's randomPunchInterval); 0
	// means 20 s.
	RandomPunchInterval time.Duration
	// Logger receives lifecycle logs; nil discards them.
	Logger *slog.Logger
	// OnEvent receives the routing layer's events (see [rpc.Event]), in order.
	OnEvent func(rpc.Event)
	// InterfaceCheckInterval is how often the node compares its interface addresses
	// (InterfaceAddrs) with the last ones, and on a change emits rpc.EventNetworkChange and
	// announces its servers again (udx-native's interface watcher, which polls every 5 s);
	// 0 means 5 s, negative means never.
	InterfaceCheckInterval time.Duration
}

// Node is a HyperDHT node: a dht-rpc node with the HyperDHT commands. Once persistent it
// stores announcements and values for others. It is safe for concurrent use.
type Node struct {
	rpc            *rpc.Node
	defaultKeyPair KeyPair
	opts           Options

	udx *udx.Instance // every connection's raw stream lives here, on the rpc sockets
	log *slog.Logger  // never nil

	quit     chan struct{} // closed by Destroy: stops watchInterfaces
	quitOnce sync.Once
	watchers sync.WaitGroup

	mu         sync.Mutex
	store      *records.Store                // guarded by mu; created on the first storage request while persistent
	servers    map[[32]byte]*Server          // guarded by mu; listening servers by target
	allServers map[*Server]struct{}          // guarded by mu; servers created and not closed
	relayCache map[[32]byte][]netip.AddrPort // guarded by mu; where a server's handshakes last got through
	streams    map[*udx.Stream]struct{}      // guarded by mu; raw streams of connections, until done
	destroyed  bool                          // guarded by mu
	natHost    netip.Addr                    // guarded by mu; the last known sampled public host
	addrs      addrValidator
	punch      *punchState // holepunching: extra sockets, random-punch limit, ConnInfo
}

// blocked are the reference's filterNode entries: stray testnet nodes kept out of tables.
func blocked(a netip.AddrPort) bool {
	host, port := a.Addr().String(), a.Port()
	return (port == 49738 && (host == "134.209.28.98" || host == "167.99.142.185")) ||
		(port == 9400 && host == "35.233.47.252") || host == "150.136.142.116"
}

// New starts a HyperDHT node; it joins in the background ([Node.Ready] waits).
func New(opts Options) (*Node, error) {
	return newNode(opts, func(ro rpc.Options) (*rpc.Node, error) { return rpc.New(ro) })
}

// Bootstrapper starts a bootstrap node reachable at the public IPv4 host:port (see
// [rpc.Bootstrapper]); opts.Host is the bind address.
func Bootstrapper(port int, host string, opts Options) (*Node, error) {
	return newNode(opts, func(ro rpc.Options) (*rpc.Node, error) { return rpc.Bootstrapper(port, host, ro) })
}

func newNode(opts Options, start func(rpc.Options) (*rpc.Node, error)) (*Node, error) {
	n := &Node{
		opts: opts, defaultKeyPair: opts.KeyPair, udx: udx.NewInstance(), log: opts.Logger, quit: make(chan struct{}),
		servers: make(map[[32]byte]*Server), allServers: make(map[*Server]struct{}),
		relayCache: make(map[[32]byte][]netip.AddrPort), streams: make(map[*udx.Stream]struct{}),
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.defaultKeyPair.SecretKey == nil {
		kp, err := NewKeyPair(nil)
		if err != nil {
			return nil, err
		}
		n.defaultKeyPair = kp
	}
	ro := rpc.Options{
		Bootstrap:    opts.Bootstrap,
		Nodes:        opts.Nodes,
		Host:         opts.Host,
		Port:         opts.Port,
		FixedPort:    opts.FixedPort,
		Mode:         opts.Mode,
		ListenPacket: n.listenPacket,
		Logger:       opts.Logger,
		FilterNode:   func(a netip.AddrPort) bool { return !blocked(a) },
		OnEvent:      n.onEvent,
	}
	if ro.Bootstrap == nil {
		ro.Bootstrap = DefaultBootstrap
	}
	if ro.Port == 0 {
		ro.Port = DefaultPort
	}
	r, err := start(ro)
	if err != nil {
		return nil, err
	}
	n.rpc = r
	n.punch = newPunchState(n)
	for _, cmd := range []uint64{records.CmdFindPeer, records.CmdLookup, records.CmdAnnounce, records.CmdUnannounce,
		records.CmdMutablePut, records.CmdMutableGet, records.CmdImmutablePut, records.CmdImmutableGet} {
		r.Handle(cmd, n.serveStorage)
	}
	r.Handle(records.CmdPeerHandshake, n.onPeerHandshake)
	r.Handle(records.CmdPeerHolepunch, n.onPeerHolepunch)
	if every := cmp.Or(opts.InterfaceCheckInterval, 5*time.Second); every > 0 {
		n.watchers.Add(1)
		go n.watchInterfaces(every)
	}
	return n, nil
}

// onEvent sees the routing layer's events before Options.OnEvent does (hyperdht index.js):
// on a network change every listening server announces itself again, and so it does when the
// sampled public host changes (the reference leaves that to its schedule). It runs on the
// rpc node's event goroutine.
func (n *Node) onEvent(ev rpc.Event) {
	switch ev.Kind {
	case rpc.EventNetworkChange:
		n.refreshServers("network change")
	case rpc.EventNATUpdate:
		// The sampler may pass through "unknown" on its way to a new address: compare known
		// hosts only.
		if host := ev.Addr.Addr(); host.IsValid() {
			n.mu.Lock()
			changed := n.natHost.IsValid() && host != n.natHost
			n.natHost = host
			n.mu.Unlock()
			if changed {
				n.refreshServers("public address changed")
			}
		}
	}
	if n.opts.OnEvent != nil {
		n.opts.OnEvent(ev)
	}
}

// refreshServers has every listening server announce itself again now.
func (n *Node) refreshServers(why string) {
	n.mu.Lock()
	servers := make([]*Server, 0, len(n.servers))
	for _, s := range n.servers {
		servers = append(servers, s)
	}
	n.mu.Unlock()
	if len(servers) > 0 {
		n.log.Debug("dht: announcing servers again", "why", why, "servers", len(servers))
	}
	for _, s := range servers {
		s.Refresh()
	}
}

// watchInterfaces compares the interface addresses every interval and reports a change to the
// rpc node, which emits rpc.EventNetworkChange (back to onEvent) until Destroy.
func (n *Node) watchInterfaces(every time.Duration) {
	defer n.watchers.Done()
	list := n.opts.InterfaceAddrs
	if list == nil {
		list = interfaceAddrs
	}
	snapshot := func() []netip.Addr {
		addrs := slices.Clone(list())
		slices.SortFunc(addrs, netip.Addr.Compare)
		return slices.Compact(addrs)
	}
	last := snapshot()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.quit:
			return
		case <-t.C:
		}
		if now := snapshot(); !slices.Equal(now, last) {
			n.log.Debug("dht: network interfaces changed", "addrs", now)
			last = now
			n.rpc.NetworkChanged()
		}
	}
}

// listenPacket opens the rpc's sockets as UDX sockets, so that connections' raw streams share
// them with the DHT's messages as in the reference.
func (n *Node) listenPacket(network, address string) (net.PacketConn, error) {
	listen := n.opts.ListenPacket
	if listen == nil {
		listen = net.ListenPacket
	}
	pc, err := listen(network, address)
	if err != nil {
		return nil, err
	}
	return n.udx.Listen(pc), nil
}

// socket returns the UDX socket the node talks from (the client socket while firewalled).
func (n *Node) socket() *udx.Socket { return n.rpc.Socket().(*udx.Socket) }

// serverSocket returns the UDX socket other nodes reach this node at.
func (n *Node) serverSocket() *udx.Socket { return n.rpc.ServerSocket().(*udx.Socket) }

// serveStorage answers the storage commands once the node is persistent (the stores are
// created then); before that it answers UNKNOWN_COMMAND, as the reference does.
func (n *Node) serveStorage(req *rpc.Request) {
	id, persistent := n.rpc.ID()
	if !persistent {
		req.Error(rpc.CodeUnknownCommand)
		return
	}
	n.mu.Lock()
	if n.store == nil {
		n.store = records.NewStore(records.StoreOptions{MaxSize: n.opts.MaxSize, MaxAge: n.opts.MaxAge})
	}
	store := n.store
	n.mu.Unlock()
	store.Serve(req, id)
}

// RPC returns the routing layer, for lower-level use (pings, raw requests, statistics).
func (n *Node) RPC() *rpc.Node { return n.rpc }

// DefaultKeyPair returns the node's default key pair.
func (n *Node) DefaultKeyPair() KeyPair { return n.defaultKeyPair }

// Ready blocks until the node has joined the network (or ctx ends, or the node is destroyed).
func (n *Node) Ready(ctx context.Context) error { return n.rpc.Ready(ctx) }

// ID returns the node id; it exists only while the node is persistent.
func (n *Node) ID() (ktable.ID, bool) { return n.rpc.ID() }

// LocalAddr returns the server socket's local address.
func (n *Node) LocalAddr() netip.AddrPort { return n.rpc.LocalAddr() }

// DestroyOptions tune [Node.Destroy].
type DestroyOptions struct {
	// Force skips the graceful part (closing servers, which unannounces them).
	Force bool
}

// Destroy stops the node. Without Force it first closes the node's servers, which unannounces
// them, bounded by ctx; with Force, or once ctx ends, it stops at once and the announcements
// expire on their own (20 minutes). It is idempotent; blocking calls return net.ErrClosed
// afterwards, and the connections of the node end.
func (n *Node) Destroy(ctx context.Context, opts DestroyOptions) error {
	n.mu.Lock()
	n.destroyed = true
	var servers []*Server
	for s := range n.allServers {
		servers = append(servers, s)
	}
	n.mu.Unlock()
	for _, s := range servers {
		if opts.Force {
			s.closeNow()
		} else {
			s.Close(ctx)
		}
	}
	n.mu.Lock()
	var streams []*udx.Stream
	for s := range n.streams {
		streams = append(streams, s)
	}
	n.mu.Unlock()
	for _, s := range streams {
		s.Destroy()
	}
	n.punch.pool.Close()
	n.quitOnce.Do(func() { close(n.quit) })
	n.watchers.Wait()
	return n.rpc.Destroy()
}

// StoreStats reports the sizes of the record stores this node keeps for others (zero while
// it is not persistent).
func (n *Node) StoreStats() records.StoreStats {
	n.mu.Lock()
	store := n.store
	n.mu.Unlock()
	if store == nil {
		return records.StoreStats{}
	}
	return store.Stats()
}
