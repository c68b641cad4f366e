package dht

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/netsim"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// The blind-relay fallback across the NAT boxes of the in-memory network, in virtual time:
// the layout of holepunch_test.go plus a relay node at 192.0.2.20 on the internet.

var labRelay = netip.MustParseAddr("192.0.2.20")

// relay starts a blind relay on the internet and returns it.
func (l *natLab) relay(b byte) *BlindRelay {
	l.t.Helper()
	n := l.node(labRelay.String(), rpc.ModePersistent)
	kp, _ := NewKeyPair(seed(b))
	r, err := n.ServeBlindRelay(context.Background(), kp)
	if err != nil {
		l.t.Fatal(err)
	}
	return r
}

// serverConns listens on n with opts and hands each connection to the returned channel; the
// test closes them.
func serverConns(t *testing.T, n *Node, kp KeyPair, opts ServerOptions) (*Server, <-chan *Conn) {
	t.Helper()
	conns := make(chan *Conn, 4)
	opts.OnConnection = func(c *Conn) { conns <- c }
	srv := n.CreateServer(opts)
	if err := srv.Listen(context.Background(), kp); err != nil {
		t.Fatal(err)
	}
	return srv, conns
}

// connectRelayed connects client to pk with opts, takes the server's side from conns, and
// checks that the connection goes through a relay.
func connectRelayed(t *testing.T, client *Node, pk [32]byte, conns <-chan *Conn, opts *ConnectOptions) (c, sc *Conn) {
	t.Helper()
	c, err := client.Connect(context.Background(), pk, opts)
	if err != nil {
		t.Fatal(err)
	}
	sc = <-conns
	if info, _ := client.ConnInfo(c); !info.Relayed() {
		t.Fatalf("client: %v, want relayed", info)
	}
	return c, sc
}

// roundTrip checks that a and b carry data both ways.
func roundTrip(t *testing.T, a, b *Conn) {
	t.Helper()
	for _, dir := range [][2]*Conn{{a, b}, {b, a}} {
		msg := []byte("relayed or not")
		if _, err := dir[0].Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := dir[1].Read(got); err != nil || string(got) != string(msg) {
			t.Fatalf("read %q, %v", got, err)
		}
	}
}

func TestConnectThroughRelay(t *testing.T) {
	random := netsim.MappingRandom
	for _, tc := range []struct {
		name           string
		client, server bool // which side names the relay
	}{
		{"client's relay", true, false},
		{"server's relay", false, true},
		{"both", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newNATLab(t, [2]netsim.Mapping{random, random}, netsim.Options{Delay: 5 * time.Millisecond, Seed: 7})
				relay := l.relay(0x70)
				kp, _ := NewKeyPair(seed(0x71))
				var sopts ServerOptions
				var copts ConnectOptions
				if tc.server {
					sopts.RelayThrough = Relays(relay.PublicKey())
				}
				if tc.client {
					copts.RelayThrough = Relays(relay.PublicKey())
				}
				srvNode := l.home(0, 2)
				srv, conns := serverConns(t, srvNode, kp, sopts)
				defer srv.Close(context.Background())
				client := l.home(1, 2)
				start := time.Now()
				c, err := client.Connect(context.Background(), kp.PublicKey, &copts)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				t.Logf("connected after %v", time.Since(start))
				sc := <-conns
				defer sc.Close()
				relayAddr := netip.AddrPortFrom(labRelay, DefaultPort)
				for side, n := range map[string]*Node{"client": client, "server": srvNode} {
					conn := c
					if side == "server" {
						conn = sc
					}
					info, ok := n.ConnInfo(conn)
					if !ok {
						t.Fatalf("%s: no ConnInfo", side)
					}
					if !info.Relayed() || info.Remote != relayAddr || info.Relay != relay.PublicKey() {
						t.Errorf("%s: %v, want relayed through %v", side, info, relayAddr)
					}
				}
				roundTrip(t, c, sc)
				if st := relay.Stats(); st.PairingsMatched != 1 || st.PairingsActive != 1 {
					t.Errorf("relay stats %+v, want one pairing", st)
				}
				c.Close()
				sc.Close()
				synctest.Wait()
			})
		})
	}
}

// TestRelayAborted: both NATs random, a relay named that nobody runs: the holepunch and the
// relay both fail, and the last error is returned (here the holepunch's: the relay is not
// found at once).
func TestRelayAborted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newNATLab(t, [2]netsim.Mapping{netsim.MappingRandom, netsim.MappingRandom}, netsim.Options{Delay: 5 * time.Millisecond, Seed: 8})
		kp, _ := NewKeyPair(seed(0x72))
		nobody, _ := NewKeyPair(seed(0x73))
		srv, _ := serverConns(t, l.home(0, 2), kp, ServerOptions{})
		defer srv.Close(context.Background())
		start := time.Now()
		_, err := l.home(1, 2).Connect(context.Background(), kp.PublicKey, &ConnectOptions{RelayThrough: Relays(nobody.PublicKey)})
		if !errors.Is(err, ErrRelayAborted) && !errors.Is(err, ErrHolepunchAborted) {
			t.Fatalf("Connect: %v, want %v or %v", err, ErrRelayAborted, ErrHolepunchAborted)
		}
		t.Logf("failed after %v: %v", time.Since(start), err)
	})
}

// TestRelayUpgradeRepunch: a connection relayed between two random NATs moves to a direct
// path once the server's NAT becomes consistent: the client punches again after
// RepunchInterval and our server takes part. Changing the NAT forgets its mappings, which
// cuts the relay's way back to the server; without keep-alives nothing is in flight on it, so
// the connection survives until it moves.
func TestRelayUpgradeRepunch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newNATLab(t, [2]netsim.Mapping{netsim.MappingRandom, netsim.MappingRandom}, netsim.Options{Delay: 5 * time.Millisecond, Seed: 9})
		relay := l.relay(0x74)
		kp, _ := NewKeyPair(seed(0x75))
		srvNode, client := l.home(0, 2), l.home(1, 2)
		srvNode.opts.ConnectionKeepAlive, client.opts.ConnectionKeepAlive = -1, -1
		upgraded := make(chan ConnInfo, 2)
		srv, conns := serverConns(t, srvNode, kp, ServerOptions{RelayKeepAlive: -1,
			OnUpgrade: func(_ *Conn, info ConnInfo) { upgraded <- info }})
		defer srv.Close(context.Background())
		c, sc := connectRelayed(t, client, kp.PublicKey, conns, &ConnectOptions{
			RelayThrough: Relays(relay.PublicKey()), RelayKeepAlive: -1, RepunchInterval: 5 * time.Second,
			OnUpgrade: func(_ *Conn, info ConnInfo) { upgraded <- info },
		})
		defer c.Close()
		defer sc.Close()
		time.Sleep(3 * time.Second) // the network quiet
		l.nats[0].SetMapping(netsim.MappingEndpointIndependent)
		start := time.Now()
		for range 2 {
			info := <-upgraded
			t.Logf("upgraded after %v: %v", time.Since(start), info)
		}
		info, _ := client.ConnInfo(c)
		if info.Path != PathHolepunch || !info.Upgraded || info.Remote.Addr() != labPublic[0] || info.Relay != relay.PublicKey() {
			t.Errorf("client: %v, want upgraded to a holepunch to %v", info, labPublic[0])
		}
		if info, _ := srvNode.ConnInfo(sc); info.Path != PathHolepunch || !info.Upgraded || info.Remote.Addr() != labPublic[1] {
			t.Errorf("server: %v, want upgraded to a holepunch to %v", info, labPublic[1])
		}
		roundTrip(t, c, sc)
		time.Sleep(time.Second)
		if st := relay.Stats(); st.PairingsActive != 0 {
			t.Errorf("relay stats %+v: the relay is still in use", st)
		}
		roundTrip(t, sc, c)
	})
}

// TestRelayTryLater: the server ran a random punch a moment ago, so it puts the next one off
// (TRY_LATER); with a relay the client connects through it at once and punches 10 to 20 s
// later, then the connection moves (the reference's flow).
func TestRelayTryLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newNATLab(t, [2]netsim.Mapping{netsim.MappingRandom, netsim.MappingEndpointIndependent}, netsim.Options{Delay: 5 * time.Millisecond, Seed: 10})
		relay := l.relay(0x76)
		kp, _ := NewKeyPair(seed(0x77))
		srvNode := l.home(0, 2)
		srv, conns := serverConns(t, srvNode, kp, ServerOptions{})
		defer srv.Close(context.Background())
		ctx := context.Background()
		first, err := l.home(1, 2).Connect(ctx, kp.PublicKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		first.Close()
		(<-conns).Close()

		upgraded := make(chan ConnInfo, 1)
		client := l.home(1, 3)
		start := time.Now()
		c, sc := connectRelayed(t, client, kp.PublicKey, conns, &ConnectOptions{RelayThrough: Relays(relay.PublicKey()),
			OnUpgrade: func(_ *Conn, info ConnInfo) { upgraded <- info }})
		defer c.Close()
		defer sc.Close()
		t.Logf("relayed after %v", time.Since(start))
		roundTrip(t, c, sc)
		info := <-upgraded
		t.Logf("upgraded after %v: %v", time.Since(start), info)
		if info.Path != PathHolepunch || info.Remote.Addr() != labPublic[0] {
			t.Errorf("client: %v, want a holepunch to %v", info, labPublic[0])
		}
		roundTrip(t, c, sc)
	})
}

// TestRelayNotNeeded: where a punch gets through, a connection with a relay named on both
// sides ends up direct. Both sides pair at the relay as soon as the handshake is done, as the
// reference does (a JS peer would give its punch up once the relay pairs, so waiting for the
// punch to abort first would cost a JS peer its direct path); the pairing may win the race
// against a punch through a random NAT, but the punch goes on, and the connection moves to the
// direct path when it gets through.
func TestRelayNotNeeded(t *testing.T) {
	cons, random := netsim.MappingEndpointIndependent, netsim.MappingRandom
	for _, tc := range []struct {
		name string
		maps [2]netsim.Mapping
	}{
		{"consistent+consistent", [2]netsim.Mapping{cons, cons}},
		{"consistent+random", [2]netsim.Mapping{cons, random}},
		{"random+consistent", [2]netsim.Mapping{random, cons}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newNATLab(t, tc.maps, netsim.Options{Delay: 5 * time.Millisecond, Seed: 9})
				relay := l.relay(0x72)
				kp, _ := NewKeyPair(seed(0x73))
				srvNode := l.home(0, 2)
				srv, conns := serverConns(t, srvNode, kp, ServerOptions{RelayThrough: Relays(relay.PublicKey())})
				defer srv.Close(context.Background())
				client := l.home(1, 2)
				c, err := client.Connect(context.Background(), kp.PublicKey, &ConnectOptions{RelayThrough: Relays(relay.PublicKey())})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				sc := <-conns
				defer sc.Close()
				info, _ := client.ConnInfo(c)
				t.Logf("client: %v", info)
				if tc.maps[0] == cons && tc.maps[1] == cons && info.Relayed() {
					t.Errorf("client: %v, want direct from the start", info)
				}
				roundTrip(t, c, sc)
				deadline := time.Now().Add(time.Minute)
				for info.Relayed() && time.Now().Before(deadline) {
					time.Sleep(100 * time.Millisecond)
					info, _ = client.ConnInfo(c)
				}
				if info.Relayed() {
					t.Errorf("client: %v after a minute, want direct", info)
				}
				t.Logf("client: %v", info)
				roundTrip(t, c, sc)
				c.Close()
				sc.Close()
				synctest.Wait()
			})
		})
	}
}
