package tuntest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// IP protocol numbers that [Parse] understands.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// ICMP types of echo requests and replies.
const (
	icmpEchoReply     = 0
	icmpEchoRequest   = 8
	icmpv6EchoRequest = 128
	icmpv6EchoReply   = 129
)

const (
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	udpHeaderLen  = 8
	echoHeaderLen = 8 // type, code, checksum, id, seq
	ttl           = 64
)

// UDP returns an IP packet carrying a UDP datagram from src to dst: IPv4 or
// IPv6 after src's family (dst must have the same), TTL 64, checksums set.
func UDP(src, dst netip.AddrPort, payload []byte) []byte {
	seg := make([]byte, udpHeaderLen+len(payload))
	binary.BigEndian.PutUint16(seg[0:], src.Port())
	binary.BigEndian.PutUint16(seg[2:], dst.Port())
	binary.BigEndian.PutUint16(seg[4:], uint16(len(seg)))
	copy(seg[udpHeaderLen:], payload)
	sum := ^fold(checksum(seg, pseudoHeader(src.Addr(), dst.Addr(), ProtoUDP, len(seg))))
	if sum == 0 {
		sum = 0xffff // 0 means "no checksum" in UDP
	}
	binary.BigEndian.PutUint16(seg[6:], sum)
	return ipPacket(src.Addr(), dst.Addr(), ProtoUDP, seg)
}

// EchoRequest returns an ICMP echo request (ICMPv6 for IPv6 addresses) from
// src to dst.
func EchoRequest(src, dst netip.Addr, id, seq uint16, payload []byte) []byte {
	typ := uint8(icmpEchoRequest)
	if src.Is6() {
		typ = icmpv6EchoRequest
	}
	return echo(src, dst, typ, id, seq, payload)
}

// EchoReply returns an ICMP echo reply (ICMPv6 for IPv6 addresses) from src
// to dst.
func EchoReply(src, dst netip.Addr, id, seq uint16, payload []byte) []byte {
	typ := uint8(icmpEchoReply)
	if src.Is6() {
		typ = icmpv6EchoReply
	}
	return echo(src, dst, typ, id, seq, payload)
}

func echo(src, dst netip.Addr, typ uint8, id, seq uint16, payload []byte) []byte {
	msg := make([]byte, echoHeaderLen+len(payload))
	msg[0] = typ
	binary.BigEndian.PutUint16(msg[4:], id)
	binary.BigEndian.PutUint16(msg[6:], seq)
	copy(msg[echoHeaderLen:], payload)
	proto := uint8(ProtoICMP)
	var sum uint32
	if src.Is6() {
		proto = ProtoICMPv6
		sum = pseudoHeader(src, dst, proto, len(msg))
	}
	binary.BigEndian.PutUint16(msg[2:], ^fold(checksum(msg, sum)))
	return ipPacket(src, dst, proto, msg)
}

// ipPacket puts an IPv4 or IPv6 header in front of payload.
func ipPacket(src, dst netip.Addr, proto uint8, payload []byte) []byte {
	if src.Is4() != dst.Is4() || !src.IsValid() {
		panic(fmt.Sprintf("tuntest: addresses %v and %v of different families", src, dst))
	}
	if src.Is4() {
		b := make([]byte, ipv4HeaderLen+len(payload))
		b[0] = 4<<4 | ipv4HeaderLen/4
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		b[6] = 0x40 // don't fragment
		b[8] = ttl
		b[9] = proto
		s, d := src.As4(), dst.As4()
		copy(b[12:], s[:])
		copy(b[16:], d[:])
		binary.BigEndian.PutUint16(b[10:], ^fold(checksum(b[:ipv4HeaderLen], 0)))
		copy(b[ipv4HeaderLen:], payload)
		return b
	}
	b := make([]byte, ipv6HeaderLen+len(payload))
	b[0] = 6 << 4
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6] = proto
	b[7] = ttl
	s, d := src.As16(), dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	copy(b[ipv6HeaderLen:], payload)
	return b
}

// Packet is what [Parse] found in an IP packet.
type Packet struct {
	Src, Dst netip.Addr
	Proto    uint8 // the IPv4 protocol or IPv6 next header
	TTL      uint8 // or hop limit

	SrcPort, DstPort uint16 // UDP and TCP
	Type, Code       uint8  // ICMP and ICMPv6
	ID, Seq          uint16 // ICMP and ICMPv6 echo

	// Payload is what follows the UDP header, the TCP header, or the echo
	// header; for other protocols, what follows the IP header. It aliases
	// the packet.
	Payload []byte
}

// IsEcho reports whether p is an echo request or reply.
func (p Packet) IsEcho() bool {
	switch p.Proto {
	case ProtoICMP:
		return p.Type == icmpEchoRequest || p.Type == icmpEchoReply
	case ProtoICMPv6:
		return p.Type == icmpv6EchoRequest || p.Type == icmpv6EchoReply
	}
	return false
}

// IsEchoRequest reports whether p is an echo request.
func (p Packet) IsEchoRequest() bool {
	return p.Proto == ProtoICMP && p.Type == icmpEchoRequest || p.Proto == ProtoICMPv6 && p.Type == icmpv6EchoRequest
}

var (
	errShort    = errors.New("tuntest: truncated packet")
	errChecksum = errors.New("tuntest: bad checksum")
)

// Parse decodes an IPv4 or IPv6 packet and checks its lengths and its IPv4,
// UDP, TCP, ICMP and ICMPv6 checksums. Bytes after the IP packet's length are
// ignored; fragments are refused; IPv6 extension headers are not followed
// (the packet's Proto is then the first next header).
func Parse(b []byte) (Packet, error) {
	var p Packet
	if len(b) < 1 {
		return p, errShort
	}
	var body []byte
	var pseudo uint32
	switch b[0] >> 4 {
	case 4:
		if len(b) < ipv4HeaderLen {
			return p, errShort
		}
		hl, total := int(b[0]&0x0f)*4, int(binary.BigEndian.Uint16(b[2:]))
		if hl < ipv4HeaderLen || total < hl || total > len(b) {
			return p, fmt.Errorf("tuntest: IPv4 header length %d, total length %d, %d bytes", hl, total, len(b))
		}
		if fold(checksum(b[:hl], 0)) != 0xffff {
			return p, fmt.Errorf("%w in the IPv4 header", errChecksum)
		}
		if binary.BigEndian.Uint16(b[6:])&0x3fff != 0 {
			return p, errors.New("tuntest: IPv4 fragment")
		}
		p.Src = netip.AddrFrom4([4]byte(b[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		p.Proto, p.TTL = b[9], b[8]
		body = b[hl:total]
		if p.Proto != ProtoICMP {
			pseudo = pseudoHeader(p.Src, p.Dst, p.Proto, len(body))
		}
	case 6:
		if len(b) < ipv6HeaderLen {
			return p, errShort
		}
		total := ipv6HeaderLen + int(binary.BigEndian.Uint16(b[4:]))
		if total > len(b) {
			return p, fmt.Errorf("tuntest: IPv6 payload length %d, %d bytes", total-ipv6HeaderLen, len(b)-ipv6HeaderLen)
		}
		p.Src = netip.AddrFrom16([16]byte(b[8:24]))
		p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		p.Proto, p.TTL = b[6], b[7]
		body = b[ipv6HeaderLen:total]
		pseudo = pseudoHeader(p.Src, p.Dst, p.Proto, len(body))
	default:
		return p, fmt.Errorf("tuntest: IP version %d", b[0]>>4)
	}
	return p, p.parseBody(body, pseudo)
}

// parseBody decodes the transport header of body; pseudo is the sum of the
// pseudo-header for the protocols whose checksum covers one.
func (p *Packet) parseBody(body []byte, pseudo uint32) error {
	switch p.Proto {
	case ProtoUDP:
		if len(body) < udpHeaderLen || int(binary.BigEndian.Uint16(body[4:])) != len(body) {
			return fmt.Errorf("tuntest: UDP length does not match the IP length %d", len(body))
		}
		if (p.Src.Is6() || binary.BigEndian.Uint16(body[6:]) != 0) && fold(checksum(body, pseudo)) != 0xffff {
			return fmt.Errorf("%w in UDP", errChecksum)
		}
		p.SrcPort, p.DstPort = binary.BigEndian.Uint16(body[0:]), binary.BigEndian.Uint16(body[2:])
		p.Payload = body[udpHeaderLen:]
	case ProtoTCP:
		if len(body) < 20 || int(body[12]>>4)*4 < 20 || int(body[12]>>4)*4 > len(body) {
			return errShort
		}
		if fold(checksum(body, pseudo)) != 0xffff {
			return fmt.Errorf("%w in TCP", errChecksum)
		}
		p.SrcPort, p.DstPort = binary.BigEndian.Uint16(body[0:]), binary.BigEndian.Uint16(body[2:])
		p.Payload = body[int(body[12]>>4)*4:]
	case ProtoICMP, ProtoICMPv6:
		if len(body) < 4 {
			return errShort
		}
		if fold(checksum(body, pseudo)) != 0xffff {
			return fmt.Errorf("%w in ICMP", errChecksum)
		}
		p.Type, p.Code = body[0], body[1]
		p.Payload = body[4:]
		if p.IsEcho() {
			if len(body) < echoHeaderLen {
				return errShort
			}
			p.ID, p.Seq = binary.BigEndian.Uint16(body[4:]), binary.BigEndian.Uint16(body[6:])
			p.Payload = body[echoHeaderLen:]
		}
	default:
		p.Payload = body
	}
	return nil
}

// pseudoHeader returns the unfolded sum of the IPv4 or IPv6 pseudo-header.
func pseudoHeader(src, dst netip.Addr, proto uint8, length int) uint32 {
	var sum uint32
	s, d := src.AsSlice(), dst.AsSlice()
	sum = checksum(s, sum)
	sum = checksum(d, sum)
	return sum + uint32(proto) + uint32(length)
}

// checksum adds b to the running one's-complement sum.
func checksum(b []byte, sum uint32) uint32 {
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// fold folds a running sum into 16 bits.
func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}
