package configs

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"slices"
	"testing"
)

// The expected values were computed from the formulas in the package doc with Python's
// hashlib.blake2b, independently of this code: they pin the compatibility contract.

func TestTopicVector(t *testing.T) {
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i)
	}
	got := Topic(secret)
	if want := "fbd6cdd90bbe2805e846e1c948e420779c4a449016714f6196f3ef337447a70e"; hex.EncodeToString(got[:]) != want {
		t.Errorf("Topic = %x, want %s", got, want)
	}
	if got, want := DefaultIPv6Prefix(secret, DefaultIPv4Prefix), netip.MustParsePrefix("fd92:9812:a58f::/64"); got != want {
		t.Errorf("DefaultIPv6Prefix(secret) = %s, want %s", got, want)
	}
	if got, want := DefaultIPv6Prefix(nil, DefaultIPv4Prefix), netip.MustParsePrefix("fd69:a242:e25e::/64"); got != want {
		t.Errorf("DefaultIPv6Prefix(no secret) = %s, want %s", got, want)
	}
}

func TestDeriveVectors(t *testing.T) {
	key := mustKey(t, desktopKey)
	tests := []struct{ prefix, want string }{
		{"10.77.0.0/16", "10.77.122.86"},
		{"10.77.3.4/16", "10.77.122.86"}, // masked first
		{"192.168.7.0/24", "192.168.7.226"},
		{"10.0.0.0/30", "10.0.0.2"},
		{"10.0.0.0/8", "10.66.95.44"},
		{"fd00::/64", "fd00::180:1593:9064:1fba"},
		{"fd00::/48", "fd00::180:1593:9064:1fba"}, // at most 64 host bits come from the hash
		{"fd00:1:2:3:4:5::/96", "fd00:1:2:3:4:5:91e4:354d"},
	}
	for _, tt := range tests {
		p := netip.MustParsePrefix(tt.prefix)
		derive := DeriveIPv4
		if p.Addr().Is6() {
			derive = DeriveIPv6
		}
		got, err := derive(p, key)
		if err != nil || got != netip.MustParseAddr(tt.want) {
			t.Errorf("derive(%s) = %s, %v; want %s", tt.prefix, got, err, tt.want)
		}
	}
}

func TestDeriveErrors(t *testing.T) {
	key := mustKey(t, desktopKey)
	for _, tt := range []struct {
		prefix string
		v6     bool
		want   error
	}{
		{"fd00::/64", false, ErrPrefixFamily},
		{"::ffff:10.0.0.0/104", true, ErrPrefixFamily},
		{"10.0.0.0/8", true, ErrPrefixFamily},
		{"10.0.0.0/31", false, ErrPrefixTooLong},
		{"fd00::1/128", true, ErrPrefixTooLong},
	} {
		derive := DeriveIPv4
		if tt.v6 {
			derive = DeriveIPv6
		}
		if _, err := derive(netip.MustParsePrefix(tt.prefix), key); err != tt.want {
			t.Errorf("derive(%s, v6=%v) = %v, want %v", tt.prefix, tt.v6, err, tt.want)
		}
	}
	if _, err := DeriveIPv4(netip.Prefix{}, key); err != ErrPrefixFamily {
		t.Errorf("zero prefix: %v", err)
	}
}

// TestDeriveAvoidsReserved derives many keys into tiny prefixes: every address is a host
// address and all host addresses are used.
func TestDeriveAvoidsReserved(t *testing.T) {
	p4 := netip.MustParsePrefix("10.1.2.0/29")
	p6 := netip.MustParsePrefix("fd00::/125")
	seen4, seen6 := map[netip.Addr]bool{}, map[netip.Addr]bool{}
	var k PublicKey
	for i := range 2000 {
		binary.BigEndian.PutUint32(k[:], uint32(i))
		a4, err := DeriveIPv4(p4, k)
		if err != nil || !p4.Contains(a4) || a4 == p4.Addr() || a4 == lastAddr(p4) {
			t.Fatalf("key %d: IPv4 %s, %v", i, a4, err)
		}
		a6, err := DeriveIPv6(p6, k)
		if err != nil || !p6.Contains(a6) || a6 == p6.Addr() {
			t.Fatalf("key %d: IPv6 %s, %v", i, a6, err)
		}
		seen4[a4], seen6[a6] = true, true
	}
	if len(seen4) != 6 || len(seen6) != 7 {
		t.Errorf("used %d IPv4 host addresses of 6 and %d IPv6 of 7", len(seen4), len(seen6))
	}
}

func TestCollisions(t *testing.T) {
	a := netip.MustParseAddr
	members := []Member{
		{Name: "a", IPv4: a("10.0.0.1"), IPv6: a("fd00::1")},
		{Name: "b", IPv4: a("10.0.0.2"), IPv6: a("fd00::1")},
		{Name: "c", IPv4: a("10.0.0.1")},
		{Name: "d"}, // no addresses: never collides
		{Name: "e"},
		{Name: "f", IPv4: a("10.0.0.2"), IPv6: a("fd00::9")},
	}
	got := Collisions(members)
	want := []Collision{
		{Addr: a("10.0.0.1"), Members: []int{0, 2}},
		{Addr: a("fd00::1"), Members: []int{0, 1}},
		{Addr: a("10.0.0.2"), Members: []int{1, 5}},
	}
	if !slices.EqualFunc(got, want, func(x, y Collision) bool { return x.Addr == y.Addr && slices.Equal(x.Members, y.Members) }) {
		t.Errorf("Collisions = %v, want %v", got, want)
	}
	if got := Collisions(members[3:5]); got != nil {
		t.Errorf("no addresses: %v", got)
	}
}

func TestLastAddr(t *testing.T) {
	for p, want := range map[string]string{"10.77.0.0/16": "10.77.255.255", "10.0.0.0/30": "10.0.0.3", "fd00::/120": "fd00::ff"} {
		if got := lastAddr(netip.MustParsePrefix(p)); got != netip.MustParseAddr(want) {
			t.Errorf("lastAddr(%s) = %s, want %s", p, got, want)
		}
	}
}
