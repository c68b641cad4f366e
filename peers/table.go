package peers

import (
	"net/netip"
	"slices"
)

// table maps addresses to members by longest prefix: the members' virtual addresses (host
// prefixes) and the subnets they serve. It answers both questions of the data plane: where
// a packet from the device goes (its destination), and whether a packet from a member may
// come from it (its source must look up to that member, as WireGuard's allowed IPs).
//
// A table is never changed once built: the engine builds a new one when membership or
// routes change and swaps it in atomically, so lookups take no lock and allocate nothing.
type table struct {
	hosts  map[netip.Addr]*peer   // /32 and /128
	nets   map[netip.Prefix]*peer // other prefixes, masked
	bits4  []int                  // prefix lengths in nets, longest first
	bits6  []int
	routes []netip.Prefix // the prefixes of nets, for the router
}

// tableEntry is one claim of a prefix by a member.
type tableEntry struct {
	prefix netip.Prefix
	peer   *peer
}

// newTable builds a table from entries; a prefix claimed twice goes to the first claim.
func newTable(entries []tableEntry) *table {
	t := &table{hosts: make(map[netip.Addr]*peer), nets: make(map[netip.Prefix]*peer)}
	for _, en := range entries {
		p := en.prefix.Masked()
		if p.IsSingleIP() {
			if _, ok := t.hosts[p.Addr()]; !ok {
				t.hosts[p.Addr()] = en.peer
			}
			continue
		}
		if _, ok := t.nets[p]; ok {
			continue
		}
		t.nets[p] = en.peer
		t.routes = append(t.routes, p)
		if p.Addr().Is4() {
			if !slices.Contains(t.bits4, p.Bits()) {
				t.bits4 = append(t.bits4, p.Bits())
			}
		} else if !slices.Contains(t.bits6, p.Bits()) {
			t.bits6 = append(t.bits6, p.Bits())
		}
	}
	desc := func(a, b int) int { return b - a }
	slices.SortFunc(t.bits4, desc)
	slices.SortFunc(t.bits6, desc)
	return t
}

// lookup returns the member a packet to a goes to, or nil.
func (t *table) lookup(a netip.Addr) *peer {
	if p := t.hosts[a]; p != nil {
		return p
	}
	bits := t.bits6
	if a.Is4() {
		bits = t.bits4
	}
	for _, b := range bits {
		pfx, err := a.Prefix(b)
		if err != nil {
			continue
		}
		if p := t.nets[pfx]; p != nil {
			return p
		}
	}
	return nil
}
