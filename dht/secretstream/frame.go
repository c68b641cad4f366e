package secretstream

import "io"

// Frame sizes.
const (
	LengthSize = 3                       // the little-endian length in front of every frame body
	MaxFrame   = 1<<24 - 1               // largest body a 3-byte length can give: 16777215
	MaxWrite   = MaxFrame - Overhead     // largest plaintext in one data frame: 16777198
	headerBody = IDSize + HeaderSize     // body of the first frame: stream id, secretstream header (56)
	headerLen  = LengthSize + headerBody // the whole first frame on the wire (59)
)

// ErrTruncated is returned by [ParseFrame] when b does not yet hold a whole
// frame: more bytes are needed.
var ErrTruncated = io.ErrUnexpectedEOF

// ParseFrame returns the body of the frame at the start of b and the number of
// bytes the frame takes (LengthSize plus the body). When b does not hold the
// whole frame it returns ErrTruncated and n == 0. Every length is valid: the
// body of any frame fits in MaxFrame bytes. The body aliases b.
func ParseFrame(b []byte) (body []byte, n int, err error) {
	if len(b) < LengthSize {
		return nil, 0, ErrTruncated
	}
	size := frameSize(b)
	if len(b)-LengthSize < size {
		return nil, 0, ErrTruncated
	}
	return b[LengthSize : LengthSize+size], LengthSize + size, nil
}

// frameSize decodes the length in front of a frame; b has at least
// LengthSize bytes.
func frameSize(b []byte) int {
	return int(b[0]) | int(b[1])<<8 | int(b[2])<<16
}

// putFrameSize writes the length of a size-byte body over b[:LengthSize].
func putFrameSize(b []byte, size int) {
	if size < 0 || size > MaxFrame {
		panic("secretstream: internal error: frame size out of range")
	}
	b[0], b[1], b[2] = byte(size), byte(size>>8), byte(size>>16)
}

// AppendHeader appends the first frame a side sends, 59 bytes: the length
// 56, its stream id and its secretstream header.
func AppendHeader(b []byte, id *[IDSize]byte, header *[HeaderSize]byte) []byte {
	b = append(b, headerBody, 0, 0)
	b = append(b, id[:]...)
	return append(b, header[:]...)
}

// ParseHeader reads the body of the first frame a side receives. It fails
// with [ErrHeaderSize] unless the body is exactly 56 bytes; the id is not
// checked here (compare it with [StreamID] for the peer's role).
func ParseHeader(body []byte) (id [IDSize]byte, header [HeaderSize]byte, err error) {
	if len(body) != headerBody {
		return id, header, ErrHeaderSize
	}
	copy(id[:], body)
	copy(header[:], body[IDSize:])
	return id, header, nil
}
