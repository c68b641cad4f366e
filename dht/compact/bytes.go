package compact

// Byte strings: the reference's buffer and string (uint length, then the
// bytes) and fixed(n) (exactly n bytes, no prefix).

// BufferLen returns the number of bytes AppendBuffer writes for v.
func BufferLen(v []byte) int { return UintLen(uint64(len(v))) + len(v) }

// AppendBuffer appends the length of v as a uint, then v. An empty or nil v
// is the single byte 00.
func AppendBuffer(b, v []byte) []byte {
	return append(AppendUint(b, uint64(len(v))), v...)
}

// ParseBuffer decodes a length-prefixed byte string from the start of b.
//
// The returned slice aliases b (no copy is made); its capacity ends with the
// value, so appending to it never overwrites the bytes that follow in b. A
// length larger than the rest of b fails with an error matching both
// ErrTruncated and ErrTooLong.
func ParseBuffer(b []byte) (v []byte, n int, err error) {
	size, n, err := ParseUint(b)
	if err != nil {
		return nil, 0, err
	}
	if size > uint64(len(b)-n) {
		return nil, 0, errPastEnd
	}
	end := n + int(size)
	return b[n:end:end], end, nil
}

// StringLen returns the number of bytes AppendString writes for s.
func StringLen(s string) int { return UintLen(uint64(len(s))) + len(s) }

// AppendString appends the length of s in bytes as a uint, then its bytes.
// Strings are UTF-8 on the wire; s is written as it is, without validation.
func AppendString(b []byte, s string) []byte {
	return append(AppendUint(b, uint64(len(s))), s...)
}

// ParseString decodes a length-prefixed string from the start of b, copying
// it. Invalid UTF-8 is returned unchanged; the reference would replace it
// with U+FFFD, so callers that compare strings with a JS peer's view should
// check utf8.ValidString.
func ParseString(b []byte) (s string, n int, err error) {
	v, n, err := ParseBuffer(b)
	if err != nil {
		return "", 0, err
	}
	return string(v), n, nil
}

// ParseFixed returns the first size bytes of b, aliasing b, with a capacity
// that ends with them. It panics if size is negative, which is a programming
// error rather than bad input.
func ParseFixed(b []byte, size int) ([]byte, int, error) {
	if size < 0 {
		panic("compact: ParseFixed called with a negative size")
	}
	if len(b) < size {
		return nil, 0, ErrTruncated
	}
	return b[:size:size], size, nil
}

// AppendFixed32 appends the 32 bytes of v with no length prefix (node ids,
// tokens, targets, public keys).
func AppendFixed32(b []byte, v [32]byte) []byte { return append(b, v[:]...) }

// ParseFixed32 copies the first 32 bytes of b.
func ParseFixed32(b []byte) ([32]byte, int, error) {
	if len(b) < 32 {
		return [32]byte{}, 0, ErrTruncated
	}
	return [32]byte(b), 32, nil
}

// AppendFixed64 appends the 64 bytes of v with no length prefix (signatures).
func AppendFixed64(b []byte, v [64]byte) []byte { return append(b, v[:]...) }

// ParseFixed64 copies the first 64 bytes of b.
func ParseFixed64(b []byte) ([64]byte, int, error) {
	if len(b) < 64 {
		return [64]byte{}, 0, ErrTruncated
	}
	return [64]byte(b), 64, nil
}
