//go:build !amd64 || purego || !gc

package secretstream

// fastArch: see fastarch_asm.go.
const fastArch = false
