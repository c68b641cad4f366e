package secretstream

import (
	"golang.org/x/crypto/blake2b"
)

// HashSize is the size of the Noise handshake hash that binds a session: the
// BLAKE2b-512 chaining hash of the Noise handshakes hyperdht and
// secret-stream run.
const HashSize = 64

// IDSize is the size of a stream id (see [StreamID]).
const IDSize = 32

// The namespaces of hypercore-crypto's namespace("hyperswarm/secret-stream",
// 3): BLAKE2b-256 of the name, then BLAKE2b-256 of that followed by one
// byte 0, 1 or 2.
var nsInitiator, nsResponder, nsSend = namespaces()

func namespaces() (initiator, responder, send [32]byte) {
	base := blake2b.Sum256([]byte("hyperswarm/secret-stream"))
	ns := func(i byte) [32]byte { return blake2b.Sum256(append(base[:], i)) }
	return ns(0), ns(1), ns(2)
}

// StreamID returns the stream id that the initiator (initiator true) or the
// responder of the session with handshake hash hash puts in its header
// frame: BLAKE2b-256 of the role's namespace, keyed with the hash
// (NoiseSecretStream.id). A receiver expects the id of the other role.
func StreamID(hash *[HashSize]byte, initiator bool) [IDSize]byte {
	ns := &nsResponder
	if initiator {
		ns = &nsInitiator
	}
	return keyedHash(hash, ns[:])
}

// messageKey returns the key with which the initiator (initiator true) or the
// responder seals its unordered messages: BLAKE2b-256 of the role's namespace
// followed by the send namespace, keyed with the handshake hash.
func messageKey(hash *[HashSize]byte, initiator bool) [32]byte {
	ns := &nsResponder
	if initiator {
		ns = &nsInitiator
	}
	return keyedHash(hash, ns[:], nsSend[:])
}

func keyedHash(key *[HashSize]byte, parts ...[]byte) [32]byte {
	h, err := blake2b.New256(key[:])
	if err != nil {
		panic("secretstream: internal error: " + err.Error())
	}
	for _, p := range parts {
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
