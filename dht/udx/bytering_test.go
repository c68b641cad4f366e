package udx

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// byteRing against a plain slice FIFO on random writes and reads of random sizes (across
// chunk boundaries, and emptying it now and then): the same bytes come out, it keeps no
// more chunks than the most it held needed, and once it has them it allocates no more.
func TestByteRingFIFO(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var r byteRing
	var oracle []byte
	next := byte(0)
	maxHeld := 0
	for step := range 20000 {
		switch op := rng.IntN(3); {
		case op == 0 || r.len() == 0:
			b := make([]byte, rng.IntN(3*ringChunk/2))
			for i := range b {
				b[i] = next
				next++
			}
			r.write(b)
			oracle = append(oracle, b...)
		case op == 1:
			b := make([]byte, rng.IntN(2*ringChunk))
			n := r.read(b)
			if want := min(len(b), len(oracle)); n != want || !bytes.Equal(b[:n], oracle[:n]) {
				t.Fatalf("step %d: read %d bytes, want %d equal to the oracle's", step, n, want)
			}
			oracle = oracle[n:]
		default:
			n := rng.IntN(r.len() + 1)
			got := r.appendTo([]byte("prefix"), n)
			if !bytes.Equal(got, append([]byte("prefix"), oracle[:n]...)) {
				t.Fatalf("step %d: appendTo(%d) differs from the oracle", step, n)
			}
			oracle = oracle[n:]
		}
		if r.len() != len(oracle) {
			t.Fatalf("step %d: len %d, want %d", step, r.len(), len(oracle))
		}
		maxHeld = max(maxHeld, r.len())
	}
	if chunks := len(r.chunks) - r.first + len(r.spare); chunks*ringChunk > maxHeld+2*ringChunk {
		t.Fatalf("%d chunks of %d bytes for at most %d bytes held", chunks, ringChunk, maxHeld)
	}
	// Steady state: a full cycle through the grown buffer allocates nothing.
	r.release()
	r.write(make([]byte, 64<<10))
	r.read(make([]byte, 64<<10))
	chunk, out := make([]byte, 1500), make([]byte, 1500)
	allocs := testing.AllocsPerRun(100, func() {
		for range 50 {
			r.write(chunk)
		}
		for range 50 {
			r.read(out)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per cycle once grown, want 0", allocs)
	}
}
