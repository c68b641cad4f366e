package udx

import (
	"math"
	"strconv"
	"time"
)

// BBR v1 congestion control, as libudx runs it (src/udx_bbr.c, a port of
// Linux net/ipv4/tcp_bbr.c that counts packets and milliseconds). BBR models
// the path by two numbers: the bottleneck bandwidth, the highest delivery
// rate sampled over the last ten round trips, and the propagation delay, the
// lowest RTT of the last ten seconds. It paces at a gain times the
// bandwidth and keeps at most a gain times their product (the BDP) in
// flight, moving through four states:
//
//	STARTUP    pacing and cwnd gain 2/ln 2, doubling the rate every round
//	           until three rounds grow the bandwidth by less than 25 %
//	DRAIN      pacing gain ln 2/2 until in flight <= BDP, draining the queue
//	           STARTUP built
//	PROBE_BW   cwnd gain 2, pacing gain cycling through 1.25 (probe for more),
//	           0.75 (drain what the probe queued), then six phases of 1, each
//	           phase lasting a min RTT
//	PROBE_RTT  entered when the min RTT is ten seconds old: cwnd 4 for 200 ms
//	           and a round, so that flows sharing a queue empty it together
//	           and see the true delay; then back to STARTUP or PROBE_BW
//
// Loss is not a model input, except that the window is cut by the packets
// lost on each ack and, in fast recovery, held to packet conservation for a
// round. An RTO does not collapse the window (libudx bbr_on_rto). Times come
// from the controller's millisecond clock (congestion.go), and a min RTT of
// 0 ms counts as 1 ms, as in libudx. Constants and the state machine follow
// libudx; where it differs, deliberately:
//
//   - Leaving fast recovery restores the window saved on entering it (Linux
//     bbr_save_cwnd). libudx sets cwnd to ssthresh there, which stays at its
//     initial 0xFFFF until DRAIN, so a loss in STARTUP leaves it with no
//     window to speak of until the pipe is full (udx.md §4.2); there is no
//     ssthresh here.
//   - The window target includes Linux's quantization budget, room for three
//     of the sender's own bursts (quantizationBudget), which libudx leaves
//     out. At a queue BBR v1 flows keep full, each flow's share follows the
//     slack its window has above 2 BDP; libudx's ack-aggregation estimate
//     is inflated by its event loop handling acks in batches, and without
//     this budget a Go flow gets about a third of a bottleneck it shares
//     with one (measured in fairness_test.go).
//   - The ack-aggregation estimate takes the acks of one clock tick as
//     spread over it (updateAckAggregation).
//   - The application-limited test counts unsent bytes, as Linux does
//     (rate.go, conn.appLimited).
//   - The window is capped at maxCwnd packets.
type bbr struct {
	state      BBRState
	cwnd       int     // packets
	pacingRate float64 // bytes per second
	pacingGain float64
	cwndGain   float64

	bw             maxFilter // delivery rate, packets per second, over rounds
	rounds         uint64    // packet-timed round trips counted
	nextRoundStart uint64    // the round ends when a packet sent after this many deliveries is acked
	roundStart     bool      // this ack started a new round

	minRTT        time.Duration // noRTT until the first sample
	minRTTStamp   time.Time
	probeRTTDone  time.Time // zero until in flight first fell to bbrMinCwnd in PROBE_RTT
	probeRTTRound bool      // a round passed since then

	prevCA       int  // the sender's loss state at the previous ack
	conservation bool // packet conservation: first round of fast recovery
	priorCwnd    int  // window to restore after recovery or PROBE_RTT
	idleRestart  bool // transmission restarted after an application-limited idle

	fullBW        float64 // bandwidth at the last 25 % growth in STARTUP
	fullBWCount   int     // rounds since then
	fullBWReached bool

	cycleIndex int       // PROBE_BW phase
	cycleStamp time.Time // when the phase began

	ackEpochStart  time.Time // ack-aggregation epoch
	ackEpochAcked  uint64
	extraAcked     [2]int // max aggregation in the current and previous 5-round windows
	extraAckedIdx  int
	extraAckedRnds int

	hasSeenRTT bool // the pacing rate was initialised from a real srtt
}

// BBRState is a state of the BBR congestion controller. The values are
// libudx's (UDX_BBR_STATE_*), which udx-native reports as bbrState.
type BBRState uint8

// BBR states.
const (
	BBRStartup  BBRState = 0
	BBRDrain    BBRState = 1
	BBRProbeBW  BBRState = 2
	BBRProbeRTT BBRState = 3
)

func (s BBRState) String() string {
	switch s {
	case BBRStartup:
		return "STARTUP"
	case BBRDrain:
		return "DRAIN"
	case BBRProbeBW:
		return "PROBE_BW"
	case BBRProbeRTT:
		return "PROBE_RTT"
	}
	return "BBRState(" + strconv.Itoa(int(s)) + ")"
}

// BBR constants (libudx src/udx_bbr.c, Linux tcp_bbr.c).
const (
	initialCwnd = 10      // packets, as libudx (and RFC 6928)
	bbrMinCwnd  = 4       // packets: the floor, and the window in PROBE_RTT
	maxCwnd     = 1 << 14 // packets; far above what a 4 MiB receive window allows

	bbrHighGain       = 2.88539 // 2/ln 2: doubles the rate per round
	bbrDrainGain      = 1 / bbrHighGain
	bbrCwndGain       = 2.0
	bbrPacingMargin   = 0.99 // pace 1 % below the estimate so queues drain
	bbrCycleLen       = 8
	bbrBWWindow       = bbrCycleLen + 2 // rounds
	bbrFullBWThresh   = 1.25
	bbrFullBWCount    = 3 // rounds
	bbrMinRTTWindow   = 10 * time.Second
	bbrProbeRTTTime   = 200 * time.Millisecond
	bbrMinRTTFloor    = time.Millisecond
	bbrExtraAckedRnds = 5 // rounds per ack-aggregation window
	bbrExtraAckedMax  = 100 * time.Millisecond
	bbrStartCycle     = 3 // PROBE_BW starts after this phase, in phase 4 (not randomised, as libudx)
)

// bbrPacingGains is the PROBE_BW gain cycle.
var bbrPacingGains = [bbrCycleLen]float64{1.25, 0.75, 1, 1, 1, 1, 1, 1}

const noRTT = time.Duration(math.MaxInt64)

// bbrInput is the sender's state at an ack or a transmission.
type bbrInput struct {
	now      time.Time
	ca       int           // stateOpen, stateRecovery or stateLoss, after the ack
	inflight int           // packets in flight, after the ack
	srtt     time.Duration // smoothed RTT; 0 before the first sample
	mss      int           // payload bytes per packet
}

// newBBR returns a controller for a stream created at now.
func newBBR(now time.Time, mss int) bbr {
	b := bbr{
		cwnd:          initialCwnd,
		minRTT:        noRTT,
		minRTTStamp:   now,
		prevCA:        stateOpen,
		ackEpochStart: now,
	}
	b.initPacingRate(0, mss)
	b.state = BBRStartup
	b.updateGains()
	return b
}

// bandwidth returns the bottleneck bandwidth estimate, packets per second.
func (b *bbr) bandwidth() float64 { return b.bw.get() }

// bdp returns gain times the bandwidth-delay product for bandwidth bw, in
// packets; the initial window while no RTT is known.
func (b *bbr) bdp(bw, gain float64) int {
	if b.minRTT == noRTT {
		return initialCwnd
	}
	return int(bw * b.minRTT.Seconds() * gain)
}

// pacingFor converts a bandwidth in packets per second to a pacing rate in
// bytes per second.
func pacingFor(bw, gain float64, mss int) float64 {
	return max(bw*float64(mss)*gain*bbrPacingMargin, 1000)
}

// initPacingRate sets the pacing rate from the initial window over the
// smoothed RTT (1 ms without one, or below it).
func (b *bbr) initPacingRate(srtt time.Duration, mss int) {
	if srtt > 0 {
		b.hasSeenRTT = true
	}
	rtt := max(srtt, bbrMinRTTFloor)
	b.pacingRate = pacingFor(float64(b.cwnd)/rtt.Seconds(), bbrHighGain, mss)
}

func (b *bbr) setPacingRate(bw, gain float64, in *bbrInput) {
	rate := pacingFor(bw, gain, in.mss)
	if !b.hasSeenRTT && in.srtt > 0 {
		b.initPacingRate(in.srtt, in.mss)
	}
	// Until the pipe is known to be full, never slow down.
	if b.fullBWReached || rate > b.pacingRate {
		b.pacingRate = rate
	}
}

// onTransmit is called when a packet leaves with nothing in flight before
// it. appLimited reports the stream is application-limited: it had gone
// idle, so the ack-aggregation epoch restarts and, in PROBE_BW, pacing
// falls back to the estimate itself.
func (b *bbr) onTransmit(appLimited bool, in *bbrInput) {
	if !appLimited {
		return
	}
	b.idleRestart = true
	b.ackEpochStart, b.ackEpochAcked = in.now, 0
	switch b.state {
	case BBRProbeBW:
		b.setPacingRate(b.bandwidth(), 1, in)
	case BBRProbeRTT:
		b.checkProbeRTTDone(in.now)
	}
}

// onRTO feeds BBR a retransmission timeout: it counts as a loss state and a
// round start, and the STARTUP growth check starts over. The window is not
// collapsed (libudx bbr_on_rto).
func (b *bbr) onRTO() {
	b.prevCA = stateLoss
	b.fullBW = 0
	b.roundStart = true
}

// onAck updates the model with the rate sample of one ack and sets the
// window and pacing rate. r is the stream's sampler, which PROBE_RTT marks
// application-limited.
func (b *bbr) onAck(rs *rateSample, r *rateSampler, in *bbrInput) {
	b.updateBW(rs, r)
	b.updateAckAggregation(rs, r)
	if b.state == BBRProbeBW && b.phaseDone(rs, r, in) {
		b.advanceCycle(r.deliveredAt)
	}
	b.checkFullBW(rs)
	b.checkDrain(r, in)
	b.updateMinRTT(rs, r, in)
	b.updateGains()

	bw := b.bandwidth()
	b.setPacingRate(bw, b.pacingGain, in)
	b.setCwnd(rs, r, bw, in)
}

func (b *bbr) updateBW(rs *rateSample, r *rateSampler) {
	b.roundStart = false
	if rs.delivered < 0 || rs.interval <= 0 {
		return
	}
	if rs.priorDelivered >= b.nextRoundStart {
		b.nextRoundStart = r.delivered
		b.rounds++
		b.roundStart = true
		b.conservation = false
	}
	bw := float64(rs.delivered) / rs.interval.Seconds()
	// An application-limited sample understates the path unless it beats
	// the estimate anyway.
	if !rs.appLimited || bw >= b.bandwidth() {
		b.bw.update(b.rounds, bbrBWWindow, bw)
	}
}

// updateAckAggregation estimates how many more packets than the bandwidth
// predicts arrive acked in a burst (receivers and paths that batch acks), to
// keep sending through the gaps between bursts: the largest excess over the
// last 5 to 10 rounds.
func (b *bbr) updateAckAggregation(rs *rateSample, r *rateSampler) {
	if rs.acked <= 0 || rs.delivered < 0 || rs.interval <= 0 {
		return
	}
	if b.roundStart {
		b.extraAckedRnds = min(b.extraAckedRnds+1, 255)
		if b.extraAckedRnds >= bbrExtraAckedRnds {
			b.extraAckedRnds = 0
			b.extraAckedIdx ^= 1
			b.extraAcked[b.extraAckedIdx] = 0
		}
	}
	// The clock counts whole milliseconds, so the acks of one tick look
	// simultaneous: take them as spread over the tick. (libudx counts them
	// all as aggregation, which where the RTT is near a tick, as on
	// loopback, adds a whole BDP to the window and overflows the
	// receiver's socket buffer.)
	epoch := max(r.deliveredAt.Sub(b.ackEpochStart), 0) + paceTick
	expected := uint64(b.bandwidth() * epoch.Seconds())
	// Acks at or below the expected rate end the epoch.
	if b.ackEpochAcked <= expected {
		b.ackEpochAcked = 0
		b.ackEpochStart = r.deliveredAt
		expected = 0
	}
	b.ackEpochAcked += uint64(rs.acked)
	extra := int(min(b.ackEpochAcked-expected, uint64(b.cwnd)))
	if extra > b.extraAcked[b.extraAckedIdx] {
		b.extraAcked[b.extraAckedIdx] = extra
	}
}

// aggregationCwnd is the window added for ack aggregation once the pipe is
// full, at most 100 ms of bandwidth.
func (b *bbr) aggregationCwnd() int {
	if !b.fullBWReached {
		return 0
	}
	limit := int(b.bandwidth() * bbrExtraAckedMax.Seconds())
	return min(max(b.extraAcked[0], b.extraAcked[1]), limit)
}

// quantizationBudget is the room Linux adds to the window for the sender's
// own bursts (bbr_quantization_budget): three bursts, each a pacing tick of
// data at the pacing rate, at least 2 and at most 44 packets.
func (b *bbr) quantizationBudget(mss int) int {
	burst := int(b.pacingRate * paceTick.Seconds() / float64(mss))
	return 3 * min(max(burst, 2), 44)
}

// phaseDone reports whether the current PROBE_BW phase is over: it lasted a
// min RTT and, when probing up, also lost packets or filled gain × BDP; a
// drain phase ends early once in flight is down to the BDP.
func (b *bbr) phaseDone(rs *rateSample, r *rateSampler, in *bbrInput) bool {
	full := r.deliveredAt.Sub(b.cycleStamp) > b.minRTT
	switch {
	case b.pacingGain > 1:
		return full && (rs.losses > 0 || in.inflight > b.bdp(b.bandwidth(), b.pacingGain))
	case b.pacingGain < 1:
		return full || in.inflight <= b.bdp(b.bandwidth(), 1)
	}
	return full
}

func (b *bbr) advanceCycle(now time.Time) {
	b.cycleIndex = (b.cycleIndex + 1) % bbrCycleLen
	b.cycleStamp = now
}

// checkFullBW decides that STARTUP filled the pipe: three rounds, not
// application-limited, without 25 % bandwidth growth.
func (b *bbr) checkFullBW(rs *rateSample) {
	if b.fullBWReached || !b.roundStart || rs.appLimited {
		return
	}
	if bw := b.bandwidth(); bw >= b.fullBW*bbrFullBWThresh {
		b.fullBW = bw
		b.fullBWCount = 0
		return
	}
	b.fullBWCount++
	b.fullBWReached = b.fullBWCount >= bbrFullBWCount
}

func (b *bbr) checkDrain(r *rateSampler, in *bbrInput) {
	if b.state == BBRStartup && b.fullBWReached {
		b.state = BBRDrain
	}
	if b.state == BBRDrain && in.inflight <= b.bdp(b.bandwidth(), 1) {
		b.enterProbeBW(r.deliveredAt)
	}
}

func (b *bbr) enterProbeBW(now time.Time) {
	b.state = BBRProbeBW
	b.cycleIndex = bbrStartCycle
	b.advanceCycle(now)
}

// updateMinRTT keeps the 10-second min RTT and runs PROBE_RTT.
func (b *bbr) updateMinRTT(rs *rateSample, r *rateSampler, in *bbrInput) {
	expired := in.now.After(b.minRTTStamp.Add(bbrMinRTTWindow))
	if rs.rtt >= 0 && (rs.rtt < b.minRTT || expired) {
		b.minRTT = max(rs.rtt, bbrMinRTTFloor)
		b.minRTTStamp = in.now
	}
	if expired && !b.idleRestart && b.state != BBRProbeRTT {
		b.state = BBRProbeRTT
		b.saveCwnd()
		b.probeRTTDone = time.Time{}
	}
	if b.state == BBRProbeRTT {
		// Samples taken with the window held down say nothing of the
		// bandwidth.
		r.markAppLimited(in.inflight)
		switch {
		case b.probeRTTDone.IsZero() && in.inflight <= bbrMinCwnd:
			b.probeRTTDone = in.now.Add(bbrProbeRTTTime)
			b.probeRTTRound = false
			b.nextRoundStart = r.delivered
		case !b.probeRTTDone.IsZero():
			if b.roundStart {
				b.probeRTTRound = true
			}
			if b.probeRTTRound {
				b.checkProbeRTTDone(in.now)
			}
		}
	}
	if rs.delivered > 0 {
		b.idleRestart = false
	}
}

func (b *bbr) checkProbeRTTDone(now time.Time) {
	if b.probeRTTDone.IsZero() || !now.After(b.probeRTTDone) {
		return
	}
	b.minRTTStamp = now
	b.cwnd = max(b.cwnd, b.priorCwnd)
	if b.fullBWReached {
		b.enterProbeBW(now)
	} else {
		b.state = BBRStartup
	}
}

// saveCwnd remembers the window before fast recovery or PROBE_RTT cuts it.
func (b *bbr) saveCwnd() {
	if b.prevCA < stateRecovery && b.state != BBRProbeRTT {
		b.priorCwnd = b.cwnd
	} else {
		b.priorCwnd = max(b.priorCwnd, b.cwnd)
	}
}

func (b *bbr) updateGains() {
	switch b.state {
	case BBRStartup:
		b.pacingGain, b.cwndGain = bbrHighGain, bbrHighGain
	case BBRDrain:
		b.pacingGain, b.cwndGain = bbrDrainGain, bbrHighGain
	case BBRProbeBW:
		b.pacingGain, b.cwndGain = bbrPacingGains[b.cycleIndex], bbrCwndGain
	case BBRProbeRTT:
		b.pacingGain, b.cwndGain = 1, 1
	}
}

// setCwnd moves the window towards cwnd gain × BDP plus ack aggregation:
// by at most the packets acked (so an ack releases at most two packets),
// after taking off those lost.
func (b *bbr) setCwnd(rs *rateSample, r *rateSampler, bw float64, in *bbrInput) {
	if rs.acked > 0 {
		b.cwnd = b.targetCwnd(rs, r, bw, in)
	}
	if b.state == BBRProbeRTT {
		b.cwnd = min(b.cwnd, bbrMinCwnd)
	}
}

func (b *bbr) targetCwnd(rs *rateSample, r *rateSampler, bw float64, in *bbrInput) int {
	cwnd, acked := b.cwnd, rs.acked
	if rs.losses > 0 {
		cwnd = max(cwnd-rs.losses, 1)
	}
	switch {
	case in.ca == stateRecovery && b.prevCA != stateRecovery:
		// Entering fast recovery: send one packet per packet acked for a
		// round.
		b.saveCwnd()
		b.conservation = true
		b.nextRoundStart = r.delivered
		cwnd = in.inflight + acked
	case b.prevCA >= stateRecovery && in.ca == stateOpen:
		cwnd = max(cwnd, b.priorCwnd)
		b.conservation = false
	}
	b.prevCA = in.ca
	if b.conservation {
		return min(max(cwnd, in.inflight+acked), maxCwnd)
	}
	target := b.bdp(bw, b.cwndGain) + b.aggregationCwnd() + b.quantizationBudget(in.mss)
	switch {
	case b.fullBWReached:
		cwnd = min(cwnd+acked, target)
	case cwnd < target || r.delivered < initialCwnd:
		cwnd += acked
	}
	return min(max(cwnd, bbrMinCwnd), maxCwnd)
}
