package udx

import (
	"encoding/binary"
	"slices"
)

// SACKBlock is one selective-ack block: the half-open range [Start, End) of
// seqs the sender of the SACK holds out of order. On the wire it is 8 bytes,
// Start then End, each a little-endian uint32.
type SACKBlock struct {
	Start, End Seq
}

// MaxSACKBlocks is the most blocks libudx puts in one ack (UDX_MAX_SACKS).
const MaxSACKBlocks = 50 // 20 + 50*8 = 420-byte datagram

// AppendSACK appends the encoding of blocks to b, a body for a packet with
// TypeSACK set, and returns the extended slice. Like libudx send_ack, it
// writes at most MaxSACKBlocks blocks, the first ones given. The blocks are
// written as given; the caller chooses and orders them and keeps them above
// the cumulative ack (a stream's receiver: recvBuffer.sack).
func AppendSACK(b []byte, blocks []SACKBlock) []byte {
	if len(blocks) > MaxSACKBlocks {
		blocks = blocks[:MaxSACKBlocks]
	}
	b = slices.Grow(b, 8*len(blocks))
	for _, blk := range blocks {
		b = binary.LittleEndian.AppendUint32(b, uint32(blk.Start))
		b = binary.LittleEndian.AppendUint32(b, uint32(blk.End))
	}
	return b
}

// ParseSACK appends to dst the SACK blocks in body, the part of a datagram
// after its header h, and returns the extended slice. It follows libudx
// process_packet: without TypeSACK in h.Type there are none; otherwise the
// SACK area starts at the beginning of body and is h.DataOffset bytes long
// when 0 < h.DataOffset < len(body), and the whole body when not; the count
// is the area's size divided by 8, rounded down, and trailing bytes are
// ignored. libudx itself always sends data_offset 0, so from it the count is
// len(body)/8.
//
// The count is not capped at MaxSACKBlocks (libudx processes every block it
// receives), so it can reach len(body)/8: 253 for a datagram of MaxDatagram
// bytes. ParseSACK does not allocate when dst has room for them all. The
// blocks are returned as sent; check each with [ValidSACK] before use.
func ParseSACK(h Header, body []byte, dst []SACKBlock) []SACKBlock {
	if h.Type&TypeSACK == 0 {
		return dst
	}
	area := body
	if off := int(h.DataOffset); off > 0 && off < len(body) {
		area = body[:off]
	}
	for ; len(area) >= 8; area = area[8:] {
		dst = append(dst, SACKBlock{
			Start: Seq(binary.LittleEndian.Uint32(area)),
			End:   Seq(binary.LittleEndian.Uint32(area[4:])),
		})
	}
	return dst
}

// ValidSACK reports whether a received SACK block may be used by a sender
// whose oldest unacked seq is sndUna and whose next unsent seq is sndNxt,
// with the rule of libudx udx_sack_is_valid. In serial arithmetic the block
// must be non-empty (Start < End), lie within what was sent (End <= sndNxt,
// Start < sndNxt) and not start before sndUna (not Start < sndUna, which for
// a Start exactly 2^31 after sndUna differs from sndUna <= Start). sndUna must
// already include the cumulative ack of the packet the block came in.
// libudx counts invalid blocks and otherwise ignores them.
func ValidSACK(blk SACKBlock, sndUna, sndNxt Seq) bool {
	return blk.Start.Less(blk.End) &&
		blk.End.LessEq(sndNxt) &&
		blk.Start.Less(sndNxt) &&
		!blk.Start.Less(sndUna)
}
