package udx

import (
	"math"
	"testing"
)

// A sender that always has data and sends whenever the pacer lets it, once
// per millisecond tick: each tick lets out the rate per tick rounded up to
// whole packets (the overdraft is forgiven, as in libudx).
func TestPacerRate(t *testing.T) {
	const size = 1200
	for _, rate := range []float64{200e3, 5e6, 400e6} {
		p := newPacer()
		p.setRate(rate)
		first := 0
		for p.ready(0) {
			p.spend(size)
			first += size
		}
		if want := int(math.Ceil(initialPaceBudget/float64(size))) * size; first != want {
			t.Errorf("rate %v: %d bytes before the first refill, want %d", rate, first, want)
		}
		sent := 0
		for tick := int64(1); tick <= 1000; tick++ {
			for p.ready(tick) {
				p.spend(size)
				sent += size
			}
		}
		perTick := math.Ceil(rate * paceTick.Seconds() / size)
		if want := int(perTick) * size * 1000; sent != want {
			t.Errorf("rate %v: %d bytes in 1000 ticks, want %d (%v packets a tick)", rate, sent, want, perTick)
		}
	}
}

// Ticks without a send add up, to at most maxPaceTicks of them.
func TestPacerIdle(t *testing.T) {
	p := newPacer()
	p.setRate(1e6) // 1000 bytes a tick
	for p.ready(0) {
		p.spend(1000)
	}
	for _, c := range []struct{ tick, want int64 }{{3, 3}, {1003, maxPaceTicks}} {
		n := int64(0)
		for p.ready(c.tick) {
			p.spend(1000)
			n++
		}
		if n != c.want {
			t.Errorf("at tick %d: %d packets left at once, want %d", c.tick, n, c.want)
		}
	}
	// Not paced at all without a rate.
	var q pacer
	for range 100 {
		if !q.ready(0) {
			t.Fatal("a pacer without a rate held a packet back")
		}
		q.spend(1500)
	}
}
