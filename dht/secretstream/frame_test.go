package secretstream

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		body []byte
	}{
		{"empty body", []byte{0, 0, 0}, []byte{}},
		{"one byte", []byte{1, 0, 0, 9}, []byte{9}},
		{"trailing bytes kept", []byte{2, 0, 0, 'a', 'b', 'c'}, []byte("ab")},
		{"256", append([]byte{0, 1, 0}, make([]byte, 256)...), make([]byte, 256)},
	} {
		body, n, err := ParseFrame(tc.in)
		if err != nil || !bytes.Equal(body, tc.body) || n != LengthSize+len(tc.body) {
			t.Errorf("%s: ParseFrame = %x, %d, %v; want %x", tc.name, body, n, err, tc.body)
		}
		for i := range LengthSize + len(tc.body) {
			if _, n, err := ParseFrame(tc.in[:i]); !errors.Is(err, ErrTruncated) || n != 0 {
				t.Errorf("%s: ParseFrame of %d bytes: %d, %v; want ErrTruncated", tc.name, i, n, err)
			}
		}
	}
	// The largest length needs 16 MiB of body.
	if _, _, err := ParseFrame([]byte{0xff, 0xff, 0xff, 1, 2}); !errors.Is(err, ErrTruncated) {
		t.Errorf("ParseFrame(ffffff...) = %v", err)
	}
}

func TestHeader(t *testing.T) {
	v := testVectors(t).Session
	var id [IDSize]byte
	var header [HeaderSize]byte
	copy(id[:], "0123456789abcdef0123456789abcdef")
	copy(header[:], v.Initiator.Header)
	frame := AppendHeader([]byte{0xee}, &id, &header)
	if len(frame) != 1+headerLen || frame[0] != 0xee || !bytes.Equal(frame[1:4], []byte{56, 0, 0}) {
		t.Fatalf("AppendHeader = %x", frame)
	}
	body, n, err := ParseFrame(frame[1:])
	if err != nil || n != headerLen {
		t.Fatalf("ParseFrame(header) = %d, %v", n, err)
	}
	gotID, gotHeader, err := ParseHeader(body)
	if err != nil || gotID != id || gotHeader != header {
		t.Fatalf("ParseHeader = %x, %x, %v", gotID, gotHeader, err)
	}
	for _, n := range []int{0, 55, 57} {
		if _, _, err := ParseHeader(make([]byte, n)); !errors.Is(err, ErrHeaderSize) {
			t.Errorf("ParseHeader of %d bytes: %v", n, err)
		}
	}
	// The JS initiator's first frame parses to its id and header.
	first := v.Initiator.Wrote[0].Data
	body, _, err = ParseFrame(first)
	if err != nil {
		t.Fatal(err)
	}
	gotID, gotHeader, err = ParseHeader(body)
	wantID := StreamID((*[HashSize]byte)(v.Hash), true)
	if err != nil || gotID != wantID || !bytes.Equal(gotHeader[:], v.Initiator.Header) {
		t.Errorf("JS header frame parses to %x, %x, %v", gotID, gotHeader, err)
	}
}
