//go:build !amd64 || purego || !gc

package secretstream

const haveSalsa20x8 = false

func salsa20x8(out *[512]byte, key *[32]byte, in *[16]byte) { panic("unreachable") }
