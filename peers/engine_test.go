package peers

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/netsim"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/routing"
	"github.com/hyperlan/hyperlan/tun/tuntest"
)

// TestTwoPeersPing: two members that list each other as [[peer]] (no secret) connect
// through the DHT and ping each other by virtual IPv4 and IPv6.
func TestTwoPeersPing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newTestlab(t, nil).pair(0xa1, 0xb1)
		a.mustPing(b)
		b.mustPing(a)
		sa, _ := a.peerStatus(b)
		if !sa.Connected || sa.Name != "b" || sa.IPv4 != b.ip4 || sa.PacketsOut == 0 || sa.PacketsIn == 0 {
			t.Errorf("a's status of b: %+v", sa)
		}
	})
}

// TestSecretMeshOfThree: three members that list no peers find each other on the secret's
// topic, prove the secret and ping each other pairwise.
func TestSecretMeshOfThree(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestlab(t, testSecret(1))
		a, b, c := l.newMember("a", 0xa2), l.newMember("b", 0xb2), l.newMember("c", 0xc2)
		for _, m := range []*member{a, b, c} {
			m.start(m.config())
		}
		for _, pair := range [][2]*member{{a, b}, {b, c}, {c, a}} {
			pair[0].mustPing(pair[1])
			pair[1].mustPing(pair[0])
		}
		for _, m := range []*member{a, b, c} {
			st := m.e.Status()
			if len(st.Peers) != 2 {
				t.Fatalf("%s knows %d members: %+v", m.name, len(st.Peers), st.Peers)
			}
			for _, p := range st.Peers {
				if !p.Connected || p.Configured || p.Name == "" || !p.IPv4.IsValid() || !p.IPv6.IsValid() {
					t.Errorf("%s: member %+v", m.name, p)
				}
			}
		}
	})
}

func testSecret(b byte) []byte {
	s := make([]byte, configs.SecretSize)
	for i := range s {
		s[i] = b
	}
	return s
}

// TestSpoofedSourceDropped: a member that sends packets with a source address that is not
// its own (another member's, or outside the network) gets them dropped and counted.
func TestSpoofedSourceDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestlab(t, nil)
		a, b, c := l.newMember("a", 0xa3), l.newMember("b", 0xb3), l.newMember("c", 0xc3)
		a.start(a.config(b, c))
		b.start(b.config(a, c))
		c.start(c.config(a, b))
		b.mustPing(a)
		c.mustPing(a)
		for _, src := range []netip.Addr{c.ip4, netip.MustParseAddr("192.0.2.9")} {
			b.write(tuntest.UDP(netip.AddrPortFrom(src, 999), netip.AddrPortFrom(a.ip4, 53), []byte("spoofed")))
		}
		b.write(tuntest.UDP(netip.AddrPortFrom(c.ip6, 999), netip.AddrPortFrom(a.ip6, 53), []byte("spoofed")))
		b.write(tuntest.UDP(netip.AddrPortFrom(b.ip4, 999), netip.AddrPortFrom(a.ip4, 53), []byte("genuine")))
		p, ok := a.waitPacket(5*time.Second, func(p tuntest.Packet) bool { return p.Proto == tuntest.ProtoUDP })
		if !ok || string(p.Payload) != "genuine" || p.Src != b.ip4 {
			t.Fatalf("a got %+v, %v; want b's genuine packet", p, ok)
		}
		if p, ok := a.waitPacket(2*time.Second, func(p tuntest.Packet) bool { return p.Proto == tuntest.ProtoUDP }); ok {
			t.Fatalf("a got a second packet %+v", p)
		}
		if got := a.e.Status().Counters.Spoofed; got != 3 {
			t.Errorf("a counted %d spoofed packets, want 3", got)
		}
	})
}

// TestNonMemberRefused: on a network without a secret, a key that is no configured peer
// cannot connect: the firewall refuses it before any session.
func TestNonMemberRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newTestlab(t, nil).pair(0xa4, 0xb4)
		b.mustPing(a)
		l := a.l
		stranger := l.newMember("x", 0xee)
		node, err := dht.New(dht.Options{Host: "10.0.3.1", ListenPacket: l.net.ListenPacket, KeyPair: stranger.kp,
			Bootstrap: []rpc.BootstrapNode{{Host: "10.0.0.1", Port: 49737}}})
		if err != nil {
			t.Fatal(err)
		}
		defer node.Destroy(context.Background(), dht.DestroyOptions{Force: true})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := node.Connect(ctx, a.kp.PublicKey, nil)
		if err == nil {
			c.Close()
			t.Fatal("a stranger connected")
		}
		if !errors.Is(err, dht.ErrPeerConnectionFailed) {
			t.Errorf("stranger's Connect: %v, want PEER_CONNECTION_FAILED", err)
		}
		if n := len(a.e.Status().Peers); n != 1 {
			t.Errorf("a knows %d members", n)
		}
	})
}

// TestWrongSecretCannotJoin: a node with another secret that dials a member directly (it
// knows the key) gets through the firewall of a network with a secret but fails the proof:
// the member closes the session, refuses the key, and none of its packets arrive.
func TestWrongSecretCannotJoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestlab(t, testSecret(2))
		a, b := l.newMember("a", 0xa5), l.newMember("b", 0xb5)
		a.start(a.config())
		b.start(b.config())
		b.mustPing(a)

		// m believes in another secret and lists a as a peer; its own addresses are in the
		// network's prefixes.
		m := l.newMember("m", 0xe5)
		cfg := m.config(a)
		cfg.Network.Secret = testSecret(3)
		m.start(cfg)
		if m.ping(m.ip4, a.ip4, 20) {
			t.Fatal("a member with the wrong secret pinged a")
		}
		st, _ := m.peerStatus(a)
		if st.Connected || st.LastError == "" {
			t.Errorf("m's status of a: %+v", st)
		}
		for _, p := range a.e.Status().Peers {
			if p.PublicKey == m.key {
				t.Errorf("a lists m: %+v", p)
			}
		}
		a.e.mu.Lock()
		_, refused := a.e.refused[m.key]
		a.e.mu.Unlock()
		if !refused {
			t.Error("a did not refuse m's key")
		}
		if got := a.e.Status().Counters; got.NoSession+got.Spoofed > 0 {
			// m's pings never reached a's data plane: it had no session to send them on.
			t.Logf("a's counters %+v", got)
		}
		if _, ok := a.waitPacket(time.Second, func(p tuntest.Packet) bool { return p.Src == m.ip4 }); ok {
			t.Error("a's OS got a packet from m")
		}
	})
}

// TestKilledMemberReconnects: a member vanishes without a word (its host is cut off, then
// it stops), and starts again with the same key on another address: the others notice the
// silence, and the mesh heals by itself.
func TestKilledMemberReconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestlab(t, testSecret(4))
		a, b, c := l.newMember("a", 0xa6), l.newMember("b", 0xb6), l.newMember("c", 0xc6)
		a.start(a.config())
		b.start(b.config(c)) // b lists c as well: admission by key and by secret at once
		c.start(c.config())
		a.mustPing(b)
		c.mustPing(b)

		dead := netip.MustParseAddr(b.host)
		l.net.SetFilter(func(from, to netip.AddrPort, _ []byte) bool {
			return from.Addr() != dead && to.Addr() != dead
		})
		b.stop()
		if a.ping(a.ip4, b.ip4, 3) {
			t.Fatal("a pinged the dead b")
		}
		b.start(b.config(c))
		start := time.Now()
		a.mustPing(b)
		c.mustPing(b)
		b.mustPing(a)
		t.Logf("healed after %v", time.Since(start))
		for _, m := range []*member{a, c} {
			if st, _ := m.peerStatus(b); !st.Connected || st.Remote.Addr().String() != b.host {
				t.Errorf("%s's status of b: %+v", m.name, st)
			}
		}
	})
}

// TestDualDialTieBreak: when both members of a pair dialled and both connections came up,
// both keep the one the lower key dialled, whichever came up first. The test makes the dual
// dial certain: once the first connection is up, the side that did not dial it dials too.
// The lower key dials first unless it waits longer than the higher key's head start.
func TestDualDialTieBreak(t *testing.T) {
	t.Run("lower first", func(t *testing.T) { testDualDial(t, false) })
	t.Run("higher first", func(t *testing.T) { testDualDial(t, true) })
}

func testDualDial(t *testing.T, higherFirst bool) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestlab(t, nil)
		lower, higher := l.newMember("a", 0xa7), l.newMember("b", 0xb7)
		if bytes.Compare(higher.key[:], lower.key[:]) < 0 {
			lower, higher = higher, lower
		}
		var slow []func(*Engine)
		if higherFirst {
			slow = append(slow, func(e *Engine) { e.timing.backoffMin = 10 * time.Second })
		}
		lower.start(lower.config(higher), slow...)
		higher.start(higher.config(lower))
		lower.mustPing(higher)
		first, _ := lower.peerStatus(higher)
		if first.Initiator == higherFirst {
			t.Fatalf("the first connection: %+v", first)
		}
		dialer, other := lower, higher
		if first.Initiator {
			dialer, other = higher, lower
		}
		if since := time.Since(first.Since); since > defaultTiming.tieWindow/2 {
			t.Fatalf("the first connection came up %v ago: too long for a dual dial", since)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := dialer.e.node.Connect(ctx, other.kp.PublicKey, &dht.ConnectOptions{KeyPair: dialer.kp, OnMessage: dialer.e.onDatagram})
		if err != nil {
			t.Fatal(err)
		}
		if !dialer.e.startSession(c) {
			t.Fatal("startSession")
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		sl, _ := lower.peerStatus(higher)
		sh, _ := higher.peerStatus(lower)
		if !sl.Connected || !sh.Connected || !sl.Initiator || sh.Initiator {
			t.Fatalf("lower %s: %+v\nhigher %s: %+v", lower.name, sl, higher.name, sh)
		}
		if dialer == higher {
			// The second connection lost on both sides; the first stays.
			select {
			case <-c.Done():
			default:
				t.Error("the higher key's second connection is still open")
			}
			if !sl.Since.Equal(first.Since) || sl.Sessions != 1 {
				t.Errorf("the first connection was replaced: %+v", sl)
			}
		} else if sl.Since.Equal(first.Since) || sl.Sessions != 2 || sh.Sessions != 2 {
			t.Errorf("the lower key's connection did not replace the first: %+v, %+v", sl, sh)
		}
		if len(lower.e.Status().Peers) != 1 || c.RemotePublicKey() != [32]byte(other.key) {
			t.Error("status lists more members")
		}
		lower.mustPing(higher)
	})
}

// TestSubnetRoutes: a configured peer's subnet is routed to it and accepted from it; a
// member admitted by the secret gets its private subnet but not a public prefix or a
// default route; the router is given the network's prefixes and the accepted subnets.
func TestSubnetRoutes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestlab(t, testSecret(5))
		a, b, c := l.newMember("a", 0xa8), l.newMember("b", 0xb8), l.newMember("c", 0xc8)
		b.routes = []netip.Prefix{netip.MustParsePrefix("192.168.50.0/24")}
		c.routes = []netip.Prefix{
			netip.MustParsePrefix("192.168.60.0/24"), netip.MustParsePrefix("0.0.0.0/0"),
			netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("fd00:60::/64"),
		}
		a.start(a.config(b)) // b by key, c by the secret
		b.start(b.config(a))
		c.start(c.config())
		a.mustPing(b)
		a.mustPing(c)

		host := netip.MustParseAddr("192.168.50.7")
		a.write(tuntest.UDP(netip.AddrPortFrom(a.ip4, 5000), netip.AddrPortFrom(host, 53), []byte("to the subnet")))
		p, ok := b.waitPacket(5*time.Second, func(p tuntest.Packet) bool { return p.Dst == host })
		if !ok || string(p.Payload) != "to the subnet" {
			t.Fatalf("b's OS got %+v, %v", p, ok)
		}
		b.write(tuntest.UDP(netip.AddrPortFrom(host, 53), netip.AddrPortFrom(a.ip4, 5000), []byte("from the subnet")))
		if p, ok := a.waitPacket(5*time.Second, func(p tuntest.Packet) bool { return p.Src == host }); !ok || string(p.Payload) != "from the subnet" {
			t.Fatalf("a's OS got %+v, %v", p, ok)
		}

		want := []netip.Prefix{
			l.net4, netip.MustParsePrefix("192.168.50.0/24"), netip.MustParsePrefix("192.168.60.0/24"),
			netip.MustParsePrefix("fd00:60::/64"), l.net6,
		}
		var got routing.Config
		for range 10 {
			if got = a.router.last(); slices.Equal(got.Routes, want) {
				break
			}
			time.Sleep(time.Second)
		}
		if !slices.Equal(got.Routes, want) {
			t.Errorf("a's routes %v, want %v", got.Routes, want)
		}
		wantAddrs := []netip.Prefix{netip.PrefixFrom(a.ip4, 16), netip.PrefixFrom(a.ip6, 64)}
		if !slices.Equal(got.Addrs, wantAddrs) || got.MTU != configs.DefaultMTU {
			t.Errorf("a's router config %+v, want addresses %v", got, wantAddrs)
		}
		st, _ := a.peerStatus(c)
		if !slices.Equal(st.Routes, []netip.Prefix{netip.MustParsePrefix("192.168.60.0/24"), netip.MustParsePrefix("fd00:60::/64")}) {
			t.Errorf("a accepts from c the routes %v", st.Routes)
		}

		// When c leaves, its subnets leave the table and the router.
		c.stop()
		for range 30 {
			if got = a.router.last(); len(got.Routes) == 3 {
				break
			}
			time.Sleep(time.Second)
		}
		if want := []netip.Prefix{l.net4, netip.MustParsePrefix("192.168.50.0/24"), l.net6}; !slices.Equal(got.Routes, want) {
			t.Errorf("after c left, a's routes %v, want %v", got.Routes, want)
		}
	})
}

// TestTooBig: on a path that carries no more than the UDX base size, a packet larger than
// fits is answered with ICMP "fragmentation needed" (IPv4 with DF) or ICMPv6 "packet too
// big" written back to the sender's device, and an IPv4 packet without DF is sent in
// fragments that reassemble to it.
func TestTooBig(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestlab(t, nil)
		l.net.Close()
		// A UDP payload of at most 1172 bytes: IP packets of udx.MTUBase (1200).
		l.net = netsim.New(netsim.Options{Delay: 5 * time.Millisecond, MTU: 1172})
		l.restartDHT()
		a, b := l.newMember("a", 0xa9), l.newMember("b", 0xb9)
		a.start(a.config(b))
		b.start(b.config(a))
		a.mustPing(b)
		time.Sleep(10 * time.Second) // the MTU search gives up

		big := make([]byte, 1200)
		for i := range big {
			big[i] = byte(i)
		}
		a.write(tuntest.UDP(netip.AddrPortFrom(a.ip6, 7), netip.AddrPortFrom(b.ip6, 7), big))
		p, ok := a.waitPacket(time.Second, func(p tuntest.Packet) bool { return p.Proto == tuntest.ProtoICMPv6 })
		if !ok || p.Type != 2 || p.Src != b.ip6 || p.Dst != a.ip6 {
			t.Fatalf("a got %+v, %v; want a packet too big", p, ok)
		}
		if mtu := binary.BigEndian.Uint32(p.Payload); mtu != 1128 {
			t.Errorf("packet too big says MTU %d, want 1128", mtu)
		}

		df := tuntest.UDP(netip.AddrPortFrom(a.ip4, 7), netip.AddrPortFrom(b.ip4, 7), big)
		a.write(df)
		p, ok = a.waitPacket(time.Second, func(p tuntest.Packet) bool { return p.Proto == tuntest.ProtoICMP })
		if !ok || p.Type != 3 || p.Code != 4 || p.Src != b.ip4 || p.Dst != a.ip4 {
			t.Fatalf("a got %+v, %v; want fragmentation needed", p, ok)
		}
		if mtu := binary.BigEndian.Uint16(p.Payload[2:]); mtu != 1128 {
			t.Errorf("fragmentation needed says MTU %d, want 1128", mtu)
		}

		noDF := slices.Clone(df)
		noDF[6] = 0 // clear DF
		binary.BigEndian.PutUint16(noDF[10:], 0)
		binary.BigEndian.PutUint16(noDF[10:], ^fold(sum(noDF[:20], 0)))
		a.write(noDF)
		time.Sleep(time.Second)
		b.mu.Lock()
		frags := b.frags
		b.frags = nil
		b.mu.Unlock()
		if len(frags) != 2 {
			t.Fatalf("b got %d fragments, want 2", len(frags))
		}
		if got := reassemble(t, frags); !bytes.Equal(got, noDF) {
			t.Errorf("fragments reassemble to %d bytes, not the packet sent", len(got))
		}
		if c := a.e.Status().Counters; c.TooBig != 2 || c.Fragmented != 1 {
			t.Errorf("counters %+v", c)
		}
	})
}

// reassemble puts IPv4 fragments (in any order) back together.
func reassemble(t *testing.T, frags [][]byte) []byte {
	t.Helper()
	var payload []byte
	var header []byte
	for _, f := range frags {
		hl := int(f[0]&0x0f) * 4
		off := int(binary.BigEndian.Uint16(f[6:])&ipv4Offset) * 8
		if fold(sum(f[:hl], 0)) != 0xffff {
			t.Errorf("fragment at %d: bad header checksum", off)
		}
		if off == 0 {
			header = slices.Clone(f[:hl])
		}
		if need := off + len(f) - hl; len(payload) < need {
			payload = append(payload, make([]byte, need-len(payload))...)
		}
		copy(payload[off:], f[hl:])
	}
	if header == nil {
		t.Fatal("no first fragment")
	}
	binary.BigEndian.PutUint16(header[2:], uint16(len(header)+len(payload)))
	binary.BigEndian.PutUint16(header[6:], 0)
	binary.BigEndian.PutUint16(header[10:], 0)
	binary.BigEndian.PutUint16(header[10:], ^fold(sum(header, 0)))
	return append(header, payload...)
}

// TestReload: a reload that removes a configured peer ends its session and refuses it; one
// that lists it again brings it back.
func TestReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := newTestlab(t, nil).pair(0xaa, 0xba)
		a.mustPing(b)
		if err := a.e.Reload(nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if _, ok := a.peerStatus(b); ok {
			t.Error("a still lists b")
		}
		if b.ping(b.ip4, a.ip4, 5) {
			t.Error("b pinged a after a removed it")
		}
		if err := a.e.Reload([]configs.Peer{a.asPeer()}); err == nil {
			t.Error("Reload took the node's own key")
		}
		if err := a.e.Reload([]configs.Peer{b.asPeer()}); err != nil {
			t.Fatal(err)
		}
		a.mustPing(b)
	})
}

// TestNATMeshRoams: two members behind NATs of different kinds and one on a public address
// connect pairwise (holepunching between the NATed ones) and ping; then one NAT's public
// address changes, and the mesh heals by itself.
func TestNATMeshRoams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestlab(t, testSecret(6))
		natA := l.net.AddNAT(netsim.NATOptions{Public: netip.MustParseAddr("198.51.100.2"), Inside: netip.MustParsePrefix("192.168.1.0/24")})
		l.net.AddNAT(netsim.NATOptions{Public: netip.MustParseAddr("203.0.113.2"), Inside: netip.MustParsePrefix("192.168.2.0/24"), Mapping: netsim.MappingRandom})
		a, b, c := l.newMember("a", 0xab), l.newMember("b", 0xbb), l.newMember("c", 0xcb)
		a.at, b.at = "192.168.1.2", "192.168.2.2"
		for _, m := range []*member{a, b, c} {
			m.start(m.config())
		}
		pairs := [][2]*member{{a, b}, {b, c}, {c, a}}
		for _, pair := range pairs {
			pair[0].mustPing(pair[1])
			pair[1].mustPing(pair[0])
		}
		st, _ := a.peerStatus(b)
		if st.Path != "holepunch" {
			t.Errorf("a reaches b by %q, want a holepunch", st.Path)
		}

		natA.SetPublic(netip.MustParseAddr("198.51.100.3"))
		start := time.Now()
		for _, pair := range pairs {
			pair[0].mustPing(pair[1])
			pair[1].mustPing(pair[0])
		}
		t.Logf("healed after %v", time.Since(start))
		for _, m := range []*member{b, c} {
			if st, _ := m.peerStatus(a); st.Remote.Addr() != netip.MustParseAddr("198.51.100.3") {
				t.Errorf("%s reaches a at %v", m.name, st.Remote)
			}
		}
	})
}

// TestSquatterLosesDerivedAddress: a member admitted by the secret that claims another
// member's key-derived address (an explicit address in its own config) holds it only until
// that member joins.
func TestSquatterLosesDerivedAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestlab(t, testSecret(7))
		a, b, m := l.newMember("a", 0xac), l.newMember("b", 0xbc), l.newMember("m", 0xec)
		m.ip4 = b.ip4
		a.start(a.config())
		m.start(m.config())
		if !m.ping(m.ip4, a.ip4, 60) {
			t.Fatal("m cannot reach a")
		}
		b.start(b.config())
		a.mustPing(b)
		sb, _ := a.peerStatus(b)
		sm, _ := a.peerStatus(m)
		if sb.IPv4 != b.ip4 || sm.IPv4.IsValid() || sm.IPv6 != m.ip6 {
			t.Errorf("a gives b %v and m %v/%v", sb.IPv4, sm.IPv4, sm.IPv6)
		}
	})
}

// TestLifecycle: Close without Run releases the deps; Run after Close, and a second Run,
// return ErrRunning; Close is idempotent.
func TestLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestlab(t, nil)
		a := l.newMember("a", 0xad)
		node, err := dht.New(dht.Options{Host: "10.0.4.1", ListenPacket: l.net.ListenPacket, KeyPair: a.kp,
			Bootstrap: []rpc.BootstrapNode{{Host: "10.0.0.1", Port: 49737}}})
		if err != nil {
			t.Fatal(err)
		}
		dev, osEnd := tuntest.NewPair(tuntest.Options{})
		defer osEnd.Close()
		r := &fakeRouter{}
		e, err := New(a.config(), Deps{Node: node, TUN: dev, Router: r})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if err := e.Run(context.Background()); !errors.Is(err, ErrRunning) {
			t.Errorf("Run after Close: %v", err)
		}
		if err := e.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if !r.closed || len(r.sets) != 0 {
			t.Errorf("router: closed %v, %d configs", r.closed, len(r.sets))
		}
		if _, err := dev.Read([][]byte{make([]byte, 2048)}, []int{0}, 0); !errors.Is(err, net.ErrClosed) {
			t.Errorf("device read after Close: %v", err)
		}
		if _, err := node.Connect(context.Background(), a.kp.PublicKey, nil); !errors.Is(err, dht.ErrNodeDestroyed) {
			t.Errorf("node after Close: %v", err)
		}

		// A config whose key file does not match its public key is refused, and the deps
		// given are released.
		cfg := a.config()
		cfg.Node.PublicKey[0] ^= 1
		dev2, os2 := tuntest.NewPair(tuntest.Options{})
		defer os2.Close()
		r2 := &fakeRouter{}
		if _, err := New(cfg, Deps{TUN: dev2, Router: r2, ListenPacket: l.net.ListenPacket}); err == nil {
			t.Fatal("New took a mismatched key")
		}
		if !r2.closed {
			t.Error("New did not release the router it was given")
		}
	})
}
