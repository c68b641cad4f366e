package interop

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// probeHost reports what a NAT does to one socket of host h (port 40000): the
// mappings the three reflectors saw, and whether an unsolicited datagram from
// poker (which the socket never sent to) got through. marker is a reflector
// the socket sent to: its poke, sent after poker's, marks the point by which
// poker's would have arrived.
func probeHost(t *testing.T, ctx context.Context, h *Host, refl []*Reflector, poker *Reflector) ([]netip.AddrPort, bool) {
	t.Helper()
	pc, err := h.ListenPacket("udp4", netip.AddrPortFrom(h.Addr(), 40000).String())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var mapped []netip.AddrPort
	for _, r := range refl {
		m, err := MappedAddr(ctx, pc, r.Addr())
		if err != nil {
			t.Fatal(err)
		}
		mapped = append(mapped, m)
	}

	marker := refl[0]
	if err := poker.Poke(mapped[0]); err != nil {
		t.Fatal(err)
	}
	if err := marker.Poke(mapped[0]); err != nil {
		t.Fatal(err)
	}
	// Read until the marker's poke (and a moment more): if poker's came, it
	// got through.
	var sawPoker, sawMarker bool
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 512)
	for !sawPoker && time.Now().Before(deadline) {
		pc.SetReadDeadline(deadline)
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			break
		}
		switch from, _ := IsPoke(buf[:n]); from {
		case poker.Addr():
			sawPoker = true
		case marker.Addr():
			if !sawMarker {
				sawMarker = true
				// Poker's, sent first on the same path, would have arrived
				// before the marker; allow a little for reordering.
				deadline = time.Now().Add(200 * time.Millisecond)
			}
		}
	}
	if !sawMarker && !sawPoker {
		t.Fatalf("no poke reached %v, not even from %v, to which it sent", mapped[0], marker.Addr())
	}
	return mapped, sawPoker
}

// TestNATLabMapping checks each NAT kind with the STUN-like probe, as seen from
// two public addresses (three reflectors): the mapping behaviour, port
// preservation and filtering; then a public address change at run time.
func TestNATLabMapping(t *testing.T) {
	nl := NewNATLab(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	pub := nl.PublicHost("refl")
	second := pub.ExtraAddr()
	third := pub.ExtraAddr()
	refl := []*Reflector{
		StartReflector(t, pub.Netns, netip.AddrPortFrom(pub.Addr(), 3478)),
		StartReflector(t, pub.Netns, netip.AddrPortFrom(pub.Addr(), 3479)),
		StartReflector(t, pub.Netns, netip.AddrPortFrom(second, 3478)),
	}
	poker := StartReflector(t, pub.Netns, netip.AddrPortFrom(third, 5000))
	home := nl.Router("home", RouterOptions{})
	h := home.Host("a")
	if h.Addr() != netip.MustParseAddr("10.0.1.2") || home.PublicAddr() != netip.MustParseAddr("198.51.100.2") {
		t.Fatalf("host %v behind router %v, want 10.0.1.2 behind 198.51.100.2", h.Addr(), home.PublicAddr())
	}

	for _, tc := range []struct {
		kind       NATKind
		consistent bool // one mapping for every destination, with the LAN port
		inbound    bool // unsolicited datagrams get through
	}{
		{NATConsistent, true, false},
		{NATRandom, false, false},
		{NATRandomHash, false, false},
		{NATFullCone, true, true},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			if err := home.SetNAT(tc.kind); err != nil {
				t.Fatal(err)
			}
			if home.NAT() != tc.kind {
				t.Errorf("NAT() = %v after SetNAT(%v)", home.NAT(), tc.kind)
			}
			mapped, inbound := probeHost(t, ctx, h, refl, poker)
			t.Logf("%v: mapped %v, unsolicited datagram let in: %v", tc.kind, mapped, inbound)
			ports := map[uint16]bool{}
			for _, m := range mapped {
				if m.Addr() != home.PublicAddr() {
					t.Errorf("mapped %v, want the router's public address %v", m, home.PublicAddr())
				}
				ports[m.Port()] = true
			}
			if tc.consistent {
				want := netip.AddrPortFrom(home.PublicAddr(), 40000)
				for i, m := range mapped {
					if m != want {
						t.Errorf("reflector %v saw %v, want %v (endpoint-independent, port kept)", refl[i].Addr(), m, want)
					}
				}
			} else if len(ports) == 1 {
				t.Errorf("every reflector saw port %v: want a mapping per destination", mapped[0].Port())
			}
			if inbound != tc.inbound {
				t.Errorf("unsolicited datagram from %v let in: %v, want %v", poker.Addr(), inbound, tc.inbound)
			}
		})
	}

	t.Run("ChangePublicAddr", func(t *testing.T) {
		if err := home.SetNAT(NATConsistent); err != nil {
			t.Fatal(err)
		}
		old := home.PublicAddr()
		addr, err := home.ChangePublicAddr()
		if err != nil {
			t.Fatal(err)
		}
		if addr == old || addr != home.PublicAddr() || !home.WAN().Contains(addr) {
			t.Fatalf("ChangePublicAddr = %v (PublicAddr %v), was %v, WAN %v", addr, home.PublicAddr(), old, home.WAN())
		}
		mapped, _ := probeHost(t, ctx, h, refl, poker)
		for _, m := range mapped {
			if m != netip.AddrPortFrom(addr, 40000) {
				t.Errorf("after the change a reflector saw %v, want %v", m, netip.AddrPortFrom(addr, 40000))
			}
		}
		out, err := home.Netns().Run(ctx, "ip", "-br", "-4", "addr", "show", "dev", routerWANDev)
		if err != nil || strings.Contains(out, old.String()+"/") || !strings.Contains(out, addr.String()+"/28") {
			t.Errorf("router's WAN addresses: %q %v, want %v and not %v", out, err, addr, old)
		}
	})
}

// udpEcho echoes every datagram on pc until pc is closed.
func udpEcho(t *testing.T, pc net.PacketConn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				pc.WriteTo(buf[:n], from)
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
}

// pings sends count datagrams from pc to echo, one after the other, and
// returns the round trip time of each (0 for one lost after 3 s).
func pings(t *testing.T, pc net.PacketConn, echo netip.AddrPort, count int) []time.Duration {
	t.Helper()
	var rtts []time.Duration
	buf := make([]byte, 64)
	for i := range count {
		msg := fmt.Sprintf("ping %d", i)
		start := time.Now()
		if _, err := pc.WriteTo([]byte(msg), net.UDPAddrFromAddrPort(echo)); err != nil {
			t.Fatal(err)
		}
		var rtt time.Duration
		pc.SetReadDeadline(start.Add(3 * time.Second))
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				break
			}
			if string(buf[:n]) == msg {
				rtt = time.Since(start)
				break
			}
		}
		rtts = append(rtts, rtt)
	}
	pc.SetReadDeadline(time.Time{})
	return rtts
}

// burst sends count datagrams from pc to echo at once and returns how many
// echoes came back within a second of the last one.
func burst(t *testing.T, pc net.PacketConn, echo netip.AddrPort, count int) int {
	t.Helper()
	for i := range count {
		if _, err := pc.WriteTo(fmt.Appendf(nil, "burst %d", i), net.UDPAddrFromAddrPort(echo)); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]bool{}
	buf := make([]byte, 64)
	for {
		pc.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			break
		}
		if strings.HasPrefix(string(buf[:n]), "burst ") {
			got[string(buf[:n])] = true
		}
	}
	pc.SetReadDeadline(time.Time{})
	return len(got)
}

// delayed checks that every round trip from host took at least twice the
// one-way delay.
func delayed(t *testing.T, host string, rtts []time.Duration, delay time.Duration) {
	t.Helper()
	for i, rtt := range rtts {
		if rtt < 2*delay {
			t.Errorf("ping %d from %s: round trip %v, want at least %v (0: lost)", i, host, rtt, 2*delay)
		}
	}
}

// forwardRules lists the internet router's mangle FORWARD rules.
func forwardRules(t *testing.T, ctx context.Context, nl *NATLab) string {
	t.Helper()
	out, err := nl.Internet().Run(ctx, "iptables", "-w", "-t", "mangle", "-S", "FORWARD")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNATLabImpairment checks delay and loss on paths through the internet
// router, the limit to some routers, and that Unimpair removes both the rules
// and nqdelay. Round trip times are only checked against their lower bound.
func TestNATLabImpairment(t *testing.T) {
	nl := NewNATLab(t)
	nl.RequireImpairment(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	pub := nl.PublicHost("echo")
	ra := nl.Router("ra", RouterOptions{})
	rb := nl.Router("rb", RouterOptions{NAT: NATRandom})
	a, b := ra.Host("a"), rb.Host("b")
	echoAddr := netip.AddrPortFrom(pub.Addr(), 7)
	epc, err := pub.ListenPacket("udp4", echoAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	udpEcho(t, epc)
	client := func(h *Host) net.PacketConn {
		pc, err := h.ListenPacket("udp4", netip.AddrPortFrom(h.Addr(), 0).String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		return pc
	}
	pa, pb := client(a), client(b)

	if err := nl.Impair(Impairment{Loss: 101}); err == nil {
		t.Error("Impair accepted a loss of 101%")
	}
	const delay = 50 * time.Millisecond

	t.Run("Delay", func(t *testing.T) {
		if err := nl.Impair(Impairment{Delay: delay}); err != nil {
			t.Fatal(err)
		}
		rtts := pings(t, pa, echoAddr, 10)
		stats, err := nl.Unimpair()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round trips with %v each way: %v; nqdelay %+v", delay, rtts, stats)
		delayed(t, "a", rtts, delay)
		if stats.Packets < 20 || stats.Dropped != 0 {
			t.Errorf("nqdelay counted %+v, want at least the 20 packets of 10 echoes and no drops", stats)
		}
		if rules := forwardRules(t, ctx, nl); strings.Contains(rules, "NFQUEUE") {
			t.Errorf("rules left after Unimpair:\n%s", rules)
		}
		if pids, err := netnsPids(nl.Internet().Name()); err != nil || len(pids) > 0 {
			t.Errorf("processes in the internet router after Unimpair: %v %v", pids, err)
		}
	})

	t.Run("Loss", func(t *testing.T) {
		if err := nl.Impair(Impairment{Loss: 50, Seed: 1}); err != nil {
			t.Fatal(err)
		}
		const sent = 200
		got := burst(t, pa, echoAddr, sent)
		stats, err := nl.Unimpair()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d of %d echoes came back through 50%% loss each way; nqdelay %+v", got, sent, stats)
		if got == 0 || got >= sent || stats.Dropped == 0 || stats.Dropped >= stats.Packets {
			t.Errorf("%d of %d echoes came back, nqdelay %+v: want some lost and some not", got, sent, stats)
		}
		if got := burst(t, pa, echoAddr, sent); got != sent {
			t.Errorf("after Unimpair %d of %d echoes came back", got, sent)
		}
	})

	t.Run("Routers", func(t *testing.T) {
		if err := nl.Impair(Impairment{Delay: delay, Routers: []*Router{rb}}); err != nil {
			t.Fatal(err)
		}
		fromA := pings(t, pa, echoAddr, 5)
		fromB := pings(t, pb, echoAddr, 5)
		stats, err := nl.Unimpair()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("impairing rb only: round trips from a %v, from b %v; nqdelay %+v", fromA, fromB, stats)
		delayed(t, "b", fromB, delay)
		for i, rtt := range fromA {
			if rtt == 0 {
				t.Errorf("ping %d from behind ra lost", i)
			}
		}
		// Only b's packets were queued: 5 echoes, 10 packets.
		if stats.Packets != 10 {
			t.Errorf("nqdelay queued %d packets, want the 10 to and from rb", stats.Packets)
		}
	})
}

// rootState is what the lab must leave as it was in the test's own namespace.
type rootState struct {
	links    []string
	nft      string
	iptables string
}

var generatedLine = regexp.MustCompile(`(?m)^# (Generated|Completed) .*\n`)

func readRootState(t *testing.T) rootState {
	t.Helper()
	s := rootState{links: hostLinks(t)}
	if out, err := exec.Command("nft", "list", "ruleset").CombinedOutput(); err == nil {
		s.nft = string(out)
	} else {
		t.Fatalf("nft list ruleset: %v: %s", err, out)
	}
	if _, err := exec.LookPath("iptables-save"); err == nil {
		out, err := exec.Command("iptables-save").CombinedOutput()
		if err != nil {
			t.Fatalf("iptables-save: %v: %s", err, out)
		}
		s.iptables = generatedLine.ReplaceAllString(string(out), "")
	}
	return s
}

// TestNATLabTeardown builds a lab with everything in it (routers of two
// kinds, hosts, a changed NAT and address, impairment running), closes it,
// and checks that nothing of it is left and the test's own namespace is as it
// was: links, nftables and iptables rules.
func TestNATLabTeardown(t *testing.T) {
	nl := NewNATLab(t)
	nl.RequireImpairment(t)
	before := readRootState(t)

	pub := nl.PublicHost("pub1")
	pub.ExtraAddr()
	ra := nl.Router("ra", RouterOptions{})
	rb := nl.Router("rb", RouterOptions{NAT: NATRandom, LAN: netip.MustParsePrefix("192.168.1.0/24")})
	ra.Host("a")
	rb.Host("b")
	rb.Host("c")
	if err := ra.SetNAT(NATFullCone); err != nil {
		t.Fatal(err)
	}
	if _, err := rb.ChangePublicAddr(); err != nil {
		t.Fatal(err)
	}
	if err := nl.Impair(Impairment{Delay: 10 * time.Millisecond, Loss: 1}); err != nil {
		t.Fatal(err)
	}
	nqdelay := nl.impaired.proc.Pid
	dirs := slices.Clone(nl.tempDirs)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if out, err := ra.Netns().Run(ctx, "nft", "list", "ruleset"); err != nil || !strings.Contains(out, "dnat to 10.0.1.2") {
		t.Errorf("router ra's rules: %v\n%s", err, out)
	}
	if out, err := exec.Command(ipPath(), "netns", "list").Output(); err != nil || strings.Count(string(out), nl.Lab().ID()) != 10 {
		t.Errorf("ip netns list shows %d namespaces of the lab, want 10 (inet, pub, pub1, ra, lan1, a, rb, lan2, b, c): %v\n%s",
			strings.Count(string(out), nl.Lab().ID()), err, out)
	}

	if err := nl.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(ipPath(), "netns", "list").Output(); err != nil || strings.Contains(string(out), nl.Lab().ID()) {
		t.Errorf("ip netns list after Close: %v\n%s", err, out)
	}
	if left, _ := filepath.Glob(filepath.Join(netnsDir, nl.Lab().ID()+"-*")); len(left) > 0 {
		t.Errorf("namespace files left: %v", left)
	}
	if processExists(nqdelay) {
		t.Errorf("nqdelay (pid %d) still runs after Close", nqdelay)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("nqdelay's directory %s left: %v", d, err)
		}
	}
	after := readRootState(t)
	if !slices.Equal(after.links, before.links) {
		t.Errorf("links of the test's namespace: %v, before %v", after.links, before.links)
	}
	if after.nft != before.nft {
		t.Errorf("nft ruleset of the test's namespace changed:\n%s\nbefore:\n%s", after.nft, before.nft)
	}
	if after.iptables != before.iptables {
		t.Errorf("iptables rules of the test's namespace changed:\n%s\nbefore:\n%s", after.iptables, before.iptables)
	}
	if err := nl.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestNATLabHolepunchJS runs the reference's holepunching through pairs of
// NAT kinds: a JS server behind router ra, a JS client behind rb, both
// adaptive nodes of a public JS DHT. Consistent+consistent and
// consistent+random (either way) connect directly, the stream ending at the
// other router's public address; random+random is refused by the reference.
// Each pair has a new server and client process: a reference node allows one
// random (birthday) punch per 20 s.
func TestNATLabHolepunchJS(t *testing.T) {
	Require(t)
	nl := NewNATLab(t)
	d := nl.StartJSDHT(t, "dht", 4)
	ra := nl.Router("ra", RouterOptions{})
	rb := nl.Router("rb", RouterOptions{})
	a, b := ra.Host("a"), rb.Host("b")

	for i, tc := range []struct {
		server, client NATKind
		impair         *Impairment
		fail           string // the error code expected from connect; "" if it connects
	}{
		{server: NATConsistent, client: NATConsistent},
		{server: NATConsistent, client: NATRandom},
		{server: NATRandom, client: NATConsistent},
		{server: NATRandom, client: NATRandom, fail: CodeHolepunchAborted},
		{server: NATConsistent, client: NATConsistent, impair: &Impairment{Delay: 50 * time.Millisecond, Loss: 1}},
	} {
		name := tc.server.String() + "+" + tc.client.String()
		if tc.impair != nil {
			name += fmt.Sprintf("+%v,%v%%", tc.impair.Delay, tc.impair.Loss)
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
			defer cancel()
			if tc.impair != nil {
				nl.RequireImpairment(t)
			}
			if err := ra.SetNAT(tc.server); err != nil {
				t.Fatal(err)
			}
			if err := rb.SetNAT(tc.client); err != nil {
				t.Fatal(err)
			}
			if tc.impair != nil {
				if err := nl.Impair(*tc.impair); err != nil {
					t.Fatal(err)
				}
				defer func() {
					stats, err := nl.Unimpair()
					if err != nil {
						t.Error(err)
					}
					if stats.Packets == 0 {
						t.Errorf("no packet went through nqdelay: %+v", stats)
					}
				}()
			}

			srvNode := StartHyperDHTNode(t, d.Bootstrap(), a.NodeOptions(NodeOptions{Adaptive: true}))
			cliNode := StartHyperDHTNode(t, d.Bootstrap(), b.NodeOptions(NodeOptions{Adaptive: true}))
			for _, n := range []*HyperNode{srvNode, cliNode} {
				if _, err := n.WaitEvent(ctx, "bootstrapped", nil); err != nil {
					t.Fatal(err)
				}
			}
			seed := [32]byte{0x53, byte(i)}
			srv, err := srvNode.CreateServer(ctx, ServerOptions{Seed: seed, Echo: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := srv.Listen(ctx); err != nil {
				t.Fatal(err)
			}
			pk := [32]byte(ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey))

			start := time.Now()
			conn, err := cliNode.Connect(ctx, pk, ConnectOptions{})
			elapsed := time.Since(start)
			if tc.fail != "" {
				if err == nil {
					t.Fatalf("connected through %s to %v; want %s", name, conn.Info().Remote, tc.fail)
				}
				if code := ErrorCode(err); code != tc.fail {
					t.Fatalf("connect failed after %v with %q (%v), want %s", elapsed, code, err, tc.fail)
				}
				t.Logf("%s: connect failed after %v: %v", name, elapsed, err)
				return
			}
			if err != nil {
				t.Fatalf("connect after %v: %v", elapsed, err)
			}
			t.Logf("%s: open after %v (reference's own measure %v), client's stream to %v",
				name, elapsed, conn.Info().Open, conn.Info().Remote)
			if got := conn.Info().Remote.Addr(); got != ra.PublicAddr() {
				t.Errorf("client's stream goes to %v, want the server's router %v (direct)", got, ra.PublicAddr())
			}
			sc, err := srv.WaitConnection(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := sc.Info().Remote.Addr(); got != rb.PublicAddr() {
				t.Errorf("server's stream goes to %v, want the client's router %v (direct)", got, rb.PublicAddr())
			}
			// Bytes both ways over the punched path: the server echoes them.
			msg := []byte("through two NATs")
			if err := conn.Write(ctx, msg); err != nil {
				t.Fatal(err)
			}
			if err := conn.End(ctx); err != nil {
				t.Fatal(err)
			}
			end, err := conn.WaitEnded(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if end.Bytes != int64(len(msg)) {
				t.Errorf("echo: %d bytes came back, want %d", end.Bytes, len(msg))
			}
		})
	}
}
