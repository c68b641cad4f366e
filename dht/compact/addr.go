package compact

import (
	"encoding/binary"
	"net/netip"
)

// Sizes of the address encodings, and the family bytes of ip and ipAddress.
const (
	IPv4Len     = 4  // ipv4: octets in network order
	IPv6Len     = 16 // ipv6: octets in network order
	IPv4AddrLen = 6  // ipv4Address: ipv4, then port uint16 LE
	IPv6AddrLen = 18 // ipv6Address: ipv6, then port uint16 LE

	FamilyIPv4 = 4 // family byte of ip and ipAddress
	FamilyIPv6 = 6
)

// AppendIPv4 appends the 4 octets of ip. An IPv4-mapped IPv6 address is
// unmapped first; anything else that is not IPv4 fails with ErrBadAddress,
// where the reference would write garbage.
func AppendIPv4(b []byte, ip netip.Addr) ([]byte, error) {
	ip = ip.Unmap()
	if !ip.Is4() {
		return b, errNotIPv4
	}
	a := ip.As4()
	return append(b, a[:]...), nil
}

// ParseIPv4 decodes 4 octets into an IPv4 address.
func ParseIPv4(b []byte) (netip.Addr, int, error) {
	if len(b) < IPv4Len {
		return netip.Addr{}, 0, ErrTruncated
	}
	return netip.AddrFrom4([4]byte(b)), IPv4Len, nil
}

// AppendIPv6 appends the 16 octets of ip. It accepts any IPv6 address,
// IPv4-mapped ones included (they stay mapped); an IPv6 zone cannot be
// encoded and is dropped. An IPv4 address fails with ErrBadAddress.
func AppendIPv6(b []byte, ip netip.Addr) ([]byte, error) {
	if !ip.Is6() {
		if ip.IsValid() {
			return b, errNotIPv6
		}
		return b, errInvalidIP
	}
	a := ip.As16()
	return append(b, a[:]...), nil
}

// ParseIPv6 decodes 16 octets into an IPv6 address. An IPv4-mapped address
// is returned as such (Is4In6), not unmapped.
func ParseIPv6(b []byte) (netip.Addr, int, error) {
	if len(b) < IPv6Len {
		return netip.Addr{}, 0, ErrTruncated
	}
	return netip.AddrFrom16([16]byte(b)), IPv6Len, nil
}

// AppendIPv4Addr appends a as the reference's ipv4Address, the 6-byte peer
// encoding of dht-rpc: 4 octets, then the port little-endian. An
// IPv4-mapped IPv6 address is unmapped; any other non-IPv4 address fails
// with ErrBadAddress.
func AppendIPv4Addr(b []byte, a netip.AddrPort) ([]byte, error) {
	b, err := AppendIPv4(b, a.Addr())
	if err != nil {
		return b, err
	}
	return AppendUint16(b, a.Port()), nil
}

// ParseIPv4Addr decodes a 6-byte ipv4Address.
func ParseIPv4Addr(b []byte) (netip.AddrPort, int, error) {
	if len(b) < IPv4AddrLen {
		return netip.AddrPort{}, 0, ErrTruncated
	}
	ip := netip.AddrFrom4([4]byte(b))
	return netip.AddrPortFrom(ip, binary.LittleEndian.Uint16(b[IPv4Len:])), IPv4AddrLen, nil
}

// AppendIPv6Addr appends a as the reference's ipv6Address: 16 octets, then
// the port little-endian. The address rules are those of AppendIPv6.
func AppendIPv6Addr(b []byte, a netip.AddrPort) ([]byte, error) {
	b, err := AppendIPv6(b, a.Addr())
	if err != nil {
		return b, err
	}
	return AppendUint16(b, a.Port()), nil
}

// ParseIPv6Addr decodes an 18-byte ipv6Address.
func ParseIPv6Addr(b []byte) (netip.AddrPort, int, error) {
	if len(b) < IPv6AddrLen {
		return netip.AddrPort{}, 0, ErrTruncated
	}
	ip := netip.AddrFrom16([16]byte(b))
	return netip.AddrPortFrom(ip, binary.LittleEndian.Uint16(b[IPv6Len:])), IPv6AddrLen, nil
}

// AppendIP appends ip as the reference's ip: a family byte, then 4 or 16
// octets. The family follows the address as netip sees it: an IPv4-mapped
// IPv6 address is written as family 6, as the reference does for the string
// "::ffff:1.2.3.4"; unmap it first to send family 4. The zero Addr fails
// with ErrBadAddress.
func AppendIP(b []byte, ip netip.Addr) ([]byte, error) {
	switch {
	case ip.Is4():
		return AppendIPv4(append(b, FamilyIPv4), ip)
	case ip.Is6():
		return AppendIPv6(append(b, FamilyIPv6), ip)
	}
	return b, errInvalidIP
}

// ParseIP decodes a family byte and the address it announces. A family
// byte other than 4 or 6 fails with ErrBadAddress; the reference reads any
// such byte as 6.
func ParseIP(b []byte) (netip.Addr, int, error) {
	if len(b) < 1 {
		return netip.Addr{}, 0, ErrTruncated
	}
	var (
		ip  netip.Addr
		n   int
		err error
	)
	switch b[0] {
	case FamilyIPv4:
		ip, n, err = ParseIPv4(b[1:])
	case FamilyIPv6:
		ip, n, err = ParseIPv6(b[1:])
	default:
		return netip.Addr{}, 0, errFamily
	}
	if err != nil {
		return netip.Addr{}, 0, err
	}
	return ip, 1 + n, nil
}

// IPLen returns the number of bytes AppendIP writes for ip, or 0 if it would
// fail.
func IPLen(ip netip.Addr) int {
	switch {
	case ip.Is4():
		return 1 + IPv4Len
	case ip.Is6():
		return 1 + IPv6Len
	}
	return 0
}

// AppendIPAddr appends a as the reference's ipAddress: the ip encoding (see
// AppendIP for the family rule), then the port little-endian.
func AppendIPAddr(b []byte, a netip.AddrPort) ([]byte, error) {
	b, err := AppendIP(b, a.Addr())
	if err != nil {
		return b, err
	}
	return AppendUint16(b, a.Port()), nil
}

// ParseIPAddr decodes an ipAddress: family byte, address, port. A family
// byte other than 4 or 6 fails with ErrBadAddress.
func ParseIPAddr(b []byte) (netip.AddrPort, int, error) {
	ip, n, err := ParseIP(b)
	if err != nil {
		return netip.AddrPort{}, 0, err
	}
	port, m, err := ParseUint16(b[n:])
	if err != nil {
		return netip.AddrPort{}, 0, err
	}
	return netip.AddrPortFrom(ip, port), n + m, nil
}

// IPAddrLen returns the number of bytes AppendIPAddr writes for a, or 0 if it
// would fail.
func IPAddrLen(a netip.AddrPort) int {
	if n := IPLen(a.Addr()); n > 0 {
		return n + 2
	}
	return 0
}
