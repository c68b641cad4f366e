package compact

import (
	"encoding/binary"
	"math"
)

// Fixed-width little-endian integers (the reference's uint8 ... uint64), bool
// and floats. The odd widths (24, 40, 48, 56 bits) have no Go type, so their
// encoders check the value and return ErrOverflow for one that does not fit;
// the reference instead drops the high bits without a word.

// appendLE appends the low size bytes of v, least significant first.
func appendLE(b []byte, v uint64, size int) []byte {
	for i := range size {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// parseLE reads a size-byte little-endian integer from the start of b.
func parseLE(b []byte, size int) (uint64, int, error) {
	if len(b) < size {
		return 0, 0, ErrTruncated
	}
	var v uint64
	for i := size - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, size, nil
}

// AppendUint8 appends v as one byte.
func AppendUint8(b []byte, v uint8) []byte { return append(b, v) }

// ParseUint8 decodes one byte.
func ParseUint8(b []byte) (uint8, int, error) {
	if len(b) < 1 {
		return 0, 0, ErrTruncated
	}
	return b[0], 1, nil
}

// AppendUint16 appends v as 2 bytes, little-endian. Ports and transaction ids
// use this layout.
func AppendUint16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }

// ParseUint16 decodes a 2-byte little-endian integer.
func ParseUint16(b []byte) (uint16, int, error) {
	if len(b) < 2 {
		return 0, 0, ErrTruncated
	}
	return binary.LittleEndian.Uint16(b), 2, nil
}

// AppendUint24 appends v as 3 bytes, little-endian. It returns b unchanged and
// ErrOverflow if v does not fit in 24 bits.
func AppendUint24(b []byte, v uint32) ([]byte, error) {
	if v >= 1<<24 {
		return b, ErrOverflow
	}
	return appendLE(b, uint64(v), 3), nil
}

// ParseUint24 decodes a 3-byte little-endian integer.
func ParseUint24(b []byte) (uint32, int, error) {
	v, n, err := parseLE(b, 3)
	return uint32(v), n, err
}

// AppendUint32 appends v as 4 bytes, little-endian.
func AppendUint32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }

// ParseUint32 decodes a 4-byte little-endian integer.
func ParseUint32(b []byte) (uint32, int, error) {
	if len(b) < 4 {
		return 0, 0, ErrTruncated
	}
	return binary.LittleEndian.Uint32(b), 4, nil
}

// AppendUint40 appends v as 5 bytes, little-endian. It returns b unchanged and
// ErrOverflow if v does not fit in 40 bits.
func AppendUint40(b []byte, v uint64) ([]byte, error) {
	if v >= 1<<40 {
		return b, ErrOverflow
	}
	return appendLE(b, v, 5), nil
}

// ParseUint40 decodes a 5-byte little-endian integer.
func ParseUint40(b []byte) (uint64, int, error) { return parseLE(b, 5) }

// AppendUint48 appends v as 6 bytes, little-endian. It returns b unchanged and
// ErrOverflow if v does not fit in 48 bits.
func AppendUint48(b []byte, v uint64) ([]byte, error) {
	if v >= 1<<48 {
		return b, ErrOverflow
	}
	return appendLE(b, v, 6), nil
}

// ParseUint48 decodes a 6-byte little-endian integer.
func ParseUint48(b []byte) (uint64, int, error) { return parseLE(b, 6) }

// AppendUint56 appends v as 7 bytes, little-endian. It returns b unchanged and
// ErrOverflow if v is above MaxSafeUint, which the reference will not read
// back even though 7 bytes could hold it.
func AppendUint56(b []byte, v uint64) ([]byte, error) {
	if v > MaxSafeUint {
		return b, ErrOverflow
	}
	return appendLE(b, v, 7), nil
}

// ParseUint56 decodes a 7-byte little-endian integer. Values above
// MaxSafeUint fail with ErrOverflow, as in the reference.
func ParseUint56(b []byte) (uint64, int, error) {
	v, n, err := parseLE(b, 7)
	if err == nil && v > MaxSafeUint {
		return 0, 0, ErrOverflow
	}
	return v, n, err
}

// AppendUint64 appends v as 8 bytes, little-endian. As with AppendUint, values
// above MaxSafeUint are written but the reference cannot read them.
func AppendUint64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

// ParseUint64 decodes an 8-byte little-endian integer. Values above
// MaxSafeUint fail with ErrOverflow, as in the reference.
func ParseUint64(b []byte) (uint64, int, error) {
	if len(b) < 8 {
		return 0, 0, ErrTruncated
	}
	v := binary.LittleEndian.Uint64(b)
	if v > MaxSafeUint {
		return 0, 0, ErrOverflow
	}
	return v, 8, nil
}

// AppendBool appends 1 for true and 0 for false.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// ParseBool decodes one byte: exactly 1 is true, and every other value
// (including 2 and 0xff) is false rather than an error, as in the reference.
func ParseBool(b []byte) (bool, int, error) {
	if len(b) < 1 {
		return false, 0, ErrTruncated
	}
	return b[0] == 1, 1, nil
}

// AppendFloat32 appends v as an IEEE 754 single, little-endian.
func AppendFloat32(b []byte, v float32) []byte {
	return binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
}

// ParseFloat32 decodes a little-endian IEEE 754 single.
func ParseFloat32(b []byte) (float32, int, error) {
	if len(b) < 4 {
		return 0, 0, ErrTruncated
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(b)), 4, nil
}

// AppendFloat64 appends v as an IEEE 754 double, little-endian.
func AppendFloat64(b []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}

// ParseFloat64 decodes a little-endian IEEE 754 double.
func ParseFloat64(b []byte) (float64, int, error) {
	if len(b) < 8 {
		return 0, 0, ErrTruncated
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b)), 8, nil
}
