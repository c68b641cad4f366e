package udx

import (
	"math"
	"testing"
)

func TestSeqOrder(t *testing.T) {
	tests := []struct {
		a, b Seq
		diff int32
	}{
		{0, 0, 0},
		{1, 0, 1},
		{0, 1, -1},
		{0, 0xffffffff, 1}, // across the wrap: 0xffffffff is just before 0
		{0xffffffff, 0, -1},
		{5, 0xfffffffb, 10},
		{0xfffffff0, 0x10, -32},
		{0x7fffffff, 0, math.MaxInt32},
		{0, 0x7fffffff, -math.MaxInt32},
		{0x80000001, 0, -math.MaxInt32}, // more than half the space ahead reads as behind
		// Exactly half the space apart: each is before the other, as in libudx.
		{0x80000000, 0, math.MinInt32},
		{0, 0x80000000, math.MinInt32},
		{0x12345678, 0x92345678, math.MinInt32},
	}
	for _, tt := range tests {
		if got := SeqDiff(tt.a, tt.b); got != tt.diff {
			t.Errorf("SeqDiff(%#x, %#x) = %d, want %d", tt.a, tt.b, got, tt.diff)
		}
		if got := tt.a.Less(tt.b); got != (tt.diff < 0) {
			t.Errorf("%#x.Less(%#x) = %v", tt.a, tt.b, got)
		}
		if got := tt.a.LessEq(tt.b); got != (tt.diff <= 0) {
			t.Errorf("%#x.LessEq(%#x) = %v", tt.a, tt.b, got)
		}
	}
}

func TestSeqWrapOrder(t *testing.T) {
	// A run of consecutive seqs across the wrap is strictly increasing.
	start := Seq(0xfffffff8)
	for i := range Seq(16) {
		a, b := start+i, start+i+1
		if !a.Less(b) || b.Less(a) || !a.LessEq(b) || !a.LessEq(a) || a.Less(a) {
			t.Fatalf("order broken between %#x and %#x", a, b)
		}
		if SeqDiff(b, start) != int32(i+1) {
			t.Fatalf("SeqDiff(%#x, %#x) = %d", b, start, SeqDiff(b, start))
		}
	}
}

func TestSeqMax(t *testing.T) {
	tests := []struct{ a, b, want Seq }{
		{1, 2, 2},
		{2, 1, 2},
		{3, 3, 3},
		{0xffffffff, 0, 0},
		{0, 0xffffffff, 0},
		{0xfffffff0, 5, 5},
	}
	for _, tt := range tests {
		if got := SeqMax(tt.a, tt.b); got != tt.want {
			t.Errorf("SeqMax(%#x, %#x) = %#x, want %#x", tt.a, tt.b, got, tt.want)
		}
	}
}
