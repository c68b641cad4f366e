package ktable

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestIDString(t *testing.T) {
	id := ID{0x00, 0x01, 0xab, 0xff}
	want := "0001abff" + string(bytes.Repeat([]byte("00"), 28))
	if got := id.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}

func TestRowIndex(t *testing.T) {
	var own ID
	own[0] = 0b1010_0000
	own[31] = 0x01
	flip := func(bits ...int) ID {
		id := own
		for _, i := range bits {
			id[i/8] ^= 0x80 >> (i % 8)
		}
		return id
	}
	tests := []struct {
		name string
		id   ID
		want int
	}{
		{"equal", own, 255},
		{"first bit", flip(0), 0},
		{"second bit", flip(1), 1},
		{"bit 7", flip(7), 7},
		{"bit 8", flip(8), 8},
		{"bit 63", flip(63), 63},
		{"bit 64 (second word)", flip(64), 64},
		{"bit 200", flip(200), 200},
		{"bit 254", flip(254), 254},
		{"last bit", flip(255), 255},
		{"first difference wins", flip(9, 3, 100), 3},
		{"all ones", ID(bytes.Repeat([]byte{0xff}, 32)), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RowIndex(own, tt.id); got != tt.want {
				t.Errorf("RowIndex = %d, want %d", got, tt.want)
			}
			if got := RowIndex(tt.id, own); got != tt.want {
				t.Errorf("RowIndex swapped = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRowIndexRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		own := randomID(rnd)
		p := rnd.IntN(256)
		if got := RowIndex(own, idAt(own, p, rnd)); got != p {
			t.Fatalf("RowIndex of an id made for row %d = %d", p, got)
		}
	}
}

func TestCompare(t *testing.T) {
	var target ID
	target[0] = 0xf0
	at := func(b0, b31 byte) ID {
		id := target
		id[0] ^= b0
		id[31] ^= b31
		return id
	}
	tests := []struct {
		name string
		a, b ID
		want int
	}{
		{"equal", at(1, 2), at(1, 2), 0},
		{"target itself is closest", target, at(0, 1), -1},
		{"first byte decides", at(1, 0xff), at(2, 0), -1},
		{"first byte decides, reversed", at(2, 0), at(1, 0xff), 1},
		{"last byte decides", at(3, 4), at(3, 5), -1},
		{"distance not value", at(0x80, 0), at(0x40, 0), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compare(target, tt.a, tt.b); sign(got) != tt.want {
				t.Errorf("Compare = %d, want sign %d", got, tt.want)
			}
			if got := Compare(target, tt.b, tt.a); sign(got) != -tt.want {
				t.Errorf("Compare swapped = %d, want sign %d", got, -tt.want)
			}
		})
	}
}

func TestCompareMatchesDistance(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		target, a := randomID(rnd), randomID(rnd)
		b := a
		b[rnd.IntN(32)] ^= byte(rnd.Uint32()) // often shares a prefix with a
		da, db := Distance(target, a), Distance(target, b)
		if got, want := sign(Compare(target, a, b)), bytes.Compare(da[:], db[:]); got != want {
			t.Fatalf("Compare(%v, %v, %v) sign %d, want %d", target, a, b, got, want)
		}
	}
}

func TestDistance(t *testing.T) {
	a := ID{0xff, 0x0f, 0x01}
	b := ID{0x0f, 0x0f, 0x02}
	want := ID{0xf0, 0x00, 0x03}
	if got := Distance(a, b); got != want {
		t.Fatalf("Distance = %v, want %v", got, want)
	}
	if got := Distance(a, a); got != (ID{}) {
		t.Fatalf("Distance(a, a) = %v, want zero", got)
	}
}

func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}
