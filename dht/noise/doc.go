// Package noise runs the Noise handshakes of the HyperDHT stack exactly as the
// npm module noise-handshake 4.2.0 runs them with noise-curve-ed 2.1.0:
//
//   - IK, hyperdht 6.34's PEER_HANDSHAKE (lib/noise-wrap.js), with the
//     prologue [PeerHandshakePrologue];
//   - XX, what @hyperswarm/secret-stream 6.9 (lib/handshake.js) runs over the
//     stream when it is not handed a finished handshake, with an empty
//     prologue and empty payloads.
//
// A [Handshake] is a state machine without I/O: [Handshake.Send] returns the
// next message, [Handshake.Recv] consumes the peer's, and once the last
// message has gone, [Handshake.Result] gives the split keys, the handshake
// hash and the peer's static key, which dht/secretstream takes over.
//
// # Protocol
//
// The protocol names are Noise_IK_Ed25519_ChaChaPoly_BLAKE2b and
// Noise_XX_Ed25519_ChaChaPoly_BLAKE2b: BLAKE2b-512 (HMAC and HKDF over it as
// the Noise specification defines them, keys truncated to 32 bytes),
// ChaCha20-Poly1305 with the nonce 0⁴ ‖ counter (64-bit little-endian), and
// "Ed25519" as the DH: key pairs, static and ephemeral alike, are Ed25519
// signing key pairs, public keys are Edwards points, and DH(sk, P) is the
// compressed encoding of a·P with a the clamped secret scalar of sk's seed
// (SHA-512 of the seed, first half, clamped). DH and public keys are 32
// bytes. Messages (e and s are public keys, s encrypted with a 16-byte tag
// once a key exists; the payload likewise):
//
//	IK  1 →  e(32)  s(32+16)  payload+16      tokens e, es, s, ss
//	    2 ←  e(32)            payload+16      tokens e, ee, se
//	XX  1 →  e(32)            payload         token  e
//	    2 ←  e(32)  s(32+16)  payload+16      tokens e, ee, s, es
//	    3 →         s(32+16)  payload+16      tokens s, se
//
// # Why flynn/noise fits
//
// The symmetric and handshake states are github.com/flynn/noise's, with the
// DH above plugged in as a DHFunc (over filippo.io/edwards25519). That was
// checked against the reference rather than assumed: the name it builds from
// the DHFunc, cipher and hash names is the reference's; it pads a name of at
// most 64 bytes into h and copies h to ck as noise-handshake does; it mixes
// the prologue and the IK pre-message the same way; its HKDF is the
// reference's for the empty info the handshake always uses; its DHLen is
// both the DH output and the public key length, which noise-curve-ed also
// has equal (32); it draws a new ephemeral key pair from the DHFunc, where
// ours makes an Ed25519 key pair from a seed read from a source we control
// (so [Handshake.SetEphemeral] can fix it); unkeyed payloads (XX message 1)
// go out in clear and are hashed, as in the reference; and its Split and
// ChannelBinding give the reference's tx, rx and hash. The golden vectors in
// testdata, made by the reference, prove the messages and results byte for
// byte.
//
// Two limits differ, and this package enforces the reference's before
// flynn/noise sees a message. noise-handshake refuses a ciphertext over 65535
// bytes, to send and to receive, and counts only the payload ciphertext, not
// the keys in front of it, while flynn/noise limits the plaintext payload to
// 65535 on send and nothing on receive. And flynn/noise leaves its state
// half-updated after some failures, so this package ends the handshake on
// any failure after the length checks; the reference's state is spent after
// a failure too.
//
// # Differences from the reference that change no bytes
//
// Recv does not modify its input. (The reference zeroes the remote ephemeral
// key, 32 bytes inside the buffer it was given, when the handshake
// completes.) A remote static key given to an XX side or to the IK responder
// is checked against the key the peer proves; the reference ignores it.
package noise
