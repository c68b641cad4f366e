package secretstream

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naiveReplay is the oracle: every counter accepted so far, and the newest.
// A counter after the newest in serial arithmetic is new, even one seen
// 2^63 or more counters ago; so the test keeps its counters much closer.
type naiveReplay struct {
	seen    map[uint64]bool
	started bool
	top     uint64
}

func (w *naiveReplay) accept(n uint64) bool {
	if w.seen == nil {
		w.seen = map[uint64]bool{}
	}
	ahead := !w.started || int64(n-w.top) > 0
	if !ahead && (w.top-n >= ReplayWindow || w.seen[n]) {
		return false
	}
	if ahead {
		w.top = n
		w.started = true
	}
	w.seen[n] = true
	return true
}

// TestReplayWindow runs random counter sequences (jumps, reordering,
// duplicates, the 2^64 wrap) through the window and the oracle.
func TestReplayWindow(t *testing.T) {
	starts := []uint64{0, 1, 12345, math.MaxUint64 - 300, math.MaxUint64, 1 << 63}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, start := range starts {
		var w replayWindow
		var o naiveReplay
		next := start
		var sent []uint64
		for i := range 30000 {
			var n uint64
			switch r := rng.IntN(100); {
			case r < 60 || len(sent) == 0: // the next counter, or a little ahead
				next += 1 + uint64(rng.IntN(3))
				n = next
				sent = append(sent, n)
			case r < 80: // reordered or duplicated, recent
				n = sent[len(sent)-1-rng.IntN(min(len(sent), 200))]
			case r < 90: // far behind
				n = next - uint64(ReplayWindow-100+rng.IntN(200))
			case r < 95: // a big jump ahead
				next += uint64(rng.IntN(3 * replayBits))
				n = next
				sent = append(sent, n)
			default: // anywhere in twice the window
				n = next - uint64(rng.IntN(2*ReplayWindow))
			}
			if got, want := w.accept(n), o.accept(n); got != want {
				t.Fatalf("start %#x, step %d: accept(%#x) = %v, oracle %v (top %#x)", start, i, n, got, want, o.top)
			}
		}
	}
}
