package compact

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// request builds a message shaped like a dht-rpc request with every optional
// field present.
func request(t testing.TB) []byte {
	t.Helper()
	var id [32]byte
	for i := range id {
		id[i] = byte(i)
	}
	b := []byte{0x03}
	b = AppendUint(b, 0x1f)
	b = AppendUint16(b, 0xbeef)
	b, err := AppendIPv4Addr(b, netip.MustParseAddrPort("88.99.3.86:49737"))
	if err != nil {
		t.Fatal(err)
	}
	b = AppendFixed32(b, id)
	b = AppendUint(b, 300)
	b = AppendBuffer(b, []byte("value"))
	b = AppendString(b, "héllo")
	b = AppendBool(b, true)
	b = AppendArrayLen(b, 2)
	b, _ = AppendIPv4Addr(b, netip.MustParseAddrPort("127.0.0.1:1"))
	b, _ = AppendIPv4Addr(b, netip.MustParseAddrPort("127.0.0.1:2"))
	b = AppendUint32(b, 7)
	return append(b, "trailer"...)
}

func TestReaderSequence(t *testing.T) {
	in := request(t)
	r := NewReader(in)
	if got := r.Uint8(); got != 0x03 {
		t.Errorf("type = %#x", got)
	}
	if got := r.Uint(); got != 0x1f {
		t.Errorf("flags = %#x", got)
	}
	if got := r.Uint16(); got != 0xbeef {
		t.Errorf("tid = %#x", got)
	}
	if got := r.IPv4Addr(); got != netip.MustParseAddrPort("88.99.3.86:49737") {
		t.Errorf("to = %v", got)
	}
	if got := r.Fixed32(); got[31] != 31 {
		t.Errorf("id = %x", got)
	}
	if got := r.Uint(); got != 300 {
		t.Errorf("command = %d", got)
	}
	if got := r.Buffer(); string(got) != "value" {
		t.Errorf("value = %q", got)
	}
	if got := r.String(); got != "héllo" {
		t.Errorf("string = %q", got)
	}
	if !r.Bool() {
		t.Error("bool = false")
	}
	n := r.ArrayLen(IPv4AddrLen)
	if n != 2 {
		t.Fatalf("count = %d", n)
	}
	for i := range n {
		if got := r.IPv4Addr(); got.Port() != uint16(i+1) {
			t.Errorf("node %d = %v", i, got)
		}
	}
	if got := r.Uint32(); got != 7 {
		t.Errorf("uint32 = %d", got)
	}
	if r.Len() != len("trailer") || r.Offset() != len(in)-len("trailer") {
		t.Errorf("Len %d, Offset %d before Rest", r.Len(), r.Offset())
	}
	if got := r.Rest(); string(got) != "trailer" {
		t.Errorf("Rest = %q", got)
	}
	if r.Len() != 0 || r.Offset() != len(in) || r.Err() != nil {
		t.Errorf("after Rest: Len %d, Offset %d, Err %v", r.Len(), r.Offset(), r.Err())
	}
	// Reading past the end is an error like any other.
	if got := r.Uint(); got != 0 || !errors.Is(r.Err(), ErrTruncated) {
		t.Errorf("read at end = %d, err %v", got, r.Err())
	}
}

func TestReaderStickyError(t *testing.T) {
	in := []byte{0x05, 0xfd, 0x01} // a uint, then a truncated uint
	r := NewReader(in)
	if got := r.Uint(); got != 5 {
		t.Fatalf("Uint = %d", got)
	}
	if got := r.Uint(); got != 0 {
		t.Errorf("truncated Uint = %d, want 0", got)
	}
	first := r.Err()
	if !errors.Is(first, ErrTruncated) {
		t.Fatalf("Err = %v, want ErrTruncated", first)
	}

	// Every method now returns its zero value and the error stays the first.
	if r.Len() != 0 || r.Offset() != 1 {
		t.Errorf("Len %d, Offset %d after error", r.Len(), r.Offset())
	}
	zeroes := []struct {
		name string
		ok   bool
	}{
		{"Uint", r.Uint() == 0},
		{"Int", r.Int() == 0},
		{"Uint8", r.Uint8() == 0},
		{"Uint16", r.Uint16() == 0},
		{"Uint32", r.Uint32() == 0},
		{"Uint64", r.Uint64() == 0},
		{"Bool", !r.Bool()},
		{"Fixed32", r.Fixed32() == [32]byte{}},
		{"Fixed64", r.Fixed64() == [64]byte{}},
		{"Fixed", r.Fixed(0) == nil},
		{"Buffer", r.Buffer() == nil},
		{"String", r.String() == ""},
		{"ArrayLen", r.ArrayLen(1) == 0},
		{"IPv4Addr", r.IPv4Addr() == netip.AddrPort{}},
		{"IPv6Addr", r.IPv6Addr() == netip.AddrPort{}},
		{"IPAddr", r.IPAddr() == netip.AddrPort{}},
		{"Rest", r.Rest() == nil},
	}
	for _, z := range zeroes {
		if !z.ok {
			t.Errorf("%s after error did not return the zero value", z.name)
		}
	}
	if r.Err() != first {
		t.Errorf("Err changed to %v", r.Err())
	}
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		read func(r *Reader)
		want error
	}{
		{"array over max", AppendUint(nil, MaxArrayLen+1), func(r *Reader) { r.ArrayLen(0) }, ErrTooLong},
		{"array past end", []byte{2, 1, 2, 3, 4, 5, 6}, func(r *Reader) { r.ArrayLen(IPv4AddrLen) }, ErrTruncated},
		{"buffer past end", []byte{4, 1, 2, 3}, func(r *Reader) { r.Buffer() }, ErrTooLong},
		{"uint overflow", AppendUint(nil, MaxSafeUint+1), func(r *Reader) { r.Uint() }, ErrOverflow},
		{"bad family", []byte{5, 0, 0, 0, 0, 0, 0}, func(r *Reader) { r.IPAddr() }, ErrBadAddress},
		{"short fixed", make([]byte, 31), func(r *Reader) { r.Fixed32() }, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(tt.in)
			tt.read(r)
			if !errors.Is(r.Err(), tt.want) {
				t.Errorf("Err = %v, want %v", r.Err(), tt.want)
			}
		})
	}
}

func TestReaderZeroValue(t *testing.T) {
	var r Reader
	if r.Len() != 0 || len(r.Rest()) != 0 || r.Err() != nil {
		t.Errorf("zero Reader: Len %d, Err %v", r.Len(), r.Err())
	}
	r.Uint16()
	if !errors.Is(r.Err(), ErrTruncated) {
		t.Errorf("zero Reader Uint16: Err = %v", r.Err())
	}
}

func TestReaderAliases(t *testing.T) {
	in := []byte{2, 'h', 'i', 'x', 'y'}
	r := NewReader(in)
	buf := r.Buffer()
	fixed := r.Fixed(1)
	in[1], in[3] = 'H', 'X'
	if !bytes.Equal(buf, []byte("Hi")) || !bytes.Equal(fixed, []byte("X")) {
		t.Errorf("Buffer %q, Fixed %q: want views of the input", buf, fixed)
	}
}

func TestReaderNoAllocs(t *testing.T) {
	in := request(t)
	allocs := testing.AllocsPerRun(100, func() {
		r := NewReader(in)
		r.Uint8()
		r.Uint()
		r.Uint16()
		r.IPv4Addr()
		r.Fixed32()
		r.Uint()
		r.Buffer()
		r.Buffer() // the string, read without copying
		r.Fixed(0)
		r.Bool()
		for range r.ArrayLen(IPv4AddrLen) {
			r.IPv4Addr()
		}
		r.Uint32()
		r.Rest()
		if r.Err() != nil {
			t.Fatal(r.Err())
		}
	})
	if allocs != 0 {
		t.Errorf("decoding a request allocated %.1f times, want 0", allocs)
	}
}
