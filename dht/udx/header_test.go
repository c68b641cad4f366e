package udx

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
)

// wireVector is a whole packet captured from udx-native 1.21.3 (udx.md §1.3,
// §1.4, §5.3 and §11.1), with the fields it decodes to.
type wireVector struct {
	name    string
	hex     string // spaces are ignored
	header  Header
	payload string      // hex of Payload's result; not for SACK packets
	sacks   []SACKBlock // ParseSACK's result
}

// wireRWnd is the receive window udx-native always advertises: 00 00 40 00.
const wireRWnd = 4 << 20

// wireProbePayload stands for the 1152 payload bytes of the captured MTU
// probe, whose content the map does not give.
var wireProbePayload = strings.Repeat("5a", 1152)

var wireVectors = []wireVector{
	{
		name:    "V1 DATA hello",
		hex:     "ff010100 0b0b0b0b 00004000 00000000 00000000 68656c6c6f",
		header:  Header{Type: TypeData, ID: 0x0b0b0b0b, RWnd: wireRWnd},
		payload: "68656c6c6f",
	},
	{
		name:   "V2 pure ACK",
		hex:    "ff010000 0a0a0a0a 00004000 00000000 01000000",
		header: Header{ID: 0x0a0a0a0a, RWnd: wireRWnd, Ack: 1},
	},
	{
		name:   "V3 SACK ack 1 blocks [2,3) [5,7)",
		hex:    "ff010400 0d0c0b0a 00004000 00000000 01000000 02000000 03000000 05000000 07000000",
		header: Header{Type: TypeSACK, ID: 0x0a0b0c0d, RWnd: wireRWnd, Ack: 1},
		sacks:  []SACKBlock{{2, 3}, {5, 7}},
	},
	{
		name:    "V4 MESSAGE ping",
		hex:     "ff010800 0b0b0b0b 00004000 01000000 01000000 70696e67",
		header:  Header{Type: TypeMessage, ID: 0x0b0b0b0b, RWnd: wireRWnd, Seq: 1, Ack: 1},
		payload: "70696e67",
	},
	{
		name:   "V5 HEARTBEAT",
		hex:    "ff012000 0b0b0b0b 00004000 06000000 01000000",
		header: Header{Type: TypeHeartbeat, ID: 0x0b0b0b0b, RWnd: wireRWnd, Seq: 6, Ack: 1},
	},
	{
		name:   "V6 END",
		hex:    "ff010200 0b0b0b0b 00004000 06000000 01000000",
		header: Header{Type: TypeEnd, ID: 0x0b0b0b0b, RWnd: wireRWnd, Seq: 6, Ack: 1},
	},
	{
		name:   "V7 DESTROY",
		hex:    "ff011000 0d0d0d0d 00004000 01000000 00000000",
		header: Header{Type: TypeDestroy, ID: 0x0d0d0d0d, RWnd: wireRWnd, Seq: 1},
	},
	{
		name:    "V8 MTU probe doff 32",
		hex:     "ff010120 02000000 00004000 1e000000 00000000" + strings.Repeat("00", 32) + wireProbePayload,
		header:  Header{Type: TypeData, DataOffset: 32, ID: 2, RWnd: wireRWnd, Seq: 30},
		payload: wireProbePayload,
	},
}

// wireBytes decodes a hex string, ignoring spaces.
func wireBytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func TestHeaderVectors(t *testing.T) {
	for _, v := range wireVectors {
		t.Run(v.name, func(t *testing.T) {
			pkt := wireBytes(t, v.hex)
			h, err := ParseHeader(pkt)
			if err != nil {
				t.Fatalf("ParseHeader: %v", err)
			}
			if h != v.header {
				t.Fatalf("ParseHeader = %+v, want %+v", h, v.header)
			}
			if got := h.Append(nil); !bytes.Equal(got, pkt[:HeaderSize]) {
				t.Errorf("Append = %x, want %x", got, pkt[:HeaderSize])
			}
			put := bytes.Repeat([]byte{0xee}, HeaderSize+1)
			h.Put(put)
			if !bytes.Equal(put[:HeaderSize], pkt[:HeaderSize]) || put[HeaderSize] != 0xee {
				t.Errorf("Put wrote %x", put)
			}
			if !IsUDX(pkt) {
				t.Error("IsUDX = false")
			}
			if id, ok := PeekID(pkt); !ok || id != v.header.ID {
				t.Errorf("PeekID = %#x, %v", id, ok)
			}

			// Rebuild the whole packet from the decoded parts.
			out := h.Append(nil)
			if h.Type&TypeSACK != 0 {
				blocks := ParseSACK(h, pkt[HeaderSize:], nil)
				if !slices.Equal(blocks, v.sacks) {
					t.Fatalf("ParseSACK = %v, want %v", blocks, v.sacks)
				}
				out = AppendSACK(out, blocks)
			} else {
				p, err := Payload(h, pkt)
				if err != nil {
					t.Fatalf("Payload: %v", err)
				}
				if got := hex.EncodeToString(p); got != v.payload {
					t.Fatalf("Payload = %.40s..., want %.40s...", got, v.payload)
				}
				out = append(out, make([]byte, h.DataOffset)...)
				out = append(out, p...)
				if blocks := ParseSACK(h, pkt[HeaderSize:], nil); len(blocks) != 0 {
					t.Errorf("ParseSACK without the SACK bit = %v", blocks)
				}
			}
			if !bytes.Equal(out, pkt) {
				t.Errorf("re-encoded\n%x\nwant\n%x", out, pkt)
			}
		})
	}
}

// TestHeaderEncode builds each captured packet from its fields, as a sender
// would.
func TestHeaderEncode(t *testing.T) {
	for _, v := range wireVectors {
		t.Run(v.name, func(t *testing.T) {
			b := v.header.Append(make([]byte, 0, 64))
			if v.sacks != nil {
				b = AppendSACK(b, v.sacks)
			} else {
				b = append(b, make([]byte, v.header.DataOffset)...)
				b = append(b, wireBytes(t, v.payload)...)
			}
			if want := wireBytes(t, v.hex); !bytes.Equal(b, want) {
				t.Errorf("encoded\n%x\nwant\n%x", b, want)
			}
		})
	}
}

func TestHeaderTruncated(t *testing.T) {
	for _, v := range wireVectors {
		pkt := wireBytes(t, v.hex)
		for n := range HeaderSize {
			b := pkt[:n]
			if _, err := ParseHeader(b); err != ErrShort {
				t.Errorf("%s: ParseHeader(%d bytes) error = %v, want ErrShort", v.name, n, err)
			}
			if IsUDX(b) {
				t.Errorf("%s: IsUDX(%d bytes) = true", v.name, n)
			}
			if _, ok := PeekID(b); ok {
				t.Errorf("%s: PeekID(%d bytes) ok", v.name, n)
			}
			if _, err := Payload(v.header, b); err != ErrShort {
				t.Errorf("%s: Payload(%d bytes) error = %v, want ErrShort", v.name, n, err)
			}
		}
	}
}

// TestHeaderNotUDX covers the demultiplexing test (udx.md §1.6, V11): these
// datagrams are all handed on as plain datagrams.
func TestHeaderNotUDX(t *testing.T) {
	pad := strings.Repeat("00", 24)
	tests := []struct {
		name string
		hex  string
		want error
	}{
		{"empty", "", ErrShort},
		{"holepunch probe", "00", ErrShort},
		{"19 bytes ff01", "ff010100 0b0b0b0b 00004000 00000000 000000", ErrShort},
		{"dht-rpc request", "03" + pad, ErrNotUDX},
		{"dht-rpc response", "13" + pad, ErrNotUDX},
		{"version 2", "ff020000 0a0a0a0a 00004000 00000000 01000000", ErrNotUDX},
		{"version 0", "ff000000 0a0a0a0a 00004000 00000000 01000000", ErrNotUDX},
		{"first byte fe", "fe010000 0a0a0a0a 00004000 00000000 01000000", ErrNotUDX},
		{"magic and version swapped", "01ff0000 0a0a0a0a 00004000 00000000 01000000", ErrNotUDX},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := wireBytes(t, tt.hex)
			h, err := ParseHeader(b)
			if err != tt.want || h != (Header{}) {
				t.Errorf("ParseHeader = %+v, %v; want zero, %v", h, err, tt.want)
			}
			if IsUDX(b) {
				t.Error("IsUDX = true")
			}
			if id, ok := PeekID(b); ok || id != 0 {
				t.Errorf("PeekID = %#x, %v", id, ok)
			}
		})
	}

	// A packet for a stream nobody has is still UDX-shaped: the stream table,
	// not the header test, sends it on as a plain datagram.
	b := wireBytes(t, "ff010000 ffffffff 00004000 00000000 01000000")
	if id, ok := PeekID(b); !IsUDX(b) || !ok || id != 0xffffffff {
		t.Errorf("unknown id: IsUDX = %v, PeekID = %#x, %v", IsUDX(b), id, ok)
	}
}

// TestHeaderAllBytes checks that every header byte other than magic and
// version survives a round trip, including unknown type bits.
func TestHeaderAllBytes(t *testing.T) {
	b := []byte{Magic, Version, 0xc9, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0xff, 0xfe, 0xfd, 0xfc}
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{Type: 0xc9, DataOffset: 0xfe, ID: 0x04030201, RWnd: 0x08070605, Seq: 0x0c0b0a09, Ack: 0xfcfdfeff}
	if h != want {
		t.Fatalf("ParseHeader = %+v, want %+v", h, want)
	}
	if got := h.Append([]byte{0xaa}); !bytes.Equal(got[1:], b) || got[0] != 0xaa {
		t.Errorf("Append = %x", got)
	}
}

func TestHeaderPutRewrite(t *testing.T) {
	// A relay rewrites the id and leaves the body alone.
	pkt := wireBytes(t, wireVectors[0].hex)
	h, _ := ParseHeader(pkt)
	h.ID = 0x01020304
	h.Put(pkt)
	want := wireBytes(t, "ff010100 04030201 00004000 00000000 00000000 68656c6c6f")
	if !bytes.Equal(pkt, want) {
		t.Errorf("after Put: %x, want %x", pkt, want)
	}

	defer func() {
		if recover() == nil {
			t.Error("Put into 19 bytes did not panic")
		}
	}()
	h.Put(make([]byte, HeaderSize-1))
}

func TestTypeString(t *testing.T) {
	tests := []struct {
		t    Type
		want string
	}{
		{0, "ACK"},
		{TypeData, "DATA"},
		{TypeData | TypeEnd, "DATA|END"},
		{TypeSACK, "SACK"},
		{TypeMessage, "MESSAGE"},
		{TypeDestroy, "DESTROY"},
		{TypeHeartbeat, "HEARTBEAT"},
		{TypeData | TypeMessage, "DATA|MESSAGE"},
		{0x3f, "DATA|END|SACK|MESSAGE|DESTROY|HEARTBEAT"},
		{0x41, "DATA|0x40"},
		{0xc0, "0xc0"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("Type(%#x).String() = %q, want %q", uint8(tt.t), got, tt.want)
		}
	}
}

func TestPayload(t *testing.T) {
	hdr := wireBytes(t, "ff010100 0b0b0b0b 00004000 00000000 00000000")
	tests := []struct {
		name string
		doff uint8
		body string
		want string // hex; "drop" for ErrDataOffset
	}{
		{"no padding", 0, "68656c6c6f", "68656c6c6f"},
		{"empty body", 0, "", ""},
		{"10 bytes padding, 1 real byte", 10, "0000000000000000000041", "41"},
		{"padding is not checked", 2, "ffff41", "41"},
		{"offset equals body", 3, "000000", ""},
		{"offset one past body", 4, "000000", "drop"},
		{"offset on header-only packet", 1, "", "drop"},
		{"offset 255", 255, strings.Repeat("00", 254), "drop"},
		{"offset 255 exact", 255, strings.Repeat("00", 255), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := append(bytes.Clone(hdr), wireBytes(t, tt.body)...)
			pkt[3] = tt.doff
			h, err := ParseHeader(pkt)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Payload(h, pkt)
			if tt.want == "drop" {
				if err != ErrDataOffset || p != nil {
					t.Fatalf("Payload = %x, %v; want ErrDataOffset", p, err)
				}
				return
			}
			if err != nil || hex.EncodeToString(p) != tt.want {
				t.Fatalf("Payload = %x, %v; want %s", p, err, tt.want)
			}
			if len(p) > 0 && &p[len(p)-1] != &pkt[len(pkt)-1] {
				t.Error("Payload does not alias the packet")
			}
		})
	}
}

func TestMaxPayload(t *testing.T) {
	tests := []struct {
		mtu  int
		ipv6 bool
		want int
	}{
		{MTUBase, false, 1152},
		{MTUBase, true, 1132},
		{MTUMax, false, 1452},
		{MTUMax, true, 1432},
		{MTUBase + MTUStep, false, 1184}, // the probe of §5.3: 32 bytes of padding + 1152
		{48, false, 0},
		{67, true, 0},
		{0, false, 0},
	}
	for _, tt := range tests {
		if got := MaxPayload(tt.mtu, tt.ipv6); got != tt.want {
			t.Errorf("MaxPayload(%d, %v) = %d, want %d", tt.mtu, tt.ipv6, got, tt.want)
		}
	}
	if MaxPayload(MTUMax, false)+HeaderSize > MaxDatagram {
		t.Error("a full-size datagram exceeds MaxDatagram")
	}
}

func TestHeaderErrorsDistinct(t *testing.T) {
	errs := []error{ErrShort, ErrNotUDX, ErrDataOffset}
	for i, a := range errs {
		for j, b := range errs {
			if (i == j) != errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v) = %v", a, b, i != j)
			}
		}
	}
}

func BenchmarkParseHeader(b *testing.B) {
	pkt := wireBytes(b, wireVectors[0].hex)
	b.ReportAllocs()
	b.SetBytes(HeaderSize)
	var sum Seq
	for b.Loop() {
		h, err := ParseHeader(pkt)
		if err != nil {
			b.Fatal(err)
		}
		sum += h.Seq + h.Ack
	}
	_ = sum
}

func BenchmarkHeaderAppend(b *testing.B) {
	h := wireVectors[0].header
	buf := make([]byte, 0, HeaderSize)
	b.ReportAllocs()
	b.SetBytes(HeaderSize)
	for b.Loop() {
		buf = h.Append(buf[:0])
	}
}
