package secretstream

import (
	"encoding/binary"

	"golang.org/x/crypto/nacl/secretbox"
)

// MessageOverhead is what sealing adds to an unordered message: the 8-byte
// counter and the 16-byte MAC.
const MessageOverhead = 8 + secretbox.Overhead

// SealMessage appends the envelope of the unordered message m to dst and
// returns the extended slice: counter (8 bytes, little-endian), then
// crypto_secretbox (XSalsa20-Poly1305) of m under key with the 24-byte nonce
// counter followed by 16 zero bytes, which is the MAC then the ciphertext.
// This is NoiseSecretStream's envelope for send and trySend. No allocation
// is made when dst has room. m must not overlap dst's spare capacity.
func SealMessage(dst []byte, counter uint64, m []byte, key *[32]byte) []byte {
	var nonce [24]byte
	binary.LittleEndian.PutUint64(nonce[:8], counter)
	dst = append(dst, nonce[:8]...)
	return sealBox(dst, m, &nonce, key)
}

// OpenMessage checks and decrypts the envelope env made by SealMessage,
// appends the message to dst and returns the extended slice and the
// envelope's counter. It fails with [ErrShortMessage] when env is shorter
// than MessageOverhead and with [ErrDecrypt] when it does not authenticate;
// secret-stream drops such envelopes silently. env must not overlap dst's
// spare capacity.
func OpenMessage(dst, env []byte, key *[32]byte) (m []byte, counter uint64, err error) {
	if len(env) < MessageOverhead {
		return nil, 0, ErrShortMessage
	}
	var nonce [24]byte
	copy(nonce[:8], env)
	m, ok := openBox(dst, env[8:], &nonce, key)
	if !ok {
		return nil, 0, ErrDecrypt
	}
	return m, binary.LittleEndian.Uint64(env), nil
}
