package records

import (
	"crypto/rand"
	"errors"
	"net/netip"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/nacl/secretbox"
)

// Sealed holepunch payloads (hyperdht lib/secure-payload.js). Both ends of a connection derive
// the same key from the Noise handshake and seal every HolepunchPayload with XSalsa20-Poly1305
// (libsodium's crypto_secretbox_easy) under a fresh random nonce:
//
//	nonce:24  tag:16  ciphertext
//
// The relays that carry the sealed bytes in PEER_HOLEPUNCH can neither read nor forge them.

// SealOverhead is what sealing adds to an encoded holepunch payload: the nonce and the tag.
const SealOverhead = 24 + secretbox.Overhead

// ErrBadSeal means sealed holepunch bytes that do not open: too short to hold any plaintext,
// or failing authentication (wrong key, altered bytes).
var ErrBadSeal = errors.New("records: holepunch payload does not open")

// HolepunchSecret returns the key of a connection's sealed holepunch payloads:
// BLAKE2b-256 of NSPeerHolepunch, keyed with the 64-byte Noise handshake hash (hyperdht
// lib/noise-wrap.js final). Both ends compute it once the handshake is complete.
func HolepunchSecret(handshakeHash [64]byte) [32]byte {
	h, err := blake2b.New256(handshakeHash[:])
	if err != nil {
		panic("records: internal error: blake2b refused a 64-byte key")
	}
	h.Write(NSPeerHolepunch[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// SecurePayload seals and opens the holepunch payloads of one connection, and issues this
// side's address tokens. It is immutable once made and safe for concurrent use.
type SecurePayload struct {
	key   [32]byte // HolepunchSecret of the handshake, shared by both ends
	local [32]byte // this side's token key, random and never sent
}

// NewSecurePayload returns a SecurePayload sealing under secret (see [HolepunchSecret]), with
// a fresh random token key.
func NewSecurePayload(secret [32]byte) *SecurePayload {
	s := &SecurePayload{key: secret}
	rand.Read(s.local[:])
	return s
}

// Seal appends p sealed under a random nonce to dst. It fails, leaving dst as it was, only as
// AppendHolepunchPayload does.
func (s *SecurePayload) Seal(dst []byte, p *HolepunchPayload) ([]byte, error) {
	var nonce [24]byte
	rand.Read(nonce[:])
	return s.seal(dst, p, &nonce)
}

func (s *SecurePayload) seal(dst []byte, p *HolepunchPayload, nonce *[24]byte) ([]byte, error) {
	msg, err := AppendHolepunchPayload(nil, p)
	if err != nil {
		return dst, err
	}
	return secretbox.Seal(append(dst, nonce[:]...), msg, nonce, &s.key), nil
}

// Open authenticates and decodes sealed holepunch bytes. Input too short to hold a byte of
// plaintext or failing authentication returns ErrBadSeal; a plaintext that does not decode
// returns ParseHolepunchPayload's error. Where Open fails the reference's decrypt returns null.
// Bytes after the payload inside the plaintext are ignored. sealed is not modified.
func (s *SecurePayload) Open(sealed []byte) (HolepunchPayload, error) {
	if len(sealed) <= SealOverhead {
		return HolepunchPayload{}, ErrBadSeal
	}
	nonce := [24]byte(sealed[:24])
	msg, ok := secretbox.Open(nil, sealed[24:], &nonce, &s.key)
	if !ok {
		return HolepunchPayload{}, ErrBadSeal
	}
	p, _, err := ParseHolepunchPayload(msg)
	if err != nil {
		return HolepunchPayload{}, err
	}
	return p, nil
}

// Token returns this side's token for host: BLAKE2b-256 of the host's text form keyed with
// the token key (the port plays no part). A peer that echoes it back as RemoteToken shows
// that it receives at host. Tokens are only ever compared with tokens of the same
// SecurePayload; the text is dotted decimal for IPv4 (an IPv4-mapped address is unmapped
// first), as the reference hashes it.
func (s *SecurePayload) Token(host netip.Addr) [32]byte {
	h, err := blake2b.New256(s.local[:])
	if err != nil {
		panic("records: internal error: blake2b refused a 32-byte key")
	}
	h.Write([]byte(host.Unmap().String()))
	var out [32]byte
	h.Sum(out[:0])
	return out
}
