package compact

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hyperlan/hyperlan/dht/internal/goldentest"
)

// vectorFile is testdata/vectors.json, written by testdata/gen.js from the
// JS reference.
type vectorFile struct {
	Reference string   `json:"reference"`
	Encode    []vector `json:"encode"`  // value -> hex, both directions
	Decode    []vector `json:"decode"`  // hex -> value, reference is lenient
	Reject    []vector `json:"reject"`  // hex the reference refuses
	Diverge   []vector `json:"diverge"` // hex the reference reads but we refuse
}

type vector struct {
	Name  string          `json:"name"`
	Codec string          `json:"codec"`
	Value json.RawMessage `json:"value"`
	Hex   string          `json:"hex"`
	Used  int             `json:"used"`
	Error string          `json:"error"`
	Why   string          `json:"why"`
}

func (v vector) bytes(t testing.TB) []byte {
	t.Helper()
	b, err := hex.DecodeString(v.Hex)
	if err != nil {
		t.Fatalf("%s: bad hex: %v", v.Name, err)
	}
	return b
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	vf := goldentest.Load[vectorFile](t, filepath.Join("testdata", "vectors.json"))
	if len(vf.Encode) == 0 {
		t.Fatal("testdata/vectors.json has no encode vectors")
	}
	return vf
}

// codec adapts one reference codec to the Go functions that implement it.
type codec struct {
	value  func(raw json.RawMessage) (any, error) // JSON value -> Go value
	append func(b []byte, v any) ([]byte, error)
	parse  func(b []byte) (any, int, error)
	size   func(v any) int // optional: the XLen function
}

func jsonAs[T any](raw json.RawMessage) (any, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	return v, err
}

func jsonHex(raw json.RawMessage) ([]byte, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return hex.DecodeString(s)
}

func jsonAddr(raw json.RawMessage) (any, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return netip.ParseAddr(s)
}

func jsonAddrPort(raw json.RawMessage) (any, error) {
	var hp struct {
		Host string `json:"host"`
		Port uint16 `json:"port"`
	}
	if err := json.Unmarshal(raw, &hp); err != nil {
		return nil, err
	}
	ip, err := netip.ParseAddr(hp.Host)
	return netip.AddrPortFrom(ip, hp.Port), err
}

// plain wraps an Append function that cannot fail.
func plain[T any](f func([]byte, T) []byte) func([]byte, any) ([]byte, error) {
	return func(b []byte, v any) ([]byte, error) { return f(b, v.(T)), nil }
}

// checked wraps an Append function that can fail.
func checked[T any](f func([]byte, T) ([]byte, error)) func([]byte, any) ([]byte, error) {
	return func(b []byte, v any) ([]byte, error) { return f(b, v.(T)) }
}

func parser[T any](f func([]byte) (T, int, error)) func([]byte) (any, int, error) {
	return func(b []byte) (any, int, error) {
		v, n, err := f(b)
		return v, n, err
	}
}

func sizer[T any](f func(T) int) func(any) int {
	return func(v any) int { return f(v.(T)) }
}

var codecs = map[string]codec{
	"uint":    {jsonAs[uint64], plain(AppendUint), parser(ParseUint), sizer(UintLen)},
	"uint8":   {jsonAs[uint8], plain(AppendUint8), parser(ParseUint8), nil},
	"uint16":  {jsonAs[uint16], plain(AppendUint16), parser(ParseUint16), nil},
	"uint24":  {jsonAs[uint32], checked(AppendUint24), parser(ParseUint24), nil},
	"uint32":  {jsonAs[uint32], plain(AppendUint32), parser(ParseUint32), nil},
	"uint40":  {jsonAs[uint64], checked(AppendUint40), parser(ParseUint40), nil},
	"uint48":  {jsonAs[uint64], checked(AppendUint48), parser(ParseUint48), nil},
	"uint56":  {jsonAs[uint64], checked(AppendUint56), parser(ParseUint56), nil},
	"uint64":  {jsonAs[uint64], plain(AppendUint64), parser(ParseUint64), nil},
	"int":     {jsonAs[int64], plain(AppendInt), parser(ParseInt), sizer(IntLen)},
	"bool":    {jsonAs[bool], plain(AppendBool), parser(ParseBool), nil},
	"float64": {jsonAs[float64], plain(AppendFloat64), parser(ParseFloat64), nil},
	"buffer": {
		func(raw json.RawMessage) (any, error) { return jsonHex(raw) },
		plain(AppendBuffer), parser(ParseBuffer), sizer(BufferLen),
	},
	"string": {jsonAs[string], plain(AppendString), parser(ParseString), sizer(StringLen)},
	"fixed32": {
		func(raw json.RawMessage) (any, error) {
			b, err := jsonHex(raw)
			if err != nil || len(b) != 32 {
				return nil, fmt.Errorf("want 32 bytes, got %d (%v)", len(b), err)
			}
			return [32]byte(b), nil
		},
		plain(AppendFixed32), parser(ParseFixed32), nil,
	},
	"fixed64": {
		func(raw json.RawMessage) (any, error) {
			b, err := jsonHex(raw)
			if err != nil || len(b) != 64 {
				return nil, fmt.Errorf("want 64 bytes, got %d (%v)", len(b), err)
			}
			return [64]byte(b), nil
		},
		plain(AppendFixed64), parser(ParseFixed64), nil,
	},
	"arrayUint": {jsonAs[[]uint64], plain(appendUintArray), parser(parseUintArray), nil},
	"ipv4":      {jsonAddr, checked(AppendIPv4), parser(ParseIPv4), nil},
	"ipv6":      {jsonAddr, checked(AppendIPv6), parser(ParseIPv6), nil},
	"ip":        {jsonAddr, checked(AppendIP), parser(ParseIP), sizer(IPLen)},
	"ipv4Address": {
		jsonAddrPort, checked(AppendIPv4Addr), parser(ParseIPv4Addr),
		func(any) int { return IPv4AddrLen },
	},
	"ipv6Address": {
		jsonAddrPort, checked(AppendIPv6Addr), parser(ParseIPv6Addr),
		func(any) int { return IPv6AddrLen },
	},
	"ipAddress": {jsonAddrPort, checked(AppendIPAddr), parser(ParseIPAddr), sizer(IPAddrLen)},
}

// appendUintArray and parseUintArray are the reference's array(uint), the
// way a message codec would build it from the primitives.
func appendUintArray(b []byte, vs []uint64) []byte {
	b = AppendArrayLen(b, len(vs))
	for _, v := range vs {
		b = AppendUint(b, v)
	}
	return b
}

func parseUintArray(b []byte) ([]uint64, int, error) {
	count, n, err := ParseArrayLen(b, 1)
	if err != nil {
		return nil, 0, err
	}
	vs := make([]uint64, count)
	for i := range vs {
		v, m, err := ParseUint(b[n:])
		if err != nil {
			return nil, 0, err
		}
		vs[i] = v
		n += m
	}
	return vs, n, nil
}

func codecFor(t *testing.T, v vector) codec {
	t.Helper()
	c, ok := codecs[v.Codec]
	if !ok {
		t.Fatalf("%s: no Go codec for %q", v.Name, v.Codec)
	}
	return c
}

func equalValues(a, b any) bool {
	if ab, ok := a.([]byte); ok {
		bb, ok := b.([]byte)
		return ok && bytes.Equal(ab, bb)
	}
	return reflect.DeepEqual(a, b)
}

func TestEncodeVectors(t *testing.T) {
	vf := loadVectors(t)
	for _, v := range vf.Encode {
		t.Run(v.Name, func(t *testing.T) {
			c := codecFor(t, v)
			want := v.bytes(t)
			val, err := c.value(v.Value)
			if err != nil {
				t.Fatalf("value %s: %v", v.Value, err)
			}

			got, err := c.append(nil, val)
			if err != nil {
				t.Fatalf("append: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("append = %x, want %x", got, want)
			}
			prefix := []byte{0xaa, 0xbb}
			got, err = c.append(prefix, val)
			if err != nil || !bytes.Equal(got, append([]byte{0xaa, 0xbb}, want...)) {
				t.Fatalf("append after prefix = %x, %v; want aabb%x", got, err, want)
			}
			if c.size != nil {
				if n := c.size(val); n != len(want) {
					t.Errorf("size = %d, want %d", n, len(want))
				}
			}

			// Decode, alone and with trailing bytes that must be left alone.
			for _, in := range [][]byte{want, append(bytes.Clone(want), 0xfd, 0x01)} {
				dec, n, err := c.parse(in)
				if err != nil {
					t.Fatalf("parse %x: %v", in, err)
				}
				if n != len(want) {
					t.Errorf("parse %x: n = %d, want %d", in, n, len(want))
				}
				if !equalValues(dec, val) {
					t.Errorf("parse %x = %#v, want %#v", in, dec, val)
				}
			}
		})
	}
}

func TestDecodeVectors(t *testing.T) {
	vf := loadVectors(t)
	for _, v := range vf.Decode {
		t.Run(v.Name, func(t *testing.T) {
			c := codecFor(t, v)
			want, err := c.value(v.Value)
			if err != nil {
				t.Fatalf("value %s: %v", v.Value, err)
			}
			got, n, err := c.parse(v.bytes(t))
			if err != nil {
				t.Fatalf("parse: %v (the reference accepts this input)", err)
			}
			if n != v.Used || !equalValues(got, want) {
				t.Errorf("parse = %#v, %d; want %#v, %d", got, n, want, v.Used)
			}
		})
	}
}

// TestTruncated checks that every proper prefix of every valid encoding fails
// with an error matching ErrTruncated (and returns zero n).
func TestTruncated(t *testing.T) {
	vf := loadVectors(t)
	for _, v := range append(vf.Encode, vf.Decode...) {
		t.Run(v.Name, func(t *testing.T) {
			c := codecFor(t, v)
			full := v.bytes(t)
			end := len(full)
			if v.Used > 0 {
				end = v.Used
			}
			for i := range end {
				_, n, err := c.parse(full[:i:i])
				if !errors.Is(err, ErrTruncated) {
					t.Errorf("parse %x: err = %v, want ErrTruncated", full[:i], err)
				}
				if n != 0 {
					t.Errorf("parse %x: n = %d on error", full[:i], n)
				}
			}
		})
	}
}

func TestRejectVectors(t *testing.T) {
	vf := loadVectors(t)
	// The reference's error messages, mapped to the sentinel we report.
	wantErr := map[string]error{
		"uint must be between": ErrOverflow,
		"Array is too big":     ErrTooLong,
		"Out of bounds":        ErrTruncated,
	}
	for _, v := range vf.Reject {
		t.Run(v.Name, func(t *testing.T) {
			var want error
			for prefix, err := range wantErr {
				if strings.HasPrefix(v.Error, prefix) {
					want = err
				}
			}
			if want == nil {
				t.Fatalf("no Go error for reference error %q", v.Error)
			}
			_, n, err := codecFor(t, v).parse(v.bytes(t))
			if !errors.Is(err, want) || n != 0 {
				t.Errorf("parse = n %d, err %v; want %v (reference: %s)", n, err, want, v.Error)
			}
		})
	}
}

func TestDivergeVectors(t *testing.T) {
	vf := loadVectors(t)
	for _, v := range vf.Diverge {
		t.Run(v.Name, func(t *testing.T) {
			_, _, err := codecFor(t, v).parse(v.bytes(t))
			if !errors.Is(err, ErrBadAddress) {
				t.Errorf("parse: err = %v, want ErrBadAddress (reference: %s)", err, v.Why)
			}
		})
	}
}

func TestParseUintNonCanonical(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want uint64
		n    int
	}{
		{"zero in 3 bytes", "fd0000", 0, 3},
		{"five in 3 bytes", "fd0500", 5, 3},
		{"252 in 5 bytes", "fefc000000", 252, 5},
		{"0xffff in 5 bytes", "feffff0000", 0xffff, 5},
		{"zero in 9 bytes", "ff0000000000000000", 0, 9},
		{"0xffffffff in 9 bytes", "ffffffffff00000000", 0xffffffff, 9},
		{"max safe", "ffffffffffffff1f00", MaxSafeUint, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, _ := hex.DecodeString(tt.in)
			v, n, err := ParseUint(in)
			if err != nil || v != tt.want || n != tt.n {
				t.Errorf("ParseUint(%s) = %d, %d, %v; want %d, %d, nil", tt.in, v, n, err, tt.want, tt.n)
			}
		})
	}
}

func TestOverflow(t *testing.T) {
	over := []struct {
		name  string
		parse func([]byte) (uint64, int, error)
		in    []byte
	}{
		{"uint 2^53", ParseUint, AppendUint(nil, MaxSafeUint+1)},
		{"uint 2^64-1", ParseUint, AppendUint(nil, 1<<64-1)},
		{"uint64 2^53", ParseUint64, AppendUint64(nil, MaxSafeUint+1)},
		{"uint56 2^56-1", ParseUint56, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range over {
		t.Run(tt.name, func(t *testing.T) {
			v, n, err := tt.parse(tt.in)
			if !errors.Is(err, ErrOverflow) || v != 0 || n != 0 {
				t.Errorf("parse %x = %d, %d, %v; want ErrOverflow", tt.in, v, n, err)
			}
		})
	}
	if _, n, err := ParseInt(AppendUint(nil, MaxSafeUint+1)); !errors.Is(err, ErrOverflow) || n != 0 {
		t.Errorf("ParseInt(2^53) = n %d, %v; want ErrOverflow", n, err)
	}

	// Encoders of the odd widths refuse what does not fit and leave b alone.
	b := []byte{1}
	for name, f := range map[string]func() ([]byte, error){
		"uint24": func() ([]byte, error) { return AppendUint24(b, 1<<24) },
		"uint40": func() ([]byte, error) { return AppendUint40(b, 1<<40) },
		"uint48": func() ([]byte, error) { return AppendUint48(b, 1<<48) },
		"uint56": func() ([]byte, error) { return AppendUint56(b, MaxSafeUint+1) },
	} {
		got, err := f()
		if !errors.Is(err, ErrOverflow) || !bytes.Equal(got, []byte{1}) {
			t.Errorf("%s: got %x, %v; want 01, ErrOverflow", name, got, err)
		}
	}
}

func TestInt(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, -64, 126, -127, 1 << 31, -1 << 31, 1<<52 - 1, -1 << 52} {
		b := AppendInt(nil, v)
		if len(b) != IntLen(v) {
			t.Errorf("IntLen(%d) = %d, wrote %d", v, IntLen(v), len(b))
		}
		got, n, err := ParseInt(b)
		if err != nil || got != v || n != len(b) {
			t.Errorf("ParseInt(AppendInt(%d)) = %d, %d, %v", v, got, n, err)
		}
	}
	// Outside the reference's int range the zig-zag value exceeds MaxSafeUint.
	for _, v := range []int64{1 << 52, -1<<52 - 1} {
		if _, _, err := ParseInt(AppendInt(nil, v)); !errors.Is(err, ErrOverflow) {
			t.Errorf("ParseInt(AppendInt(%d)): err = %v, want ErrOverflow", v, err)
		}
	}
}

func TestArrayLen(t *testing.T) {
	body := make([]byte, 12)
	tests := []struct {
		name    string
		in      []byte
		minSize int
		count   int
		err     []error // every one must match
	}{
		{"empty", []byte{0}, 6, 0, nil},
		{"fits exactly", append([]byte{2}, body...), 6, 2, nil},
		{"one too many", append([]byte{3}, body...), 6, 0, []error{ErrTooLong, ErrTruncated}},
		{"no size check", []byte{3}, 0, 3, nil},
		{"max count", AppendUint(nil, MaxArrayLen), 0, MaxArrayLen, nil},
		{"over max", AppendUint(nil, MaxArrayLen+1), 0, 0, []error{ErrTooLong}},
		{"over max with body", append(AppendUint(nil, MaxArrayLen+1), make([]byte, MaxArrayLen+1)...), 1, 0, []error{ErrTooLong}},
		{"huge count", AppendUint(nil, MaxSafeUint), 1, 0, []error{ErrTooLong}},
		{"huge element size", append([]byte{1}, body...), 1 << 40, 0, []error{ErrTooLong, ErrTruncated}},
		{"truncated count", []byte{0xfe, 0, 0}, 1, 0, []error{ErrTruncated}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			count, n, err := ParseArrayLen(tt.in, tt.minSize)
			if tt.err == nil {
				if err != nil || count != tt.count || n != UintLen(uint64(tt.count)) {
					t.Errorf("ParseArrayLen = %d, %d, %v; want %d", count, n, err, tt.count)
				}
				return
			}
			for _, want := range tt.err {
				if !errors.Is(err, want) {
					t.Errorf("ParseArrayLen: err = %v, want a match for %v", err, want)
				}
			}
			if count != 0 || n != 0 {
				t.Errorf("ParseArrayLen: count %d, n %d on error", count, n)
			}
		})
	}
	if errors.Is(ErrTooLong, ErrTruncated) || errors.Is(errPastEnd, ErrOverflow) {
		t.Error("sentinels match each other")
	}
}

func TestParseBufferAliases(t *testing.T) {
	in := []byte{3, 'a', 'b', 'c', 'z'}
	v, n, err := ParseBuffer(in)
	if err != nil || n != 4 || string(v) != "abc" {
		t.Fatalf("ParseBuffer = %q, %d, %v", v, n, err)
	}
	if cap(v) != 3 {
		t.Errorf("cap = %d, want 3 so appends cannot reach the next field", cap(v))
	}
	in[1] = 'A'
	if v[0] != 'A' {
		t.Error("ParseBuffer copied; it is documented to alias")
	}
	_ = append(v, 'x')
	if in[4] != 'z' {
		t.Error("append to a parsed buffer overwrote the input")
	}

	f, n, err := ParseFixed(in, 2)
	if err != nil || n != 2 || cap(f) != 2 || &f[0] != &in[0] {
		t.Errorf("ParseFixed = %x (cap %d), %d, %v", f, cap(f), n, err)
	}
	if _, _, err := ParseFixed(in, 6); !errors.Is(err, ErrTruncated) {
		t.Errorf("ParseFixed past end: err = %v", err)
	}
}

func TestBoolLenient(t *testing.T) {
	for i := range 256 {
		v, n, err := ParseBool([]byte{byte(i)})
		if err != nil || n != 1 || v != (i == 1) {
			t.Errorf("ParseBool(%#x) = %v, %d, %v", i, v, n, err)
		}
	}
}

func TestAddressEncoding(t *testing.T) {
	v4 := netip.MustParseAddrPort("127.0.0.1:10001")
	mapped := netip.AddrPortFrom(netip.AddrFrom16(v4.Addr().As16()), v4.Port())
	v6 := netip.MustParseAddrPort("[fe80::1:2%eth0]:4660")
	want4, _ := hex.DecodeString("7f0000011127")

	if got, err := AppendIPv4Addr(nil, mapped); err != nil || !bytes.Equal(got, want4) {
		t.Errorf("AppendIPv4Addr(%v) = %x, %v; want %x (unmapped)", mapped, got, err, want4)
	}
	got, err := AppendIPv6Addr(nil, v6)
	if err != nil || hex.EncodeToString(got) != "fe8000000000000000000000000100023412" {
		t.Errorf("AppendIPv6Addr(%v) = %x, %v (zone must be dropped)", v6, got, err)
	}
	if got, err := AppendIPAddr(nil, mapped); err != nil || got[0] != FamilyIPv6 {
		t.Errorf("AppendIPAddr(%v) = %x, %v; want family 6 (mapped stays mapped)", mapped, got, err)
	}
	if n := IPAddrLen(netip.AddrPort{}); n != 0 {
		t.Errorf("IPAddrLen(zero) = %d, want 0", n)
	}

	bad := []struct {
		name string
		f    func([]byte) ([]byte, error)
	}{
		{"ipv6 to ipv4Address", func(b []byte) ([]byte, error) { return AppendIPv4Addr(b, v6) }},
		{"zero to ipv4Address", func(b []byte) ([]byte, error) { return AppendIPv4Addr(b, netip.AddrPort{}) }},
		{"ipv4 to ipv6Address", func(b []byte) ([]byte, error) { return AppendIPv6Addr(b, v4) }},
		{"zero to ipv6Address", func(b []byte) ([]byte, error) { return AppendIPv6Addr(b, netip.AddrPort{}) }},
		{"zero to ipAddress", func(b []byte) ([]byte, error) { return AppendIPAddr(b, netip.AddrPort{}) }},
		{"zero to ip", func(b []byte) ([]byte, error) { return AppendIP(b, netip.Addr{}) }},
	}
	for _, tt := range bad {
		got, err := tt.f([]byte{9})
		if !errors.Is(err, ErrBadAddress) || !bytes.Equal(got, []byte{9}) {
			t.Errorf("%s: got %x, %v; want 09, ErrBadAddress", tt.name, got, err)
		}
	}

	for _, fam := range []byte{0, 5, 7, 0xff} {
		in := append([]byte{fam}, make([]byte, 18)...)
		if _, n, err := ParseIPAddr(in); !errors.Is(err, ErrBadAddress) || n != 0 {
			t.Errorf("ParseIPAddr(family %d): n %d, err %v; want ErrBadAddress", fam, n, err)
		}
	}
	if _, _, err := ParseIPAddr([]byte{4, 1, 2, 3, 4, 5}); !errors.Is(err, ErrTruncated) {
		t.Errorf("ParseIPAddr without the port's last byte: err = %v", err)
	}
}

// TestGoldenVectorsUpToDate regenerates testdata/vectors.json from the JS
// reference and compares it to the checked-in copy.
func TestGoldenVectorsUpToDate(t *testing.T) {
	goldentest.Check(t, filepath.Join("testdata", "gen.js"), filepath.Join("testdata", "vectors.json"), "compact-encoding")
}
