package dht

import (
	"encoding/hex"
	"net/netip"
	"sync"

	"github.com/hyperlan/hyperlan/dht/holepunch"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// punchState is a node's holepunching equipment: the pool of extra sockets, the node-wide
// limit on random punches, the punchers' timing, and what is known about each connection's
// path (ConnInfo).
type punchState struct {
	pool    *holepunch.Pool
	limiter *holepunch.Limiter
	config  holepunch.Config // zero: the reference's timing; tests shorten it

	mu    sync.Mutex
	infos map[*Conn]ConnInfo // guarded by mu; until the connection ends
}

func newPunchState(n *Node) *punchState {
	host := n.opts.Host
	if host == "" {
		host = "0.0.0.0"
	}
	return &punchState{
		pool: holepunch.NewPool(holepunch.PoolOptions{
			UDX: n.udx, RPC: n.rpc, ListenPacket: n.opts.ListenPacket, Host: host,
		}),
		limiter: &holepunch.Limiter{Interval: n.opts.RandomPunchInterval},
		infos:   make(map[*Conn]ConnInfo),
	}
}

// newPuncher starts one side's holepunching for a connection.
func (n *Node) newPuncher(initiator bool, remote records.Firewall, onConnect func(*udx.Socket, netip.AddrPort), onAbort func()) (*holepunch.Puncher, error) {
	return holepunch.New(holepunch.Options{
		Pool: n.punch.pool, Initiator: initiator, RemoteFirewall: holepunch.Firewall(remote),
		Limiter: n.punch.limiter, Config: n.punch.config, OnConnect: onConnect, OnAbort: onAbort,
	})
}

// holdSocket keeps sock open for the stream on it, when it is a puncher's socket.
func (n *Node) holdSocket(sock *udx.Socket, raw *udx.Stream) {
	n.punch.pool.Hold(sock, raw.Done())
}

// HolepunchFunc decides whether to holepunch, given the peer's NAT type and the addresses it
// reported (remote), and ours (local). It runs on a goroutine of the connection attempt and
// may block briefly.
type HolepunchFunc func(remoteFirewall, localFirewall records.Firewall, remoteAddrs, localAddrs []netip.AddrPort) bool

// allows asks f about p's remote and local NATs; a nil f allows every punch.
func (f HolepunchFunc) allows(p *holepunch.Puncher) bool {
	if f == nil {
		return true
	}
	remote, addrs, _ := p.Remote()
	remoteAddrs := make([]netip.AddrPort, len(addrs))
	for i, a := range addrs {
		remoteAddrs[i] = a.Addr
	}
	nat := p.NAT()
	return f(records.Firewall(remote), records.Firewall(nat.Firewall()), remoteAddrs, nat.Addresses())
}

// Path is how a connection's stream reaches the peer.
type Path int

const (
	// PathDirect: the peer was reachable without punching (an open server or client, or a
	// handshake sent straight to the server's own node).
	PathDirect Path = iota
	// PathLAN: the peers share a NAT and connected at a private address.
	PathLAN
	// PathHolepunch: the peers punched through their NATs.
	PathHolepunch
	// PathRelay: the stream goes through a blind relay.
	PathRelay
)

func (p Path) String() string {
	switch p {
	case PathLAN:
		return "lan"
	case PathHolepunch:
		return "holepunch"
	case PathRelay:
		return "relay"
	}
	return "direct"
}

// ConnInfo tells how a connection was made.
type ConnInfo struct {
	Path Path
	// Remote is the address the stream is connected to.
	Remote netip.AddrPort
	// LocalFirewall and RemoteFirewall are the two NATs as the holepunch classified them (or,
	// without a holepunch, as the handshake payloads gave them).
	LocalFirewall, RemoteFirewall records.Firewall
	// Strategy is the punch this side ran ("none" without one).
	Strategy holepunch.Strategy
	// Rounds counts the holepunch messages the client sent.
	Rounds int
	// Relay is the public key of the blind relay the connection went through (zero if none);
	// Remote is then the relay's address until the connection moves to a direct path.
	Relay [32]byte
	// Upgraded means the connection started through the relay and moved to a direct path.
	Upgraded bool
}

// Relayed reports whether the stream goes through a relay rather than straight to the peer.
func (i ConnInfo) Relayed() bool { return i.Path == PathRelay }

// String describes the connection in one line, for logs and the CLI, such as
// "holepunch to 198.51.100.2:40000, NATs local consistent remote random, strategy random-probes"
// or "relay to 192.0.2.20:49737 (relay 1f2e...), NATs local random remote random".
func (i ConnInfo) String() string {
	s := i.Path.String() + " to " + i.Remote.String()
	switch {
	case i.Path == PathRelay:
		s += " (relay " + hex.EncodeToString(i.Relay[:]) + ")"
	case i.Upgraded:
		s += " (upgraded from relay " + hex.EncodeToString(i.Relay[:]) + ")"
	}
	s += ", NATs local " + i.LocalFirewall.String() + " remote " + i.RemoteFirewall.String()
	if i.Strategy != holepunch.None {
		s += ", strategy " + i.Strategy.String()
	}
	return s
}

// ConnInfo returns how c, a connection of this node, was made; false for a connection the
// node does not know (another node's, or one whose stream has finished).
func (n *Node) ConnInfo(c *Conn) (ConnInfo, bool) {
	n.punch.mu.Lock()
	defer n.punch.mu.Unlock()
	info, ok := n.punch.infos[c]
	return info, ok
}

// recordConn remembers info for c until its stream raw finishes (the node destroys the
// streams it made when it is destroyed).
func (n *Node) recordConn(c *Conn, raw *udx.Stream, info ConnInfo) {
	ps := n.punch
	ps.mu.Lock()
	ps.infos[c] = info
	ps.mu.Unlock()
	go func() {
		<-raw.Done()
		ps.mu.Lock()
		delete(ps.infos, c)
		ps.mu.Unlock()
	}()
}

// updateConnInfo replaces what is known of c, while the node knows it.
func (n *Node) updateConnInfo(c *Conn, info ConnInfo) {
	ps := n.punch
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, ok := ps.infos[c]; ok {
		ps.infos[c] = info
	}
}

// infoFromPuncher fills the holepunch fields of info from p.
func infoFromPuncher(info *ConnInfo, p *holepunch.Puncher) {
	if p == nil {
		return
	}
	fw, _, _ := p.Remote()
	_, _, _, s := p.State()
	info.LocalFirewall = records.Firewall(p.NAT().Firewall())
	info.RemoteFirewall = records.Firewall(fw)
	info.Strategy = s
}
