package secretstream

import (
	"crypto/subtle"
	"encoding/binary"

	"golang.org/x/crypto/nacl/secretbox"
	//lint:ignore SA1019 crypto_secretbox's MAC is raw Poly1305 under a key from the keystream.
	"golang.org/x/crypto/poly1305"
	//lint:ignore SA1019 HSalsa20 derives the subkey; the wire format is XSalsa20, so no replacement applies.
	"golang.org/x/crypto/salsa20/salsa"
)

// sealBox is secretbox.Seal (crypto_secretbox: XSalsa20-Poly1305, the MAC then the
// ciphertext), computing the keystream eight blocks at a time where the CPU can
// (salsa20x8): x/crypto's Salsa20 does one block at a time, and it was a third of the
// VPN data plane's CPU time. The output is the same byte for byte. out must not overlap m.
func sealBox(out, m []byte, nonce *[24]byte, key *[32]byte) []byte {
	if !haveSalsa20x8 {
		return secretbox.Seal(out, m, nonce, key)
	}
	var x xsalsa
	x.init(nonce, key)
	ret, dst := grow(out, len(m)+secretbox.Overhead)
	ct := dst[secretbox.Overhead:]
	x.xor(ct, m)
	var tag [poly1305.TagSize]byte
	poly1305.Sum(&tag, ct, &x.polyKey)
	copy(dst, tag[:])
	return ret
}

// openBox is secretbox.Open, as sealBox is Seal. out must not overlap box.
func openBox(out, box []byte, nonce *[24]byte, key *[32]byte) ([]byte, bool) {
	if !haveSalsa20x8 {
		return secretbox.Open(out, box, nonce, key)
	}
	if len(box) < secretbox.Overhead {
		return nil, false
	}
	var x xsalsa
	x.init(nonce, key)
	var tag [poly1305.TagSize]byte
	copy(tag[:], box)
	if !poly1305.Verify(&tag, box[secretbox.Overhead:], &x.polyKey) {
		return nil, false
	}
	ret, dst := grow(out, len(box)-secretbox.Overhead)
	x.xor(dst, box[secretbox.Overhead:])
	return ret, true
}

// xsalsa is the XSalsa20 keystream of one box: block 0 starts with the Poly1305 key, and
// the message is XORed with the keystream from byte 32 on.
type xsalsa struct {
	subKey  [32]byte
	in      [16]byte // the Salsa20 nonce, then the block counter of ks[0:]
	ks      [512]byte
	polyKey [32]byte
}

// init derives the subkey, computes the first eight blocks and takes the Poly1305 key.
func (x *xsalsa) init(nonce *[24]byte, key *[32]byte) {
	var hIn [16]byte
	copy(hIn[:], nonce[:16])
	salsa.HSalsa20(&x.subKey, &hIn, key, &salsa.Sigma)
	copy(x.in[:8], nonce[16:])
	salsa20x8(&x.ks, &x.subKey, &x.in)
	copy(x.polyKey[:], x.ks[:32])
}

// xor writes src XOR the keystream from byte 32 to dst. Boxes are far shorter than the
// 2^32 blocks after which the counter's low word would wrap.
func (x *xsalsa) xor(dst, src []byte) {
	ks := x.ks[32:]
	for {
		n := subtle.XORBytes(dst, src, ks)
		if n == len(src) {
			return
		}
		dst, src = dst[n:], src[n:]
		binary.LittleEndian.PutUint64(x.in[8:], binary.LittleEndian.Uint64(x.in[8:])+8)
		salsa20x8(&x.ks, &x.subKey, &x.in)
		ks = x.ks[:]
	}
}
