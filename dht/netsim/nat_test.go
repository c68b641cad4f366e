package netsim_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

var (
	natPublic = netip.MustParseAddr("198.51.100.2")
	natInside = netip.MustParsePrefix("192.168.1.0/24")
)

// tryRecv reads one packet with a short deadline; ok is false when none came.
func tryRecv(t *testing.T, c *netsim.Conn) (netip.AddrPort, bool) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 100)
	_, from, err := c.ReadFromUDPAddrPort(buf)
	return from, err == nil
}

func TestNATMapping(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mapping  netsim.Mapping
		samePort bool // both destinations see one port
		keepPort bool // the private port is kept
	}{
		{"consistent", netsim.MappingEndpointIndependent, true, true},
		{"random", netsim.MappingRandom, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := netsim.New(netsim.Options{Seed: 7})
			defer n.Close()
			nat := n.AddNAT(netsim.NATOptions{Public: natPublic, Inside: natInside, Mapping: tc.mapping})
			lan := listen(t, n, "192.168.1.2:40000")
			a := listen(t, n, "192.0.2.10:3478")
			b := listen(t, n, "192.0.2.11:3478")
			send(t, lan, addrOf(a), []byte("x"))
			send(t, lan, addrOf(b), []byte("x"))
			_, fa := recv(t, a)
			_, fb := recv(t, b)
			if fa.Addr() != natPublic || fb.Addr() != natPublic {
				t.Fatalf("seen at %v and %v, want the router's address", fa, fb)
			}
			if got := fa.Port() == fb.Port(); got != tc.samePort {
				t.Errorf("ports %d and %d: same = %v, want %v", fa.Port(), fb.Port(), got, tc.samePort)
			}
			if got := fa.Port() == 40000; got != tc.keepPort {
				t.Errorf("port %d kept = %v, want %v", fa.Port(), got, tc.keepPort)
			}
			// Answers come back to the private endpoint, from the address written to.
			send(t, a, fa, []byte("y"))
			if _, from := recv(t, lan); from != addrOf(a) {
				t.Errorf("answer from %v, want %v", from, addrOf(a))
			}
			if got := nat.Stats().Mappings; got != map[bool]int{true: 1, false: 2}[tc.samePort] {
				t.Errorf("%d mappings", got)
			}
		})
	}
}

func TestNATFiltering(t *testing.T) {
	for _, tc := range []struct {
		name      string
		filtering netsim.Filtering
		admitted  bool // a stranger reaches the mapped port
	}{
		{"port restricted", netsim.FilteringAddressPortDependent, false},
		{"full cone", netsim.FilteringEndpointIndependent, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := netsim.New(netsim.Options{})
			defer n.Close()
			nat := n.AddNAT(netsim.NATOptions{Public: natPublic, Inside: natInside, Filtering: tc.filtering})
			lan := listen(t, n, "192.168.1.2:40000")
			a := listen(t, n, "192.0.2.10:3478")
			otherPort := listen(t, n, "192.0.2.10:3479")
			stranger := listen(t, n, "192.0.2.11:3478")
			mapped := netip.AddrPortFrom(natPublic, 40000)

			// Nothing gets in before the LAN host sent anything, nor to a private address.
			send(t, a, mapped, []byte("early"))
			send(t, a, addrOf(lan), []byte("private"))
			if from, ok := tryRecv(t, lan); ok {
				t.Fatalf("unsolicited packet from %v arrived", from)
			}
			send(t, lan, addrOf(a), []byte("open"))
			recv(t, a)
			send(t, a, mapped, []byte("reply"))
			if _, ok := tryRecv(t, lan); !ok {
				t.Fatal("reply from the destination refused")
			}
			send(t, otherPort, mapped, []byte("other port"))
			send(t, stranger, mapped, []byte("stranger"))
			got := 0
			for {
				if _, ok := tryRecv(t, lan); !ok {
					break
				}
				got++
			}
			if want := map[bool]int{true: 2, false: 0}[tc.admitted]; got != want {
				t.Errorf("%d strangers admitted, want %d", got, want)
			}
			if tc.admitted {
				return
			}
			if s := nat.Stats(); s.Refused != 3 {
				t.Errorf("refused %d, want 3", s.Refused)
			}
		})
	}
}

func TestNATLANAndHairpin(t *testing.T) {
	n := netsim.New(netsim.Options{})
	defer n.Close()
	nat := n.AddNAT(netsim.NATOptions{Public: natPublic, Inside: natInside})
	n.AddNAT(netsim.NATOptions{Public: netip.MustParseAddr("203.0.113.2"), Inside: netip.MustParsePrefix("10.0.2.0/24")})
	a := listen(t, n, "192.168.1.2:40000")
	b := listen(t, n, "192.168.1.3:40000")
	other := listen(t, n, "10.0.2.2:40000")

	send(t, a, addrOf(b), []byte("lan"))
	if _, from := recv(t, b); from != addrOf(a) {
		t.Errorf("LAN packet from %v, want the private address %v", from, addrOf(a))
	}
	send(t, other, addrOf(b), []byte("another LAN"))
	send(t, a, netip.AddrPortFrom(natPublic, 40000), []byte("hairpin"))
	if from, ok := tryRecv(t, b); ok {
		t.Errorf("packet from %v crossed LANs or hairpinned", from)
	}
	send(t, a, addrOf(other), []byte("x"))
	nat.SetMapping(netsim.MappingRandom)
	if got := nat.Stats().Mappings; got != 0 {
		t.Errorf("%d mappings after SetMapping", got)
	}
}

// TestNATSetPublic: after the router's address changes, the LAN's flows leave from the new
// address, and answers to the old one no longer arrive.
func TestNATSetPublic(t *testing.T) {
	n := netsim.New(netsim.Options{Seed: 8})
	defer n.Close()
	nat := n.AddNAT(netsim.NATOptions{Public: natPublic, Inside: natInside})
	lan := listen(t, n, "192.168.1.2:40000")
	a := listen(t, n, "192.0.2.10:3478")
	send(t, lan, addrOf(a), []byte("x"))
	_, before := recv(t, a)
	moved := netip.MustParseAddr("198.51.100.3")
	nat.SetPublic(moved)
	send(t, a, before, []byte("to the old address"))
	if from, ok := tryRecv(t, lan); ok {
		t.Fatalf("a packet to the old address arrived (from %v)", from)
	}
	send(t, lan, addrOf(a), []byte("x"))
	if _, after := recv(t, a); after != netip.AddrPortFrom(moved, 40000) {
		t.Fatalf("seen at %v after the change, want %v:40000", after, moved)
	}
	defer func() {
		if recover() == nil {
			t.Error("SetPublic to an address inside the LAN did not panic")
		}
	}()
	nat.SetPublic(netip.MustParseAddr("192.168.1.9"))
}
