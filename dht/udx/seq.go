package udx

// Seq is a packet sequence number. The space is 32 bits and wraps, so
// sequence numbers are ordered in serial arithmetic, as libudx does
// (seq_diff and seq_compare in src/internal.h): a is before b when the
// difference a-b, read as a signed 32-bit number, is negative. The order is
// meaningful only between numbers less than 2^31 apart; of two numbers
// exactly 2^31 apart each is before the other, so there a.LessEq(b) is not
// the same as !b.Less(a). Plain + and - wrap as needed.
type Seq uint32

// SeqDiff returns a-b as a signed distance: positive when a is after b,
// negative when a is before b.
func SeqDiff(a, b Seq) int32 { return int32(a - b) }

// Less reports whether a comes before b.
func (a Seq) Less(b Seq) bool { return SeqDiff(a, b) < 0 }

// LessEq reports whether a comes before b or equals it.
func (a Seq) LessEq(b Seq) bool { return SeqDiff(a, b) <= 0 }

// SeqMax returns whichever of a and b comes later.
func SeqMax(a, b Seq) Seq {
	if a.Less(b) {
		return b
	}
	return a
}
