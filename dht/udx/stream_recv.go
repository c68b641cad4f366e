package udx

// Receive-side limits.
const (
	// recvWindow is the receive window advertised when nothing is buffered:
	// 4 MiB, what libudx always advertises (UDX_DEFAULT_RWND_MAX).
	recvWindow = 4 << 20

	// recvBufferMax bounds the in-order bytes held for Read. Past it, new
	// data is dropped (unacked) until the reader catches up. It leaves room
	// for a sender that overruns the advertised window by a flight.
	recvBufferMax = 2 * recvWindow

	// oooWindow is how far ahead of the cumulative ack a packet is kept out
	// of order, in seqs; packets further ahead are dropped. A sender limited
	// by recvWindow has at most recvWindow/1132 (about 3700) packets in
	// flight, so this never drops a packet of a well-behaved peer. A power
	// of two.
	oooWindow = 4096
)

// recvBuffer is the receiving half of a stream, free of I/O and locking:
// the cumulative ack, the in-order bytes waiting for Read, the packets held
// out of order, and the peer's END. It follows libudx process_packet and
// process_data_packet (udx.md §3.2), except that out-of-order storage is
// bounded by oooWindow and that the SACK blocks always cover the packet
// received last (see sack).
type recvBuffer struct {
	nxt Seq // cumulative ack: the next seq expected

	data byteRing // in-order bytes not yet read

	ooo      []oooSlot // oooWindow slots, indexed by seq % oooWindow, for seqs in (nxt, nxt+oooWindow); allocated on first use
	oooCount int       // slots in use
	oooHigh  Seq       // one past the highest seq held, when oooCount > 0
	oooLast  Seq       // the seq stored out of order most recently
	oooFree  [][]byte  // payload buffers of drained slots, for reuse: as many as were ever held at once

	endKnown bool // an END arrived (maybe out of order) at endSeq
	endSeq   Seq
	eof      bool // the END was reached in order: nothing more will come
}

type oooSlot struct {
	used bool
	end  bool
	data []byte
}

// buffered returns the bytes waiting for Read.
func (r *recvBuffer) buffered() int { return r.data.len() }

// window returns the receive window to advertise, in bytes.
func (r *recvBuffer) window() uint32 {
	return uint32(max(recvWindow-r.buffered(), 0))
}

// onPacket takes a DATA and/or END packet with sequence number seq. It
// reports whether the packet was new (delivered or stored); a duplicate, a
// packet beyond what may be held and data after the END are not. Either way
// the caller acks. payload is copied.
func (r *recvBuffer) onPacket(seq Seq, end bool, payload []byte) bool {
	if r.eof || seq.Less(r.nxt) {
		return false
	}
	if r.endKnown && r.endSeq.Less(seq) {
		return false // nothing follows an END
	}
	if seq == r.nxt {
		if r.buffered() > recvBufferMax {
			return false
		}
		r.deliver(end, payload)
		r.drain()
		return true
	}
	d := SeqDiff(seq, r.nxt)
	if d >= oooWindow || r.buffered() > recvBufferMax {
		return false
	}
	if r.ooo == nil {
		r.ooo = make([]oooSlot, oooWindow)
	}
	slot := &r.ooo[uint32(seq)%oooWindow]
	if slot.used {
		return false // the first copy wins, as in libudx
	}
	slot.used, slot.end = true, end
	var buf []byte
	if k := len(r.oooFree); k > 0 {
		buf, r.oooFree = r.oooFree[k-1], r.oooFree[:k-1]
	}
	slot.data = append(buf, payload...)
	if end {
		r.endKnown, r.endSeq = true, seq
	}
	if r.oooCount == 0 || r.oooHigh.LessEq(seq) {
		r.oooHigh = seq + 1
	}
	r.oooLast = seq
	r.oooCount++
	return true
}

// deliver appends the payload of the packet at nxt and moves past it.
func (r *recvBuffer) deliver(end bool, payload []byte) {
	r.data.write(payload)
	r.nxt++
	if end {
		r.endKnown, r.endSeq, r.eof = true, r.nxt-1, true
	}
}

// drain delivers the held packets that have become in order.
func (r *recvBuffer) drain() {
	for r.oooCount > 0 && !r.eof {
		slot := &r.ooo[uint32(r.nxt)%oooWindow]
		if !slot.used {
			return
		}
		r.deliver(slot.end, slot.data)
		r.oooFree = append(r.oooFree, slot.data[:0])
		slot.used, slot.end, slot.data = false, false, nil
		r.oooCount--
	}
	if r.eof {
		r.dropHeld()
	}
}

// dropHeld forgets every held packet (they can only be beyond the END).
func (r *recvBuffer) dropHeld() {
	r.ooo, r.oooCount, r.oooFree = nil, 0, nil
}

// read copies buffered bytes into b.
func (r *recvBuffer) read(b []byte) int {
	return r.data.read(b)
}

// release drops every buffered byte and held packet (after a reset).
func (r *recvBuffer) release() {
	r.data.release()
	if r.oooCount > 0 {
		r.dropHeld()
	}
}

// sack appends the runs of held packets to dst, ascending, at most
// MaxSACKBlocks of them, all above the cumulative ack. Up to that many runs
// it writes exactly what libudx send_ack does: all of them. Beyond it libudx
// keeps the lowest ones; here the last block is instead the run holding the
// packet received most recently (when it is not among the lowest), as RFC
// 2018 asks of TCP. Otherwise, after a burst of losses leaves more than 50
// holes, packets that arrive are not reported until the holes fill, and the
// sender books them all at once: stale RTT samples and a delivery rate far
// above the path's.
func (r *recvBuffer) sack(dst []SACKBlock) []SACKBlock {
	if r.oooCount == 0 {
		return dst
	}
	inRun, blocks := false, 0
	var start Seq
	// The slot of oooHigh is never in use, which closes the last run.
	for seq := r.nxt + 1; seq.LessEq(r.oooHigh); seq++ {
		used := r.ooo[uint32(seq)%oooWindow].used
		if used && !inRun {
			start, inRun = seq, true
		} else if !used && inRun {
			dst = append(dst, SACKBlock{Start: start, End: seq})
			inRun = false
			if blocks++; blocks == MaxSACKBlocks-1 {
				return r.sackLast(dst, seq)
			}
		}
	}
	return dst
}

// sackLast appends the last block when MaxSACKBlocks-1 have been written and
// the scan reached from: the next run up, or the run of the latest packet if
// that lies beyond it.
func (r *recvBuffer) sackLast(dst []SACKBlock, from Seq) []SACKBlock {
	used := func(seq Seq) bool { return r.ooo[uint32(seq)%oooWindow].used }
	for from.Less(r.oooHigh) && !used(from) {
		from++
	}
	if !from.Less(r.oooHigh) {
		return dst // no more runs
	}
	start := from
	if l := r.oooLast; from.Less(l) && l.Less(r.oooHigh) && used(l) {
		start = l
		for used(start - 1) {
			start--
		}
	}
	end := start + 1
	for used(end) {
		end++
	}
	return append(dst, SACKBlock{Start: start, End: end})
}
