package secretstream

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"golang.org/x/crypto/nacl/secretbox"
	//lint:ignore SA1019 the reference the eight-block keystream is checked against.
	"golang.org/x/crypto/salsa20/salsa"
)

// TestSalsa20x8 checks the eight-block keystream against x/crypto's Salsa20.
func TestSalsa20x8(t *testing.T) {
	if !haveSalsa20x8 {
		t.Skip("no AVX-512VL")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		var key [32]byte
		var in [16]byte
		fillRand(r, key[:])
		fillRand(r, in[:8])
		ctr := r.Uint64()
		if i%2 == 0 {
			ctr = uint64(r.Uint32N(1 << 20))
		}
		ctr &^= 0xffff_ffff
		ctr |= uint64(r.Uint32N(1<<32 - 8))
		binary.LittleEndian.PutUint64(in[8:], ctr)
		var got [512]byte
		salsa20x8(&got, &key, &in)
		want := make([]byte, 512)
		c := in
		salsa.XORKeyStream(want, want, &c, &key)
		if !bytes.Equal(got[:], want) {
			t.Fatalf("key %x in %x: keystream differs", key, in)
		}
	}
}

// TestSealOpenBox checks sealBox and openBox against x/crypto's secretbox for every length
// up to a few chunks of keystream, appending to a prefix.
func TestSealOpenBox(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := range 1700 {
		var key [32]byte
		var nonce [24]byte
		fillRand(r, key[:])
		fillRand(r, nonce[:])
		m := make([]byte, n)
		fillRand(r, m)
		want := secretbox.Seal([]byte("ab"), m, &nonce, &key)
		got := sealBox([]byte("ab"), m, &nonce, &key)
		if !bytes.Equal(got, want) {
			t.Fatalf("length %d: sealBox differs from secretbox.Seal", n)
		}
		opened, ok := openBox([]byte("c"), want[2:], &nonce, &key)
		if !ok || opened[0] != 'c' || !bytes.Equal(opened[1:], m) {
			t.Fatalf("length %d: openBox = %v, %x", n, ok, opened)
		}
		bad := bytes.Clone(want[2:])
		bad[r.IntN(len(bad))] ^= 1 << r.IntN(8)
		if _, ok := openBox(nil, bad, &nonce, &key); ok {
			t.Fatalf("length %d: openBox took a changed box", n)
		}
	}
	if _, ok := openBox(nil, make([]byte, secretbox.Overhead-1), new([24]byte), new([32]byte)); ok {
		t.Fatal("openBox took a short box")
	}
}

func TestSealOpenBoxAllocs(t *testing.T) {
	var key [32]byte
	var nonce [24]byte
	m := make([]byte, 1400)
	out := make([]byte, 0, 1500)
	box := sealBox(nil, m, &nonce, &key)
	if n := testing.AllocsPerRun(100, func() {
		sealBox(out[:0], m, &nonce, &key)
		openBox(out[:0], box, &nonce, &key)
	}); n != 0 {
		t.Fatalf("%v allocations per seal and open", n)
	}
}

func fillRand(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// BenchmarkSealBox compares sealBox with x/crypto's secretbox.Seal at the sizes of VPN
// packets.
func BenchmarkSealBox(b *testing.B) {
	var key [32]byte
	var nonce [24]byte
	for _, n := range []int{64, 1400, 8192} {
		m := make([]byte, n)
		out := make([]byte, 0, n+secretbox.Overhead)
		b.Run(fmt.Sprintf("secretbox/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				out = secretbox.Seal(out[:0], m, &nonce, &key)
			}
		})
		b.Run(fmt.Sprintf("sealBox/%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				out = sealBox(out[:0], m, &nonce, &key)
			}
		})
	}
}
