package dht

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Addresses a peer shares in its noise payload for same-host and same-LAN connections, and
// the address classes (npm bogon) that decide which of a peer's addresses are worth dialling.

// localAddresses lists this host's addresses with the port of the node's server socket: only
// 127.0.0.1 when bound to it, else every non-loopback IPv4 interface address, else 127.0.0.1
// (hyperdht's Holepuncher.localAddresses). Options.InterfaceAddrs replaces the interface list.
func (n *Node) localAddresses() []netip.AddrPort {
	bound := n.rpc.LocalAddr()
	port := bound.Port()
	loop := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)
	if bound.Addr().Unmap() == loop.Addr() {
		return []netip.AddrPort{loop}
	}
	list := n.opts.InterfaceAddrs
	if list == nil {
		list = interfaceAddrs
	}
	var out []netip.AddrPort
	for _, ip := range list() {
		ip = ip.Unmap()
		if ip.Is4() && !ip.IsLoopback() {
			out = append(out, netip.AddrPortFrom(ip, port))
		}
	}
	if len(out) == 0 {
		out = append(out, loop)
	}
	return out
}

// interfaceAddrs returns the addresses of this host's interfaces.
func interfaceAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(p.IP); ok {
				out = append(out, ip)
			}
		}
	}
	return out
}

// addrValidator remembers which local hosts can reach themselves over UDP (hyperdht's
// validateLocalAddresses: a host that cannot, such as an address of a down interface, is not
// shared). Each host is probed once: a datagram from a socket bound to it, to itself, must
// arrive within 500 ms. The socket is opened the way the node opens its own
// (Options.ListenPacket), so that the probe runs where the node's sockets live.
type addrValidator struct {
	mu    sync.Mutex
	hosts map[netip.Addr]*addrCheck
}

type addrCheck struct {
	done chan struct{}
	ok   bool
}

// filter returns the addresses whose host passed the probe; listen opens the probe sockets
// (nil means net.ListenPacket).
func (v *addrValidator) filter(ctx context.Context, listen func(network, address string) (net.PacketConn, error), addrs []netip.AddrPort) []netip.AddrPort {
	if listen == nil {
		listen = net.ListenPacket
	}
	checks := make([]*addrCheck, len(addrs))
	v.mu.Lock()
	if v.hosts == nil {
		v.hosts = make(map[netip.Addr]*addrCheck)
	}
	for i, a := range addrs {
		c := v.hosts[a.Addr()]
		if c == nil {
			c = &addrCheck{done: make(chan struct{})}
			v.hosts[a.Addr()] = c
			go c.run(listen, a.Addr())
		}
		checks[i] = c
	}
	v.mu.Unlock()
	var out []netip.AddrPort
	for i, c := range checks {
		select {
		case <-c.done:
		case <-ctx.Done():
			return out
		}
		if c.ok {
			out = append(out, addrs[i])
		}
	}
	return out
}

func (c *addrCheck) run(listen func(network, address string) (net.PacketConn, error), host netip.Addr) {
	defer close(c.done)
	pc, err := listen("udp4", netip.AddrPortFrom(host, 0).String())
	if err != nil {
		return
	}
	defer pc.Close()
	self := pc.LocalAddr()
	if _, err := pc.WriteTo([]byte{0}, self); err != nil {
		return
	}
	pc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	var b [1]byte
	_, _, err = pc.ReadFrom(b[:])
	c.ok = err == nil
}

// matchAddress picks the remote address sharing the longest prefix of octets (1 to 3) with one
// of ours, preferring earlier entries on ties; nil without a common first octet.
func matchAddress(ours, theirs []netip.AddrPort) (netip.AddrPort, bool) {
	best, bestLen := netip.AddrPort{}, 0
	for _, l := range ours {
		a := l.Addr().Unmap().As16()
		for _, r := range theirs {
			b := r.Addr().Unmap().As16()
			n := 0
			for n < 3 && a[12+n] == b[12+n] {
				n++
			}
			if n == 3 {
				return r, true
			}
			if n > bestLen {
				best, bestLen = r, n
			}
		}
	}
	return best, bestLen > 0
}

// isPrivate reports the IPv4 private-use, CGNAT, loopback and link-local ranges (bogon's
// isPrivate; IPv6 has none).
func isPrivate(a netip.Addr) bool {
	a = a.Unmap()
	if !a.Is4() {
		return false
	}
	b := a.As4()
	return b[0] == 10 || (b[0] == 100 && b[1] >= 64 && b[1] <= 127) || b[0] == 127 ||
		(b[0] == 169 && b[1] == 254) || (b[0] == 172 && b[1] >= 16 && b[1] <= 31) || (b[0] == 192 && b[1] == 168)
}

// isReserved reports the IPv4 ranges no peer is reachable at (this network, documentation,
// benchmarking, multicast, future use) and the IPv6 unspecified and loopback addresses
// (bogon's isReserved, for the cases a payload can carry).
func isReserved(a netip.Addr) bool {
	a = a.Unmap()
	if !a.Is4() {
		return a.IsUnspecified() || a.IsLoopback()
	}
	b := a.As4()
	return b[0] == 0 || (b[0] == 192 && b[1] == 0 && (b[2] == 0 || b[2] == 2)) ||
		(b[0] == 198 && (b[1] == 18 || b[1] == 19)) || (b[0] == 198 && b[1] == 51 && b[2] == 100) ||
		(b[0] == 203 && b[1] == 0 && b[2] == 113) || b[0] >= 224
}

// isBogon is isPrivate or isReserved: an address not routable on the internet.
func isBogon(a netip.Addr) bool { return isPrivate(a) || isReserved(a) }
