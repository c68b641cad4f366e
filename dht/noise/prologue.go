package noise

import "golang.org/x/crypto/blake2b"

// PeerHandshakePrologue is the prologue of hyperdht's PEER_HANDSHAKE IK
// handshake: NS.PEER_HANDSHAKE of hyperdht lib/constants.js, that is
// BLAKE2b-256(BLAKE2b-256("hyperswarm/dht") ‖ 0x00) (command id 0).
var PeerHandshakePrologue = func() [32]byte {
	root := blake2b.Sum256([]byte("hyperswarm/dht"))
	return blake2b.Sum256(append(root[:], 0))
}()
