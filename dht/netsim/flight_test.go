package netsim

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestFlightOrder checks the heap against a stable sort on random input with
// many equal arrival times.
func TestFlightOrder(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	t0 := time.Unix(946684800, 0)
	for round := range 100 {
		var f flight
		var want []packet
		for i := range r.IntN(200) {
			p := packet{at: t0.Add(time.Duration(r.IntN(20)) * time.Millisecond), seq: uint64(i)}
			f.push(p)
			want = append(want, p)
			if r.IntN(4) == 0 { // interleave pops with pushes
				slices.SortStableFunc(want, func(a, b packet) int { return a.at.Compare(b.at) })
				got := f.pop()
				if got.at != want[0].at || got.seq != want[0].seq {
					t.Fatalf("round %d: pop = (%v, %d), want (%v, %d)", round, got.at, got.seq, want[0].at, want[0].seq)
				}
				want = want[1:]
			}
		}
		slices.SortStableFunc(want, func(a, b packet) int { return a.at.Compare(b.at) })
		for _, w := range want {
			got := f.pop()
			if got.at != w.at || got.seq != w.seq {
				t.Fatalf("round %d: pop = (%v, %d), want (%v, %d)", round, got.at, got.seq, w.at, w.seq)
			}
		}
		if len(f) != 0 {
			t.Fatalf("round %d: %d packets left", round, len(f))
		}
	}
}
