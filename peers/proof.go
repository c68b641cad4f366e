package peers

import (
	"crypto/subtle"

	"golang.org/x/crypto/blake2b"
)

// proofLabel separates the session proof from the other uses of the network secret (see
// configs' derivations). Like those, it is a compatibility contract between versions.
const proofLabel = "hyperlan/v1/session-proof"

// Roles in a proof: the side that dialled (the Noise initiator) and the side that answered.
// Binding the role keeps a responder that does not know the secret from reflecting the
// initiator's own proof back at it.
const (
	roleInitiator = 'i'
	roleResponder = 'r'
)

// sessionProof returns the proof that the sender, in role, knows secret, bound to the
// session's Noise handshake hash:
//
//	proof = BLAKE2b-256(key = secret, proofLabel || 0x00 || role || handshake hash)
//
// A handshake hash is unique to a session, so a proof seen on one session is worthless on
// any other, and it reveals nothing of the secret.
func sessionProof(secret []byte, role byte, hash []byte) [proofSize]byte {
	h, err := blake2b.New256(secret)
	if err != nil {
		panic("peers: internal error: network secret longer than a BLAKE2b key: " + err.Error())
	}
	h.Write([]byte(proofLabel))
	h.Write([]byte{0, role})
	h.Write(hash)
	var out [proofSize]byte
	h.Sum(out[:0])
	return out
}

// checkProof reports whether got is the proof of role for this session, in constant time.
func checkProof(secret []byte, role byte, hash []byte, got [proofSize]byte) bool {
	want := sessionProof(secret, role, hash)
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}
