package udx

import "time"

// Pacing constants.
const (
	// paceTick is the pacer's clock resolution: libudx refills its token
	// bucket from uv_now, a millisecond clock (update_pacing_time).
	paceTick = time.Millisecond

	// initialPaceBudget is what may leave before the first refill
	// (libudx UDX_INIT_PACING_RATE, 25 000 bytes).
	initialPaceBudget = 25000

	// maxPaceTicks bounds the budget an idle stream saves up, in ticks.
	maxPaceTicks = 10
)

// pacer spreads a stream's data packets over time at the rate BBR sets, with
// libudx's token bucket (udx.md §4.3): time runs in ticks of a millisecond;
// at the first send attempt in a new tick the budget is set to the ticks
// elapsed times the rate per tick (not added to what is left); a packet may
// leave while the budget is positive, and one that overdraws it empties it
// (the overdraft is forgiven). So each tick lets out the rate rounded up to
// a whole packet, a little more than the rate itself, as libudx does; a
// controller that paced exactly would lose ground to libudx flows at a
// shared bottleneck. Acks, heartbeats and messages are not paced. The pacer
// has no timer of its own: when it runs dry the sender arms its stream
// timer for the next tick.
//
// One deliberate difference: libudx lets an idle stream save up its whole
// idle time's worth of budget, so that only the congestion window bounds the
// burst that follows; here the budget is at most maxPaceTicks ticks' worth.
type pacer struct {
	rate   float64 // bytes per second; 0 means not paced
	budget float64 // bytes that may still leave in this tick
	tick   int64   // the tick of the last refill
	primed bool    // tick is set
}

func newPacer() pacer { return pacer{budget: initialPaceBudget} }

// setRate changes the rate, in bytes per second, from the next refill on.
func (p *pacer) setRate(rate float64) { p.rate = rate }

// ready reports whether a packet may leave in millisecond tick.
func (p *pacer) ready(tick int64) bool {
	if p.rate <= 0 {
		return true
	}
	if !p.primed {
		p.tick, p.primed = tick, true
	}
	if tick > p.tick {
		p.budget = float64(min(tick-p.tick, maxPaceTicks)) * p.rate * paceTick.Seconds()
		p.tick = tick
	}
	return p.budget > 0
}

// spend takes n bytes that just left from the budget.
func (p *pacer) spend(n int) { p.budget = max(p.budget-float64(n), 0) }
