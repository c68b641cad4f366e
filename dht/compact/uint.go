package compact

import "encoding/binary"

// MaxSafeUint is the largest integer the reference accepts in a 56- or 64-bit
// field, 2^53-1 (JavaScript's Number.MAX_SAFE_INTEGER).
const MaxSafeUint = 1<<53 - 1

// Prefix bytes of the longer uint forms.
const (
	uintPrefix16 = 0xfd // then 2 bytes
	uintPrefix32 = 0xfe // then 4 bytes
	uintPrefix64 = 0xff // then 8 bytes
)

// UintLen returns the number of bytes AppendUint writes for v: 1, 3, 5 or 9.
func UintLen(v uint64) int {
	switch {
	case v < uintPrefix16:
		return 1
	case v <= 0xffff:
		return 3
	case v <= 0xffffffff:
		return 5
	}
	return 9
}

// AppendUint appends the shortest uint encoding of v to b.
//
// Values above MaxSafeUint are written faithfully in the 9-byte form, but
// neither the reference nor ParseUint will read them back; keep wire values at
// or below MaxSafeUint.
func AppendUint(b []byte, v uint64) []byte {
	switch {
	case v < uintPrefix16:
		return append(b, byte(v))
	case v <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, uintPrefix16), uint16(v))
	case v <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, uintPrefix32), uint32(v))
	}
	return binary.LittleEndian.AppendUint64(append(b, uintPrefix64), v)
}

// ParseUint decodes a uint from the start of b and returns it with the number
// of bytes it used. Longer forms than needed are accepted (fd 05 00 is 5). A
// 9-byte form above MaxSafeUint fails with ErrOverflow, as in the reference.
func ParseUint(b []byte) (v uint64, n int, err error) {
	if len(b) == 0 {
		return 0, 0, ErrTruncated
	}
	switch p := b[0]; p {
	case uintPrefix16:
		if len(b) < 3 {
			return 0, 0, ErrTruncated
		}
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3, nil
	case uintPrefix32:
		if len(b) < 5 {
			return 0, 0, ErrTruncated
		}
		return uint64(binary.LittleEndian.Uint32(b[1:])), 5, nil
	case uintPrefix64:
		if len(b) < 9 {
			return 0, 0, ErrTruncated
		}
		v = binary.LittleEndian.Uint64(b[1:])
		if v > MaxSafeUint {
			return 0, 0, ErrOverflow
		}
		return v, 9, nil
	default:
		return uint64(p), 1, nil
	}
}

// Zig-zag mapping between int64 and uint64: 0, -1, 1, -2, 2 ... become
// 0, 1, 2, 3, 4 ... so that small magnitudes of either sign stay short.
func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// IntLen returns the number of bytes AppendInt writes for v.
func IntLen(v int64) int { return UintLen(zigzag(v)) }

// AppendInt appends v as the reference's "int": zig-zag mapped, then as a
// uint. The reference only accepts -2^52 <= v < 2^52; values outside that
// range are written but cannot be read back by it or by ParseInt.
func AppendInt(b []byte, v int64) []byte { return AppendUint(b, zigzag(v)) }

// ParseInt decodes a zig-zag "int" from the start of b. It fails as ParseUint
// does; the result is always within [-2^52, 2^52-1].
func ParseInt(b []byte) (v int64, n int, err error) {
	u, n, err := ParseUint(b)
	if err != nil {
		return 0, 0, err
	}
	return unzigzag(u), n, nil
}
