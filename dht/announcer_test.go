package dht

import (
	"maps"
	"net/netip"
	"slices"
	"testing"
)

// TestAnnouncerRemembersRelays: holepunch rounds are accepted from relays of the last three
// updates (as the reference's announcer keeps three generations), and an update unannounces
// at the relays of the one before that it no longer uses.
func TestAnnouncerRemembersRelays(t *testing.T) {
	a := newAnnouncer(nil, KeyPair{}, [32]byte{})
	r := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 49737)
	}
	set := func(is ...int) map[netip.AddrPort]bool {
		m := map[netip.AddrPort]bool{}
		for _, i := range is {
			m[r(i)] = true
		}
		return m
	}
	for _, step := range []struct {
		current  []int
		gone     []int
		relays   []int // isRelay true
		notRelay []int
	}{
		{current: []int{1, 2, 3}, relays: []int{1, 2, 3}, notRelay: []int{4}},
		{current: []int{2, 3, 4}, gone: []int{1}, relays: []int{1, 2, 3, 4}},
		{current: []int{4, 5, 6}, gone: []int{2, 3}, relays: []int{1, 2, 3, 4, 5, 6}},
		{current: []int{5, 6, 7}, gone: []int{4}, relays: []int{2, 3, 4, 5, 6, 7}, notRelay: []int{1}},
		{current: []int{7}, gone: []int{5, 6}, relays: []int{4, 5, 6, 7}, notRelay: []int{1, 2, 3}},
	} {
		a.mu.Lock()
		gone := a.cycleLocked(set(step.current...))
		a.mu.Unlock()
		if want := set(step.gone...); !maps.Equal(gone, want) {
			t.Errorf("after %v: gone %v, want %v", step.current, slices.Collect(maps.Keys(gone)), step.gone)
		}
		for _, i := range step.relays {
			if !a.isRelay(r(i)) {
				t.Errorf("after %v: %v not a relay", step.current, r(i))
			}
		}
		for _, i := range step.notRelay {
			if a.isRelay(r(i)) {
				t.Errorf("after %v: %v still a relay", step.current, r(i))
			}
		}
	}
}
