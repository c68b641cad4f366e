package records

import (
	"crypto/ed25519"

	"golang.org/x/crypto/blake2b"

	"github.com/hyperlan/hyperlan/dht/compact"
)

// Hash returns BLAKE2b-256 of the concatenation of b: libsodium's crypto_generichash with a
// 32-byte output and no key, which is what hyperdht's hash and crypto_generichash_batch compute.
// Server targets are Hash(publicKey) and immutable targets Hash(value).
func Hash(b ...[]byte) [32]byte {
	if len(b) == 1 {
		return blake2b.Sum256(b[0])
	}
	h, _ := blake2b.New256(nil) // cannot fail without a key
	for _, p := range b {
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Namespaces of the signed messages: BLAKE2b-256(BLAKE2b-256("hyperswarm/dht") ‖ byte(cmd)),
// as hypercore-crypto's namespace derives them for hyperdht lib/constants.js NS.
var (
	NSPeerHandshake = namespace(CmdPeerHandshake)
	NSPeerHolepunch = namespace(CmdPeerHolepunch)
	NSAnnounce      = namespace(CmdAnnounce)
	NSUnannounce    = namespace(CmdUnannounce)
	NSMutablePut    = namespace(CmdMutablePut)
	NSPlugin        = namespace(CmdPlugin)
)

func namespace(cmd byte) [32]byte {
	root := blake2b.Sum256([]byte("hyperswarm/dht"))
	return Hash(root[:], []byte{cmd})
}

// AnnounceSignable returns the 64 bytes an ANNOUNCE or UNANNOUNCE signature covers:
//
//	ns ‖ BLAKE2b-256(target ‖ nodeID ‖ token ‖ peerEncoded ‖ refresh?)
//
// ns is NSAnnounce or NSUnannounce, nodeID and token are the storing node's id and the
// token it issued, peerEncoded is the canonical peer encoding (AppendPeer), and refresh is
// omitted when nil (hyperdht lib/persistent.js annSignable).
func AnnounceSignable(ns, target, nodeID, token [32]byte, peerEncoded []byte, refresh *[32]byte) [64]byte {
	var out [64]byte
	copy(out[:32], ns[:])
	h, _ := blake2b.New256(nil)
	h.Write(target[:])
	h.Write(nodeID[:])
	h.Write(token[:])
	h.Write(peerEncoded)
	if refresh != nil {
		h.Write(refresh[:])
	}
	h.Sum(out[32:32])
	return out
}

// SignAnnounce signs ann for one storing node (its id and the token it gave) under ns
// (NSAnnounce or NSUnannounce). The signature covers the canonical encoding of ann.Peer and
// ann.Refresh; ann.Signature and ann.Bump are not signed. It fails with ErrNoPeer if ann has
// no peer, ErrBadPrivateKey for a key of the wrong size, or the peer's encoding error.
func SignAnnounce(priv ed25519.PrivateKey, ns, target, nodeID, token [32]byte, ann *Announce) ([64]byte, error) {
	var sig [64]byte
	if len(priv) != ed25519.PrivateKeySize {
		return sig, ErrBadPrivateKey
	}
	if ann.Peer == nil {
		return sig, ErrNoPeer
	}
	enc, err := AppendPeer(nil, ann.Peer)
	if err != nil {
		return sig, err
	}
	msg := AnnounceSignable(ns, target, nodeID, token, enc, ann.Refresh)
	copy(sig[:], ed25519.Sign(priv, msg[:]))
	return sig, nil
}

// VerifyAnnounce reports whether ann carries a peer and a signature by that peer's key over
// AnnounceSignable for this storing node. Like the reference, it checks the signature
// against the peer re-encoded canonically, not against the bytes as received
// (Announce.PeerRaw), so a sender that wrote a long-form relay count still verifies.
func VerifyAnnounce(ns, target, nodeID, token [32]byte, ann *Announce) bool {
	if ann.Peer == nil || ann.Signature == nil {
		return false
	}
	var buf [64]byte
	enc, err := AppendPeer(buf[:0], ann.Peer)
	if err != nil {
		return false
	}
	msg := AnnounceSignable(ns, target, nodeID, token, enc, ann.Refresh)
	return verify(ann.Peer.PublicKey, msg[:], ann.Signature)
}

// MutableSignable returns the 64 bytes a mutable signature covers:
// NSMutablePut ‖ BLAKE2b-256(uint seq ‖ buffer value) (hyperdht lib/persistent.js
// signMutable, messages.js mutableSignable).
func MutableSignable(seq uint64, value []byte) [64]byte {
	var out [64]byte
	copy(out[:32], NSMutablePut[:])
	var hdr [9 + 9]byte // uint seq, uint length of value
	b := compact.AppendUint(hdr[:0], seq)
	b = compact.AppendUint(b, uint64(len(value)))
	h, _ := blake2b.New256(nil)
	h.Write(b)
	h.Write(value)
	h.Sum(out[32:32])
	return out
}

// SignMutable signs a mutable value. It panics if priv is not a 64-byte Ed25519 private key,
// as crypto/ed25519 does.
func SignMutable(priv ed25519.PrivateKey, seq uint64, value []byte) [64]byte {
	msg := MutableSignable(seq, value)
	var sig [64]byte
	copy(sig[:], ed25519.Sign(priv, msg[:]))
	return sig
}

// VerifyMutable reports whether sig is pub's signature of value at seq.
func VerifyMutable(pub [32]byte, seq uint64, value []byte, sig [64]byte) bool {
	msg := MutableSignable(seq, value)
	return verify(pub, msg[:], &sig)
}

// verify checks an Ed25519 signature with libsodium's acceptance rules, which are stricter
// than crypto/ed25519's: the public key must be a canonical encoding, and neither the key nor
// the signature's R may be a point of small order. Without these checks a key such as the
// identity point would "verify" signatures nobody made, which a reference node refuses.
func verify(pub [32]byte, msg []byte, sig *[64]byte) bool {
	if !canonicalPoint(&pub) || smallOrder(pub[:]) || smallOrder(sig[:32]) {
		return false
	}
	return ed25519.Verify(pub[:], msg, sig[:])
}

// canonicalPoint reports whether the y coordinate encoded in p (sign bit ignored) is below
// the field prime 2^255-19.
func canonicalPoint(p *[32]byte) bool {
	if p[31]&0x7f != 0x7f || p[0] < 0xed {
		return true
	}
	for _, c := range p[1:31] {
		if c != 0xff {
			return true
		}
	}
	return false
}

// smallOrderPoints are the encodings of the points of order 1, 2, 4 and 8 on edwards25519,
// plus the non-canonical encodings of 0 and 1 (y = p, y = p+1); the sign bit is compared
// separately. These are the values libsodium's small-order check refuses.
var smallOrderPoints = [...][32]byte{
	{},     // y = 0, order 4
	{0x01}, // y = 1, the identity
	{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
		0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05}, // order 8
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a}, // order 8
	primeOffset(-1), // y = -1, order 2
	primeOffset(0),  // y = p, a long form of 0
	primeOffset(1),  // y = p+1, a long form of 1
}

// primeOffset returns the little-endian encoding of 2^255-19+d for d in -1..1.
func primeOffset(d int) [32]byte {
	var p [32]byte
	for i := range p {
		p[i] = 0xff
	}
	p[31] = 0x7f
	p[0] = byte(0xed + d)
	return p
}

// smallOrder reports whether the 32-byte point encoding p, sign bit ignored, is one of
// smallOrderPoints.
func smallOrder(p []byte) bool {
	for i := range smallOrderPoints {
		q := &smallOrderPoints[i]
		if [31]byte(p[:31]) == [31]byte(q[:31]) && p[31]&0x7f == q[31] {
			return true
		}
	}
	return false
}
