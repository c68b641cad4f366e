package configs

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// members places every member's addresses, checks the members against each other and
// fills in the Config: names and keys are unique, addresses are inside the network and
// distinct, routes overlap neither the network nor each other.
func (d *decoder) members(c *Config, ms []*member) {
	for _, m := range ms {
		d.place(m, &c.Network)
	}
	d.unique(ms)
	d.collisions(ms, &c.Network)
	d.routes(ms, &c.Network)
	if !d.secretNamed && len(ms) == 1 {
		d.errorf(d.pos.key("network"), "network", ClassMissing,
			"set network.secret_file (members find each other on the secret's topic), list the other members as [[peer]], or both",
			"the network has no members: neither a secret_file nor any [[peer]]")
	}

	self := ms[0]
	c.Node.Address, c.Node.Address6, c.Node.Routes = self.addr4, self.addr6, self.routes
	for _, m := range ms[1:] {
		m.peer.Address, m.peer.Address6, m.peer.Routes = m.addr4, m.addr6, m.routes
		c.Peers = append(c.Peers, *m.peer)
	}
}

// place checks m's explicit addresses against the network's prefixes and derives the ones
// it has not got.
func (d *decoder) place(m *member, n *Network) {
	if m.addr4Path != "" {
		if n.IPv4.IsValid() && !d.inside(m.addr4Path, m.addr4, n.IPv4, "address") {
			m.addr4 = netip.Addr{}
		}
	} else if m.keyOK && n.IPv4.IsValid() {
		m.addr4, _ = DeriveIPv4(n.IPv4, m.key)
	}
	if m.addr6Path != "" {
		if n.IPv6.IsValid() && !d.inside(m.addr6Path, m.addr6, n.IPv6, "address6") {
			m.addr6 = netip.Addr{}
		}
	} else if m.keyOK && n.IPv6.IsValid() {
		m.addr6, _ = DeriveIPv6(n.IPv6, m.key)
	}
}

// inside reports whether the address a of the key at path may be a member's address in
// prefix p, and reports it when not.
func (d *decoder) inside(path string, a netip.Addr, p netip.Prefix, key string) bool {
	hint := fmt.Sprintf("%s must be inside the network's prefix %s, or left out to derive it from the public key", key, p)
	switch {
	case !p.Contains(a):
		d.valueError(path, ClassAddress, hint, "%s is outside the network's prefix %s", a, p)
	case a == p.Addr():
		d.valueError(path, ClassAddress, hint+"; the prefix's first address is reserved", "%s is the network's own address", a)
	case a.Is4() && a == lastAddr(p):
		d.valueError(path, ClassAddress, hint+"; the prefix's last address is reserved", "%s is the network's broadcast address", a)
	default:
		return true
	}
	return false
}

// unique reports members that share a name or a public key with an earlier one.
func (d *decoder) unique(ms []*member) {
	names := map[string]*member{}
	keys := map[PublicKey]*member{}
	for _, m := range ms {
		if m.name != "" {
			if first, ok := names[m.name]; ok {
				d.valueError(m.namePath, ClassDuplicate, "every member needs its own name",
					"name %q is also the name of %s (%s)", m.name, first.what, d.where(first.namePath))
			} else {
				names[m.name] = m
			}
		}
		if !m.keyOK {
			continue
		}
		first, ok := keys[m.key]
		if !ok {
			keys[m.key] = m
			continue
		}
		if first.peer == nil {
			d.valueError(m.keyPath, ClassDuplicate,
				"list only the other members as [[peer]]: remove this entry, or check that node.key_file is this machine's key",
				"public key is this node's own (from node.key_file)")
		} else {
			d.valueError(m.keyPath, ClassDuplicate, "every machine has its own key pair: run 'hyperlan keygen --out FILE' on each",
				"public key is also the key of %s (%s)", first.what, d.where(first.keyPath))
		}
		// One report is enough: the duplicate's derived addresses would collide as well.
		m.keyOK = false
		if m.addr4Path == "" {
			m.addr4 = netip.Addr{}
		}
		if m.addr6Path == "" {
			m.addr6 = netip.Addr{}
		}
	}
}

// collisions reports members whose addresses, explicit or derived, are taken by an
// earlier member.
func (d *decoder) collisions(ms []*member, n *Network) {
	list := make([]Member, len(ms))
	used := map[netip.Addr]bool{}
	for i, m := range ms {
		list[i] = Member{Name: m.name, PublicKey: m.key, IPv4: m.addr4, IPv6: m.addr6}
		used[m.addr4], used[m.addr6] = true, true
	}
	for _, col := range Collisions(list) {
		first := ms[col.Members[0]]
		for _, i := range col.Members[1:] {
			m := ms[i]
			family, key, prefix := "IPv4", "address", n.IPv4
			path, firstPath := m.addr4Path, first.addr4Path
			if col.Addr.Is6() {
				family, key, prefix = "IPv6", "address6", n.IPv6
				path, firstPath = m.addr6Path, first.addr6Path
			}
			how := "explicit"
			if path == "" {
				path, how = m.keyPath, "derived from the public key"
			}
			if firstPath == "" {
				firstPath = first.keyPath
			}
			hint := "give one of them an explicit " + key
			if free := freeAddr(prefix, col.Addr, used); free.IsValid() {
				used[free] = true
				hint += fmt.Sprintf(", such as %s = %q", key, free)
			}
			d.valueError(path, ClassOverlap, hint, "%s address %s (%s) is also the address of %s (%s)",
				family, col.Addr, how, first.what, d.where(firstPath))
		}
	}
}

// freeAddr returns the first address after a in p that no member uses and that is neither
// p's first nor (IPv4) last address; the zero Addr when none is found nearby.
func freeAddr(p netip.Prefix, a netip.Addr, used map[netip.Addr]bool) netip.Addr {
	for range 1 << 12 {
		a = a.Next()
		if !a.IsValid() || !p.Contains(a) {
			a = p.Addr() // wrap around
			continue
		}
		if a != p.Addr() && !(a.Is4() && a == lastAddr(p)) && !used[a] {
			return a
		}
	}
	return netip.Addr{}
}

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(a)*8; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	out, _ := netip.AddrFromSlice(a)
	return out
}

type routeRef struct {
	m     *member
	p     netip.Prefix
	path  string
	order int // position in the file's order of routes
}

// routes reports routes that overlap the network's prefixes or another route. Overlaps are
// found in one sweep over the routes sorted by address (each route is compared with the
// nearest earlier route that contains it), so a large config takes O(n log n).
func (d *decoder) routes(ms []*member, n *Network) {
	var all []routeRef
	for _, m := range ms {
		for i, p := range m.routes {
			for _, np := range []netip.Prefix{n.IPv4, n.IPv6} {
				if np.IsValid() && p.Overlaps(np) {
					d.valueError(m.routePaths[i], ClassOverlap,
						"routes are subnets behind a member, outside the network's own prefixes, which are routed already",
						"route %s overlaps the network's prefix %s", p, np)
				}
			}
			all = append(all, routeRef{m: m, p: p, path: m.routePaths[i], order: len(all)})
		}
	}
	slices.SortFunc(all, func(a, b routeRef) int {
		return cmp.Or(a.p.Addr().Compare(b.p.Addr()), cmp.Compare(a.p.Bits(), b.p.Bits()), cmp.Compare(a.order, b.order))
	})
	var open []routeRef // routes containing the current one, outermost first
	for _, r := range all {
		for len(open) > 0 && !open[len(open)-1].p.Contains(r.p.Addr()) {
			open = open[:len(open)-1]
		}
		if len(open) > 0 {
			outer := open[len(open)-1]
			first, later := outer, r
			if later.order < first.order {
				first, later = later, first
			}
			if first.m == later.m {
				d.valueError(later.path, ClassOverlap, "list each subnet once",
					"route %s overlaps route %s of the same member (%s)", later.p, first.p, d.where(first.path))
			} else {
				d.valueError(later.path, ClassOverlap, "a subnet is served by one member only: remove it from one of them",
					"route %s overlaps route %s of %s (%s)", later.p, first.p, first.m.what, d.where(first.path))
			}
		}
		open = append(open, r)
	}
}
