package udx

import (
	"math/rand/v2"
	"testing"
)

func TestMaxFilter(t *testing.T) {
	var f maxFilter
	const win = 10
	f.update(1, win, 5)
	f.update(2, win, 3) // lower: the max stays
	if got := f.get(); got != 5 {
		t.Fatalf("max %v, want 5", got)
	}
	f.update(3, win, 8) // higher: a new max at once
	if got := f.get(); got != 8 {
		t.Fatalf("max %v, want 8", got)
	}
	f.update(6, win, 4)
	f.update(9, win, 6)
	// 8 from round 3 expires after round 13; the best of what followed (6
	// from round 9) takes its place.
	if got := f.update(13, win, 2); got != 8 {
		t.Fatalf("round 13: max %v, want 8 still", got)
	}
	if got := f.update(14, win, 2); got != 6 {
		t.Fatalf("round 14: max %v, want 6", got)
	}
	// Nothing in the window at all: the new sample is the max.
	if got := f.update(40, win, 1); got != 1 {
		t.Fatalf("after a gap: max %v, want 1", got)
	}
}

// TestMaxFilterRandom checks the estimator's guarantees against a naive
// record of every sample: the reported value was seen within the window, is
// at least the latest sample, and is at most the true windowed maximum.
func TestMaxFilterRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, win := range []uint64{1, 4, 10, 37} {
		var f maxFilter
		type sample struct {
			t uint64
			v float64
		}
		var all []sample
		var now uint64
		for range 5000 {
			now += uint64(r.IntN(3)) // several samples per round, or rounds skipped
			v := float64(r.IntN(100))
			got := f.update(now, win, v)
			all = append(all, sample{now, v})
			for now-all[0].t > win {
				all = all[1:]
			}
			trueMax, seen := 0.0, false
			for _, s := range all {
				trueMax = max(trueMax, s.v)
				seen = seen || s.v == got
			}
			if got < v || got > trueMax || !seen {
				t.Fatalf("win %d, round %d, sample %v: filter says %v; true windowed max %v, value in window %v",
					win, now, v, got, trueMax, seen)
			}
		}
	}
}
