package peers

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/hyperlan/hyperlan/configs"
)

// The DHT node shares no address of the mesh: not the TUN device's, not one in the
// network's prefixes, the node's own subnets or another member's.
func TestMeshFilter(t *testing.T) {
	cfg := &configs.Config{
		Node: configs.Node{Interface: "hl0", Routes: []netip.Prefix{netip.MustParsePrefix("10.99.0.0/24")}},
		Network: configs.Network{
			IPv4: netip.MustParsePrefix("10.77.0.0/16"),
			IPv6: netip.MustParsePrefix("fd92:9812:a58f::/64"),
		},
	}
	addrs := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	host := addrs("192.168.1.2", "10.77.0.5", "::ffff:10.77.3.4", "fd92:9812:a58f::5", "10.99.0.1",
		"172.16.5.1", "2001:db8::1", "10.7.0.1")

	f := newMeshFilter(cfg, "hl0", func() []netip.Addr { return host })
	if got, want := f.InterfaceAddrs(), addrs("192.168.1.2", "172.16.5.1", "2001:db8::1", "10.7.0.1"); !slices.Equal(got, want) {
		t.Errorf("before the engine: %v, want %v", got, want)
	}

	// Once the engine runs, a subnet another member serves is the mesh's too, and so is a
	// single address one serves.
	e := &Engine{}
	e.table.Store(newTable([]tableEntry{
		{prefix: netip.MustParsePrefix("10.77.0.9/32"), peer: &peer{}},
		{prefix: netip.MustParsePrefix("172.16.0.0/16"), peer: &peer{}},
		{prefix: netip.MustParsePrefix("10.7.0.1/32"), peer: &peer{}},
	}))
	f.engine.Store(e)
	if got, want := f.InterfaceAddrs(), addrs("192.168.1.2", "2001:db8::1"); !slices.Equal(got, want) {
		t.Errorf("with a member's subnet: %v, want %v", got, want)
	}
	if got := host[0]; got != netip.MustParseAddr("192.168.1.2") {
		t.Errorf("the filter changed the host's list: %v", host)
	}

	// Without a list, the interfaces' addresses, less the device's (whatever they are).
	f = newMeshFilter(cfg, "hl0", nil)
	ifs := map[string][]string{
		"lo":   {"127.0.0.1/8", "::1/128"},
		"eth0": {"192.168.1.2/24", "fe80::1/64"},
		"hl0":  {"10.78.0.1/16", "fe80::2/64"}, // not in the network: the device is left out by name
		"tun1": {"10.77.1.1/24"},               // another device in the network's prefix
	}
	f.ifaces = func() ([]net.Interface, error) {
		return []net.Interface{{Index: 1, Name: "lo"}, {Index: 2, Name: "eth0"}, {Index: 3, Name: "hl0"}, {Index: 4, Name: "tun1"}}, nil
	}
	f.addrs = func(i net.Interface) ([]net.Addr, error) {
		var out []net.Addr
		for _, s := range ifs[i.Name] {
			ip, n, err := net.ParseCIDR(s)
			if err != nil {
				t.Fatal(err)
			}
			n.IP = ip
			out = append(out, n)
		}
		return out, nil
	}
	if got, want := f.InterfaceAddrs(), addrs("127.0.0.1", "::1", "192.168.1.2", "fe80::1"); !slices.Equal(got, want) {
		t.Errorf("from the interfaces: %v, want %v", got, want)
	}
}
