package compact

import (
	"net/netip"
	"testing"
)

func BenchmarkAppendUint(b *testing.B) {
	values := []uint64{7, 300, 70000, 1 << 40}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for _, v := range values {
			buf = AppendUint(buf, v)
		}
	}
}

func BenchmarkParseIPv4Addr(b *testing.B) {
	in, err := AppendIPv4Addr(nil, netip.MustParseAddrPort("88.99.3.86:49737"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseIPv4Addr(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReaderRequest(b *testing.B) {
	in := request(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r := NewReader(in)
		r.Uint8()
		r.Uint()
		r.Uint16()
		r.IPv4Addr()
		r.Fixed32()
		r.Uint()
		r.Buffer()
		if r.Err() != nil {
			b.Fatal(r.Err())
		}
	}
}
