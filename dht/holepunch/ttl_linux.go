package holepunch

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
)

// writeTTL sends b to addr with the IPv4 TTL ttl as ancillary data (IP_TTL in a control
// message, which Linux honours per datagram), leaving the socket's own TTL alone. It reports
// false when pc cannot send control messages (a test network), so the caller sends normally.
func writeTTL(pc net.PacketConn, b []byte, addr netip.AddrPort, ttl int) bool {
	uc, ok := pc.(*net.UDPConn)
	if !ok || !addr.Addr().Unmap().Is4() {
		return false
	}
	uc.WriteMsgUDPAddrPort(b, ttlControl(ttl), addr)
	return true
}

// ttlControl builds the control message: a cmsghdr (length, level, type, in the machine's
// layout) followed by the TTL as a C int.
func ttlControl(ttl int) []byte {
	oob := make([]byte, syscall.CmsgSpace(4))
	hdr := syscall.CmsgLen(0)
	if hdr == 16 { // 64-bit: the length is a size_t
		binary.NativeEndian.PutUint64(oob, uint64(syscall.CmsgLen(4)))
	} else {
		binary.NativeEndian.PutUint32(oob, uint32(syscall.CmsgLen(4)))
	}
	binary.NativeEndian.PutUint32(oob[hdr-8:], uint32(syscall.IPPROTO_IP))
	binary.NativeEndian.PutUint32(oob[hdr-4:], uint32(syscall.IP_TTL))
	binary.NativeEndian.PutUint32(oob[hdr:], uint32(ttl))
	return oob
}
