package noise

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/flynn/noise"
)

// Pattern is a Noise handshake pattern.
type Pattern uint8

// The patterns noise-handshake runs that hyperlan needs.
const (
	// IK: the initiator knows the responder's static key beforehand.
	// hyperdht's PEER_HANDSHAKE (lib/noise-wrap.js) runs it with the
	// prologue [PeerHandshakePrologue]; the initiator is the client.
	IK Pattern = iota + 1
	// XX: neither side knows the other's key; three messages.
	// @hyperswarm/secret-stream (lib/handshake.js) runs it, with an empty
	// prologue and empty payloads, when it is not handed a finished
	// handshake.
	XX
)

func (p Pattern) String() string {
	switch p {
	case IK:
		return "IK"
	case XX:
		return "XX"
	}
	return fmt.Sprintf("Pattern(%d)", uint8(p))
}

// layout describes one handshake message: the key bytes before the payload
// and whether the payload is encrypted (which adds a 16-byte tag).
type layout struct {
	prefix int
	keyed  bool
}

const (
	tagSize = 16
	// maxCiphertext is noise-handshake's limit on one ciphertext (cipher.js);
	// it does not count the keys in front of it.
	maxCiphertext = 65535
	// MaxPayload is the largest payload of a message whose payload is
	// encrypted: every message but XX's first.
	MaxPayload = maxCiphertext - tagSize // 65519
)

func (p Pattern) messages() []layout {
	switch p {
	case IK:
		return []layout{
			{prefix: dhLen + dhLen + tagSize, keyed: true}, // e, es, s (encrypted), ss
			{prefix: dhLen, keyed: true},                   // e, ee, se
		}
	case XX:
		return []layout{
			{prefix: dhLen, keyed: false},                  // e
			{prefix: dhLen + dhLen + tagSize, keyed: true}, // e, ee, s (encrypted), es
			{prefix: dhLen + tagSize, keyed: true},         // s (encrypted), se
		}
	}
	return nil
}

func (p Pattern) flynn() noise.HandshakePattern {
	if p == IK {
		return noise.HandshakeIK
	}
	return noise.HandshakeXX
}

// Handshake is one side of a Noise handshake, without I/O: [Handshake.Send]
// returns the bytes to deliver to the peer and [Handshake.Recv] takes the
// bytes the peer sent, in the order the pattern sets (the initiator sends
// first). When the last message has gone either way, [Handshake.Complete]
// reports true and [Handshake.Result] returns the keys.
//
// [ErrState] and [ErrMessageSize] leave the handshake as it was: the length
// checks come before any work. Every other error from Send or Recv ends the
// handshake, and every later call returns an error matching ErrState. The
// reference's state is spent after a failed message too; start a new
// Handshake to try again.
//
// A Handshake is not safe for concurrent use.
type Handshake struct {
	pattern   Pattern
	initiator bool
	msgs      []layout
	public    [32]byte
	expect    *[32]byte // the remote static key the caller requires, if any

	hs  *noise.HandshakeState // nil once complete or failed
	eph ephemeralSource
	msg int   // index of the next message
	err error // what ended the handshake, if it failed

	remote    *[32]byte // the remote static key, once known
	result    Result
	completed bool
}

// NewInitiator starts the initiator's side of a handshake. static is our
// Ed25519 key pair in libsodium's 64-byte layout (seed ‖ public key, as
// crypto/ed25519 stores it); its public half is what the peer receives and
// its seed is what the DH uses. prologue must equal the responder's
// ([PeerHandshakePrologue] for hyperdht's IK, empty for secret-stream's XX).
//
// remoteStatic is the responder's public key (32 bytes). IK requires it: it
// is the pre-message. For XX it may be nil; when given, the handshake fails
// with [ErrRemoteStatic] if the responder proves another key. (The
// reference ignores it for XX; the check is ours and changes no bytes.)
//
// Keys are copied. A key pair whose halves do not match is not detected
// here; the peer's handshake fails instead, as with the reference.
func NewInitiator(p Pattern, static ed25519.PrivateKey, remoteStatic, prologue []byte) (*Handshake, error) {
	return newHandshake(p, true, static, remoteStatic, prologue)
}

// NewResponder starts the responder's side of a handshake. Its arguments are
// those of [NewInitiator], except that remoteStatic is optional for both
// patterns: when given, the initiator must prove that key or the handshake
// fails with [ErrRemoteStatic].
func NewResponder(p Pattern, static ed25519.PrivateKey, remoteStatic, prologue []byte) (*Handshake, error) {
	return newHandshake(p, false, static, remoteStatic, prologue)
}

func newHandshake(p Pattern, initiator bool, static ed25519.PrivateKey, remoteStatic, prologue []byte) (*Handshake, error) {
	msgs := p.messages()
	if msgs == nil {
		return nil, fmt.Errorf("noise: unknown pattern %v", p)
	}
	if len(static) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: static key of %d bytes, want %d", ErrInvalidKey, len(static), ed25519.PrivateKeySize)
	}
	if remoteStatic != nil && len(remoteStatic) != dhLen {
		return nil, fmt.Errorf("%w: remote static key of %d bytes, want %d", ErrInvalidKey, len(remoteStatic), dhLen)
	}
	h := &Handshake{pattern: p, initiator: initiator, msgs: msgs}
	copy(h.public[:], static[ed25519.SeedSize:])
	cfg := noise.Config{
		CipherSuite:   suite,
		Random:        &h.eph,
		Pattern:       p.flynn(),
		Initiator:     initiator,
		Prologue:      prologue,
		StaticKeypair: noise.DHKey{Private: append([]byte(nil), static...), Public: h.public[:]},
	}
	if remoteStatic != nil {
		key := [32]byte(remoteStatic)
		if p == IK && initiator {
			cfg.PeerStatic = key[:]
			h.remote = &key
		} else {
			h.expect = &key
		}
	} else if p == IK && initiator {
		return nil, fmt.Errorf("%w: IK initiator needs the responder's static key", ErrInvalidKey)
	}
	hs, err := noise.NewHandshakeState(cfg)
	if err != nil {
		return nil, fmt.Errorf("noise: %w", err)
	}
	h.hs = hs
	return h, nil
}

// SetEphemeral fixes our ephemeral key pair to the Ed25519 key pair of seed,
// instead of a random one, as the reference does when its e is set before
// sending. It is for test vectors: a fixed ephemeral key destroys forward
// secrecy. It returns [ErrState] once our ephemeral key has been sent.
func (h *Handshake) SetEphemeral(seed [ed25519.SeedSize]byte) error {
	if h.hs == nil || h.msg > 1 || (h.msg == 1 && h.initiator) {
		return ErrState
	}
	h.eph.fixed = append(h.eph.fixed[:0], seed[:]...)
	return nil
}

// Pattern returns the handshake pattern.
func (h *Handshake) Pattern() Pattern { return h.pattern }

// Initiator reports whether this is the initiator's side.
func (h *Handshake) Initiator() bool { return h.initiator }

// PublicKey returns our static public key.
func (h *Handshake) PublicKey() [32]byte { return h.public }

// RemotePublicKey returns the peer's static public key once it is known: from
// the start for the IK initiator, after the first message for the IK
// responder, after the second and third for the XX initiator and responder.
// Until the handshake is complete it is not yet authenticated by a finished
// handshake, only by the message that carried it.
func (h *Handshake) RemotePublicKey() (key [32]byte, ok bool) {
	if h.remote == nil {
		return key, false
	}
	return *h.remote, true
}

// ShouldSend reports whether the next message is ours to send with
// [Handshake.Send]; false means the peer's turn ([Handshake.Recv]), or that
// the handshake is over.
func (h *Handshake) ShouldSend() bool {
	return h.hs != nil && (h.msg%2 == 0) == h.initiator
}

// Complete reports whether the last message has been sent or received, so
// that [Handshake.Result] is available.
func (h *Handshake) Complete() bool { return h.completed }

// Result returns the outcome of a completed handshake, or [ErrState].
func (h *Handshake) Result() (Result, error) {
	if !h.completed {
		return Result{}, ErrState
	}
	return h.result, nil
}

// Send returns our next handshake message carrying payload, which may be
// empty. The message is a new slice; payload is not retained. A payload the
// reference could not receive fails with [ErrMessageSize] and leaves the
// handshake unchanged: more than [MaxPayload] bytes when the payload is
// encrypted, more than 65535 in XX's first message. A public key the DH
// refuses (an IK responder key given to NewInitiator) fails with
// [ErrInvalidKey] and ends the handshake.
func (h *Handshake) Send(payload []byte) ([]byte, error) {
	if err := h.turn(true); err != nil {
		return nil, h.wrap("send", err)
	}
	if max := h.maxPayload(); len(payload) > max {
		return nil, h.wrap("send", fmt.Errorf("%w: payload of %d bytes, at most %d", ErrMessageSize, len(payload), max))
	}
	out := make([]byte, 0, h.msgs[h.msg].prefix+len(payload)+tagSize)
	out, cs1, cs2, err := h.hs.WriteMessage(out, payload)
	if err != nil {
		return nil, h.fail("send", err)
	}
	h.advance(cs1, cs2)
	return out, nil
}

// Recv reads the peer's next handshake message and returns its payload, a
// new slice (possibly empty); msg is not retained or modified. It accepts
// exactly what the reference accepts: a message shorter than its keys (plus
// the tag) or with a payload ciphertext over 65535 bytes fails with
// [ErrMessageSize] and leaves the handshake unchanged; a tag that does not
// verify fails with [ErrDecrypt], a key the DH refuses with [ErrInvalidKey],
// and a static key other than the expected one with [ErrRemoteStatic]. Those
// three end the handshake. A message with several faults reports the first
// this package checks, lengths first; the reference can name another (a bad
// key in a short message), but refuses the same messages.
func (h *Handshake) Recv(msg []byte) ([]byte, error) {
	if err := h.turn(false); err != nil {
		return nil, h.wrap("recv", err)
	}
	l := h.msgs[h.msg]
	minLen := l.prefix
	if l.keyed {
		minLen += tagSize
	}
	if len(msg) < minLen {
		return nil, h.wrap("recv", fmt.Errorf("%w: %d bytes, at least %d", ErrMessageSize, len(msg), minLen))
	}
	if l.keyed && len(msg)-l.prefix > maxCiphertext {
		return nil, h.wrap("recv", fmt.Errorf("%w: payload ciphertext of %d bytes, at most %d", ErrMessageSize, len(msg)-l.prefix, maxCiphertext))
	}
	payload, cs1, cs2, err := h.hs.ReadMessage(nil, msg)
	if err != nil {
		return nil, h.fail("recv", err)
	}
	if h.remote == nil {
		if rs := h.hs.PeerStatic(); len(rs) == dhLen {
			key := [32]byte(rs)
			h.remote = &key
			if h.expect != nil && key != *h.expect {
				return nil, h.fail("recv", ErrRemoteStatic)
			}
		}
	}
	h.advance(cs1, cs2)
	if payload == nil {
		payload = []byte{}
	}
	return payload, nil
}

// turn checks that the next call may be a Send (send) or a Recv.
func (h *Handshake) turn(send bool) error {
	switch {
	case h.err != nil:
		return fmt.Errorf("%w: the handshake failed: %v", ErrState, h.err)
	case h.completed:
		return fmt.Errorf("%w: the handshake is complete", ErrState)
	case h.ShouldSend() != send && send:
		return fmt.Errorf("%w: Send, but the peer sends next", ErrState)
	case h.ShouldSend() != send:
		return fmt.Errorf("%w: Recv, but we send next", ErrState)
	}
	return nil
}

func (h *Handshake) maxPayload() int {
	if h.msgs[h.msg].keyed {
		return MaxPayload
	}
	return maxCiphertext
}

// advance moves to the next message and, after the last, takes the result.
func (h *Handshake) advance(cs1, cs2 *noise.CipherState) {
	h.msg++
	if h.msg < len(h.msgs) {
		return
	}
	// flynn/noise splits as the reference does: cs1 carries the first
	// HKDF output (initiator to responder), cs2 the second, each key the
	// first 32 bytes of its 64-byte output.
	r := Result{Initiator: h.initiator, PublicKey: h.public, RemotePublicKey: *h.remote}
	k1, k2 := cs1.UnsafeKey(), cs2.UnsafeKey()
	if h.initiator {
		r.Tx, r.Rx = k1, k2
	} else {
		r.Tx, r.Rx = k2, k1
	}
	r.Hash = [64]byte(h.hs.ChannelBinding())
	h.result = r
	h.completed = true
	h.hs = nil
}

// fail ends the handshake with err, mapping flynn/noise's errors to ours.
func (h *Handshake) fail(op string, err error) error {
	switch {
	case errors.Is(err, ErrInvalidKey), errors.Is(err, ErrRemoteStatic):
	case err == noise.ErrShortMessage:
		err = fmt.Errorf("%w: %v", ErrMessageSize, err) // the checks above rule it out
	case op == "recv":
		// With the lengths checked and the DH's errors matched above, a
		// failed Open is all ReadMessage has left to report (its other
		// errors are for states this package never creates).
		err = ErrDecrypt
	}
	h.err = err
	h.hs = nil
	return h.wrap(op, err)
}

func (h *Handshake) wrap(op string, err error) error {
	return &Error{Op: op, Pattern: h.pattern, Message: h.msg + 1, Err: err}
}
