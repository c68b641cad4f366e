package noise

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"fmt"
	"io"

	"filippo.io/edwards25519"
	"github.com/flynn/noise"
)

// The DH function of noise-curve-ed 2.1.0 (index.js), named "Ed25519" in the
// protocol name. Key pairs are Ed25519 signing key pairs in libsodium's
// layout (seed ‖ public key); DH(sk, P) is a·P on the Edwards curve, where a
// is the clamped Ed25519 secret scalar of the seed, encoded as a compressed
// Edwards point. This is not X25519, whose output is a Montgomery
// u-coordinate.
const (
	dhName = "Ed25519"
	dhLen  = 32 // output, and public key length (PKLEN)
)

var (
	identity = edwards25519.NewIdentityPoint()
	zero     = edwards25519.NewScalar()
	inv8     = invertEight()
)

// invertEight returns 8⁻¹ mod L, used to test subgroup membership.
func invertEight() *edwards25519.Scalar {
	var b [32]byte
	b[0] = 8
	eight, err := edwards25519.NewScalar().SetCanonicalBytes(b[:])
	if err != nil {
		panic("noise: internal error: " + err.Error())
	}
	return edwards25519.NewScalar().Invert(eight)
}

// dh computes the shared point of secret key sk (at least its 32-byte seed)
// and public key pub. It refuses exactly the points libsodium's
// crypto_scalarmult_ed25519_noclamp refuses:
//
//   - encodings that are not canonical (y ≥ p, or x = 0 with the sign bit);
//   - points of small order, and points with a small-order component
//     (outside the prime-order subgroup);
//   - a result that is the identity.
//
// libsodium multiplies by the clamped scalar unreduced; the point being in
// the prime-order subgroup, reducing it mod L first gives the same point.
func dh(sk, pub []byte) ([]byte, error) {
	if len(sk) < ed25519.SeedSize || len(pub) != dhLen {
		return nil, fmt.Errorf("%w: secret key of %d bytes, public key of %d", ErrInvalidKey, len(sk), len(pub))
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: not a curve point", ErrInvalidKey)
	}
	// SetBytes also accepts y ≥ p. No point with y < 19 lies in the
	// prime-order subgroup (the DH vectors try them all), so the subgroup
	// test below would refuse these too; refusing them first names the
	// fault as libsodium checks it.
	if [32]byte(p.Bytes()) != [32]byte(pub) {
		return nil, fmt.Errorf("%w: non-canonical point encoding", ErrInvalidKey)
	}
	// p is in the prime-order subgroup, and not of small order, exactly
	// when 8⁻¹·(8·p) gives back p and 8·p is not the identity. p is public,
	// so variable time is fine here.
	c := new(edwards25519.Point).MultByCofactor(p)
	if c.Equal(identity) == 1 {
		return nil, fmt.Errorf("%w: point of small order", ErrInvalidKey)
	}
	if new(edwards25519.Point).VarTimeDoubleScalarBaseMult(inv8, c, zero).Equal(p) != 1 {
		return nil, fmt.Errorf("%w: point outside the prime-order subgroup", ErrInvalidKey)
	}

	h := sha512.Sum512(sk[:ed25519.SeedSize])
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		panic("noise: internal error: " + err.Error())
	}
	q := new(edwards25519.Point).ScalarMult(a, p)
	if q.Equal(identity) == 1 {
		return nil, fmt.Errorf("%w: shared point is the identity", ErrInvalidKey)
	}
	return q.Bytes(), nil
}

// curve adapts dh to flynn/noise. Ephemeral key pairs are Ed25519 key pairs
// too (noise-curve-ed's generateKeyPair is crypto_sign_keypair): 32 bytes of
// seed are read from the handshake's ephemeral source.
type curve struct{}

func (curve) GenerateKeypair(r io.Reader) (noise.DHKey, error) {
	var seed [ed25519.SeedSize]byte
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return noise.DHKey{}, fmt.Errorf("noise: ephemeral key: %w", err)
	}
	sk := ed25519.NewKeyFromSeed(seed[:])
	return noise.DHKey{Private: sk, Public: sk[ed25519.SeedSize:]}, nil
}

func (curve) DH(sk, pub []byte) ([]byte, error) { return dh(sk, pub) }
func (curve) DHLen() int                        { return dhLen }
func (curve) DHName() string                    { return dhName }

// ephemeralSource is the random source flynn/noise draws ephemeral seeds
// from: a fixed seed set by [Handshake.SetEphemeral], once, else crypto/rand.
type ephemeralSource struct {
	fixed []byte // the rest of the fixed seed
}

func (s *ephemeralSource) Read(p []byte) (int, error) {
	if len(s.fixed) > 0 {
		n := copy(p, s.fixed)
		s.fixed = s.fixed[n:]
		return n, nil
	}
	return rand.Read(p)
}

var suite = noise.NewCipherSuite(curve{}, noise.CipherChaChaPoly, noise.HashBLAKE2b)
