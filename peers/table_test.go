package peers

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// slowLookup is the table's oracle: the longest prefix holding a, the first claim of a
// prefix winning.
func slowLookup(entries []tableEntry, a netip.Addr) *peer {
	var best *peer
	bits := -1
	for _, en := range entries {
		p := en.prefix.Masked()
		if p.Contains(a) && p.Bits() > bits {
			best, bits = en.peer, p.Bits()
		}
	}
	return best
}

// TestTableAgainstOracle compares lookups of random tables with the naive oracle
// (wireguard-go's allowedips_rand_test.go does the same for its trie).
func TestTableAgainstOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randAddr := func(v6 bool) netip.Addr {
		if v6 {
			var b [16]byte
			for i := range b {
				b[i] = byte(rng.IntN(4)) // few distinct values: prefixes nest and collide
			}
			return netip.AddrFrom16(b)
		}
		return netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(4)), byte(rng.IntN(4))})
	}
	peers := make([]*peer, 8)
	for i := range peers {
		peers[i] = &peer{name: string(rune('a' + i))}
	}
	for round := range 200 {
		var entries []tableEntry
		for range rng.IntN(40) {
			v6 := rng.IntN(2) == 0
			maxBits := 32
			if v6 {
				maxBits = 128
			}
			pfx := netip.PrefixFrom(randAddr(v6), rng.IntN(maxBits+1))
			entries = append(entries, tableEntry{prefix: pfx, peer: peers[rng.IntN(len(peers))]})
		}
		// The first claim of a prefix wins: keep only first claims for the oracle.
		seen := map[netip.Prefix]bool{}
		var firsts []tableEntry
		for _, en := range entries {
			if m := en.prefix.Masked(); !seen[m] {
				seen[m] = true
				firsts = append(firsts, en)
			}
		}
		tb := newTable(entries)
		for range 200 {
			a := randAddr(rng.IntN(2) == 0)
			if got, want := tb.lookup(a), slowLookup(firsts, a); got != want {
				t.Fatalf("round %d: lookup(%v) = %v, want %v; entries %v", round, a, got, want, entries)
			}
		}
	}
}

func TestTableLookupAllocs(t *testing.T) {
	p, q := &peer{}, &peer{}
	tb := newTable([]tableEntry{
		{netip.MustParsePrefix("10.77.0.5/32"), p},
		{netip.MustParsePrefix("192.168.1.0/24"), q},
		{netip.MustParsePrefix("fd00::/8"), q},
	})
	a, b, c := netip.MustParseAddr("10.77.0.5"), netip.MustParseAddr("192.168.1.9"), netip.MustParseAddr("fd00::1")
	if n := testing.AllocsPerRun(100, func() {
		if tb.lookup(a) != p || tb.lookup(b) != q || tb.lookup(c) != q {
			t.Fatal("wrong lookup")
		}
	}); n != 0 {
		t.Errorf("%v allocations per lookup", n)
	}
}
