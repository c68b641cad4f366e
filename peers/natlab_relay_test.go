package peers

// Blind-relay fallback in the NAT lab (natlab_test.go's helpers): two members behind random
// NATs, which no holepunch connects, and a public member serving as a blind relay:
//
//	public 192.0.2.0/24:  dht (bootstrapper + 3 persistent nodes), r (a member, relay = true)
//	ra [random NAT] ── a (a member)
//	rb [random NAT] ── b (a member)
//	rc [consistent NAT] ── c (a member, started last)
//
// The members admit each other by key ([[peer]], no secret). Without relay_through a and b
// do not connect (the holepunch aborts); with r's relay key in relay_through they ping each
// other through the tunnel, and their status shows the relay path. c, behind a consistent
// NAT, can be holepunched from a and b: their connections usually open through the relay
// first and move to the direct path when the punch gets through, and the tunnel carries on
// over the new path. A stranger (a key no member lists) cannot connect to r nor ping it. Root, ip, nft and conntrack are needed:
// skipped without them, failed under HYPERLAN_REQUIRE_NETNS=1.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/interop"
)

func TestNATLabRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("the NAT lab takes tens of seconds")
	}
	nl := interop.NewNATLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()

	boot := startLabDHT(t, nl.PublicHost("dht"))
	ra := nl.Router("ra", interop.RouterOptions{NAT: interop.NATRandom})
	rb := nl.Router("rb", interop.RouterOptions{NAT: interop.NATRandom})
	rc := nl.Router("rc", interop.RouterOptions{NAT: interop.NATConsistent})
	a := &labMember{name: "a", host: ra.Host("a")}
	b := &labMember{name: "b", host: rb.Host("b")}
	r := &labMember{name: "r", host: nl.PublicHost("r"), relay: true}
	c := &labMember{name: "c", host: rc.Host("c")}
	for i, m := range []*labMember{a, b, r, c} {
		m.seed[0], m.seed[1] = 0x52, byte(i+1) // fixed keys, for runs that compare
	}
	a.peers, b.peers, r.peers, c.peers = []*labMember{b, r, c}, []*labMember{a, r, c}, []*labMember{a, b}, []*labMember{a, b}
	relayKey := configs.RelayPublicKey(r.seed)

	r.start(t, nil, boot)
	a.start(t, nil, boot)
	b.start(t, nil, boot)
	waitFor(t, ctx, 30*time.Second, "r serves its relay", func() bool {
		st := r.e.Status().Relay
		return st != nil && st.Serving && st.PublicKey == relayKey
	})
	// Without relay_through: a reaches r (public) but never b.
	labPing(t, ctx, a, r.ip4, 20*time.Second)
	var failed PeerStatus
	// A dial made before b's first announcement fails with PEER_NOT_FOUND; a retries.
	waitFor(t, ctx, 30*time.Second, "a's dial of b fails with HOLEPUNCH_ABORTED", func() bool {
		failed, _ = peerStatusOf(a.e, b.key())
		if failed.Connected {
			t.Fatalf("a connected to b without a relay: %+v", failed)
		}
		return strings.Contains(failed.LastError, "HOLEPUNCH_ABORTED")
	})
	if out, err := a.host.Run(ctx, "ping", "-c", "1", "-W", "1", b.ip4.String()); err == nil {
		t.Fatalf("a pings b without a relay:\n%s", out)
	}
	t.Logf("%v: without relay_through a cannot reach b: %s", time.Since(start).Round(time.Millisecond), failed.LastError)

	// With relay_through: through r's relay.
	for _, m := range []*labMember{a, b} {
		m.stop(t)
		m.relays = []configs.PublicKey{relayKey}
		m.start(t, nil, boot)
	}
	mark := time.Now()
	labPing(t, ctx, a, b.ip4, 20*time.Second)
	t.Logf("%v: a pings b %v after the restart with relay_through", time.Since(start).Round(time.Millisecond), time.Since(mark).Round(time.Millisecond))
	labPing(t, ctx, b, a.ip4, 5*time.Second)
	labPing(t, ctx, a, b.ip6, 5*time.Second)
	for _, pair := range [][2]*labMember{{a, b}, {b, a}} {
		st, _ := peerStatusOf(pair[0].e, pair[1].key())
		if !st.Connected || st.Path != "relay" || !st.Relayed || st.Upgraded || st.Relay != relayKey || st.Remote.Addr() != r.host.Addr() {
			t.Errorf("%s sees %s: connected %v, path %q, relayed %v, upgraded %v, relay %v, remote %v; want through relay %v at %v",
				pair[0].name, pair[1].name, st.Connected, st.Path, st.Relayed, st.Upgraded, st.Relay, st.Remote, relayKey, r.host.Addr())
		}
	}
	if st := a.e.Status(); len(st.RelayThrough) != 1 || st.RelayThrough[0] != relayKey || st.Relay != nil {
		t.Errorf("a's status: relay_through %v, relay %+v", st.RelayThrough, st.Relay)
	}
	if st := r.e.Status().Relay; st == nil || st.Active < 1 || st.Pairings < 1 {
		t.Errorf("r's relay: %+v, want a pairing active", st)
	}
	// r itself is reached directly: a public member needs no relay.
	// (a restarted a moment ago: its dial of r may still be on its way.)
	waitFor(t, ctx, 20*time.Second, "a connects to r", func() bool {
		st, _ := peerStatusOf(a.e, r.key())
		return st.Connected
	})
	if st, _ := peerStatusOf(a.e, r.key()); st.Relayed {
		t.Errorf("a sees r: %+v, want a direct connection", st)
	}

	// c, behind a consistent NAT, with relay_through too: a and b reach it by holepunch,
	// usually after the relay paired them (it pairs as soon as the handshake is done, in
	// parallel with the punch); then the connection moves to the direct path. c is part of
	// two random punches (a's and b's, maybe its own dials too), and a node starts one at
	// most every 20 s (RandomPunchInterval); a punch put off waits 10 to 20 s while the
	// relay carries the connection. So the second pair may take some 45 s to move.
	c.relays = []configs.PublicKey{relayKey}
	c.start(t, nil, boot)
	mark = time.Now()
	direct := map[*labMember]time.Duration{}
	waitFor(t, ctx, 100*time.Second, "a and b reach c on the direct path", func() bool {
		for _, m := range []*labMember{a, b} {
			if st, _ := peerStatusOf(m.e, c.key()); st.Connected && !st.Relayed && direct[m] == 0 {
				direct[m] = time.Since(mark)
			}
		}
		return len(direct) == 2
	})
	var upgraded []string
	for _, m := range []*labMember{a, b} {
		st, _ := peerStatusOf(m.e, c.key())
		if st.Remote.Addr() != rc.PublicAddr() {
			t.Errorf("%s sees c at %v, want c's NAT %v", m.name, st.Remote, rc.PublicAddr())
		}
		if st.Upgraded {
			upgraded = append(upgraded, m.name)
			if st.Relay != relayKey {
				t.Errorf("%s sees c upgraded from relay %v, want %v", m.name, st.Relay, relayKey)
			}
		}
		// c's side of the connection moves when the punch or the peer's packets reach it.
		var back PeerStatus
		waitFor(t, ctx, 10*time.Second, "c sees its connection to "+m.name+" direct", func() bool {
			back, _ = peerStatusOf(c.e, m.key())
			return back.Connected && !back.Relayed
		})
		labPing(t, ctx, m, c.ip4, 10*time.Second)
		labPing(t, ctx, c, m.ip6, 10*time.Second)
		t.Logf("%s and c: direct %v after c started; path %s, upgraded %v, remote %v; c sees path %s, upgraded %v, remote %v",
			m.name, direct[m].Round(time.Millisecond), st.Path, st.Upgraded, st.Remote, back.Path, back.Upgraded, back.Remote)
	}
	t.Logf("%v: moved from the relay to the direct path: %v", time.Since(start).Round(time.Millisecond), upgraded)

	// A stranger: x lists r, but r does not list x. r's firewall refuses x before any
	// session, so x can neither join nor get a packet to r.
	x := &labMember{name: "x", host: nl.PublicHost("x"), peers: []*labMember{r}}
	x.seed[0], x.seed[1] = 0x52, 0xee
	x.start(t, nil, boot)
	waitFor(t, ctx, 30*time.Second, "x's dial of r fails", func() bool {
		st, _ := peerStatusOf(x.e, r.key())
		if st.Connected {
			t.Fatalf("x, a stranger, connected to r: %+v", st)
		}
		return st.LastError != ""
	})
	if out, err := x.host.Run(ctx, "ping", "-c", "3", "-i", "0.3", "-W", "1", r.ip4.String()); err == nil {
		t.Errorf("x, a stranger, pinged r:\n%s", out)
	}
	st, _ := peerStatusOf(x.e, r.key())
	t.Logf("x's status of r: %s", st.LastError)
	if p, ok := peerStatusOf(r.e, x.key()); ok {
		t.Errorf("r lists x: %+v", p)
	}
	for _, m := range []*labMember{a, b, r, c, x} {
		m.stop(t)
	}
	t.Logf("%v in all", time.Since(start).Round(time.Millisecond))
}

// waitFor polls cond until it holds, or fails the test after d.
func waitFor(t *testing.T, ctx context.Context, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
