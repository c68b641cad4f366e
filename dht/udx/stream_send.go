package udx

import (
	"net/netip"
	"time"
)

// Send-side constants.
const (
	// writeBufferBase is what Write may queue beyond the congestion window
	// before it blocks (libudx's 262144-byte drain threshold, udx.md §2.3).
	writeBufferBase = 256 << 10

	// maxRTOTimeouts is how many RTO expiries one packet survives; the next
	// one fails the stream with ErrTimeout (UDX_MAX_RTO_TIMEOUTS).
	maxRTOTimeouts = 6

	// minPTO keeps the tail-loss probe from firing before an ack can come
	// back when the measured RTT is close to zero.
	minPTO = 10 * time.Millisecond
)

// Loss-recovery states, as libudx ca_state.
const (
	stateOpen     = iota // no loss outstanding
	stateRecovery        // fast recovery after SACK/RACK loss detection
	stateLoss            // after an RTO
)

// sentPacket is a DATA or END packet waiting for its ack.
type sentPacket struct {
	buf     []byte         // the whole datagram; header rewritten on retransmission
	to      netip.AddrPort // where it was first sent; retransmissions follow it
	sentAt  time.Time      // last (re)transmission
	size    int            // payload bytes
	retx    bool           // retransmitted at least once: no RTT sample (Karn)
	acked   bool           // selectively acked
	lost    bool           // declared lost, waiting in the retransmit queue
	rtoHits int            // RTO expiries that marked it lost
	probe   bool           // an MTU probe: padded with buf[3] zero bytes after the header
	rate    rateSnapshot   // delivery state at the last (re)transmission
}

// sender is the state of the sending half of a stream: the write queue, the
// packets in flight, the RTT and RACK state, and congestion control with
// pacing (congestion.go).
type sender struct {
	una, nxt Seq // oldest unacked seq; next seq to use

	pending byteRing // written, not yet packetised

	endQueued bool // CloseWrite was called
	endSent   bool // the END packet was built, at endSeq
	endSeq    Seq
	ended     bool // END and everything before it acked

	sent     []sentPacket // seqs una .. nxt-1
	sentBase []sentPacket // the backing array of sent, reused once the acked head is long
	retxQ    []Seq        // packets declared lost, oldest loss first
	inflight int          // sent and neither acked nor declared lost
	sacked   int          // entries of sent acked selectively

	wnd      uint32 // the peer's advertised receive window, bytes
	wl1, wl2 Seq    // seq and ack of the packet that last set wnd

	cc       congestion
	rtt      rttEstimator
	state    int // stateOpen, stateRecovery, stateLoss
	recovery Seq // recovery ends when una reaches it

	rack struct {
		xmit  time.Time // send time of the most recently sent packet delivered
		seq   Seq
		retx  bool // that packet was a retransmission: later seqs may have been sent before it
		rtt   time.Duration
		valid bool
	}
	tlpAllowed bool // an RTT sample arrived since the last probe
	retxHigh   Seq  // highest seq ever retransmitted (valid when retxAny)
	retxAny    bool

	rtoAt, tlpAt, reoAt, zwpAt time.Time // armed timers; zero = off
	paceAt                     time.Time // pacing holds back a packet until then; zero = not waiting

	changePending bool // ChangeRemote waits for the old flight's acks
	changeSeq     Seq

	free [][]byte // datagram buffers to reuse
}

func (s *sender) init() {
	s.cc = newCongestion()
	s.wnd = recvWindow
	s.tlpAllowed = true
}

// stop disarms every timer and drops what is queued.
func (s *sender) stop() {
	s.rtoAt, s.tlpAt, s.reoAt, s.zwpAt, s.paceAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	s.pending.release()
	s.sent, s.sentBase, s.retxQ, s.free = nil, nil, nil, nil
	s.inflight = 0
}

func (s *sender) deadline() time.Time {
	var d time.Time
	for _, t := range [...]time.Time{s.rtoAt, s.tlpAt, s.reoAt, s.zwpAt, s.paceAt} {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

func (s *sender) queued() int { return s.pending.len() }

func (s *sender) noteRemoteChange() {
	s.changePending = s.una != s.nxt
	s.changeSeq = s.nxt
}

// hasNew reports whether a new packet (data or END) is waiting.
func (s *sender) hasNew() bool {
	return s.queued() > 0 || (s.endQueued && !s.endSent)
}

// windowPackets is how many packets the peer's receive window allows
// between una and nxt: at least one while it is open.
func (c *conn) windowPackets() int {
	if c.snd.wnd == 0 {
		return 0
	}
	return max(int(c.snd.wnd)/c.mss, 1)
}

// writeRoom returns how many bytes Write may queue now.
func (c *conn) writeRoom() int {
	return writeBufferBase + c.snd.cc.cwnd()*c.mss - c.snd.queued()
}

// write queues b for sending and sends what the windows allow.
func (c *conn) write(b []byte, now time.Time) {
	s := &c.snd
	s.pending.write(b)
	c.pump(now)
}

// end queues the END after everything written.
func (c *conn) end(now time.Time) {
	c.snd.endQueued = true
	c.pump(now)
}

// pump sends what the congestion and receive windows and pacing allow:
// retransmissions first, then new packets (libudx send_packets). When pacing
// holds a packet back it sets paceAt, for the stream timer.
func (c *conn) pump(now time.Time) {
	s := &c.snd
	if !c.connected || c.closed {
		return
	}
	s.paceAt = time.Time{}
	sentNew := false
	for s.inflight < s.cc.cwnd() {
		i := s.nextRetransmit()
		if i < 0 && !c.maySendNew() {
			break
		}
		if !s.cc.canSend(now) {
			s.paceAt = s.cc.sendAt(now)
			break
		}
		if i >= 0 {
			c.retransmit(i, now)
			s.retxQ = s.retxQ[1:]
			continue
		}
		c.sendNew(now, false)
		sentNew = true
	}
	if len(s.retxQ) == 0 {
		s.retxQ = s.retxQ[:0:0] // let the backing array go
	}
	if sentNew {
		c.armTLP(now)
	}
	// A closed window with data waiting and nothing in flight to bring an
	// ack: probe it with HEARTBEATs (udx.md §3.7).
	if s.wnd == 0 && s.hasNew() && s.una == s.nxt && s.zwpAt.IsZero() {
		c.sendControl(TypeHeartbeat)
		s.zwpAt = now.Add(s.rtt.timeout())
	}
}

// nextRetransmit returns the index in sent of the packet at the head of the
// retransmit queue, first dropping entries that went stale (acked since, or
// resent by a tail-loss probe); -1 when there is none.
func (s *sender) nextRetransmit() int {
	for len(s.retxQ) > 0 {
		seq := s.retxQ[0]
		if i := int(seq - s.una); SeqDiff(seq, s.una) >= 0 && i < len(s.sent) && s.sent[i].lost && !s.sent[i].acked {
			return i
		}
		s.retxQ = s.retxQ[1:]
	}
	return -1
}

// maySendNew reports whether a new packet is waiting and the peer's receive
// window has room for it.
func (c *conn) maySendNew() bool {
	return c.snd.hasNew() && int(c.snd.nxt-c.snd.una) < c.windowPackets()
}

// ccInput is the sender's state as congestion control sees it.
func (c *conn) ccInput(now time.Time) bbrInput {
	s := &c.snd
	return bbrInput{now: now, ca: s.state, inflight: s.inflight, srtt: s.rtt.srtt, mss: c.mss}
}

// appLimited reports whether the application, not the network, limits the
// sender once the packet being sent has left: less than a full packet of new
// data waits, the congestion window still has room and nothing waits to be
// retransmitted (Linux tcp_rate_check_app_limited; libudx counts unacked
// bytes instead of unsent ones, so it almost never sees the condition).
func (c *conn) appLimited() bool {
	s := &c.snd
	return s.queued() < c.mss && s.inflight+1 < s.cc.cwnd() && len(s.retxQ) == 0
}

// sendNew builds the next packet from the write queue and sends it. When
// an MTU probe is wanted and the packet is not a tail-loss probe (tlp) nor
// sent while a remote change is pending, it is padded into a probe.
func (c *conn) sendNew(now time.Time, tlp bool) {
	s := &c.snd
	n := min(s.queued(), c.mss)
	var t Type
	if n > 0 {
		t = TypeData
	}
	if s.endQueued && n == s.queued() {
		t |= TypeEnd
		s.endSent, s.endSeq = true, s.nxt
	}
	h := c.header(t)
	pad, probe := 0, false
	if !tlp && !s.changePending {
		pad, probe = c.mtu.padding(n, c.remote.Addr().Is6())
	}
	var buf []byte
	if k := len(s.free); k > 0 {
		buf, s.free = s.free[k-1][:0], s.free[:k-1]
	} else {
		// Room for the largest packet: a probe is never larger than MTUMax either.
		buf = make([]byte, 0, HeaderSize+MaxPayload(MTUMax, false))
	}
	if probe {
		h.DataOffset = uint8(pad)
		c.mtu.sent()
	}
	buf = h.Append(buf)
	buf = append(buf, make([]byte, pad)...)
	buf = s.pending.appendTo(buf, n)
	if len(s.sent) == cap(s.sent) && cap(s.sentBase) >= 2*len(s.sent)+1 {
		// The acked head of the array is free: move the flight back to its start instead of
		// growing (sent is a queue popped at the front).
		moved := copy(s.sentBase[:cap(s.sentBase)], s.sent)
		clear(s.sentBase[moved:cap(s.sentBase)])
		s.sent = s.sentBase[:moved]
	}
	in := c.ccInput(now)
	idle := s.una == s.nxt
	s.sent = append(s.sent, sentPacket{buf: buf, to: c.remote, sentAt: now, size: n, probe: probe})
	if cap(s.sent) > cap(s.sentBase) {
		s.sentBase = s.sent[:0]
	}
	s.cc.onSend(&s.sent[len(s.sent)-1].rate, len(buf), idle, c.appLimited(), &in)
	s.nxt++
	s.inflight++
	c.stats.BytesSent += int64(n)
	c.wakeWrite = true
	if s.rtoAt.IsZero() {
		s.rtoAt = now.Add(s.rtt.timeout())
	}
	c.send(buf, c.remote)
}

// retransmit resends sent[i] as it was, with the ack and window refreshed
// (udx.md §3.6), to the address it first went to.
func (c *conn) retransmit(i int, now time.Time) {
	s := &c.snd
	p := &s.sent[i]
	h, err := ParseHeader(p.buf)
	if err != nil {
		return // cannot happen: we built it
	}
	c.lastWnd = c.rcv.window()
	h.Ack, h.RWnd = c.rcv.nxt, c.lastWnd
	h.Put(p.buf)
	p.lost = false
	in := c.ccInput(now)
	s.cc.onSend(&p.rate, len(p.buf), false, c.appLimited(), &in)
	s.inflight++
	p.sentAt, p.retx = now, true
	if seq := s.una + Seq(i); !s.retxAny || s.retxHigh.Less(seq) {
		s.retxHigh, s.retxAny = seq, true
	}
	c.stats.Retransmits++
	c.send(p.buf, p.to)
}

// onAck processes the ack, window and SACK blocks of a packet (udx.md §3.3).
// It reports false when the ack is beyond anything sent, in which case the
// rest of the packet is ignored and no ack is sent for it.
func (c *conn) onAck(h Header, body []byte, now time.Time) bool {
	s := &c.snd
	if s.nxt.Less(h.Ack) {
		return false
	}
	if !h.Ack.Less(s.una) && (s.wl1.Less(h.Seq) || (s.wl1 == h.Seq && s.wl2.LessEq(h.Ack))) {
		s.wnd, s.wl1, s.wl2 = h.RWnd, h.Seq, h.Ack
		if s.wnd > 0 {
			s.zwpAt = time.Time{}
		}
	}
	if s.changePending && !h.Ack.Less(s.changeSeq) {
		s.changePending = false
	}
	wasInflight := s.una != s.nxt
	advanced := s.una.Less(h.Ack)
	a := ackSamples{rate: newRateSample()}
	delivered := 0
	for s.una.Less(h.Ack) {
		p := &s.sent[0]
		if p.acked {
			s.sacked--
		} else {
			c.delivered(p, s.una, now, &a)
			delivered++
		}
		s.free = append(s.free, p.buf)
		s.sent[0] = sentPacket{}
		s.sent = s.sent[1:]
		s.una++
	}
	if len(s.sent) == 0 {
		s.sent = s.sentBase[:0]
	}
	if h.Type&TypeSACK != 0 {
		c.sacks = ParseSACK(h, body, c.sacks[:0])
		for _, blk := range c.sacks {
			if !ValidSACK(blk, s.una, s.nxt) {
				continue
			}
			for seq := blk.Start; seq.Less(blk.End); seq++ {
				p := &s.sent[seq-s.una]
				if !p.acked {
					c.delivered(p, seq, now, &a)
					p.acked = true
					s.sacked++
					delivered++
				}
			}
		}
	}
	if a.rtt.have {
		s.rtt.sample(a.rtt.rtt)
		s.tlpAllowed = true
	}
	if a.ccRTT.have {
		a.rate.rtt = a.ccRTT.rtt
	}
	if s.state != stateOpen && !s.una.Less(s.recovery) {
		s.state = stateOpen // everything outstanding when the episode began is acked
	}
	lost := 0
	if delivered > 0 {
		lost = c.detectLoss(now)
		c.wakeWrite = true
	}
	if s.una == s.nxt {
		s.rtoAt, s.tlpAt, s.reoAt = time.Time{}, time.Time{}, time.Time{}
	} else if delivered > 0 || advanced {
		s.rtoAt = now.Add(s.rtt.timeout())
	}
	if wasInflight {
		// As libudx, every ack that finds data in flight is a rate sample,
		// even one that delivers nothing (BBR's clocks still advance).
		in := c.ccInput(now)
		s.cc.onAck(&a.rate, delivered, lost, s.rtt.minRTT, &in)
	}
	if s.endSent && !s.ended && s.endSeq.Less(s.una) {
		// Our END and all before it are acked: this direction is done.
		// libudx then sends one more pure ack, the "final state" packet.
		s.ended = true
		c.sendAck()
	}
	c.pump(now)
	return true
}

// delivered books the ack of the packet p at seq, and adds it to the
// samples a of the ack.
func (c *conn) delivered(p *sentPacket, seq Seq, now time.Time, a *ackSamples) {
	s := &c.snd
	if !p.lost {
		s.inflight--
	}
	p.lost = false
	s.cc.onDelivered(&a.rate, &p.rate, seq, p.retx)
	if c.mtu.acked(p.probe) {
		c.mss = MaxPayload(c.mtu.mtu, c.remote.Addr().Is6())
	}
	rtt := now.Sub(p.sentAt)
	if !p.retx {
		a.rtt.offer(p.sentAt, seq, rtt)
	} else if rtt < s.rtt.minRTT {
		return // may be the ack of the original: no RACK update
	}
	a.ccRTT.offer(p.sentAt, seq, s.cc.rttOf(&p.rate, now))
	if !s.rack.valid || s.rack.xmit.Before(p.sentAt) || (s.rack.xmit.Equal(p.sentAt) && s.rack.seq.Less(seq)) {
		s.rack.xmit, s.rack.seq, s.rack.rtt, s.rack.valid, s.rack.retx = p.sentAt, seq, rtt, true, p.retx
	}
}

// ackSamples is what one ack's newly delivered packets tell the RTT
// estimator and congestion control.
//
// libudx takes an RTT sample from every packet an ack delivers. Here an ack
// gives one, from the most recently sent of them (as Linux takes its
// congestion-control RTT): a SACK that reports, at last, hundreds of packets
// a libudx receiver held beyond its 50-block horizon would otherwise feed
// hundreds of samples as old as the outage and push the RTO to seconds.
type ackSamples struct {
	rate  rateSample
	rtt   rttCandidate // for the smoothed RTT: packets never retransmitted
	ccRTT rttCandidate // for BBR's min RTT: also retransmissions acked no sooner than the min RTT
}

// rttCandidate keeps the RTT of the most recently sent packet offered.
type rttCandidate struct {
	have   bool
	sentAt time.Time
	seq    Seq
	rtt    time.Duration
}

func (r *rttCandidate) offer(sentAt time.Time, seq Seq, rtt time.Duration) {
	if !r.have || sentAfter(sentAt, seq, r.sentAt, r.seq) {
		*r = rttCandidate{true, sentAt, seq, rtt}
	}
}

// detectLoss is RACK (RFC 8985, libudx rack_detect_loss): a packet sent
// before the most recently delivered one is lost once it is a reorder window
// overdue; packets not yet overdue arm the reorder timer. It returns how
// many packets it declared lost. The first loss outside recovery starts a
// fast-recovery episode, which congestion control sees in the loss state.
func (c *conn) detectLoss(now time.Time) int {
	s := &c.snd
	s.reoAt = time.Time{}
	if !s.rack.valid {
		return 0
	}
	reo := c.reorderWindow()
	lost, probesLost := 0, 0
	// Only packets sent before the RACK packet can be lost. Packets never retransmitted were
	// sent in seq order, so when the RACK packet is an original none above rack.seq qualifies;
	// retransmitted ones can lie anywhere up to retxHigh. A retransmitted RACK packet (rare)
	// scans everything.
	//
	// Likewise the first original not yet overdue ends the scan once past
	// retxHigh: every packet after it was sent after it, so none is overdue
	// either, and it is the one the reorder timer waits for. So an ack
	// costs O(losses + SACKed packets below the first one still due), not
	// O(flight) as a full scan would with a large window.
	limit, retxEnd := 0, 0
	if s.rack.retx {
		limit = len(s.sent)
	} else if !s.rack.seq.Less(s.una) {
		limit = int(s.rack.seq-s.una) + 1
	}
	if s.retxAny && !s.retxHigh.Less(s.una) {
		retxEnd = int(s.retxHigh-s.una) + 1
		limit = max(limit, retxEnd)
	}
	for i := range min(limit, len(s.sent)) {
		p := &s.sent[i]
		if p.acked || p.lost {
			continue
		}
		seq := s.una + Seq(i)
		if !(p.sentAt.Before(s.rack.xmit) || (p.sentAt.Equal(s.rack.xmit) && seq.Less(s.rack.seq))) {
			continue
		}
		due := p.sentAt.Add(s.rack.rtt + reo)
		if now.Before(due) {
			if s.reoAt.IsZero() || due.Before(s.reoAt) {
				s.reoAt = due
			}
			if !p.retx && i >= retxEnd {
				break
			}
			continue
		}
		if p.probe {
			probesLost++
		}
		c.markLost(i)
		lost++
	}
	// A lost probe says the path is narrower, not congested (libudx
	// rack_detect_loss): it alone starts no recovery.
	if lost > probesLost && s.state == stateOpen {
		s.state, s.recovery = stateRecovery, s.nxt
		c.stats.FastRecoveries++
	}
	return lost
}

// reorderWindow is how long RACK waits past a packet's expected ack before
// declaring it lost: a quarter of the min RTT, at most the smoothed RTT.
func (c *conn) reorderWindow() time.Duration {
	return min(c.snd.rtt.minRTT/4, c.snd.rtt.srtt)
}

func (c *conn) markLost(i int) {
	s := &c.snd
	c.unprobe(&s.sent[i])
	s.sent[i].lost = true
	s.inflight--
	s.retxQ = append(s.retxQ, s.una+Seq(i))
}

// armTLP schedules a tail-loss probe after new data went out (libudx
// schedule_loss_probe): two smoothed RTTs, and not after the RTO.
func (c *conn) armTLP(now time.Time) {
	s := &c.snd
	if s.state != stateOpen || s.sacked > 0 {
		return
	}
	pto := initialRTO
	if s.rtt.samples > 0 {
		pto = 2 * s.rtt.srtt
		if s.nxt-s.una == 1 {
			pto += 2 * time.Millisecond
		}
		pto = max(pto, minPTO)
	}
	at := now.Add(pto)
	if !s.rtoAt.IsZero() && !at.Before(s.rtoAt) {
		s.tlpAt = time.Time{}
		return
	}
	s.tlpAt = at
}

// onTimer runs whichever timers are due.
func (c *conn) onTimer(now time.Time) {
	s := &c.snd
	if c.closed {
		return
	}
	if !s.rtoAt.IsZero() && !now.Before(s.rtoAt) {
		c.onRTO(now)
		if c.closed {
			return
		}
	}
	if !s.reoAt.IsZero() && !now.Before(s.reoAt) {
		c.detectLoss(now)
		c.pump(now)
	}
	if !s.paceAt.IsZero() && !now.Before(s.paceAt) {
		c.pump(now) // clears or re-arms paceAt
	}
	if !s.tlpAt.IsZero() && !now.Before(s.tlpAt) {
		s.tlpAt = time.Time{}
		c.onTLP(now)
	}
	if !s.zwpAt.IsZero() && !now.Before(s.zwpAt) {
		if s.wnd == 0 && s.hasNew() {
			c.sendControl(TypeHeartbeat)
			s.zwpAt = now.Add(2 * s.rtt.timeout())
		} else {
			s.zwpAt = time.Time{}
		}
	}
}

// onTLP sends one new packet regardless of cwnd or, failing that,
// retransmits the highest one sent, to draw an ack that exposes a tail loss.
func (c *conn) onTLP(now time.Time) {
	s := &c.snd
	if !s.tlpAllowed || s.una == s.nxt {
		return
	}
	s.tlpAllowed = false
	if s.hasNew() && int(s.nxt-s.una) < c.windowPackets() {
		c.sendNew(now, true)
		return
	}
	i := len(s.sent) - 1
	if p := &s.sent[i]; !p.acked {
		if p.lost {
			p.lost = false // it leaves now; its retransmit-queue entry goes stale
		} else {
			s.inflight--
		}
		c.retransmit(i, now)
	}
}

// onRTO handles an expiry of the retransmission timer (libudx
// udx_rto_timeout): the oldest unacked packet, and every other one whose
// RACK deadline has passed, is declared lost; the timer is re-armed at twice
// the RTO (not backed off further); and the stream fails with ErrTimeout
// when a packet would be marked for the seventh time. The result is the
// fixed schedule of udx.md §3.5: 1, 3, 5, 7, 9, 11 s, then ErrTimeout at
// 13 s. Congestion control is told but the window is not collapsed: the
// retransmissions are paced like everything else (udx.md §4.2).
func (c *conn) onRTO(now time.Time) {
	s := &c.snd
	if s.una == s.nxt {
		s.rtoAt = time.Time{}
		return
	}
	c.stats.RTOCount++
	s.state, s.recovery = stateLoss, s.nxt
	s.tlpAt, s.reoAt = time.Time{}, time.Time{}
	s.rtoAt = now.Add(2 * s.rtt.timeout())
	reo := c.reorderWindow()
	s.retxQ = s.retxQ[:0]
	for i := range s.sent {
		p := &s.sent[i]
		if p.acked {
			continue
		}
		seq := s.una + Seq(i)
		if !p.lost {
			if i > 0 && !now.After(p.sentAt.Add(s.rack.rtt+reo)) {
				continue // not overdue: it stays in flight
			}
			if p.rtoHits >= maxRTOTimeouts {
				c.fail(ErrTimeout)
				return
			}
			p.rtoHits++
			c.unprobe(p)
			p.lost = true
			s.inflight--
		}
		s.retxQ = append(s.retxQ, seq)
	}
	s.cc.onRTO()
	c.pump(now)
}

// unprobe turns a probe declared lost back into a plain packet, so that it
// is retransmitted without its padding (libudx mtu_unprobeify_packet), and
// tells the MTU search.
func (c *conn) unprobe(p *sentPacket) {
	if !p.probe {
		return
	}
	pad := int(p.buf[3])
	n := copy(p.buf[HeaderSize:], p.buf[HeaderSize+pad:])
	p.buf = p.buf[:HeaderSize+n]
	p.buf[3] = 0
	p.probe = false
	c.mtu.lost()
}

// nudge resends at once every packet in flight while none has been acknowledged yet (no
// round-trip sample): see [Stream.Nudge].
func (c *conn) nudge(now time.Time) {
	s := &c.snd
	if c.closed || !c.connected || s.una == s.nxt || s.rtt.samples > 0 {
		return
	}
	for i := range s.sent {
		p := &s.sent[i]
		if p.acked || p.lost {
			continue
		}
		c.markLost(i)
	}
	c.pump(now)
}
