package configs

import (
	"errors"
	"strings"
	"testing"
)

const (
	desktopKey    = "61e1d8cdc90f3797ff4382178e1e089aec2595a696c4da3e7d57b37030db27e1"
	laptopKey     = "6f23316703d6195faebf6958c187da0b623bf97137eb980b410bb692f94dc1bf"
	nasKey        = "38db4d73792d7bf3d1d9a3d2186b1f0ca025a60147a47679fefda4c76d2726ee"
	nasKeyZBase32 = "8dpw4h53fi798wq3wxjbo4a9b1onmjobe618c6x69s1cq5j8r5zy"
)

func TestZBase32Vector(t *testing.T) {
	// The z32 module's README example.
	if got, want := zbase32Encode([]byte("Hello, World!")), "jb1sa5dxfoofq551pt1nn"; got != want {
		t.Errorf("encode = %q, want %q", got, want)
	}
	dst := make([]byte, 13)
	if err := zbase32Decode(dst, "jb1sa5dxfoofq551pt1nn"); err != nil || string(dst) != "Hello, World!" {
		t.Errorf("decode = %q, %v", dst, err)
	}
}

func TestParsePublicKey(t *testing.T) {
	hexKey, err := ParsePublicKey(nasKey)
	if err != nil {
		t.Fatal(err)
	}
	zKey, err := ParsePublicKey(nasKeyZBase32)
	if err != nil {
		t.Fatal(err)
	}
	if hexKey != zKey {
		t.Errorf("hex and z-base-32 spellings differ: %s, %s", hexKey, zKey)
	}
	upper, err := ParsePublicKey(strings.ToUpper(nasKey))
	if err != nil || upper != hexKey {
		t.Errorf("upper-case hex: %s, %v", upper, err)
	}
	if hexKey.String() != nasKey || hexKey.ZBase32() != nasKeyZBase32 {
		t.Errorf("String %s, ZBase32 %s", hexKey, hexKey.ZBase32())
	}
	// The last character carries four padding bits, which the reference ignores.
	padded := nasKeyZBase32[:51] + string(zbase32Alphabet[strings.IndexByte(zbase32Alphabet, nasKeyZBase32[51])|1])
	if k, err := ParsePublicKey(padded); err != nil || k != hexKey {
		t.Errorf("padding bits set: %s, %v", k, err)
	}
}

func TestParsePublicKeyErrors(t *testing.T) {
	identity := "01" + strings.Repeat("00", 31)
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", "", ErrKeyEncoding},
		{"short hex", nasKey[:62], ErrKeyEncoding},
		{"long hex", nasKey + "00", ErrKeyEncoding},
		{"not hex", "x" + nasKey[1:], ErrKeyEncoding},
		{"z-base-32 upper case", strings.ToUpper(nasKeyZBase32), ErrKeyEncoding},
		{"z-base-32 bad character", "l" + nasKeyZBase32[1:], ErrKeyEncoding},
		{"not a point", "02" + strings.Repeat("00", 31), ErrKeyPoint},
		{"non-canonical", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", ErrKeyPoint},
		{"identity", identity, ErrKeyWeak},
		{"order 4", strings.Repeat("00", 32), ErrKeyWeak},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePublicKey(tt.in)
			if !errors.Is(err, tt.want) {
				t.Errorf("ParsePublicKey(%q) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func mustKey(t testing.TB, s string) PublicKey {
	t.Helper()
	k, err := ParsePublicKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
