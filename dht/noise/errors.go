package noise

import (
	"errors"
	"fmt"
	"strings"
)

// Errors returned by this package. [Handshake.Send] and [Handshake.Recv] wrap
// them in an [*Error] that names the message; match them with [errors.Is].
var (
	// ErrState means a call out of turn: Send when the peer is to send,
	// Recv when we are, either after the handshake completed or failed, or
	// Result before it completed. The handshake is unchanged by the call.
	ErrState = errors.New("noise: call out of turn")

	// ErrMessageSize means a received message that is too short for its
	// pattern (the keys it must carry, and a 16-byte tag once a key is
	// set), a received payload ciphertext longer than 65535 bytes, or a
	// payload to send that would make one. The length is checked before
	// any work, so the handshake is unchanged.
	ErrMessageSize = errors.New("noise: bad message length")

	// ErrDecrypt means a ChaCha20-Poly1305 tag did not verify: the message
	// was altered, belongs to another handshake, or the two sides disagree
	// on keys or prologue.
	ErrDecrypt = errors.New("noise: message authentication failed")

	// ErrInvalidKey means a public key the Ed25519 DH refuses, as libsodium's
	// crypto_scalarmult_ed25519_noclamp does: not a canonical point encoding,
	// of small order, outside the prime-order subgroup, or giving the
	// identity. It also reports a local key of the wrong length.
	ErrInvalidKey = errors.New("noise: invalid key")

	// ErrRemoteStatic means the peer proved a static key other than the one
	// the caller said to expect.
	ErrRemoteStatic = errors.New("noise: unexpected remote static key")
)

// Error is the error [Handshake.Send] and [Handshake.Recv] return: which
// message failed and why. Err matches one of the sentinel errors above.
type Error struct {
	Op      string  // "send" or "recv"
	Pattern Pattern // IK or XX
	Message int     // 1-based index of the message in the pattern
	Err     error
}

func (e *Error) Error() string {
	return fmt.Sprintf("noise: %v message %d %s: %s", e.Pattern, e.Message, e.Op,
		strings.TrimPrefix(e.Err.Error(), "noise: "))
}

func (e *Error) Unwrap() error { return e.Err }
