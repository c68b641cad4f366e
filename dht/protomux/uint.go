package protomux

import "encoding/binary"

// AppendUint appends v in compact-encoding's uint form, the variable-length
// integer every protomux field uses: one byte for 0..0xfc, else a marker
// byte 0xfd, 0xfe or 0xff followed by 2, 4 or 8 little-endian bytes. It is
// exported for the channel protocols built on protomux, whose messages use
// the same encoding.
func AppendUint(b []byte, v uint64) []byte {
	switch {
	case v <= 0xfc:
		return append(b, byte(v))
	case v <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(v))
	case v <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(v))
	default:
		return binary.LittleEndian.AppendUint64(append(b, 0xff), v)
	}
}

// UintLen is the length of AppendUint's encoding of v: 1, 3, 5 or 9.
func UintLen(v uint64) int {
	switch {
	case v <= 0xfc:
		return 1
	case v <= 0xffff:
		return 3
	case v <= 0xffffffff:
		return 5
	default:
		return 9
	}
}

// ParseUint reads a compact-encoding uint from the front of b and returns it
// and the number of bytes it took. Like the reference it accepts longer forms
// than needed (0xfd 0x01 0x00 is 1). It fails with ErrTruncated, and returns
// 0, 0, when b ends inside the number.
func ParseUint(b []byte) (v uint64, n int, err error) {
	if len(b) == 0 {
		return 0, 0, ErrTruncated
	}
	switch size := uintSize(b[0]); {
	case size == 0:
		return uint64(b[0]), 1, nil
	case len(b) < 1+size:
		return 0, 0, ErrTruncated
	case size == 2:
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3, nil
	case size == 4:
		return uint64(binary.LittleEndian.Uint32(b[1:])), 5, nil
	default:
		return binary.LittleEndian.Uint64(b[1:]), 9, nil
	}
}

// uintSize is how many bytes follow the marker byte m of a uint.
func uintSize(m byte) int {
	switch m {
	case 0xfd:
		return 2
	case 0xfe:
		return 4
	case 0xff:
		return 8
	}
	return 0
}

// reader reads compact-encoding fields in order. The first failure sticks:
// later reads return zero values and err keeps the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n, err := ParseUint(r.b)
	if err != nil {
		r.err = err
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes reads a uint length and that many bytes; the result aliases r.b.
func (r *reader) bytes() []byte {
	n := r.uint()
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < n {
		r.err = ErrTruncated
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// appendBytes appends a compact-encoding buffer: its length, then the bytes.
func appendBytes(b, v []byte) []byte {
	return append(AppendUint(b, uint64(len(v))), v...)
}
