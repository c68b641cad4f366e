package udx

import "time"

// congestion is a sender's congestion control, as libudx runs it (udx.md
// §4): BBR v1 (bbr.go) fed by delivery-rate samples (rate.go), whose pacing
// rate drives a token-bucket pacer (pacing.go). The sender asks it for the
// window and whether pacing lets a packet leave, and tells it about every
// data packet sent, every ack and every retransmission timeout. Loss
// detection (SACK, RACK, TLP, RTO) stays with the sender; what it decides
// reaches BBR as the loss state and the packets lost per ack.
//
// The receiver only acks, so congestion control is not a wire concern: any
// controller interoperates. This one exists so that a Go sender shares a
// bottleneck fairly with a libudx one, and that is why it measures as libudx
// does, on a millisecond clock (uv_now), with libudx's pacing bucket: BBR v1
// flows that keep a queue full split it according to small biases in what
// each measures (the ack aggregation it sees, the upward bias of its
// bandwidth filter, how far its pacing overshoots), so measuring differently
// from the reference means sharing differently with it. The state machine's
// few departures from libudx are listed at bbr.
type congestion struct {
	started bool
	clock   msClock
	rate    rateSampler
	bbr     bbr
	pace    pacer
}

func newCongestion() congestion {
	return congestion{rate: newRateSampler(), pace: newPacer()}
}

// msClock quantises time to whole milliseconds since its epoch, the first
// time it is read.
type msClock struct {
	epoch time.Time
}

// tick returns the millisecond now falls in.
func (c *msClock) tick(now time.Time) int64 {
	if c.epoch.IsZero() {
		c.epoch = now
	}
	return int64(now.Sub(c.epoch) / time.Millisecond)
}

// at returns the start of millisecond tick.
func (c *msClock) at(tick int64) time.Time {
	return c.epoch.Add(time.Duration(tick) * time.Millisecond)
}

// round returns now rounded down to its millisecond.
func (c *msClock) round(now time.Time) time.Time { return c.at(c.tick(now)) }

// quantize returns in with its time and smoothed RTT rounded down to the
// millisecond.
func (cc *congestion) quantize(in *bbrInput) *bbrInput {
	in.now = cc.clock.round(in.now)
	in.srtt = in.srtt.Truncate(time.Millisecond)
	return in
}

// start sets the controller's clock at the stream's first transmission
// (libudx starts it when the stream is created; a stream that never sends
// needs none).
func (cc *congestion) start(in *bbrInput) {
	cc.started = true
	cc.bbr = newBBR(in.now, in.mss)
	cc.pace.setRate(cc.bbr.pacingRate)
}

// cwnd returns the congestion window, in packets.
func (cc *congestion) cwnd() int {
	if !cc.started {
		return initialCwnd
	}
	return cc.bbr.cwnd
}

// canSend reports whether pacing lets a data packet leave at now.
func (cc *congestion) canSend(now time.Time) bool { return cc.pace.ready(cc.clock.tick(now)) }

// sendAt returns when pacing next lets a packet leave, after canSend
// returned false: the next millisecond.
func (cc *congestion) sendAt(now time.Time) time.Time { return cc.clock.at(cc.clock.tick(now) + 1) }

// onSend books a data packet of size bytes about to leave, first or again,
// and stamps its rate snapshot p. idle reports that nothing was unacked;
// appLimited that the sender has less than a packet of new data left,
// window to spare and nothing else to retransmit. in.inflight is the flight
// before this packet.
func (cc *congestion) onSend(p *rateSnapshot, size int, idle, appLimited bool, in *bbrInput) {
	cc.quantize(in)
	if !cc.started {
		cc.start(in)
	}
	cc.rate.checkAppLimited(appLimited, in.inflight)
	cc.rate.onSend(p, in.now, idle)
	cc.pace.spend(size)
	if in.inflight == 0 {
		cc.bbr.onTransmit(cc.rate.appLimited, in)
		cc.pace.setRate(cc.bbr.pacingRate)
	}
}

// onAck completes the rate sample rs of an ack that newly delivered acked
// packets and led the sender to declare lost ones lost, and runs BBR on it.
// minRTT is the lowest RTT seen (rttEstimator), below which a sample
// interval is not trusted.
func (cc *congestion) onAck(rs *rateSample, acked, lost int, minRTT time.Duration, in *bbrInput) {
	if !cc.started {
		return // nothing was ever sent: the ack carries no news for us
	}
	cc.quantize(in)
	cc.rate.generate(rs, in.now, acked, lost, minRTT.Truncate(time.Millisecond))
	cc.bbr.onAck(rs, &cc.rate, in)
	cc.pace.setRate(cc.bbr.pacingRate)
}

// onRTO tells BBR the retransmission timer expired.
func (cc *congestion) onRTO() {
	if cc.started {
		cc.bbr.onRTO()
	}
}

// onDelivered adds a packet newly acked or SACKed, with snapshot p, sent as
// seq (retx: retransmitted), to the ack's rate sample.
func (cc *congestion) onDelivered(rs *rateSample, p *rateSnapshot, seq Seq, retx bool) {
	cc.rate.onDelivered(rs, p, seq, retx)
}

// rttOf returns the RTT of the packet with snapshot p, acked at now, on the
// controller's millisecond clock.
func (cc *congestion) rttOf(p *rateSnapshot, now time.Time) time.Duration {
	return cc.clock.round(now).Sub(p.sentAt)
}

// stats fills in the congestion fields of st; mss is the stream's payload
// size per packet.
func (cc *congestion) stats(st *StreamStats, mss int) {
	st.CWnd = cc.cwnd()
	if !cc.started {
		return
	}
	b := &cc.bbr
	st.BBRState = b.state
	st.Bandwidth = int64(b.bandwidth() * float64(mss))
	if b.minRTT != noRTT {
		st.MinRTT = b.minRTT
	}
	st.PacingRate = int64(b.pacingRate)
}
