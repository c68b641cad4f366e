package configs

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"filippo.io/edwards25519"
)

// A PublicKey is a member's Ed25519 public key: its identity on the DHT and in the network.
type PublicKey [32]byte

// Errors returned by [ParsePublicKey].
var (
	// ErrKeyEncoding means the text is neither 64 hex digits nor 52 z-base-32 characters.
	ErrKeyEncoding = errors.New("configs: public key is neither 64 hex digits nor 52 z-base-32 characters")
	// ErrKeyPoint means the 32 bytes are not the canonical encoding of an Ed25519 point.
	ErrKeyPoint = errors.New("configs: not a valid Ed25519 public key")
	// ErrKeyWeak means the point has small order; no key pair has such a public key, and a
	// Diffie-Hellman with it gives a predictable result.
	ErrKeyWeak = errors.New("configs: Ed25519 public key of small order")
)

// ParsePublicKey decodes s as hypercore-id-encoding does: 64 hex digits (either case) or 52
// lower-case z-base-32 characters (the spelling keys are shown in by the Holepunch tools; like
// the reference decoder it ignores the four padding bits of the last character). It then
// checks that the bytes are the canonical encoding of an Ed25519 point that is not of small
// order (filippo.io/edwards25519), so a typo that still decodes is caught here rather than
// at the first handshake.
func ParsePublicKey(s string) (PublicKey, error) {
	var k PublicKey
	switch len(s) {
	case 2 * len(k):
		if _, err := hex.Decode(k[:], []byte(s)); err != nil {
			return PublicKey{}, fmt.Errorf("%w (%v)", ErrKeyEncoding, err)
		}
	case zbase32Len(len(k)):
		if err := zbase32Decode(k[:], s); err != nil {
			return PublicKey{}, fmt.Errorf("%w (%v)", ErrKeyEncoding, err)
		}
	default:
		return PublicKey{}, fmt.Errorf("%w (it has %d)", ErrKeyEncoding, len(s))
	}
	p, err := new(edwards25519.Point).SetBytes(k[:])
	if err != nil || !bytes.Equal(p.Bytes(), k[:]) {
		return PublicKey{}, ErrKeyPoint
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return PublicKey{}, ErrKeyWeak
	}
	return k, nil
}

// String returns the key as 64 lower-case hex digits, the spelling hyperlan prints.
func (k PublicKey) String() string { return hex.EncodeToString(k[:]) }

// ZBase32 returns the key in z-base-32 (52 characters), the spelling of hypercore-id-encoding.
func (k PublicKey) ZBase32() string { return zbase32Encode(k[:]) }

// zbase32Alphabet is z-base-32's alphabet (the z32 module's): quintet value i is character i.
const zbase32Alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769"

// zbase32Len is the length of the z-base-32 spelling of n bytes: one character per five bits,
// the last one padded with zero bits.
func zbase32Len(n int) int { return (8*n + 4) / 5 }

// zbase32Encode spells b most significant bit first, five bits per character.
func zbase32Encode(b []byte) string {
	out := make([]byte, 0, zbase32Len(len(b)))
	var acc, bits uint
	for _, c := range b {
		acc = acc<<8 | uint(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out = append(out, zbase32Alphabet[acc>>bits&31])
		}
	}
	if bits > 0 {
		out = append(out, zbase32Alphabet[acc<<(5-bits)&31])
	}
	return string(out)
}

// zbase32Decode fills dst from s, which must be exactly zbase32Len(len(dst)) characters of
// the alphabet. Padding bits are ignored.
func zbase32Decode(dst []byte, s string) error {
	if len(s) != zbase32Len(len(dst)) {
		return fmt.Errorf("want %d characters", zbase32Len(len(dst)))
	}
	var acc, bits uint
	n := 0
	for i := range len(s) {
		v := strings.IndexByte(zbase32Alphabet, s[i])
		if v < 0 {
			return fmt.Errorf("invalid z-base-32 character %q at offset %d", s[i], i)
		}
		acc = acc<<5 | uint(v)
		bits += 5
		if bits >= 8 && n < len(dst) {
			bits -= 8
			dst[n] = byte(acc >> bits)
			n++
		}
	}
	return nil
}
