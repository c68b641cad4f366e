package peers

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestMessageEncoding(t *testing.T) {
	var proof [proofSize]byte
	for i := range proof {
		proof[i] = byte(i)
	}
	h := hello{
		name: "nas", ipv4: netip.MustParseAddr("10.77.0.2"), ipv6: netip.MustParseAddr("fd00::2"),
		routes: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("fd01::/48")},
	}
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"auth without proof", appendAuth(nil, &auth{version: 1}), "010100"},
		{"auth with proof", appendAuth(nil, &auth{version: 1, hasProof: true, proof: proof}),
			"010101" + hex.EncodeToString(proof[:])},
		{"hello", appendHello(nil, &h), "02" + "03" + hex.EncodeToString([]byte("nas")) + "0a4d0002" +
			"fd000000000000000000000000000002" + "02" + "0418c0a80100" + "0630fd010000000000000000000000000000"},
		{"hello without addresses", appendHello(nil, &hello{}), "0200" + "00000000" + strings.Repeat("00", 16) + "00"},
		{"ping", appendPing(nil, 0x0102030405060708, 2), "03010203040506070800" + "00"},
		{"pong", appendPong(nil, 0x0102030405060708), "040102030405060708"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(tt.got); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}

	a, err := parseAuth(tests[1].got)
	if err != nil || !a.hasProof || a.proof != proof || a.version != 1 {
		t.Errorf("parseAuth: %+v, %v", a, err)
	}
	got, err := parseHello(append(tests[2].got, 0xff, 0xfe)) // later fields are ignored
	if err != nil || !reflect.DeepEqual(got, h) {
		t.Errorf("parseHello: %+v, %v", got, err)
	}
	if st, err := parseStamp(tests[4].got); err != nil || st != 0x0102030405060708 {
		t.Errorf("parseStamp: %x, %v", st, err)
	}
	// Every truncation fails.
	for _, tt := range tests[:4] {
		for n := range len(tt.got) {
			var err error
			if tt.got[0] == msgAuth {
				_, err = parseAuth(tt.got[:n])
			} else {
				_, err = parseHello(tt.got[:n])
			}
			if err == nil {
				t.Errorf("%s truncated to %d bytes parses", tt.name, n)
			}
		}
	}
}

func TestHelloRefusals(t *testing.T) {
	base := appendHello(nil, &hello{name: "x"})
	for name, b := range map[string][]byte{
		"long name":      append([]byte{msgHello, maxName + 1}, make([]byte, maxName+1+21)...),
		"bad utf-8":      append([]byte{msgHello, 1, 0xff}, make([]byte, 21)...),
		"unmasked route": append(bytes.Clone(base[:len(base)-1]), 1, family4, 8, 10, 1, 0, 0),
		"route bits":     append(bytes.Clone(base[:len(base)-1]), 1, family4, 33, 10, 0, 0, 0),
		"family":         append(bytes.Clone(base[:len(base)-1]), 1, 5, 8, 10, 0, 0, 0),
		"many routes":    append(bytes.Clone(base[:len(base)-1]), maxRoutes+1),
		"type":           append([]byte{msgPing}, base[1:]...),
	} {
		if _, err := parseHello(b); err == nil {
			t.Errorf("%s: parses", name)
		}
	}
	if _, err := parseAuth([]byte{msgAuth, 0, 0}); err == nil {
		t.Error("auth of version 0 parses")
	}
}

// FuzzHello checks that parseHello never panics and that what it accepts encodes back to
// the bytes it read.
func FuzzHello(f *testing.F) {
	f.Add(appendHello(nil, &hello{name: "nas", ipv4: netip.MustParseAddr("10.0.0.1"),
		routes: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("::/0")}}))
	f.Add(appendHello(nil, &hello{}))
	f.Add(appendAuth(nil, &auth{version: 1, hasProof: true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := parseAuth(b); err == nil {
			n := 3
			if a.hasProof {
				n += proofSize
			}
			if got := appendAuth(nil, &a); !bytes.Equal(got[3:], b[3:n]) || got[1] != b[1] {
				t.Fatalf("auth %x encodes to %x", b, got)
			}
		}
		h, err := parseHello(b)
		if err != nil {
			return
		}
		got := appendHello(nil, &h)
		if !bytes.Equal(got, b[:len(got)]) {
			t.Fatalf("hello %x encodes to %x", b, got)
		}
		h2, err := parseHello(got)
		if err != nil || !reflect.DeepEqual(h, h2) {
			t.Fatalf("hello %+v parses back as %+v, %v", h, h2, err)
		}
	})
}
