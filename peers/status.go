package peers

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/hyperlan/hyperlan/configs"
)

// Status is a snapshot of an engine, for `hyperlan status` and `hyperlan peers`.
type Status struct {
	Name      string            `json:"name"`
	PublicKey configs.PublicKey `json:"public_key"`
	Interface string            `json:"interface"`
	MTU       int               `json:"mtu"`
	IPv4      netip.Addr        `json:"ipv4"`
	IPv6      netip.Addr        `json:"ipv6"`
	Routes    []netip.Prefix    `json:"routes,omitempty"` // the subnets this node serves
	Network4  netip.Prefix      `json:"network_ipv4"`
	Network6  netip.Prefix      `json:"network_ipv6"`
	Secret    bool              `json:"secret"`    // members may join by the network secret
	Listening bool              `json:"listening"` // the DHT server is announced
	// RelayThrough lists the blind relays connections may go through (dht.relay_through).
	RelayThrough []configs.PublicKey `json:"relay_through,omitempty"`
	// Relay is the blind relay this node serves (node.relay); nil when it serves none.
	Relay    *RelayStatus `json:"relay,omitempty"`
	Counters Counters     `json:"counters"`
	Peers    []PeerStatus `json:"peers"` // by name, then key
}

// PeerStatus is what the engine knows of one member.
type PeerStatus struct {
	Name       string            `json:"name"`
	PublicKey  configs.PublicKey `json:"public_key"`
	Configured bool              `json:"configured"` // a [[peer]]; otherwise admitted by the secret
	IPv4       netip.Addr        `json:"ipv4,omitzero"`
	IPv6       netip.Addr        `json:"ipv6,omitzero"`
	Routes     []netip.Prefix    `json:"routes,omitempty"` // subnets accepted from the member

	Connected bool              `json:"connected"`
	Path      string            `json:"path,omitempty"`  // "direct", "lan", "holepunch" or "relay"
	Relayed   bool              `json:"relayed"`         // Path is "relay": through a blind relay
	Upgraded  bool              `json:"upgraded"`        // started through a blind relay, moved to Path
	Relay     configs.PublicKey `json:"relay,omitzero"`  // the blind relay, while Relayed or once Upgraded
	Remote    netip.AddrPort    `json:"remote,omitzero"` // the UDP address of the connection
	Initiator bool              `json:"initiator"`       // this node dialled the connection
	Since     time.Time         `json:"since,omitzero"`  // when the connection came up
	RTT       time.Duration     `json:"rtt"`             // of the reliable stream; 0 before the first pong
	Sessions  int               `json:"sessions"`        // connections that came up since New

	BytesIn    uint64    `json:"bytes_in"`
	BytesOut   uint64    `json:"bytes_out"`
	PacketsIn  uint64    `json:"packets_in"`
	PacketsOut uint64    `json:"packets_out"`
	LastSeen   time.Time `json:"last_seen,omitzero"` // the last packet or control message from it

	// LastError is why the last connection or attempt ended, "" if none did.
	LastError string `json:"last_error,omitempty"`
	// NextDial is when the engine next dials the member, when it is not connected.
	NextDial time.Time `json:"next_dial,omitzero"`
}

// Counters are the data plane's counts of packets it did not deliver, since New.
type Counters struct {
	NoRoute      uint64 `json:"no_route"`      // from the device to an address no member has
	NoSession    uint64 `json:"no_session"`    // to a member that is not connected
	SendDropped  uint64 `json:"send_dropped"`  // the connection's send queue was full
	TooBig       uint64 `json:"too_big"`       // answered with ICMP "too big" / "frag needed"
	MTUPending   uint64 `json:"mtu_pending"`   // too big for the path MTU found so far, dropped without ICMP while the search runs
	Fragmented   uint64 `json:"fragmented"`    // IPv4 packets sent as fragments
	Spoofed      uint64 `json:"spoofed"`       // from a member, with a source not its own
	Malformed    uint64 `json:"malformed"`     // not an IPv4 or IPv6 packet
	RecvDropped  uint64 `json:"recv_dropped"`  // from members, with the device's queue full
	DeviceErrors uint64 `json:"device_errors"` // failed device reads and writes
}

// Status returns a snapshot of the engine.
func (e *Engine) Status() Status {
	n := e.cfg.Network
	st := Status{
		Name: e.cfg.Node.Name, PublicKey: e.self, Interface: e.dev.Name(), MTU: e.dev.MTU(),
		IPv4: e.cfg.Node.Address, IPv6: e.cfg.Node.Address6, Routes: slices.Clone(e.cfg.Node.Routes),
		Network4: n.IPv4, Network6: n.IPv6, Secret: e.secret != nil,
		Counters:     e.counters.snapshot(),
		RelayThrough: slices.Clone(e.relayKeys),
	}
	now := time.Now()
	e.mu.Lock()
	st.Listening = e.listened
	st.Relay = e.relayStatusLocked()
	for _, p := range e.peers {
		st.Peers = append(st.Peers, e.peerStatusLocked(p, now))
	}
	e.mu.Unlock()
	slices.SortFunc(st.Peers, func(a, b PeerStatus) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return bytes.Compare(a.PublicKey[:], b.PublicKey[:])
	})
	return st
}

func (e *Engine) peerStatusLocked(p *peer, now time.Time) PeerStatus {
	ps := PeerStatus{
		Name: p.name, PublicKey: p.key, Configured: p.configured,
		BytesIn: p.rxBytes.Load(), BytesOut: p.txBytes.Load(),
		PacketsIn: p.rxPackets.Load(), PacketsOut: p.txPackets.Load(),
		LastError: p.lastErr, Sessions: p.sessions,
	}
	for _, a := range p.allowed {
		switch {
		case a.IsSingleIP() && a.Addr().Is4() && !ps.IPv4.IsValid():
			ps.IPv4 = a.Addr()
		case a.IsSingleIP() && a.Addr().Is6() && !ps.IPv6.IsValid():
			ps.IPv6 = a.Addr()
		default:
			ps.Routes = append(ps.Routes, a)
		}
	}
	if seen := p.lastSeen.Load(); seen != 0 {
		ps.LastSeen = time.Unix(0, seen)
	}
	if s := p.active.Load(); s != nil {
		ps.Connected = true
		ps.Initiator = s.conn.IsInitiator()
		ps.Since = s.since
		ps.RTT = time.Duration(s.rtt.Load())
		ps.Remote = remoteAddr(s.conn)
		ps.Path = "direct"
		if info, ok := e.node.ConnInfo(s.conn); ok {
			ps.Path, ps.Relayed, ps.Upgraded = info.Path.String(), info.Relayed(), info.Upgraded
			if info.Relayed() || info.Upgraded {
				ps.Relay = info.Relay
			}
			if info.Remote.IsValid() {
				ps.Remote = info.Remote
			}
		}
	} else if !p.nextDial.IsZero() && p.wantedLocked(now, e.timing) {
		ps.NextDial = p.nextDial
	}
	return ps
}
