package peers

import (
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/hyperlan/hyperlan/configs"
)

// The addresses the engine's DHT node shares with the other side of a connection as
// candidates for a same-LAN connection (dht.Options.InterfaceAddrs). By default a DHT node
// shares every address of the host, and once the VPN is up that includes its own: the
// node's virtual addresses on the TUN device and the subnets routed into it. A member that
// tried those would send the VPN's own traffic into the VPN (a connection inside the
// connection it is meant to replace, or nothing at all before there is one), and the
// interface watcher would see the device's addresses come and go as a network change. So
// the engine shares only addresses outside the mesh.

// meshFilter picks the host's addresses the DHT node may share. It is made before the
// engine (the node is), and learns the engine's live routes once the engine exists.
type meshFilter struct {
	cfg    *configs.Config
	device string                                  // the TUN device's name
	list   func() []netip.Addr                     // the host's addresses; nil: every interface but device's
	ifaces func() ([]net.Interface, error)         // net.Interfaces, for tests
	addrs  func(net.Interface) ([]net.Addr, error) // Interface.Addrs, for tests
	engine atomic.Pointer[Engine]                  // nil until New made it
}

// newMeshFilter returns the filter for the node of an engine with cfg, whose device is
// named device. list is what Deps.InterfaceAddrs gave (nil: the interfaces of the calling
// process's network namespace, leaving out the device's own).
func newMeshFilter(cfg *configs.Config, device string, list func() []netip.Addr) *meshFilter {
	return &meshFilter{
		cfg: cfg, device: device, list: list,
		ifaces: net.Interfaces,
		addrs:  func(i net.Interface) ([]net.Addr, error) { return i.Addrs() },
	}
}

// InterfaceAddrs is the dht.Options.InterfaceAddrs of the engine's node: the host's
// addresses, less those of the TUN device and those inside the mesh (inMesh).
func (f *meshFilter) InterfaceAddrs() []netip.Addr {
	var list []netip.Addr
	if f.list != nil {
		list = f.list()
	} else {
		list = f.hostAddrs()
	}
	out := list[:0:0]
	for _, a := range list {
		if !f.inMesh(a) {
			out = append(out, a)
		}
	}
	return out
}

// hostAddrs lists the addresses of every interface but the TUN device.
func (f *meshFilter) hostAddrs() []netip.Addr {
	ifs, err := f.ifaces()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, i := range ifs {
		if i.Name == f.device {
			continue
		}
		addrs, err := f.addrs(i)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if p, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(p.IP); ok {
					out = append(out, ip.Unmap())
				}
			}
		}
	}
	return out
}

// inMesh reports whether a is an address the VPN routes into its device: inside the
// network's prefixes, one of the node's own subnets, or (once the engine runs) in a subnet
// or at a single address another member serves.
func (f *meshFilter) inMesh(a netip.Addr) bool {
	a = a.Unmap()
	n := &f.cfg.Network
	if n.IPv4.Contains(a) || n.IPv6.IsValid() && n.IPv6.Contains(a) {
		return true
	}
	for _, r := range f.cfg.Node.Routes {
		if r.Contains(a) {
			return true
		}
	}
	if e := f.engine.Load(); e != nil {
		if t := e.table.Load(); t != nil && t.lookup(a) != nil {
			return true
		}
	}
	return false
}
