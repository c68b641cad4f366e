package holepunch

import (
	"net/netip"
	"slices"
	"testing"
)

// The classification sequences of hyperdht test/nat.js, step by step: each step adds one
// sample (what the node saw, which node) and states the firewall and addresses after it.
func TestNATClassification(t *testing.T) {
	ap := netip.MustParseAddrPort
	type step struct {
		addr, from string
		sampled    int
		firewall   Firewall
		addrs      []string
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"random", []step{
			{"127.0.0.1:8080", "127.0.0.1:8080", 1, Unknown, nil},
			{"127.0.0.1:8080", "127.0.0.1:8080", 1, Unknown, nil}, // one sample per node
			{"127.0.0.1:8081", "127.0.0.1:8081", 2, Unknown, nil},
			{"127.0.0.1:8082", "127.0.0.1:8082", 3, Random, []string{"127.0.0.1:0"}},
		}},
		{"consistent", []step{
			{"127.0.0.1:8080", "127.0.0.1:8080", 1, Unknown, nil},
			{"127.0.0.1:8080", "127.0.0.1:8081", 2, Unknown, nil},
			{"127.0.0.1:8080", "127.0.0.1:8082", 3, Consistent, []string{"127.0.0.1:8080"}},
		}},
		{"consistent with another sample", []step{
			{"127.0.0.1:8080", "127.0.0.1:8080", 1, Unknown, nil},
			{"127.0.0.1:8081", "127.0.0.1:8081", 2, Unknown, nil},
			{"127.0.0.1:8080", "127.0.0.1:8082", 3, Unknown, nil},
			{"127.0.0.1:8080", "127.0.0.1:8083", 4, Consistent, []string{"127.0.0.1:8080", "127.0.0.1:8081"}},
		}},
		{"double consistent", []step{
			{"127.0.0.1:8080", "127.0.0.1:8080", 1, Unknown, nil},
			{"127.0.0.2:8081", "127.0.0.1:8081", 2, Unknown, nil},
			{"127.0.0.1:8080", "127.0.0.1:8082", 3, Unknown, nil},
			{"127.0.0.2:8081", "127.0.0.1:8083", 4, Consistent, []string{"127.0.0.1:8080", "127.0.0.2:8081"}},
		}},
		{"not quite consistent", []step{
			{"127.0.0.1:8080", "127.0.0.1:8080", 1, Unknown, nil},
			{"127.0.0.1:8080", "127.0.0.1:8081", 2, Unknown, nil},
			{"127.0.0.1:8081", "127.0.0.1:8082", 3, Unknown, nil},
			{"127.0.0.1:8082", "127.0.0.1:8083", 4, Random, []string{"127.0.0.1:0"}},
		}},
		{"undecided until the fifth sample", []step{
			{"10.0.0.1:1", "10.9.0.1:1", 1, Unknown, nil},
			{"10.0.0.2:2", "10.9.0.2:1", 2, Unknown, nil},
			{"10.0.0.1:1", "10.9.0.3:1", 3, Unknown, nil},
			{"10.0.0.3:3", "10.9.0.4:1", 4, Unknown, nil},
			{"10.0.0.4:4", "10.9.0.5:1", 5, Random, []string{"10.0.0.1:0"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := NewNAT(nil)
			for i, s := range tc.steps {
				x.Add(ap(s.addr), ap(s.from))
				var want []netip.AddrPort
				for _, a := range s.addrs {
					want = append(want, ap(a))
				}
				if got := x.Sampled(); got != s.sampled {
					t.Errorf("step %d: sampled %d, want %d", i, got, s.sampled)
				}
				if got := x.Firewall(); got != s.firewall {
					t.Errorf("step %d: firewall %v, want %v", i, got, s.firewall)
				}
				if got := x.Addresses(); !slices.Equal(got, want) {
					t.Errorf("step %d: addresses %v, want %v", i, got, want)
				}
			}
		})
	}
}

func TestNATOpen(t *testing.T) {
	firewalled := false
	x := NewNAT(func() bool { return firewalled })
	if x.Sampled() != 0 || x.Firewall() != Open {
		t.Fatalf("unfirewalled node: %v after %d samples", x.Firewall(), x.Sampled())
	}
	x.Add(netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.9:1"))
	select {
	case <-x.Analyzed():
	default:
		t.Fatal("an open node's analysis is not done after a sample")
	}
	if x.Addresses() != nil {
		t.Errorf("open addresses %v", x.Addresses())
	}
	// The node turns out firewalled: the next samples classify again.
	firewalled = true
	for i := range 3 {
		x.Add(netip.MustParseAddrPort("192.0.2.1:1"), netip.AddrPortFrom(netip.MustParseAddr("192.0.2.20"), uint16(i+1)))
	}
	if x.Firewall() != Consistent {
		t.Errorf("after 4 consistent samples: %v", x.Firewall())
	}
}

func TestNATAnalyzedAndFrozen(t *testing.T) {
	ap := netip.MustParseAddrPort
	x := NewNAT(nil)
	done := func() bool {
		select {
		case <-x.Analyzed():
			return true
		default:
			return false
		}
	}
	x.Add(ap("192.0.2.1:1"), ap("192.0.2.9:1"))
	x.Add(ap("192.0.2.1:2"), ap("192.0.2.9:2"))
	x.Add(ap("192.0.2.1:3"), ap("192.0.2.9:3"))
	if done() {
		t.Fatal("a random NAT's analysis is done before 4 samples")
	}
	x.Freeze()
	for i := range 3 {
		x.Add(ap("192.0.2.1:1"), netip.AddrPortFrom(netip.MustParseAddr("192.0.2.10"), uint16(i+1)))
	}
	if !done() {
		t.Fatal("analysis not done after 6 samples")
	}
	if x.Firewall() != Random {
		t.Fatalf("frozen NAT reclassified as %v", x.Firewall())
	}
	x.Unfreeze()
	if x.Firewall() != Consistent {
		t.Errorf("unfrozen: %v, want consistent (4 hits on one port)", x.Firewall())
	}

	y := NewNAT(nil)
	y.Stop()
	select {
	case <-y.Analyzed():
	default:
		t.Error("Stop did not end the analysis")
	}
}

func TestNATPick(t *testing.T) {
	var nodes []netip.AddrPort
	for i := range 12 {
		nodes = append(nodes, netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), uint16(i+1)))
	}
	x := NewNAT(nil)
	// With 8 or more nodes the 5 most recent are skipped.
	if got, want := x.pick(nodes), nodes[5:9]; !slices.Equal(got, want) {
		t.Fatalf("first round %v, want %v", got, want)
	}
	x.Add(netip.MustParseAddrPort("198.51.100.1:9"), nodes[5])
	// The retry asks only nodes not asked yet, as many as samples are missing.
	if got, want := x.pick(nodes), nodes[9:12]; !slices.Equal(got, want) {
		t.Fatalf("second round %v, want %v", got, want)
	}
	if got := NewNAT(nil).pick(nodes[:3]); !slices.Equal(got, nodes[:3]) {
		t.Errorf("few nodes: %v", got)
	}
}
