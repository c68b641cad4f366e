//go:build amd64 && !purego && gc

package secretstream

// fastArch is whether chacha20poly1305 has assembly here; elsewhere (and with the purego
// tag, where x/crypto runs its generic code, which allocates) it would run the same generic
// ChaCha20 as the generic path, plus two copies.
const fastArch = true
