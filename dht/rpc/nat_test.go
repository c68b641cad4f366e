package rpc

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/hyperlan/hyperlan/dht/internal/goldentest"
)

type natCase struct {
	Seed  int
	Steps [][4]any // observed host, observed port, sampled host (or null), sampled port
}

func loadNATCases(t *testing.T, data []byte) []natCase {
	t.Helper()
	var cases []natCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestNATSamplerGolden replays observation streams through the sampler and compares every
// intermediate result with the reference's (testdata/nat.json, from testdata/natgen.js).
func TestNATSamplerGolden(t *testing.T) {
	data, err := os.ReadFile("testdata/nat.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range loadNATCases(t, data) {
		var s natSampler
		for i, st := range c.Steps {
			s.add(netip.MustParseAddr(st[0].(string)), uint16(st[1].(float64)))
			want := netip.AddrPort{}
			if h, ok := st[2].(string); ok {
				want = netip.AddrPortFrom(netip.MustParseAddr(h), uint16(st[3].(float64)))
			}
			if got := s.addr(); got != want {
				t.Fatalf("seed %d step %d (%v:%v): sampled %v, want %v", c.Seed, i, st[0], st[1], got, want)
			}
		}
	}
}

func TestNATSamplerGoldenUpToDate(t *testing.T) {
	goldentest.Check(t, filepath.Join("testdata", "natgen.js"), filepath.Join("testdata", "nat.json"), "nat-sampler")
}

func TestNATSamplerBehaviour(t *testing.T) {
	a := netip.MustParseAddr("1.1.1.1")
	var s natSampler
	for range 5 {
		s.add(a, 5)
		if s.addr() != netip.AddrPortFrom(a, 5) {
			t.Fatalf("consistent samples: %v", s.addr())
		}
	}
	var r natSampler
	for p := uint16(5); p < 10; p++ {
		r.add(a, p)
	}
	if r.addr() != netip.AddrPortFrom(a, 0) {
		t.Fatalf("randomizing NAT: %v, want host with port 0", r.addr())
	}
}
