package peers

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// The few IP header fields the data plane reads and writes. Packets are checked only as far
// as the engine needs them; the kernels at both ends check the rest.

const (
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
	protoICMP     = 1
	protoICMPv6   = 58
	ipv4DF        = 0x4000 // don't fragment
	ipv4MF        = 0x2000 // more fragments
	ipv4Offset    = 0x1fff // fragment offset, in 8-byte units

	icmpDestUnreachable = 3
	icmpFragNeeded      = 4 // code of icmpDestUnreachable
	icmpv6PacketTooBig  = 2

	// What an ICMP error quotes of the packet it answers: IPv4 hosts keep the answer within
	// 576 bytes (RFC 1812 4.3.2.3), IPv6 ones within the minimum MTU (RFC 4443 2.4).
	icmpv4Max = 576
	icmpv6Max = 1280
	icmpTTL   = 64
)

// packetAddrs returns the source and destination of an IPv4 or IPv6 packet, and false when b
// is not one (too short, another version, a header length out of range).
func packetAddrs(b []byte) (src, dst netip.Addr, ok bool) {
	if len(b) == 0 {
		return src, dst, false
	}
	switch b[0] >> 4 {
	case 4:
		if len(b) < ipv4HeaderLen || int(b[0]&0x0f)*4 < ipv4HeaderLen || int(b[0]&0x0f)*4 > len(b) {
			return src, dst, false
		}
		return netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20])), true
	case 6:
		if len(b) < ipv6HeaderLen {
			return src, dst, false
		}
		return netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40])), true
	}
	return src, dst, false
}

// isICMPError reports whether b carries an ICMP or ICMPv6 error message, which no ICMP error
// may answer (RFC 1122 3.2.2, RFC 4443 2.4), or a non-first IPv4 fragment, which none
// answers either.
func isICMPError(b []byte) bool {
	if b[0]>>4 == 4 {
		hl := int(b[0]&0x0f) * 4
		if binary.BigEndian.Uint16(b[6:])&ipv4Offset != 0 {
			return true
		}
		if b[9] != protoICMP || len(b) <= hl {
			return false
		}
		switch b[hl] {
		case 3, 4, 5, 11, 12: // unreachable, source quench, redirect, time exceeded, parameter problem
			return true
		}
		return false
	}
	// Extension headers are not followed: an ICMPv6 error behind one is answered, which the
	// receiving host drops.
	return b[6] == protoICMPv6 && len(b) > ipv6HeaderLen && b[ipv6HeaderLen] < 128
}

// appendTooBig appends to dst the ICMP error that tells the sender of pkt to send packets of
// at most mtu bytes: "fragmentation needed" for IPv4, "packet too big" for IPv6, from pkt's
// destination to its source. It returns dst unchanged when no error may be sent (pkt is an
// ICMP error itself, or a non-first fragment). pkt must have passed packetAddrs.
func appendTooBig(dst, pkt []byte, mtu int) []byte {
	if isICMPError(pkt) {
		return dst
	}
	start := len(dst)
	if pkt[0]>>4 == 4 {
		quote := pkt[:min(len(pkt), icmpv4Max-ipv4HeaderLen-8)]
		total := ipv4HeaderLen + 8 + len(quote)
		dst = extend(dst, total)
		h := dst[start:]
		h[0] = 0x45
		h[1] = 0xc0 // internetwork control
		binary.BigEndian.PutUint16(h[2:], uint16(total))
		h[8] = icmpTTL
		h[9] = protoICMP
		copy(h[12:16], pkt[16:20]) // from the packet's destination
		copy(h[16:20], pkt[12:16]) // to its source
		binary.BigEndian.PutUint16(h[10:], ^fold(sum(h[:ipv4HeaderLen], 0)))
		m := h[ipv4HeaderLen:]
		m[0], m[1] = icmpDestUnreachable, icmpFragNeeded
		binary.BigEndian.PutUint16(m[6:], uint16(mtu))
		copy(m[8:], quote)
		binary.BigEndian.PutUint16(m[2:], ^fold(sum(m, 0)))
		return dst
	}
	quote := pkt[:min(len(pkt), icmpv6Max-ipv6HeaderLen-8)]
	plen := 8 + len(quote)
	dst = extend(dst, ipv6HeaderLen+plen)
	h := dst[start:]
	h[0] = 6 << 4
	binary.BigEndian.PutUint16(h[4:], uint16(plen))
	h[6] = protoICMPv6
	h[7] = icmpTTL
	copy(h[8:24], pkt[24:40])
	copy(h[24:40], pkt[8:24])
	m := h[ipv6HeaderLen:]
	m[0] = icmpv6PacketTooBig
	binary.BigEndian.PutUint32(m[4:], uint32(mtu))
	copy(m[8:], quote)
	pseudo := sum(h[8:40], uint32(plen)+protoICMPv6)
	binary.BigEndian.PutUint16(m[2:], ^fold(sum(m, pseudo)))
	return dst
}

// extend returns b with n zero bytes appended, allocating only when b's capacity is short
// (unlike append(b, make([]byte, n)...) also under the race detector).
func extend(b []byte, n int) []byte {
	b = slices.Grow(b, n)
	b = b[:len(b)+n]
	clear(b[len(b)-n:])
	return b
}

// fragmentIPv4 splits the IPv4 packet pkt, which may be fragmented (no DF bit), into
// fragments of at most mtu bytes and passes each to send, built in scratch (which needs
// mtu bytes of capacity). The first fragment keeps the header's options; the others get
// the 20-byte header alone (strictly only options with the copy flag belong there; hosts
// reassemble from the first fragment's header). A fragment of pkt is fragmented further
// with offsets and the MF bit carried over. It returns how many fragments send accepted.
func fragmentIPv4(pkt []byte, mtu int, scratch []byte, send func([]byte) error) int {
	hl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if total > len(pkt) || total < hl {
		return 0
	}
	payload := pkt[hl:total]
	flags := binary.BigEndian.Uint16(pkt[6:])
	base := int(flags&ipv4Offset) * 8
	lastMF := flags&ipv4MF != 0
	sent := 0
	for off, first := 0, true; off < len(payload); first = false {
		h := ipv4HeaderLen
		if first {
			h = hl
		}
		size := (mtu - h) &^ 7
		if size <= 0 {
			return sent
		}
		end := min(off+size, len(payload))
		b := scratch[:h+end-off]
		copy(b, pkt[:h])
		b[0] = 0x40 | byte(h/4)
		copy(b[h:], payload[off:end])
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		fo := uint16((base + off) / 8)
		if end < len(payload) || lastMF {
			fo |= ipv4MF
		}
		binary.BigEndian.PutUint16(b[6:], fo)
		b[10], b[11] = 0, 0
		binary.BigEndian.PutUint16(b[10:], ^fold(sum(b[:h], 0)))
		if send(b) == nil {
			sent++
		}
		off = end
	}
	return sent
}

// sum adds b to the running one's-complement sum s.
func sum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// fold folds a running sum into 16 bits.
func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
