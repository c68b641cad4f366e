package compact

// MaxArrayLen is the largest array count the reference decodes (0x100000);
// a larger count fails with ErrTooLong before any element is read.
const MaxArrayLen = 0x100000

// AppendArrayLen appends an array count as a uint. The caller appends the
// elements after it. It panics if count is negative.
func AppendArrayLen(b []byte, count int) []byte {
	if count < 0 {
		panic("compact: AppendArrayLen called with a negative count")
	}
	return AppendUint(b, uint64(count))
}

// ParseArrayLen decodes an array count from the start of b and returns it with
// the number of bytes the count used; the elements follow.
//
// A count above MaxArrayLen fails with ErrTooLong. If minElemSize is positive
// it is the fewest bytes one element can take, and a count that could not fit
// in the rest of b fails with an error matching both ErrTooLong and
// ErrTruncated, so that a decoder can size its slice from count without
// trusting the wire. With minElemSize <= 0 only MaxArrayLen is enforced.
func ParseArrayLen(b []byte, minElemSize int) (count int, n int, err error) {
	v, n, err := ParseUint(b)
	if err != nil {
		return 0, 0, err
	}
	if v > MaxArrayLen {
		return 0, 0, ErrTooLong
	}
	if minElemSize > 0 && v > uint64((len(b)-n)/minElemSize) {
		return 0, 0, errPastEnd
	}
	return int(v), n, nil
}
