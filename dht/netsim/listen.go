package netsim

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
)

// The ephemeral port range, Linux's default ip_local_port_range.
const (
	firstEphemeralPort = 32768
	lastEphemeralPort  = 60999
)

var (
	loopback4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	loopback6 = netip.IPv6Loopback()
)

// ListenPacket binds an endpoint, with the signature of [net.ListenPacket].
// The result is a [*Conn].
//
// network is "udp", "udp4" or "udp6". address is "host:port". host is an IP
// address, or empty, "localhost" or an unspecified address (0.0.0.0, ::),
// which bind the loopback address of the family (127.0.0.1 for "udp" and
// "udp4", ::1 for "udp6"); IPv4-mapped IPv6 addresses bind the IPv4 address.
// Port 0 picks the next free port of that address, counting up from 32768.
// Binding an address:port in use fails with an error that wraps
// [syscall.EADDRINUSE]; after [Network.Close] ListenPacket fails with
// [net.ErrClosed].
func (n *Network) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := n.listen(network, address)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (n *Network) listen(network, address string) (*Conn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: network, Err: err}
	}
	switch network {
	case "udp", "udp4", "udp6":
	default:
		return nil, opErr(net.UnknownNetworkError(network))
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, opErr(err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, opErr(&net.AddrError{Err: "invalid port", Addr: address})
	}
	ip, err := bindAddr(network, host)
	if err != nil {
		return nil, opErr(err)
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, opErr(net.ErrClosed)
	}
	addr := netip.AddrPortFrom(ip, uint16(port))
	if port == 0 {
		p, ok := n.ephemeralPortLocked(ip)
		if !ok {
			return nil, &net.OpError{Op: "listen", Net: network, Addr: net.UDPAddrFromAddrPort(addr),
				Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
		}
		addr = netip.AddrPortFrom(ip, p)
	} else if _, used := n.conns[addr]; used {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: net.UDPAddrFromAddrPort(addr),
			Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
	}
	c := newConn(n, network, addr)
	n.conns[addr] = c
	return c, nil
}

// bindAddr returns the address that host binds for network.
func bindAddr(network, host string) (netip.Addr, error) {
	var ip netip.Addr
	switch host {
	case "", "localhost":
	default:
		var err error
		if ip, err = netip.ParseAddr(host); err != nil || ip.Zone() != "" {
			return netip.Addr{}, &net.AddrError{Err: "invalid IP address", Addr: host}
		}
		ip = ip.Unmap()
	}
	if !ip.IsValid() || ip.IsUnspecified() {
		if network == "udp6" || network == "udp" && ip.Is6() {
			return loopback6, nil
		}
		return loopback4, nil
	}
	if network == "udp4" && !ip.Is4() || network == "udp6" && !ip.Is6() {
		return netip.Addr{}, &net.AddrError{Err: "no suitable address", Addr: host}
	}
	return ip, nil
}

// ephemeralPortLocked returns the next port of ip that is not bound.
func (n *Network) ephemeralPortLocked(ip netip.Addr) (uint16, bool) {
	next := n.nextPort[ip]
	if next == 0 {
		next = firstEphemeralPort
	}
	for range lastEphemeralPort - firstEphemeralPort + 1 {
		p := next
		if next++; next > lastEphemeralPort {
			next = firstEphemeralPort
		}
		if _, used := n.conns[netip.AddrPortFrom(ip, p)]; !used {
			n.nextPort[ip] = next
			return p, true
		}
	}
	return 0, false
}
