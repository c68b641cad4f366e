package compact

import (
	"errors"
	"fmt"
)

// Errors returned by the Parse and Append functions. Callers branch on them
// with [errors.Is]; some errors match more than one of them.
var (
	// ErrTruncated means the input ended before the value did. Every decode
	// of a short input reports an error that matches it, including a length
	// prefix or array count that claims more bytes than remain.
	ErrTruncated = errors.New("compact: truncated input")

	// ErrOverflow means a value does not fit: a 64-bit or 56-bit integer on
	// the wire above MaxSafeUint (the reference refuses these too), or a
	// value handed to an encoder that is wider than the field.
	ErrOverflow = errors.New("compact: value out of range")

	// ErrTooLong means an array count above MaxArrayLen, or a length prefix
	// or array count larger than the input that is left. The latter also
	// matches ErrTruncated.
	ErrTooLong = errors.New("compact: length too large")

	// ErrBadAddress means an address an encoder cannot write (an IPv6
	// address given to an IPv4 codec, the zero netip.Addr) or a family byte
	// other than 4 or 6 on the wire.
	ErrBadAddress = errors.New("compact: bad address")
)

var (
	errPastEnd    error = pastEndError{}
	errNotIPv4          = fmt.Errorf("%w: not an IPv4 address", ErrBadAddress)
	errNotIPv6          = fmt.Errorf("%w: not an IPv6 address", ErrBadAddress)
	errInvalidIP        = fmt.Errorf("%w: no address", ErrBadAddress)
	errFamily           = fmt.Errorf("%w: unknown family byte", ErrBadAddress)
	pastEndErrors       = []error{ErrTruncated, ErrTooLong}
)

// pastEndError is the error for a length prefix or count that runs past the
// end of the input. It is both a truncation (the datagram may simply be cut
// short) and an implausible length, so it matches both sentinels.
type pastEndError struct{}

func (pastEndError) Error() string   { return "compact: length prefix runs past end of input" }
func (pastEndError) Unwrap() []error { return pastEndErrors }
