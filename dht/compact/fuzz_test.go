package compact

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// seedVectors adds the bytes of every golden vector to the fuzz corpus.
func seedVectors(f *testing.F, add func(b []byte)) {
	vf := loadVectors(f)
	for _, set := range [][]vector{vf.Encode, vf.Decode, vf.Reject, vf.Diverge} {
		for _, v := range set {
			add(v.bytes(f))
		}
	}
}

func FuzzParseUint(f *testing.F) {
	seedVectors(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		v, n, err := ParseUint(data)
		if err != nil {
			if v != 0 || n != 0 {
				t.Fatalf("ParseUint(%x) = %d, %d with error %v", data, v, n, err)
			}
			switch {
			case errors.Is(err, ErrTruncated):
				if len(data) >= 9 || len(data) > 0 && data[0] < 0xfd {
					t.Fatalf("ParseUint(%x): ErrTruncated with enough input", data)
				}
			case errors.Is(err, ErrOverflow):
				if len(data) < 9 || data[0] != 0xff {
					t.Fatalf("ParseUint(%x): ErrOverflow for a short form", data)
				}
			default:
				t.Fatalf("ParseUint(%x): unexpected error %v", data, err)
			}
			return
		}
		if n > len(data) || v > MaxSafeUint {
			t.Fatalf("ParseUint(%x) = %d, %d", data, v, n)
		}
		enc := AppendUint(nil, v)
		if len(enc) != UintLen(v) || len(enc) > n {
			t.Fatalf("AppendUint(%d) = %x, longer than the input form %x", v, enc, data[:n])
		}
		if len(enc) == n && !bytes.Equal(enc, data[:n]) {
			t.Fatalf("same-length forms differ: %x vs %x", enc, data[:n])
		}
		if v2, n2, err := ParseUint(enc); err != nil || v2 != v || n2 != len(enc) {
			t.Fatalf("ParseUint(AppendUint(%d)) = %d, %d, %v", v, v2, n2, err)
		}

		i, ni, err := ParseInt(data)
		if err != nil || ni != n || zigzag(i) != v {
			t.Fatalf("ParseInt(%x) = %d, %d, %v; ParseUint gave %d", data, i, ni, err, v)
		}
		if !bytes.Equal(AppendInt(nil, i), enc) {
			t.Fatalf("AppendInt(%d) != AppendUint(%d)", i, v)
		}
	})
}

// readerOp is one Reader method, paired with the standalone function it must
// agree with and an encoder for the round trip.
type readerOp struct {
	name   string
	read   func(r *Reader, arg int) any
	parse  func(b []byte, arg int) (any, int, error)
	encode func(v any) []byte // nil: the value does not determine the bytes
	// reparse decodes the re-encoded value; nil means parse with the same arg.
	reparse func(b []byte) (any, int, error)
}

func op[T any](name string, read func(*Reader) T, parse func([]byte) (T, int, error), encode func([]byte, T) []byte) readerOp {
	o := readerOp{
		name:  name,
		read:  func(r *Reader, _ int) any { return read(r) },
		parse: func(b []byte, _ int) (any, int, error) { v, n, err := parse(b); return v, n, err },
	}
	if encode != nil {
		o.encode = func(v any) []byte { return encode(nil, v.(T)) }
	}
	return o
}

func mustAppend[T any](f func([]byte, T) ([]byte, error)) func([]byte, T) []byte {
	return func(b []byte, v T) []byte {
		b, err := f(b, v)
		if err != nil {
			panic("re-encoding a decoded value failed: " + err.Error())
		}
		return b
	}
}

var readerOps = []readerOp{
	op("Uint", (*Reader).Uint, ParseUint, AppendUint),
	op("Int", (*Reader).Int, ParseInt, AppendInt),
	op("Uint8", (*Reader).Uint8, ParseUint8, AppendUint8),
	op("Uint16", (*Reader).Uint16, ParseUint16, AppendUint16),
	op("Uint32", (*Reader).Uint32, ParseUint32, AppendUint32),
	op("Uint64", (*Reader).Uint64, ParseUint64, AppendUint64),
	op("Bool", (*Reader).Bool, ParseBool, nil), // any byte but 1 is false
	op("Fixed32", (*Reader).Fixed32, ParseFixed32, AppendFixed32),
	op("Fixed64", (*Reader).Fixed64, ParseFixed64, AppendFixed64),
	op("Buffer", (*Reader).Buffer, ParseBuffer, AppendBuffer),
	op("String", (*Reader).String, ParseString, AppendString),
	op("IPv4Addr", (*Reader).IPv4Addr, ParseIPv4Addr, mustAppend(AppendIPv4Addr)),
	op("IPv6Addr", (*Reader).IPv6Addr, ParseIPv6Addr, mustAppend(AppendIPv6Addr)),
	op("IPAddr", (*Reader).IPAddr, ParseIPAddr, mustAppend(AppendIPAddr)),
	{
		name:  "Fixed",
		read:  func(r *Reader, arg int) any { return r.Fixed(arg) },
		parse: func(b []byte, arg int) (any, int, error) { v, n, err := ParseFixed(b, arg); return v, n, err },
		encode: func(v any) []byte {
			return bytes.Clone(v.([]byte))
		},
	},
	{
		name:  "ArrayLen",
		read:  func(r *Reader, arg int) any { return r.ArrayLen(arg % 8) },
		parse: func(b []byte, arg int) (any, int, error) { v, n, err := ParseArrayLen(b, arg%8); return v, n, err },
		encode: func(v any) []byte {
			return AppendArrayLen(nil, v.(int))
		},
		// The elements are not there, so check only the count.
		reparse: func(b []byte) (any, int, error) { v, n, err := ParseArrayLen(b, 0); return v, n, err },
	},
	{
		name:  "Rest",
		read:  func(r *Reader, _ int) any { return r.Rest() },
		parse: func(b []byte, _ int) (any, int, error) { return b, len(b), nil },
		encode: func(v any) []byte {
			return bytes.Clone(v.([]byte))
		},
	},
}

// FuzzReader drives a Reader with the op sequence in ops over data. Each
// read must agree with the standalone Parse function at the same offset, a
// decoded value must re-encode to something that decodes to it again (and to
// the very same bytes when the encoding is the same length), and after the
// first error everything must be zero.
func FuzzReader(f *testing.F) {
	index := make(map[string]byte, len(readerOps))
	for i, o := range readerOps {
		index[o.name] = byte(i)
	}
	byCodec := map[string]string{
		"uint": "Uint", "int": "Int", "uint8": "Uint8", "uint16": "Uint16",
		"uint32": "Uint32", "uint64": "Uint64", "bool": "Bool", "fixed32": "Fixed32",
		"fixed64": "Fixed64", "buffer": "Buffer", "string": "String",
		"ipv4Address": "IPv4Addr", "ipv6Address": "IPv6Addr", "ipAddress": "IPAddr",
	}
	vf := loadVectors(f)
	for _, v := range append(vf.Encode, vf.Decode...) {
		if name, ok := byCodec[v.Codec]; ok {
			f.Add([]byte{index[name], index["Rest"]}, v.bytes(f))
		}
		if v.Codec == "arrayUint" {
			// ArrayLen with a minimum element size of 1, then the elements.
			f.Add([]byte{index["ArrayLen"] + byte(len(readerOps)), index["Uint"], index["Uint"], index["Uint"]}, v.bytes(f))
		}
	}
	msg := request(f)
	f.Add([]byte{
		index["Uint8"], index["Uint"], index["Uint16"], index["IPv4Addr"], index["Fixed32"],
		index["Uint"], index["Buffer"], index["String"], index["Bool"],
		index["ArrayLen"] + 6*byte(len(readerOps)), index["IPv4Addr"], index["IPv4Addr"],
		index["Uint32"], index["Rest"],
	}, msg)

	f.Fuzz(func(t *testing.T, ops, data []byte) {
		r := NewReader(data)
		rem := data
		for i, o := range ops {
			ro := readerOps[int(o)%len(readerOps)]
			arg := int(o) / len(readerOps)
			want, wantN, wantErr := ro.parse(rem, arg)
			got := ro.read(r, arg)

			if wantErr != nil {
				if r.Err() != wantErr {
					t.Fatalf("op %d %s: Reader error %v, Parse error %v", i, ro.name, r.Err(), wantErr)
				}
				checkDead(t, r, wantErr, len(data)-len(rem))
				return
			}
			if r.Err() != nil {
				t.Fatalf("op %d %s: Reader error %v, Parse succeeded", i, ro.name, r.Err())
			}
			if !equalValues(got, want) {
				t.Fatalf("op %d %s: Reader read %#v, Parse %#v", i, ro.name, got, want)
			}
			used := rem[:wantN]
			rem = rem[wantN:]
			if r.Len() != len(rem) || r.Offset() != len(data)-len(rem) {
				t.Fatalf("op %d %s: Len %d Offset %d, want %d %d", i, ro.name, r.Len(), r.Offset(), len(rem), len(data)-len(rem))
			}

			if m := arg % 8; ro.name == "ArrayLen" && m > 0 && got.(int)*m > len(rem) {
				t.Fatalf("op %d: ArrayLen(%d) = %d with only %d bytes left", i, m, got, len(rem))
			}
			if ro.encode == nil {
				continue
			}
			enc := ro.encode(got)
			again, n, err := ro.parse(enc, arg)
			if ro.reparse != nil {
				again, n, err = ro.reparse(enc)
			}
			if err != nil || n != len(enc) || !equalValues(again, got) {
				t.Fatalf("op %d %s: %#v re-encodes to %x, which parses to %#v, %d, %v", i, ro.name, got, enc, again, n, err)
			}
			if len(enc) == len(used) && !bytes.Equal(enc, used) {
				t.Fatalf("op %d %s: read %x, re-encoded %x", i, ro.name, used, enc)
			}
		}
	})
}

// checkDead checks the sticky-error contract of a Reader that has failed.
func checkDead(t *testing.T, r *Reader, first error, offset int) {
	t.Helper()
	if r.Len() != 0 || r.Offset() != offset {
		t.Fatalf("after error: Len %d, Offset %d (want 0, %d)", r.Len(), r.Offset(), offset)
	}
	for _, ro := range readerOps {
		got := ro.read(r, 1)
		zero, _, _ := ro.parse(nil, 1) // every Parse returns zero values on empty input
		if ro.name == "Rest" || ro.name == "Fixed" {
			zero = []byte(nil)
		}
		if !equalValues(got, zero) || (got == nil) != (zero == nil) {
			t.Fatalf("after error: %s returned %#v", ro.name, got)
		}
		if r.Err() != first {
			t.Fatalf("after error: %s changed Err to %v", ro.name, r.Err())
		}
	}
}

func FuzzAddresses(f *testing.F) {
	seedVectors(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, data []byte) {
		roundTrip := func(name string, n int, err error, need int, enc func() ([]byte, error)) {
			t.Helper()
			if err != nil {
				if n != 0 {
					t.Fatalf("%s(%x): n = %d with error %v", name, data, n, err)
				}
				if errors.Is(err, ErrTruncated) != (len(data) < need) {
					t.Fatalf("%s(%x): err %v with %d of %d bytes", name, data, err, len(data), need)
				}
				if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrBadAddress) {
					t.Fatalf("%s(%x): unexpected error %v", name, data, err)
				}
				return
			}
			if n != need {
				t.Fatalf("%s(%x): n = %d, want %d", name, data, n, need)
			}
			b, err := enc()
			if err != nil || !bytes.Equal(b, data[:n]) {
				t.Fatalf("%s(%x): re-encoded %x, %v", name, data, b, err)
			}
		}

		// need is the size of a valid encoding with this family byte; a bad
		// family is reported before the length is known.
		family := 0
		if len(data) > 0 {
			family = int(data[0])
		}
		need := map[int]int{FamilyIPv4: 1 + IPv4Len, FamilyIPv6: 1 + IPv6Len}[family]
		if need == 0 {
			need = 1
		}

		a4, n, err := ParseIPv4Addr(data)
		roundTrip("ParseIPv4Addr", n, err, IPv4AddrLen, func() ([]byte, error) { return AppendIPv4Addr(nil, a4) })
		if err == nil {
			mapped := netip.AddrPortFrom(netip.AddrFrom16(a4.Addr().As16()), a4.Port())
			roundTrip("ParseIPv4Addr/mapped", n, err, IPv4AddrLen, func() ([]byte, error) { return AppendIPv4Addr(nil, mapped) })
			if !a4.Addr().Is4() {
				t.Fatalf("ParseIPv4Addr gave non-IPv4 %v", a4)
			}
		}
		a6, n, err := ParseIPv6Addr(data)
		roundTrip("ParseIPv6Addr", n, err, IPv6AddrLen, func() ([]byte, error) { return AppendIPv6Addr(nil, a6) })
		ip4, n, err := ParseIPv4(data)
		roundTrip("ParseIPv4", n, err, IPv4Len, func() ([]byte, error) { return AppendIPv4(nil, ip4) })
		ip6, n, err := ParseIPv6(data)
		roundTrip("ParseIPv6", n, err, IPv6Len, func() ([]byte, error) { return AppendIPv6(nil, ip6) })
		ip, n, err := ParseIP(data)
		roundTrip("ParseIP", n, err, need, func() ([]byte, error) { return AppendIP(nil, ip) })
		if err == nil && IPLen(ip) != n {
			t.Fatalf("IPLen(%v) = %d, encoding is %d", ip, IPLen(ip), n)
		}
		if family == FamilyIPv4 || family == FamilyIPv6 {
			need += 2
		}
		ap, n, err := ParseIPAddr(data)
		roundTrip("ParseIPAddr", n, err, need, func() ([]byte, error) { return AppendIPAddr(nil, ap) })
		if err == nil && IPAddrLen(ap) != n {
			t.Fatalf("IPAddrLen(%v) = %d, encoding is %d", ap, IPAddrLen(ap), n)
		}
	})
}
