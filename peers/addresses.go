package peers

import (
	"bytes"
	"net/netip"
	"slices"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/routing"
)

// Which member owns which addresses: the table the data plane looks up, and the router
// config that sends the network and the members' subnets into the device.

// privateRanges are where a member admitted by the secret may advertise subnets: private
// IPv4 space, shared address space (CGNAT) and IPv6 unique local addresses. Knowing the
// secret must not let anyone draw a member's Internet traffic into the VPN (a default
// route, a public prefix); a configured peer's routes are the administrator's and free.
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

// rebuildLocked recomputes every member's claims and swaps in a new table. Claims are
// granted in order: configured peers' (by key), then the key-derived addresses of members
// admitted by the secret, then their other claims in the order they joined. So a member
// that knows the secret can take no configured peer's addresses, nor another member's
// derived ones. A prefix claimed already, and one that conflicts with this node's own
// (conflictsSelf), is skipped. The router's config is marked out of date.
func (e *Engine) rebuildLocked() {
	type candidate struct {
		rank   int // 0 configured, 1 derived address of a secret member, 2 other
		joined time.Time
		key    configs.PublicKey
		prefix netip.Prefix
		peer   *peer
	}
	var cands []candidate
	for _, p := range e.peers {
		p.allowed = nil
		var derived []netip.Prefix
		if !p.configured {
			derived = e.derivedLocked(p)
		}
		for _, c := range e.claimsLocked(p) {
			rank := 2
			switch {
			case p.configured:
				rank = 0
			case slices.Contains(derived, c):
				rank = 1
			}
			cands = append(cands, candidate{rank, p.joined, p.key, c.Masked(), p})
		}
	}
	slices.SortStableFunc(cands, func(a, b candidate) int {
		switch {
		case a.rank != b.rank:
			return a.rank - b.rank
		case !a.joined.Equal(b.joined):
			return a.joined.Compare(b.joined)
		}
		return bytes.Compare(a.key[:], b.key[:])
	})
	var entries []tableEntry
	taken := make(map[netip.Prefix]bool)
	for _, c := range cands {
		if !c.prefix.IsValid() || taken[c.prefix] || e.conflictsSelf(c.prefix) {
			continue
		}
		taken[c.prefix] = true
		c.peer.allowed = append(c.peer.allowed, c.prefix)
		entries = append(entries, tableEntry{prefix: c.prefix, peer: c.peer})
	}
	for _, p := range e.peers {
		slices.SortFunc(p.allowed, comparePrefix)
	}
	e.table.Store(newTable(entries))
	e.dirty = true
}

// derivedLocked returns the host prefixes of p's key-derived addresses (configs.DeriveIPv4
// and DeriveIPv6 in the network's prefixes).
func (e *Engine) derivedLocked(p *peer) []netip.Prefix {
	n := &e.cfg.Network
	var out []netip.Prefix
	if a, err := configs.DeriveIPv4(n.IPv4, p.key); err == nil {
		out = append(out, netip.PrefixFrom(a, 32))
	}
	if n.IPv6.IsValid() {
		if a, err := configs.DeriveIPv6(n.IPv6, p.key); err == nil {
			out = append(out, netip.PrefixFrom(a, 128))
		}
	}
	return out
}

// claimsLocked lists what p may claim: a configured peer's addresses and routes from the
// config; a secret member's, while it is connected, from its hello: its addresses when they
// are inside the network's prefixes, its subnets when private and outside them.
func (e *Engine) claimsLocked(p *peer) []netip.Prefix {
	var out []netip.Prefix
	if p.configured {
		c := &p.cfg
		if c.Address.IsValid() {
			out = append(out, netip.PrefixFrom(c.Address, 32))
		}
		if c.Address6.IsValid() {
			out = append(out, netip.PrefixFrom(c.Address6, 128))
		}
		return append(out, c.Routes...)
	}
	h := p.hello
	if h == nil || p.active.Load() == nil {
		return nil
	}
	n := &e.cfg.Network
	if h.ipv4.Is4() && n.IPv4.Contains(h.ipv4) {
		out = append(out, netip.PrefixFrom(h.ipv4, 32))
	}
	if h.ipv6.Is6() && n.IPv6.IsValid() && n.IPv6.Contains(h.ipv6) {
		out = append(out, netip.PrefixFrom(h.ipv6, 128))
	}
	for _, r := range h.routes {
		if r.Overlaps(n.IPv4) || (n.IPv6.IsValid() && r.Overlaps(n.IPv6)) || !private(r) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// private reports whether r lies inside one of privateRanges.
func private(r netip.Prefix) bool {
	for _, pr := range privateRanges {
		if inside(r, pr) {
			return true
		}
	}
	return false
}

// conflictsSelf reports whether a member's claim c would take traffic that is this node's:
// one of its own addresses, or (outside the network's prefixes, which are the members'
// space) one of its own subnets or a part of them. A claim that contains them (a peer
// serving 0.0.0.0/0, say) is no conflict: the longer prefixes stay ours.
func (e *Engine) conflictsSelf(c netip.Prefix) bool {
	if slices.Contains(e.selfAddrs, c) {
		return true
	}
	if n := &e.cfg.Network; inside(c, n.IPv4) || n.IPv6.IsValid() && inside(c, n.IPv6) {
		return false
	}
	for _, s := range e.selfRoutes {
		if inside(c, s) {
			return true
		}
	}
	return false
}

// inside reports whether c equals or lies in p.
func inside(c, p netip.Prefix) bool { return c.Bits() >= p.Bits() && p.Contains(c.Addr()) }

// routerConfigLocked is the OS state the engine wants: the node's addresses with the
// network's prefix lengths, routes for the network's prefixes and for every subnet of a
// member outside them, and the MTU.
func (e *Engine) routerConfigLocked() routing.Config {
	n := &e.cfg.Network
	c := routing.Config{MTU: e.cfg.Node.MTU}
	c.Addrs = append(c.Addrs, netip.PrefixFrom(e.cfg.Node.Address, n.IPv4.Bits()))
	c.Routes = append(c.Routes, n.IPv4.Masked())
	if n.IPv6.IsValid() {
		if a := e.cfg.Node.Address6; a.IsValid() {
			c.Addrs = append(c.Addrs, netip.PrefixFrom(a, n.IPv6.Bits()))
		}
		c.Routes = append(c.Routes, n.IPv6.Masked())
	}
	for _, r := range e.table.Load().routes {
		if inside(r, n.IPv4) || n.IPv6.IsValid() && inside(r, n.IPv6) {
			continue
		}
		c.Routes = append(c.Routes, r)
	}
	slices.SortFunc(c.Routes, comparePrefix)
	return c
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func sameConfig(a, b routing.Config) bool {
	return a.MTU == b.MTU && slices.Equal(a.Addrs, b.Addrs) && slices.Equal(a.Routes, b.Routes)
}
