package udx

import (
	"testing"
	"time"
)

// bbrHarness drives a bbr directly, one round trip per ack: each ack
// carries a sample of n packets delivered over a round, so every ack starts
// a new BBR round. Time is a fake clock.
type bbrHarness struct {
	t   *testing.T
	b   bbr
	r   rateSampler
	now time.Time
	rtt time.Duration
}

const harnessMSS = 1000

func newBBRHarness(t *testing.T, rtt time.Duration) *bbrHarness {
	h := &bbrHarness{t: t, now: t0, rtt: rtt, r: newRateSampler()}
	h.b = newBBR(t0, harnessMSS)
	return h
}

// ack advances the clock by a round trip and feeds an ack that delivered n
// packets at bw packets per second, with inflight left in flight, the
// sender in loss state ca and losses packets declared lost.
func (h *bbrHarness) ack(n int, bw float64, inflight, ca, losses int) {
	h.t.Helper()
	h.ackAfter(h.rtt, n, bw, inflight, ca, losses, false)
}

func (h *bbrHarness) ackAfter(d time.Duration, n int, bw float64, inflight, ca, losses int, appLimited bool) {
	h.t.Helper()
	h.now = h.now.Add(d)
	rs := newRateSample()
	rs.have = true
	rs.priorDelivered = h.r.delivered
	rs.appLimited = appLimited
	rs.rtt = h.rtt
	h.r.delivered += uint64(n)
	h.r.deliveredAt = h.now
	rs.delivered = int64(n)
	rs.interval = time.Duration(float64(n) / bw * float64(time.Second))
	rs.acked, rs.losses = n, losses
	in := bbrInput{now: h.now, ca: ca, inflight: inflight, srtt: h.rtt, mss: harnessMSS}
	h.b.onAck(&rs, &h.r, &in)
}

// startup grows the bandwidth to bw and holds it until BBR leaves STARTUP.
func (h *bbrHarness) startup(bw float64) {
	h.t.Helper()
	for x := bw / 16; x <= bw; x *= 2 {
		h.ack(10, x, 10, stateOpen, 0)
		if h.b.state != BBRStartup {
			h.t.Fatalf("left STARTUP while the bandwidth still doubled (%v pkt/s)", x)
		}
	}
	for i := range 3 {
		h.ack(10, bw, 1000, stateOpen, 0)
		if want := i == 2; h.b.fullBWReached != want {
			h.t.Fatalf("%d rounds without growth: full bandwidth reached %v, want %v", i+1, h.b.fullBWReached, want)
		}
	}
}

// steady runs n rounds in PROBE_BW, 50 packets acked per round and a BDP in
// flight, so that the window reaches its target.
func (h *bbrHarness) steady(n int) {
	h.t.Helper()
	for range n {
		h.ack(50, hBW, hBDP, stateOpen, 0)
	}
	if h.b.state != BBRProbeBW {
		h.t.Fatalf("state %s, want PROBE_BW", h.b.state)
	}
}

// target returns the window BBR aims at in PROBE_BW: 2 BDP, the ack
// aggregation and the quantization budget.
func (h *bbrHarness) target() int {
	return h.b.bdp(h.b.bandwidth(), bbrCwndGain) + h.b.aggregationCwnd() + h.b.quantizationBudget(harnessMSS)
}

// A path of 10 000 packets/s and 20 ms: BDP 200 packets.
const (
	hBW  = 10000.0
	hBDP = 200
)

func TestBBRStartupDrainProbeBW(t *testing.T) {
	h := newBBRHarness(t, 20*time.Millisecond)
	if h.b.state != BBRStartup || h.b.cwnd != initialCwnd || h.b.pacingGain != bbrHighGain {
		t.Fatalf("initial: %s cwnd %d pacing gain %v", h.b.state, h.b.cwnd, h.b.pacingGain)
	}
	h.startup(hBW)
	if h.b.state != BBRDrain || h.b.pacingGain != bbrDrainGain || h.b.cwndGain != bbrHighGain {
		t.Fatalf("after the pipe filled: %s, gains %v/%v; want DRAIN", h.b.state, h.b.pacingGain, h.b.cwndGain)
	}
	if h.b.bandwidth() != hBW || h.b.minRTT != 20*time.Millisecond {
		t.Fatalf("model: bw %v min RTT %v, want %v and 20ms", h.b.bandwidth(), h.b.minRTT, hBW)
	}
	h.ack(10, hBW, hBDP+1, stateOpen, 0) // the queue is still there
	if h.b.state != BBRDrain {
		t.Fatalf("left DRAIN with %d in flight, BDP %d", hBDP+1, hBDP)
	}
	h.ack(10, hBW, hBDP, stateOpen, 0)
	if h.b.state != BBRProbeBW || h.b.cycleIndex != 4 || h.b.pacingGain != 1 || h.b.cwndGain != bbrCwndGain {
		t.Fatalf("queue drained: %s phase %d gains %v/%v; want PROBE_BW phase 4, 1/2", h.b.state, h.b.cycleIndex, h.b.pacingGain, h.b.cwndGain)
	}
	wantRate := hBW * harnessMSS * bbrPacingMargin
	if r := h.b.pacingRate; r < wantRate*0.999 || r > wantRate*1.001 {
		t.Fatalf("pacing rate %v, want %v", r, wantRate)
	}
}

// The PROBE_BW gain cycle, phases of a min RTT each: the probe (1.25) lasts
// until in flight exceeds 1.25 BDP, the drain (0.75) ends early once in
// flight is down to the BDP.
func TestBBRGainCycle(t *testing.T) {
	h := newBBRHarness(t, 20*time.Millisecond)
	h.startup(hBW)
	h.ack(10, hBW, hBDP, stateOpen, 0)
	step := 21 * time.Millisecond // a bit over the min RTT
	var got []int
	for range 4 {
		h.ackAfter(step, 10, hBW, hBDP, stateOpen, 0, false)
		got = append(got, h.b.cycleIndex)
	}
	if want := []int{5, 6, 7, 0}; !equalInts(got, want) {
		t.Fatalf("phases %v, want %v", got, want)
	}
	if h.b.pacingGain != 1.25 {
		t.Fatalf("phase 0 gain %v, want 1.25", h.b.pacingGain)
	}
	// Probing: a min RTT is not enough while in flight is under 1.25 BDP.
	h.ackAfter(step, 10, hBW, hBDP*5/4, stateOpen, 0, false)
	if h.b.cycleIndex != 0 {
		t.Fatalf("probe ended at %d in flight (1.25 BDP = %d)", hBDP*5/4, hBDP*5/4)
	}
	h.ackAfter(step, 10, hBW, hBDP*5/4+1, stateOpen, 0, false)
	if h.b.cycleIndex != 1 || h.b.pacingGain != 0.75 {
		t.Fatalf("after the probe filled 1.25 BDP: phase %d gain %v, want 1 and 0.75", h.b.cycleIndex, h.b.pacingGain)
	}
	// Draining: over as soon as in flight is at the BDP, before a min RTT.
	h.ackAfter(time.Millisecond, 10, hBW, hBDP, stateOpen, 0, false)
	if h.b.cycleIndex != 2 {
		t.Fatalf("drain phase did not end with in flight at the BDP: phase %d", h.b.cycleIndex)
	}
	// A loss also ends a probe that lasted a min RTT.
	for h.b.cycleIndex != 0 {
		h.ackAfter(step, 10, hBW, hBDP, stateOpen, 0, false)
	}
	h.ackAfter(step, 10, hBW, hBDP, stateOpen, 1, false)
	if h.b.cycleIndex != 1 {
		t.Fatalf("probe with a loss did not end: phase %d", h.b.cycleIndex)
	}
	// In PROBE_BW the window grows, by what each ack acks, to 2 BDP plus
	// the ack aggregation (the harness acks 50 packets at once, which the
	// bandwidth would have spread over 5 ms) plus three 1 ms bursts at the
	// pacing rate (9 to 12 packets each, depending on the phase's gain).
	prev := h.b.cwnd
	h.steady(1)
	if want := min(prev+50, h.target()); h.b.cwnd != want {
		t.Fatalf("cwnd %d after 50 acked, want %d", h.b.cwnd, want)
	}
	h.steady(20)
	budget := h.b.quantizationBudget(harnessMSS)
	if want := 2*hBDP + 50 + budget; budget < 3*9 || budget > 3*12 || h.target() != want || h.b.cwnd != want {
		t.Fatalf("cwnd %d, target %d, budget %d; want 2 BDP + 50 + budget = %d", h.b.cwnd, h.target(), budget, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Ten seconds without a lower RTT: PROBE_RTT holds the window at 4 packets
// until in flight has been that low for 200 ms and a round, then returns to
// PROBE_BW with the window it had.
func TestBBRProbeRTT(t *testing.T) {
	h := newBBRHarness(t, 20*time.Millisecond)
	h.startup(hBW)
	h.ack(10, hBW, hBDP, stateOpen, 0)
	stamp := h.b.minRTTStamp
	var last int
	for h.b.state == BBRProbeBW {
		last = h.b.cwnd
		h.ack(50, hBW, hBDP, stateOpen, 0)
	}
	if d := h.now.Sub(stamp); d <= bbrMinRTTWindow || d > bbrMinRTTWindow+h.rtt {
		t.Fatalf("%s %v after the min RTT sample, want PROBE_RTT at the first ack after 10 s", h.b.state, d)
	}
	if h.b.state != BBRProbeRTT || h.b.cwnd != bbrMinCwnd || h.b.pacingGain != 1 {
		t.Fatalf("min RTT expired: %s cwnd %d gain %v, want PROBE_RTT, 4, 1", h.b.state, h.b.cwnd, h.b.pacingGain)
	}
	prior := h.b.priorCwnd
	if prior != last || prior < 2*hBDP {
		t.Fatalf("saved window %d, want %d, the window before PROBE_RTT", prior, last)
	}
	if !h.r.appLimited {
		t.Fatal("samples in PROBE_RTT are not marked application-limited")
	}
	h.ack(4, hBW, 50, stateOpen, 0) // the flight is still draining
	if !h.b.probeRTTDone.IsZero() {
		t.Fatal("PROBE_RTT timer started with 50 packets in flight")
	}
	h.ack(4, hBW, 4, stateOpen, 0)
	start := h.now
	for h.b.state == BBRProbeRTT {
		if h.now.Sub(start) > time.Second {
			t.Fatal("stuck in PROBE_RTT")
		}
		h.ack(4, hBW, 4, stateOpen, 0)
		if h.b.state == BBRProbeRTT && h.b.cwnd > bbrMinCwnd {
			t.Fatalf("cwnd %d in PROBE_RTT", h.b.cwnd)
		}
	}
	if d := h.now.Sub(start); d < bbrProbeRTTTime {
		t.Fatalf("left PROBE_RTT after %v, want at least %v", d, bbrProbeRTTTime)
	}
	// The saved window comes back, trimmed at once to the target (2 BDP
	// plus the little aggregation of 4-packet acks).
	if h.b.state != BBRProbeBW || h.b.cwnd < 2*hBDP || h.b.cwnd > prior {
		t.Fatalf("after PROBE_RTT: %s cwnd %d, want PROBE_BW and %d to %d", h.b.state, h.b.cwnd, 2*hBDP, prior)
	}
	if h.b.minRTTStamp != h.now {
		t.Fatal("min RTT not refreshed by PROBE_RTT")
	}
}

// A lower RTT sample keeps the filter fresh: no PROBE_RTT.
func TestBBRMinRTTRefresh(t *testing.T) {
	h := newBBRHarness(t, 20*time.Millisecond)
	h.startup(hBW)
	for range 1000 { // 20 s
		h.rtt -= time.Microsecond
		h.ack(10, hBW, hBDP, stateOpen, 0)
		if h.b.state == BBRProbeRTT {
			t.Fatalf("PROBE_RTT at %v with a falling RTT", h.now.Sub(t0))
		}
	}
	// Sub-millisecond paths: the min RTT is at least 1 ms, as libudx's
	// millisecond clock makes it.
	h.rtt = 50 * time.Microsecond
	h.ack(10, hBW, hBDP, stateOpen, 0)
	if h.b.minRTT != time.Millisecond {
		t.Fatalf("min RTT %v from a 50µs sample, want 1ms", h.b.minRTT)
	}
}

// Fast recovery: packet conservation for the first round (one packet sent
// per packet acked), normal window growth after it, and the window saved at
// the start restored when recovery ends.
func TestBBRRecovery(t *testing.T) {
	h := newBBRHarness(t, 20*time.Millisecond)
	h.startup(hBW)
	h.steady(20)
	before := h.b.cwnd
	// The ack that starts recovery (5 lost): cwnd = in flight + acked.
	h.ackAfter(time.Millisecond, 3, hBW, 100, stateRecovery, 5, false)
	if !h.b.conservation || h.b.cwnd != 103 {
		t.Fatalf("entering recovery: conservation %v cwnd %d, want true and 103", h.b.conservation, h.b.cwnd)
	}
	if h.b.priorCwnd != before {
		t.Fatalf("saved window %d, want %d", h.b.priorCwnd, before)
	}
	// Within the round: the window follows the flight.
	in := bbrInput{now: h.now.Add(time.Millisecond), ca: stateRecovery, inflight: 90, srtt: h.rtt, mss: harnessMSS}
	rs := newRateSample()
	rs.acked, rs.delivered = 2, -1 // no rate sample: the round does not end
	h.r.delivered += 2
	h.b.onAck(&rs, &h.r, &in)
	if h.b.cwnd != 103 {
		t.Fatalf("conservation: cwnd %d, want 103 (the flight only shrank)", h.b.cwnd)
	}
	// A round later conservation ends: the window grows by what is acked,
	// towards the target.
	h.ack(10, hBW, 90, stateRecovery, 0)
	if h.b.conservation || h.b.cwnd != 113 {
		t.Fatalf("next round: conservation %v cwnd %d, want false and 113", h.b.conservation, h.b.cwnd)
	}
	// Recovery ends: back to the window before it, or to the target if
	// that is lower now (the 10-packet acks aggregate less than the 50 did).
	h.ack(10, hBW, 90, stateOpen, 0)
	if want := min(before, h.target()); h.b.cwnd != want || want < 2*hBDP {
		t.Fatalf("after recovery: cwnd %d, want %d restored (target %d)", h.b.cwnd, before, h.target())
	}
	if h.b.cwnd == 0xffff {
		t.Fatal("libudx's ssthresh quirk")
	}
}

// Losses outside recovery take as many packets off the window.
func TestBBRLossShrinksCwnd(t *testing.T) {
	h := newBBRHarness(t, 20*time.Millisecond)
	h.startup(hBW)
	h.ack(10, hBW, hBDP, stateOpen, 0)
	before := h.b.cwnd
	h.ackAfter(time.Millisecond, 1, hBW, hBDP, stateOpen, 7, false)
	if h.b.cwnd != before-6 {
		t.Fatalf("cwnd %d after 7 lost and 1 acked, want %d", h.b.cwnd, before-6)
	}
}

// An RTO counts as a loss round but does not collapse the window; when the
// loss state ends the window saved before is restored (libudx bbr_on_rto).
func TestBBRRTO(t *testing.T) {
	h := newBBRHarness(t, 20*time.Millisecond)
	h.startup(hBW)
	h.ack(10, hBW, hBDP, stateOpen, 0)
	before := h.b.cwnd
	h.b.onRTO()
	if h.b.cwnd != before || !h.b.roundStart || h.b.prevCA != stateLoss || h.b.fullBW != 0 {
		t.Fatalf("after RTO: cwnd %d round start %v prev %d full bw %v", h.b.cwnd, h.b.roundStart, h.b.prevCA, h.b.fullBW)
	}
	h.ack(10, hBW, 10, stateLoss, 0)
	h.ack(10, hBW, 10, stateOpen, 0)
	if h.b.cwnd < before {
		t.Fatalf("cwnd %d after the loss state, want at least %d", h.b.cwnd, before)
	}
	if h.b.state != BBRProbeBW {
		t.Fatalf("state %s after an RTO, want PROBE_BW kept", h.b.state)
	}
}

// Application-limited samples do not lower the estimate, but a higher one
// raises it; nor do they count as rounds without growth in STARTUP.
func TestBBRAppLimited(t *testing.T) {
	h := newBBRHarness(t, 20*time.Millisecond)
	h.ack(10, 1000, 10, stateOpen, 0)
	for range 10 {
		h.ackAfter(h.rtt, 2, 100, 2, stateOpen, 0, true)
	}
	if h.b.state != BBRStartup || h.b.fullBWReached {
		t.Fatal("application-limited rounds ended STARTUP")
	}
	if bw := h.b.bandwidth(); bw != 1000 {
		t.Fatalf("bw %v after application-limited samples, want 1000 kept", bw)
	}
	h.ackAfter(h.rtt, 50, 2500, 2, stateOpen, 0, true)
	if bw := h.b.bandwidth(); bw != 2500 {
		t.Fatalf("bw %v, want the higher application-limited sample 2500", bw)
	}
}
