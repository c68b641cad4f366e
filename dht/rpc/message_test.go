package rpc

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/hyperlan/hyperlan/dht/compact"
	"github.com/hyperlan/hyperlan/dht/ktable"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

var (
	addrA    = netip.MustParseAddrPort("127.0.0.1:42176")
	addrB    = netip.MustParseAddrPort("127.0.0.1:34350")
	addrBoot = netip.MustParseAddrPort("127.0.0.1:10001")
)

const (
	hexIDA    = "34e6288fae431283efd6bce7fde8f18e0f811809aac4c1d9e1bbffa9cccea390"
	hexIDB    = "abede97fabeafa377a104bbeb02ad03a5d05e6e1b01eab591738480851541151"
	hexIDBoot = "e96e0146a33e022987fe256c6343ac5d20dba47ea1b6341f932903b48469453e"
)

// Vectors from the node-id table of shared/protocol/dht-rpc.md §2, checked there against the
// reference, and the ids of the capture in §3.7.
func TestNodeID(t *testing.T) {
	tests := []struct {
		addr string
		want string
	}{
		{"127.0.0.1:10001", hexIDBoot},
		{"127.0.0.1:49737", "d1dcf835b0d62b9230c41393cb96a34f5f8b9f814f421ca3382dfc1678022e0e"},
		{"88.99.3.86:49737", "54d4b9c6441048061f80cf69564cee46a5730adfcd59fbe6c056bb49af771546"},
		{"127.0.0.1:42176", hexIDA},
		{"127.0.0.1:34350", hexIDB},
	}
	for _, tt := range tests {
		got := NodeID(netip.MustParseAddrPort(tt.addr))
		if got.String() != tt.want {
			t.Errorf("NodeID(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
	if got := NodeID(netip.MustParseAddrPort("[::1]:80")); got != (ktable.ID{}) {
		t.Errorf("NodeID(IPv6) = %s, want zero", got)
	}
}

func TestTokens(t *testing.T) {
	var secret [32]byte
	for i := range secret {
		secret[i] = 7
	}
	got := tokenFor(&secret, netip.MustParseAddr("127.0.0.1"))
	if want := "6d61d1eb8eedfb7e97785ab3aa173ff3a55861416805e2625b7ec81204a2660c"; hex.EncodeToString(got[:]) != want {
		t.Errorf("token = %x, want %s", got, want)
	}

	tk := tokens{random: func(b []byte) {
		for i := range b {
			b[i] = 7
		}
	}}
	host := netip.MustParseAddr("127.0.0.1")
	tok := tk.issue(host)
	for i := 0; i < tokenRotateDrains-1; i++ {
		tk.drain()
	}
	if !tk.valid(host, &tok) {
		t.Fatal("token invalid before the first rotation")
	}
	tk.drain() // first rotation: the token's secret becomes the previous one
	if !tk.valid(host, &tok) {
		t.Fatal("token invalid after one rotation")
	}
	if want := "17cdc7bca3f2a0bda60c6de5b96f82a36239b44bde397a3862d529ba8b3d7c62"; hex.EncodeToString(tk.secrets[1][:]) != want {
		t.Errorf("rotated secret = %x, want %s", tk.secrets[1], want)
	}
	if tk.valid(netip.MustParseAddr("127.0.0.2"), &tok) {
		t.Error("token valid for another host")
	}
	for i := 0; i < tokenRotateDrains; i++ {
		tk.drain()
	}
	if tk.valid(host, &tok) {
		t.Error("token still valid after two rotations")
	}
}

// Golden datagrams: real traffic between JS dht-rpc nodes captured in
// shared/protocol/dht-rpc.md §3.7.
var goldenMessages = []struct {
	name string
	hex  string
	want Message
}{
	{
		name: "ping request persistent",
		hex:  "03 05 0ecc 7f0000012e86" + hexIDA + "00",
		want: Message{Kind: KindRequest, TID: 0xcc0e, To: addrB, HasID: true, Internal: true, Command: CmdPing},
	},
	{
		name: "ping response",
		hex:  "13 01 0ecc 7f000001c0a4" + hexIDB,
		want: Message{Kind: KindResponse, TID: 0xcc0e, To: addrA, HasID: true},
	},
	{
		name: "find_node request ephemeral",
		hex:  "03 0c 0acc 7f0000011127 02 9e84456bdef7314ab450524a1cebbbebe76774965735ca2517fc8711524ffca1",
		want: Message{Kind: KindRequest, TID: 0xcc0a, To: addrBoot, Internal: true, Command: CmdFindNode, HasTarget: true},
	},
	{
		name: "find_node response closer",
		hex:  "13 05 0dcc 7f000001c0a4" + hexIDBoot + "01 7f000001c0a4",
		want: Message{Kind: KindResponse, TID: 0xcc0d, To: addrA, HasID: true, CloserNodes: []netip.AddrPort{addrA}},
	},
	{
		name: "unknown command error",
		hex:  "13 0d 0fcc 7f000001c0a4" + hexIDBoot + "02 7f0000012e86 7f000001c0a4 01",
		want: Message{Kind: KindResponse, TID: 0xcc0f, To: addrA, HasID: true, CloserNodes: []netip.AddrPort{addrB, addrA}, Error: 1},
	},
	{
		name: "ping_nat request",
		hex:  "03 14 0bcc 7f0000011127 01 02 c0a4",
		want: Message{Kind: KindRequest, TID: 0xcc0b, To: addrBoot, Internal: true, Command: CmdPingNAT, Value: []byte{0xc0, 0xa4}},
	},
	{
		name: "delayed_ping request",
		hex:  "03 14 e595 7f0000011127 04 04 32000000",
		want: Message{Kind: KindRequest, TID: 0x95e5, To: addrBoot, Internal: true, Command: CmdDelayedPing, Value: []byte{0x32, 0, 0, 0}},
	},
	{
		name: "down_hint request",
		hex:  "03 14 0f00 7f0000011b27 03 06 7f000001dfcb",
		want: Message{Kind: KindRequest, TID: 0x000f, To: netip.MustParseAddrPort("127.0.0.1:10011"), Internal: true, Command: CmdDownHint, Value: unhexMust("7f000001dfcb")},
	},
	{
		name: "user reply with value",
		hex:  "13 11 10cc 7f000001c0a4" + hexIDB + "02 6869",
		want: Message{Kind: KindResponse, TID: 0xcc10, To: addrA, HasID: true, Value: []byte("hi")},
	},
	{
		name: "empty value present",
		hex:  "03 10 0100 7f0000011127 2a 00",
		want: Message{Kind: KindRequest, TID: 1, To: addrBoot, Command: 42, Value: []byte{}},
	},
}

func unhexMust(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestGoldenMessages(t *testing.T) {
	for _, tt := range goldenMessages {
		t.Run(tt.name, func(t *testing.T) {
			b := unhex(t, tt.hex)
			var m Message
			if err := ParseMessage(b, &m); err != nil {
				t.Fatalf("parse: %v", err)
			}
			want := tt.want
			if want.HasID {
				want.ID = m.ID
				if NodeID(senderFor(tt.name)) != ktable.ID(m.ID) && tt.name != "find_node response closer" && tt.name != "unknown command error" {
					t.Errorf("id %x is not the sender's", m.ID)
				}
			}
			if want.HasTarget {
				want.Target = m.Target
			}
			if !equalMessage(&m, &want) {
				t.Fatalf("parse:\n got %+v\nwant %+v", m, want)
			}
			out, err := AppendMessage(nil, &m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, b) {
				t.Fatalf("re-encode:\n got %x\nwant %x", out, b)
			}
		})
	}
}

func senderFor(name string) netip.AddrPort {
	if strings.Contains(name, "response") || strings.Contains(name, "reply") {
		return addrB
	}
	return addrA
}

func equalMessage(a, b *Message) bool {
	if a.Kind != b.Kind || a.TID != b.TID || a.To != b.To || a.HasID != b.HasID || a.ID != b.ID ||
		a.HasToken != b.HasToken || a.Token != b.Token || a.Internal != b.Internal || a.Command != b.Command ||
		a.HasTarget != b.HasTarget || a.Target != b.Target || a.Error != b.Error ||
		(a.Value == nil) != (b.Value == nil) || !bytes.Equal(a.Value, b.Value) || len(a.CloserNodes) != len(b.CloserNodes) {
		return false
	}
	for i := range a.CloserNodes {
		if a.CloserNodes[i] != b.CloserNodes[i] {
			return false
		}
	}
	return true
}

// The reference reads flags and command as varints and ignores trailing bytes.
func TestParseLenient(t *testing.T) {
	var m Message
	b := unhex(t, "03 fd0400 0100 7f0000011127 fd0000 deadbeef")
	if err := ParseMessage(b, &m); err != nil {
		t.Fatal(err)
	}
	if !m.Internal || m.Command != CmdPing || m.TID != 1 {
		t.Fatalf("got %+v", m)
	}
	out, _ := AppendMessage(nil, &m)
	if want := unhex(t, "03 04 0100 7f0000011127 00"); !bytes.Equal(out, want) {
		t.Fatalf("canonical re-encode %x, want %x", out, want)
	}
}

func TestParseTruncated(t *testing.T) {
	for _, tt := range goldenMessages {
		b := unhex(t, tt.hex)
		for i := 0; i < len(b); i++ {
			var m Message
			err := ParseMessage(b[:i], &m)
			if err == nil {
				t.Errorf("%s: prefix of %d bytes parsed", tt.name, i)
				continue
			}
			if !errors.Is(err, compact.ErrTruncated) && !errors.Is(err, compact.ErrTooLong) {
				t.Errorf("%s: prefix %d: error %v is not ErrTruncated", tt.name, i, err)
			}
		}
	}
	var m Message
	if err := ParseMessage([]byte{0x42, 0}, &m); !errors.Is(err, ErrNotRPC) {
		t.Errorf("foreign datagram: %v, want ErrNotRPC", err)
	}
}

func TestParseCloserBound(t *testing.T) {
	b := unhex(t, "13 04 0100 7f0000011127 fd0101") // 257 closer nodes claimed
	b = append(b, make([]byte, 257*6)...)
	var m Message
	if err := ParseMessage(b, &m); err == nil {
		t.Fatal("accepted 257 closer nodes")
	}
}

func TestAppendRejectsIPv6(t *testing.T) {
	m := Message{Kind: KindRequest, To: netip.MustParseAddrPort("[::1]:1")}
	if _, err := AppendMessage(nil, &m); err == nil {
		t.Fatal("encoded an IPv6 destination")
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, tt := range goldenMessages {
		f.Add(unhexMust(strings.Join(strings.Fields(tt.hex), "")))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := ParseMessage(b, &m); err != nil {
			return
		}
		out, err := AppendMessage(nil, &m)
		if err != nil {
			t.Fatalf("re-encode of a parsed message failed: %v", err)
		}
		var m2 Message
		if err := ParseMessage(out, &m2); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !equalMessage(&m, &m2) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, m2)
		}
	})
}

func BenchmarkParseMessage(b *testing.B) {
	buf := unhexMust(strings.Join(strings.Fields(goldenMessages[4].hex), ""))
	var m Message
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseMessage(buf, &m); err != nil {
			b.Fatal(err)
		}
	}
}
