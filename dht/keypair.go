package dht

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// KeyPair is an Ed25519 key pair, byte-compatible with the reference's keyPair(seed)
// (libsodium crypto_sign_seed_keypair): the secret key is the seed followed by the public key.
type KeyPair struct {
	PublicKey [32]byte
	SecretKey ed25519.PrivateKey // 64 bytes
}

// SeedSize is the length of a key pair seed.
const SeedSize = ed25519.SeedSize

// NewKeyPair derives the key pair of a 32-byte seed, or makes a random one when seed is nil.
func NewKeyPair(seed []byte) (KeyPair, error) {
	if seed == nil {
		seed = make([]byte, SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return KeyPair{}, fmt.Errorf("dht: key pair: %w", err)
		}
	}
	if len(seed) != SeedSize {
		return KeyPair{}, fmt.Errorf("dht: key pair: seed has %d bytes, want %d", len(seed), SeedSize)
	}
	sk := ed25519.NewKeyFromSeed(seed)
	var kp KeyPair
	kp.SecretKey = sk
	copy(kp.PublicKey[:], sk[32:])
	return kp, nil
}

// Seed returns the 32-byte seed the key pair derives from.
func (kp KeyPair) Seed() []byte { return kp.SecretKey.Seed() }

// String returns the public key in hex; the secret key is never printed.
func (kp KeyPair) String() string { return hex.EncodeToString(kp.PublicKey[:]) }
