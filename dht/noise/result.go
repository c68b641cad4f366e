package noise

// Result is what a completed handshake yields: the values the reference's
// noise-handshake leaves in tx, rx, hash and rs, which hyperdht's NoiseWrap
// final() and secret-stream's Handshake hand to the secret stream.
//
// Tx and Rx are the two keys Split derives, each the first 32 bytes of an
// HKDF output: the initiator sends with the first and receives with the
// second, the responder the other way round, so one side's Tx is the
// other's Rx. Hash is the handshake hash h after the last message
// (BLAKE2b-512), identical on both sides; secret-stream derives its stream
// ids and unordered-message keys from it, hyperdht its holepunch secret.
//
// The fields are fixed for the life of the package: dht/secretstream and
// dht build on them.
type Result struct {
	Initiator       bool     // whether this side started the handshake
	PublicKey       [32]byte // our static public key
	RemotePublicKey [32]byte // the peer's static public key, proven by the handshake
	Hash            [64]byte // handshake hash
	Tx              [32]byte // key for what this side sends
	Rx              [32]byte // key for what this side receives
}
