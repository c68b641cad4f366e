package protomux

import (
	"errors"
	"math"
	"testing"
)

func TestUint(t *testing.T) {
	tests := []struct {
		v    uint64
		want string
	}{
		{0, "00"},
		{0xfc, "fc"},
		{0xfd, "fdfd00"},
		{0xffff, "fdffff"},
		{0x10000, "fe00000100"},
		{0xffffffff, "feffffffff"},
		{0x100000000, "ff0000000001000000"},
		{math.MaxUint64, "ffffffffffffffffff"},
	}
	for _, tt := range tests {
		b := AppendUint(nil, tt.v)
		if got := hexOf(b); got != tt.want {
			t.Errorf("AppendUint(%d) = %s, want %s", tt.v, got, tt.want)
		}
		if UintLen(tt.v) != len(b) {
			t.Errorf("UintLen(%d) = %d, want %d", tt.v, UintLen(tt.v), len(b))
		}
		v, n, err := ParseUint(append(b, 0xaa))
		if err != nil || v != tt.v || n != len(b) {
			t.Errorf("ParseUint(%s) = %d, %d, %v", tt.want, v, n, err)
		}
		for i := range b {
			if v, n, err := ParseUint(b[:i]); !errors.Is(err, ErrTruncated) || v != 0 || n != 0 {
				t.Errorf("ParseUint(%x) = %d, %d, %v, want ErrTruncated", b[:i], v, n, err)
			}
		}
	}
	// Longer forms than needed are read, as the reference reads them.
	if v, n, err := ParseUint([]byte{0xfe, 1, 0, 0, 0}); v != 1 || n != 5 || err != nil {
		t.Errorf("ParseUint(fe01000000) = %d, %d, %v", v, n, err)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	s := make([]byte, 0, 2*len(b))
	for _, c := range b {
		s = append(s, digits[c>>4], digits[c&15])
	}
	return string(s)
}
