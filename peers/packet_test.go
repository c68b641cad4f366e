package peers

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/hyperlan/hyperlan/tun/tuntest"
)

var (
	hostA4, hostB4 = netip.MustParseAddr("10.77.0.1"), netip.MustParseAddr("10.77.0.2")
	hostA6, hostB6 = netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
)

func TestPacketAddrs(t *testing.T) {
	for _, pkt := range [][]byte{
		tuntest.EchoRequest(hostA4, hostB4, 1, 1, nil),
		tuntest.EchoRequest(hostA6, hostB6, 1, 1, nil),
	} {
		src, dst, ok := packetAddrs(pkt)
		if !ok || (src != hostA4 && src != hostA6) || (dst != hostB4 && dst != hostB6) {
			t.Errorf("packetAddrs: %v %v %v", src, dst, ok)
		}
	}
	for _, bad := range [][]byte{nil, {0x45}, make([]byte, 39), append([]byte{0x46}, make([]byte, 19)...), {0x50, 0, 0, 0}} {
		if _, _, ok := packetAddrs(bad); ok {
			t.Errorf("packetAddrs(%x) ok", bad)
		}
	}
}

func TestTooBigMessages(t *testing.T) {
	payload := bytes.Repeat([]byte{0xab}, 1400)
	for _, tt := range []struct {
		pkt       []byte
		proto     uint8
		typ, code uint8
		quoted    int
	}{
		{tuntest.UDP(netip.AddrPortFrom(hostA4, 1), netip.AddrPortFrom(hostB4, 2), payload), tuntest.ProtoICMP, 3, 4, icmpv4Max - 28},
		{tuntest.UDP(netip.AddrPortFrom(hostA6, 1), netip.AddrPortFrom(hostB6, 2), payload), tuntest.ProtoICMPv6, 2, 0, icmpv6Max - 48},
		{tuntest.UDP(netip.AddrPortFrom(hostA4, 1), netip.AddrPortFrom(hostB4, 2), payload[:10]), tuntest.ProtoICMP, 3, 4, 38},
	} {
		b := appendTooBig(make([]byte, 3, 2048), tt.pkt, 1128)
		if !bytes.Equal(b[:3], []byte{0, 0, 0}) {
			t.Fatal("appendTooBig overwrote dst")
		}
		p, err := tuntest.Parse(b[3:])
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if p.Proto != tt.proto || p.Type != tt.typ || p.Code != tt.code || p.TTL != icmpTTL {
			t.Errorf("ICMP %+v", p)
		}
		if !(p.Src == hostB4 && p.Dst == hostA4 || p.Src == hostB6 && p.Dst == hostA6) {
			t.Errorf("addresses %v -> %v", p.Src, p.Dst)
		}
		mtu := uint32(binary.BigEndian.Uint16(p.Payload[2:]))
		if tt.proto == tuntest.ProtoICMPv6 {
			mtu = binary.BigEndian.Uint32(p.Payload)
		}
		if mtu != 1128 {
			t.Errorf("MTU %d", mtu)
		}
		if q := p.Payload[4:]; len(q) != tt.quoted || !bytes.Equal(q, tt.pkt[:len(q)]) {
			t.Errorf("quotes %d bytes, want %d of the packet", len(q), tt.quoted)
		}
	}
	// No ICMP error answers an ICMP error or a later fragment.
	icmpErr := appendTooBig(nil, tuntest.UDP(netip.AddrPortFrom(hostA4, 1), netip.AddrPortFrom(hostB4, 2), payload), 1128)
	icmp6Err := appendTooBig(nil, tuntest.UDP(netip.AddrPortFrom(hostA6, 1), netip.AddrPortFrom(hostB6, 2), payload), 1128)
	later := tuntest.UDP(netip.AddrPortFrom(hostA4, 1), netip.AddrPortFrom(hostB4, 2), payload)
	binary.BigEndian.PutUint16(later[6:], 100)
	for _, pkt := range [][]byte{icmpErr, icmp6Err, later} {
		if b := appendTooBig(nil, pkt, 1128); len(b) != 0 {
			t.Errorf("answered %x", pkt[:24])
		}
	}
	// An echo request is answered.
	if b := appendTooBig(nil, tuntest.EchoRequest(hostA4, hostB4, 1, 1, payload), 1128); len(b) == 0 {
		t.Error("echo request not answered")
	}
}

func TestFragmentIPv4(t *testing.T) {
	payload := make([]byte, 3000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	pkt := tuntest.UDP(netip.AddrPortFrom(hostA4, 1), netip.AddrPortFrom(hostB4, 2), payload)
	pkt[6] = 0 // no DF
	binary.BigEndian.PutUint16(pkt[10:], 0)
	binary.BigEndian.PutUint16(pkt[10:], ^fold(sum(pkt[:20], 0)))

	// With header options in front: 4 bytes of NOP.
	withOpts := append(append(append([]byte{}, pkt[:20]...), 1, 1, 1, 1), pkt[20:]...)
	withOpts[0] = 0x46
	binary.BigEndian.PutUint16(withOpts[2:], uint16(len(withOpts)))
	binary.BigEndian.PutUint16(withOpts[10:], 0)
	binary.BigEndian.PutUint16(withOpts[10:], ^fold(sum(withOpts[:24], 0)))

	for _, in := range [][]byte{pkt, withOpts} {
		var frags [][]byte
		n := fragmentIPv4(in, 1128, make([]byte, 1128), func(b []byte) error {
			if len(b) > 1128 {
				t.Errorf("fragment of %d bytes", len(b))
			}
			frags = append(frags, bytes.Clone(b))
			return nil
		})
		if n != 3 || len(frags) != 3 {
			t.Fatalf("%d fragments", n)
		}
		got := reassemble(t, frags)
		hl := int(in[0]&0x0f) * 4
		if !bytes.Equal(got[hl:], in[hl:]) || !bytes.Equal(got[12:20], in[12:20]) {
			t.Errorf("reassembled packet differs")
		}
		if p, err := tuntest.Parse(got); err != nil || !bytes.Equal(p.Payload, payload) {
			t.Errorf("reassembled: %v", err)
		}
		// Fragmenting a fragment keeps its offset and MF bit: the second fragment again.
		var sub [][]byte
		fragmentIPv4(frags[1], 600, make([]byte, 600), func(b []byte) error {
			sub = append(sub, bytes.Clone(b))
			return nil
		})
		first := binary.BigEndian.Uint16(sub[0][6:])
		last := binary.BigEndian.Uint16(sub[len(sub)-1][6:])
		if first != binary.BigEndian.Uint16(frags[1][6:]) || last&ipv4MF == 0 {
			t.Errorf("refragmented flags %04x..%04x from %04x", first, last, binary.BigEndian.Uint16(frags[1][6:]))
		}
	}
}

func TestProof(t *testing.T) {
	secret := testSecret(9)
	hash := bytes.Repeat([]byte{1}, 64)
	p := sessionProof(secret, roleInitiator, hash)
	// A compatibility contract between versions, like configs' derivations.
	if got := hex.EncodeToString(p[:]); got != "b76980fad195b93f906baeeecfac765ed86cd7849dbb632bf9e609a11769b3bb" {
		t.Errorf("proof %s changed", got)
	}
	if !checkProof(secret, roleInitiator, hash, p) {
		t.Fatal("proof does not check")
	}
	other := bytes.Clone(hash)
	other[63] ^= 1
	for name, ok := range map[string]bool{
		"other role":   checkProof(secret, roleResponder, hash, p),
		"other hash":   checkProof(secret, roleInitiator, other, p),
		"other secret": checkProof(testSecret(8), roleInitiator, hash, p),
	} {
		if ok {
			t.Errorf("proof checks with %s", name)
		}
	}
}
