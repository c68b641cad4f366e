package ktable

import (
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// mustID parses a 64-character hex id.
func mustID(t testing.TB, s string) ID {
	t.Helper()
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		t.Fatalf("bad id %q: %v (len %d)", s, err, len(b))
	}
	copy(id[:], b)
	return id
}

// randomID returns an id with random bytes from rnd.
func randomID(rnd *rand.Rand) ID {
	var id ID
	for i := range id {
		id[i] = byte(rnd.Uint32())
	}
	return id
}

// idAt returns an id that shares exactly p leading bits with own (so it
// falls in row p) and has random bits after bit p. p must be in 0..255.
func idAt(own ID, p int, rnd *rand.Rand) ID {
	id := randomID(rnd)
	for i := 0; i < p; i++ {
		setBit(&id, i, bit(own, i))
	}
	setBit(&id, p, 1-bit(own, p))
	return id
}

// bit returns bit i of id, counting from the most significant bit of byte 0.
func bit(id ID, i int) int {
	return int(id[i/8]>>(7-i%8)) & 1
}

func setBit(id *ID, i, v int) {
	mask := byte(0x80) >> (i % 8)
	if v == 1 {
		id[i/8] |= mask
	} else {
		id[i/8] &^= mask
	}
}
