package udx

import "time"

// Delivery-rate sampling, as libudx src/udx_rate.c and Linux
// net/ipv4/tcp_rate.c (draft-cheng-iccrg-delivery-rate-estimation): every
// packet remembers, when it is sent, how many packets had been delivered and
// when; when it is acked the difference gives a delivery rate over the
// interval it spent in flight. BBR feeds these samples into its bandwidth
// filter. Counts are packets, as everywhere in UDX's congestion control.

// rateSnapshot is the delivery state a packet carries from its (latest)
// transmission to its ack.
type rateSnapshot struct {
	sentAt      time.Time // when it was (last) sent
	delivered   uint64    // packets delivered before it was sent
	deliveredAt time.Time // when that count was reached
	firstSentAt time.Time // send time of the packet that opened the sampling interval
	appLimited  bool      // sent while the application left the window unused
}

// rateSampler is the per-stream delivery state. Make one with
// newRateSampler.
type rateSampler struct {
	delivered   uint64    // packets delivered (acked or SACKed) so far
	deliveredAt time.Time // when delivered last grew
	firstSentAt time.Time // send time of the most recently acked packet that opened a sample

	// appLimited is set while packets sent now would not test the path's
	// capacity: the sender ran out of data with room in its window. It is
	// cleared once more than appLimitedUntil packets have been delivered,
	// when the bubble has left the network.
	appLimited      bool
	appLimitedUntil uint64

	primed bool // appLimited was set by the initial state, not by checkAppLimited
}

// rateSample is what one ack tells about the delivery rate. The zero value
// is not ready: start each ack with newRateSample.
type rateSample struct {
	// Of the packet the sample is measured from: the most recently sent of
	// those this ack delivered.
	have           bool
	priorDelivered uint64
	priorAt        time.Time
	sentAt         time.Time
	seq            Seq
	appLimited     bool
	retx           bool

	// Results, set by rateSampler.generate.
	delivered int64         // packets delivered over interval; -1 when there is no sample
	interval  time.Duration // 0 when there is no usable sample
	acked     int           // packets newly acked or SACKed by this ack
	losses    int           // packets declared lost while processing this ack
	rtt       time.Duration // RTT of the last packet acked with a usable sample; -1 if none
}

func newRateSample() rateSample { return rateSample{delivered: -1, rtt: -1} }

// onSend stamps a packet about to be (re)transmitted at now. idle reports
// that nothing is unacked, so the packet starts a new sampling interval.
func (r *rateSampler) onSend(p *rateSnapshot, now time.Time, idle bool) {
	if idle || r.deliveredAt.IsZero() {
		r.firstSentAt, r.deliveredAt = now, now
	}
	*p = rateSnapshot{
		sentAt:      now,
		delivered:   r.delivered,
		deliveredAt: r.deliveredAt,
		firstSentAt: r.firstSentAt,
		appLimited:  r.appLimited,
	}
}

// checkAppLimited marks the stream application-limited when limited (the
// sender has less than a packet of new data, room in its congestion window
// and nothing to retransmit); the mark holds until the packets now in
// flight have been delivered.
func (r *rateSampler) checkAppLimited(limited bool, inflight int) {
	if limited {
		r.markAppLimited(inflight)
	}
}

func (r *rateSampler) markAppLimited(inflight int) {
	r.appLimited, r.primed = true, false
	r.appLimitedUntil = r.delivered + uint64(inflight)
}

// onDelivered counts one packet newly acked or SACKed, whose snapshot is p,
// with sequence number seq (retx: it was retransmitted), and folds it into
// rs: the sample is measured from the most recently sent packet the ack
// covers.
func (r *rateSampler) onDelivered(rs *rateSample, p *rateSnapshot, seq Seq, retx bool) {
	r.delivered++
	if p.deliveredAt.IsZero() {
		return
	}
	sentAt := p.sentAt
	if rs.have && !sentAfter(sentAt, seq, rs.sentAt, rs.seq) {
		return
	}
	rs.have = true
	rs.priorDelivered, rs.priorAt = p.delivered, p.deliveredAt
	rs.sentAt, rs.seq = sentAt, seq
	rs.appLimited, rs.retx = p.appLimited, retx
	// The next sample's send interval starts at this packet's send time.
	r.firstSentAt = sentAt
	rs.interval = sentAt.Sub(p.firstSentAt)
}

// sentAfter reports whether the packet (t1, seq1) was sent after (t2, seq2):
// later, or at the same instant with a higher seq (RACK's ordering).
func sentAfter(t1 time.Time, seq1 Seq, t2 time.Time, seq2 Seq) bool {
	return t1.After(t2) || (t1.Equal(t2) && seq2.Less(seq1))
}

// generate completes rs after an ack that newly delivered acked packets
// and made the sender declare lost ones lost, at now. minRTT is the lowest
// RTT seen: a sample over a shorter interval would come from acks bunched
// together and overstate the rate, so it is dropped.
func (r *rateSampler) generate(rs *rateSample, now time.Time, acked, lost int, minRTT time.Duration) {
	if r.appLimited && (r.primed || r.delivered > r.appLimitedUntil) {
		r.appLimited, r.primed = false, false
	}
	if acked > 0 {
		r.deliveredAt = now
	}
	rs.acked, rs.losses = acked, lost
	if !rs.have {
		rs.delivered, rs.interval = -1, 0
		return
	}
	rs.delivered = int64(r.delivered - rs.priorDelivered)
	// The rate is limited by the slower of sending and acking: use the
	// longer of the two intervals.
	rs.interval = max(rs.interval, now.Sub(rs.priorAt))
	if rs.interval < minRTT || rs.interval <= 0 {
		rs.interval = 0
	}
}

// newRateSampler returns a sampler in its initial, application-limited
// state: the first flight does not test the path (libudx sets app_limited
// at stream creation and clears it at the first ack).
func newRateSampler() rateSampler {
	return rateSampler{appLimited: true, primed: true}
}
