package netsim

import (
	"fmt"
	"net/netip"
)

// NAT boxes. A [NAT] is a home router: endpoints bound to addresses of its
// Inside prefix are its LAN, and the rest of the network reaches them only
// through its Public address, under the mapping and filtering rules of
// RFC 4787. Hosts of one LAN reach each other directly at their private
// addresses; nobody else can reach a private address. The router does not
// hairpin (a LAN host writing to its own router's public address is
// dropped), and mappings never expire.
//
// The two kinds the NAT lab (/work/shared/lab/NATLAB.md) builds with nftables
// are the defaults worth testing against:
//
//	consistent: NATOptions{Mapping: MappingEndpointIndependent}  (masquerade)
//	random:     NATOptions{Mapping: MappingRandom}               (masquerade fully-random)
//
// both with address-and-port-dependent filtering (a port-restricted cone).

// Mapping is how a NAT picks the public port of an outgoing flow.
type Mapping int

const (
	// MappingEndpointIndependent gives a private endpoint one public port for every
	// destination, its own port when free ("consistent").
	MappingEndpointIndependent Mapping = iota
	// MappingRandom gives each (private endpoint, destination) pair a new random public port
	// ("random", a symmetric NAT).
	MappingRandom
)

// Filtering is which outside senders may reach a mapped public port.
type Filtering int

const (
	// FilteringAddressPortDependent admits only the addresses and ports the mapping has sent
	// to (a port-restricted cone).
	FilteringAddressPortDependent Filtering = iota
	// FilteringEndpointIndependent admits anyone once the mapping exists (a full cone).
	FilteringEndpointIndependent
)

// NATOptions describe a [NAT].
type NATOptions struct {
	Public    netip.Addr   // the router's address on the network
	Inside    netip.Prefix // the LAN behind it
	Mapping   Mapping
	Filtering Filtering
}

// NAT is a router added with [Network.AddNAT]. Its methods are safe for
// concurrent use.
type NAT struct {
	n    *Network
	opts NATOptions // guarded by n.mu

	// guarded by n.mu
	byFlow map[natFlow]*natBinding // outgoing flow -> binding
	byPort map[uint16]*natBinding  // public port -> binding
	stats  NATStats
}

// natFlow keys an outgoing flow: the private endpoint, and the destination for a random
// mapping (zero for an endpoint-independent one).
type natFlow struct {
	priv, dst netip.AddrPort
}

type natBinding struct {
	priv    netip.AddrPort
	port    uint16
	allowed map[netip.AddrPort]bool // destinations sent to
}

// NATStats counts what a NAT did.
type NATStats struct {
	Mappings int    // public ports in use
	Refused  uint64 // inbound packets no mapping admitted
}

// AddNAT puts a router on the network. It panics when Public is not a valid
// IPv4 address, when Inside is invalid or holds Public, or when Public or a
// part of Inside already belongs to another NAT: these are mistakes in a test.
func (n *Network) AddNAT(o NATOptions) *NAT {
	if !o.Public.Is4() || !o.Inside.IsValid() || o.Inside.Contains(o.Public) {
		panic(fmt.Sprintf("netsim: bad NAT options %+v", o))
	}
	o.Inside = o.Inside.Masked()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, x := range n.nats {
		if x.opts.Public == o.Public || x.opts.Inside.Overlaps(o.Inside) {
			panic(fmt.Sprintf("netsim: NAT %+v overlaps %+v", o, x.opts))
		}
	}
	x := &NAT{n: n, opts: o, byFlow: make(map[natFlow]*natBinding), byPort: make(map[uint16]*natBinding)}
	n.nats = append(n.nats, x)
	return x
}

// SetMapping changes how new flows are mapped and forgets every mapping, as
// changing a router's rules and flushing its connection tracking does.
func (x *NAT) SetMapping(m Mapping) {
	x.n.mu.Lock()
	defer x.n.mu.Unlock()
	x.opts.Mapping = m
	x.flushLocked()
}

// SetPublic moves the router to a new public address and forgets every mapping, as an ISP's
// address change does: flows get new mappings on the new address with their next outbound
// packet, and packets to the old address are no longer the router's. It panics when addr is
// not IPv4, is inside the LAN, or is another NAT's public address.
func (x *NAT) SetPublic(addr netip.Addr) {
	x.n.mu.Lock()
	defer x.n.mu.Unlock()
	if !addr.Is4() || x.opts.Inside.Contains(addr) {
		panic(fmt.Sprintf("netsim: bad public address %v for NAT %+v", addr, x.opts))
	}
	for _, o := range x.n.nats {
		if o != x && o.opts.Public == addr {
			panic(fmt.Sprintf("netsim: public address %v belongs to NAT %+v", addr, o.opts))
		}
	}
	x.opts.Public = addr
	x.flushLocked()
}

// Flush forgets every mapping.
func (x *NAT) Flush() {
	x.n.mu.Lock()
	defer x.n.mu.Unlock()
	x.flushLocked()
}

func (x *NAT) flushLocked() {
	clear(x.byFlow)
	clear(x.byPort)
}

// Stats returns the NAT's counters.
func (x *NAT) Stats() NATStats {
	x.n.mu.Lock()
	defer x.n.mu.Unlock()
	s := x.stats
	s.Mappings = len(x.byPort)
	return s
}

// outboundLocked maps a packet from the private endpoint priv to dst and returns the source
// the outside sees.
func (x *NAT) outboundLocked(priv, dst netip.AddrPort) netip.AddrPort {
	flow := natFlow{priv: priv}
	if x.opts.Mapping == MappingRandom {
		flow.dst = dst
	}
	b := x.byFlow[flow]
	if b == nil {
		b = &natBinding{priv: priv, port: x.pickPortLocked(priv.Port()), allowed: make(map[netip.AddrPort]bool)}
		x.byFlow[flow] = b
		x.byPort[b.port] = b
	}
	b.allowed[dst] = true
	return netip.AddrPortFrom(x.opts.Public, b.port)
}

// pickPortLocked returns a free public port: the private one when the mapping preserves ports
// and it is free, else a random one of 1024-65535.
func (x *NAT) pickPortLocked(want uint16) uint16 {
	if x.opts.Mapping == MappingEndpointIndependent && want != 0 && x.byPort[want] == nil {
		return want
	}
	if len(x.byPort) >= 65535-1024 {
		panic("netsim: NAT out of public ports")
	}
	for {
		p := uint16(1024 + x.n.rng.IntN(65536-1024))
		if x.byPort[p] == nil {
			return p
		}
	}
}

// inboundLocked translates a packet from src to the public port of dst, or refuses it.
func (x *NAT) inboundLocked(src netip.AddrPort, port uint16) (netip.AddrPort, bool) {
	b := x.byPort[port]
	if b == nil || (x.opts.Filtering == FilteringAddressPortDependent && !b.allowed[src]) {
		x.stats.Refused++
		return netip.AddrPort{}, false
	}
	return b.priv, true
}

// natInsideLocked returns the NAT whose LAN holds a, or nil.
func (n *Network) natInsideLocked(a netip.Addr) *NAT {
	for _, x := range n.nats {
		if x.opts.Inside.Contains(a) {
			return x
		}
	}
	return nil
}

// natPublicLocked returns the NAT whose public address is a, or nil.
func (n *Network) natPublicLocked(a netip.Addr) *NAT {
	for _, x := range n.nats {
		if x.opts.Public == a {
			return x
		}
	}
	return nil
}
