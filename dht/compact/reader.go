package compact

import "net/netip"

// Reader decodes a sequence of values from a byte slice, for message
// decoders that read many fields in a row and check for an error once.
//
// The error is sticky: the first failing read records its error, and from
// then on every method returns zero values (nil slices, the zero netip
// types, Len 0) and Err reports that first error. A Reader never panics on
// its input.
//
// Slices returned by Buffer, Fixed and Rest alias the input. A Reader is not
// safe for concurrent use; the zero Reader reads from empty input.
type Reader struct {
	b   []byte // what is left
	off int    // bytes consumed so far
	err error
}

// NewReader returns a Reader over b. b is not copied.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Err returns the first error any read met, or nil.
func (r *Reader) Err() error { return r.err }

// Len returns the number of unread bytes, or 0 after an error.
func (r *Reader) Len() int { return len(r.b) }

// Offset returns the number of bytes consumed so far, which stops growing at
// the first error.
func (r *Reader) Offset() int { return r.off }

// Rest consumes and returns all unread bytes (the reference's raw codec). It
// returns nil after an error.
func (r *Reader) Rest() []byte {
	if r.err != nil {
		return nil
	}
	rest := r.b
	r.off += len(rest)
	r.b = r.b[len(rest):]
	return rest
}

// read runs one Parse function at the cursor and advances past what it used.
func read[T any](r *Reader, parse func([]byte) (T, int, error)) T {
	var zero T
	if r.err != nil {
		return zero
	}
	v, n, err := parse(r.b)
	if err != nil {
		r.err = err
		r.b = nil
		return zero
	}
	r.b = r.b[n:]
	r.off += n
	return v
}

// Uint reads a variable-length uint (see ParseUint).
func (r *Reader) Uint() uint64 { return read(r, ParseUint) }

// Int reads a zig-zag int (see ParseInt).
func (r *Reader) Int() int64 { return read(r, ParseInt) }

// Uint8 reads one byte.
func (r *Reader) Uint8() uint8 { return read(r, ParseUint8) }

// Uint16 reads a 2-byte little-endian integer.
func (r *Reader) Uint16() uint16 { return read(r, ParseUint16) }

// Uint32 reads a 4-byte little-endian integer.
func (r *Reader) Uint32() uint32 { return read(r, ParseUint32) }

// Uint64 reads an 8-byte little-endian integer (see ParseUint64).
func (r *Reader) Uint64() uint64 { return read(r, ParseUint64) }

// Bool reads one byte; only 1 is true.
func (r *Reader) Bool() bool { return read(r, ParseBool) }

// Fixed32 reads 32 bytes into an array.
func (r *Reader) Fixed32() [32]byte { return read(r, ParseFixed32) }

// Fixed64 reads 64 bytes into an array.
func (r *Reader) Fixed64() [64]byte { return read(r, ParseFixed64) }

// Fixed reads exactly size bytes, aliasing the input. It panics if size is
// negative (see ParseFixed).
func (r *Reader) Fixed(size int) []byte {
	return read(r, func(b []byte) ([]byte, int, error) { return ParseFixed(b, size) })
}

// Buffer reads a length-prefixed byte string, aliasing the input (see
// ParseBuffer).
func (r *Reader) Buffer() []byte { return read(r, ParseBuffer) }

// String reads a length-prefixed UTF-8 string (see ParseString).
//
// Note that this makes *Reader a fmt.Stringer: formatting a Reader with
// %v or %s consumes a string from it. Do not print Readers.
func (r *Reader) String() string { return read(r, ParseString) }

// ArrayLen reads an array count, with the limits of ParseArrayLen: at most
// MaxArrayLen, and, when minElemSize is positive, no more elements of that
// size than the unread bytes can hold.
func (r *Reader) ArrayLen(minElemSize int) int {
	return read(r, func(b []byte) (int, int, error) { return ParseArrayLen(b, minElemSize) })
}

// IPv4Addr reads a 6-byte ipv4Address.
func (r *Reader) IPv4Addr() netip.AddrPort { return read(r, ParseIPv4Addr) }

// IPv6Addr reads an 18-byte ipv6Address.
func (r *Reader) IPv6Addr() netip.AddrPort { return read(r, ParseIPv6Addr) }

// IPAddr reads a family-tagged ipAddress.
func (r *Reader) IPAddr() netip.AddrPort { return read(r, ParseIPAddr) }
