// Package secretstream implements the encrypted transport that hyperdht runs
// over every connection, wire-compatible with the npm module
// @hyperswarm/secret-stream 6.9 (NoiseSecretStream, as hyperdht 6.34 uses
// it) and its libsodium crypto (sodium-native 5.1):
//
//   - [State]: libsodium's crypto_secretstream_xchacha20poly1305 (push,
//     pull, rekey, the four tags), built on golang.org/x/crypto's ChaCha20 and
//     Poly1305, byte for byte including libsodium's MAC padding quirk;
//   - [Conn]: a session over a reliable byte stream ([RawStream], in hyperdht
//     a UDX stream), started from the keys of a Noise handshake
//     ([noise.Result]) with [New], or after secret-stream's own XX
//     handshake over the stream with [Handshake];
//   - unordered encrypted messages over the raw stream's datagrams
//     ([Conn.Send], [MessageHook]), with a replay window the reference lacks.
//
// # Frames
//
// Each direction of the raw stream is a sequence of frames, a 3-byte
// little-endian body length then the body:
//
//	+--------+--------+--------+-------------------------------+
//	|   body length (uint24 LE)  |  body (0 .. 16777215 bytes)   |
//	+--------+--------+--------+-------------------------------+
//
// The first frame each side sends is its header, body 56 bytes:
//
//	stream id (32)    BLAKE2b-256(namespace of the sender's role, key = handshake hash)
//	header    (24)    the secretstream header the sender's push state was made from
//
// Every later frame is one secretstream message pushed with TagMessage and no
// associated data, body 17+n bytes for n bytes of plaintext:
//
//	encrypted tag (1) | ciphertext (n) | Poly1305 MAC (16)
//
// Each side sends its header at once, without waiting for the peer's, and
// checks that the first frame it receives is 56 bytes carrying the stream id
// of the other role. The push key is the handshake's Tx, the pull key its Rx.
// An empty frame is a keep-alive when keep-alives are on. There is no end
// marker: the raw stream's half-close is the end, and its abort the reset.
//
// # Messages
//
// An unordered message is one datagram of the raw stream (a UDX MESSAGE):
//
//	counter (8, LE) | crypto_secretbox (XSalsa20-Poly1305): MAC (16) | ciphertext
//
// sealed with the nonce counter‖0¹⁶ and a key per direction,
// BLAKE2b-256(role namespace ‖ send namespace, key = handshake hash). Each
// sender counts up from a random 64-bit seed, adding one before each message.
// The reference keeps no record of counters and delivers a replayed message
// again; a Conn drops a counter it has seen or one more than ReplayWindow
// behind the newest, which a sender following the reference never produces
// except by reordering that far. That is the only check the format allows:
// the counters of one sender are unique and increasing, but start anywhere.
package secretstream
