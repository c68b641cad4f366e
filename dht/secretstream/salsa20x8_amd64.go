//go:build amd64 && !purego && gc

package secretstream

import "golang.org/x/sys/cpu"

//go:generate go run salsa20x8_gen.go

// haveSalsa20x8 reports whether salsa20x8 runs here: it needs AVX-512F and AVX-512VL
// (32 vector registers and VPROLD).
var haveSalsa20x8 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL

// salsa20x8 writes eight blocks of Salsa20/20 keystream under key to out: block i with
// the nonce in[:8] and the block counter in[8:16] (little-endian) plus i, where the low
// 32 bits of the counter must not wrap within the eight. It is in salsa20x8_amd64.s.
//
//go:noescape
func salsa20x8(out *[512]byte, key *[32]byte, in *[16]byte)
