//go:build !linux

package holepunch

import (
	"net"
	"net/netip"
)

// writeTTL reports false: outside Linux punches go out with the socket's TTL.
func writeTTL(net.PacketConn, []byte, netip.AddrPort, int) bool { return false }
