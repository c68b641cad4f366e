package netsim_test

import (
	"errors"
	"net"
	"syscall"
	"testing"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

func TestListenPacketAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, network, address string
		want                   string // bound address, or "" for an error
	}{
		{"empty host", "udp", ":53", "127.0.0.1:53"},
		{"wildcard v4", "udp4", "0.0.0.0:53", "127.0.0.1:53"},
		{"localhost", "udp", "localhost:53", "127.0.0.1:53"},
		{"explicit v4", "udp4", "198.51.100.7:4000", "198.51.100.7:4000"},
		{"v4-mapped", "udp", "[::ffff:198.51.100.7]:4000", "198.51.100.7:4000"},
		{"explicit v6", "udp", "[2001:db8::1]:4000", "[2001:db8::1]:4000"},
		{"wildcard v6", "udp", "[::]:53", "[::1]:53"},
		{"udp6 empty host", "udp6", ":53", "[::1]:53"},
		{"udp4 wildcard v6", "udp4", "[::]:53", "127.0.0.1:53"},
		{"ephemeral", "udp4", "10.0.0.1:0", "10.0.0.1:32768"},
		{"udp4 with v6", "udp4", "[2001:db8::1]:1", ""},
		{"udp6 with v4", "udp6", "10.0.0.1:1", ""},
		{"tcp", "tcp", "10.0.0.1:1", ""},
		{"no port", "udp", "10.0.0.1", ""},
		{"bad port", "udp", "10.0.0.1:65536", ""},
		{"named port", "udp", "10.0.0.1:domain", ""},
		{"host name", "udp", "example.com:1", ""},
		{"zone", "udp", "[fe80::1%eth0]:1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := netsim.New(netsim.Options{})
			defer n.Close()
			c, err := n.ListenPacket(tt.network, tt.address)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ListenPacket(%q, %q) bound %v, want an error", tt.network, tt.address, c.LocalAddr())
				}
				if c != nil {
					t.Errorf("ListenPacket returned a non-nil conn %#v with error %v", c, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ListenPacket(%q, %q): %v", tt.network, tt.address, err)
			}
			if got := c.LocalAddr().String(); got != tt.want {
				t.Errorf("ListenPacket(%q, %q) bound %s, want %s", tt.network, tt.address, got, tt.want)
			}
			if _, ok := c.LocalAddr().(*net.UDPAddr); !ok {
				t.Errorf("LocalAddr is %T, want *net.UDPAddr", c.LocalAddr())
			}
		})
	}
}

func TestEphemeralPorts(t *testing.T) {
	t.Parallel()
	n := netsim.New(netsim.Options{})
	defer n.Close()
	listen(t, n, "10.0.0.1:32769") // taken explicitly: skipped
	for _, tt := range []struct{ address, want string }{
		{":0", "127.0.0.1:32768"},
		{"10.0.0.1:0", "10.0.0.1:32768"},
		{"10.0.0.1:0", "10.0.0.1:32770"},
		{":0", "127.0.0.1:32769"},
		{"10.0.0.2:0", "10.0.0.2:32768"}, // each address counts on its own
	} {
		if got := listen(t, n, tt.address).LocalAddr().String(); got != tt.want {
			t.Errorf("ListenPacket(%q) bound %s, want %s", tt.address, got, tt.want)
		}
	}
}

func TestEphemeralPortsExhausted(t *testing.T) {
	t.Parallel()
	n := netsim.New(netsim.Options{})
	defer n.Close()
	const first, last = 32768, 60999
	var conns []net.PacketConn
	for range last - first + 1 {
		c, err := n.ListenPacket("udp", "10.0.0.1:0")
		if err != nil {
			t.Fatalf("after %d ephemeral ports: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	if got := conns[len(conns)-1].LocalAddr().String(); got != "10.0.0.1:60999" {
		t.Errorf("last ephemeral port bound %s, want 10.0.0.1:60999", got)
	}
	if _, err := n.ListenPacket("udp", "10.0.0.1:0"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("with every ephemeral port bound: error %v, want EADDRINUSE", err)
	}
	// Freed ports are reused, counting on from the last one given out.
	conns[100].Close()
	conns[7].Close()
	for _, want := range []string{"10.0.0.1:32775", "10.0.0.1:32868"} {
		c, err := n.ListenPacket("udp", "10.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if got := c.LocalAddr().String(); got != want {
			t.Errorf("reused port %s, want %s", got, want)
		}
	}
}

func TestAddrInUse(t *testing.T) {
	t.Parallel()
	n := netsim.New(netsim.Options{})
	defer n.Close()
	c := listen(t, n, "10.0.0.1:5000")
	_, err := n.ListenPacket("udp4", "10.0.0.1:5000")
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second bind of 10.0.0.1:5000: error %v, want one wrapping EADDRINUSE", err)
	}
	if want := "listen udp4 10.0.0.1:5000: bind: address already in use"; err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
	listen(t, n, "10.0.0.2:5000") // same port, other address: fine
	c.Close()
	listen(t, n, "10.0.0.1:5000") // free again after Close
}

func TestListenAfterNetworkClose(t *testing.T) {
	t.Parallel()
	n := netsim.New(netsim.Options{})
	n.Close()
	if _, err := n.ListenPacket("udp", ":0"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ListenPacket after Close: error %v, want net.ErrClosed", err)
	}
}
