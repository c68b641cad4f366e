package dht

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/holepunch"
	"github.com/hyperlan/hyperlan/dht/netsim"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// Network changes, in virtual time on the NAT boxes of holepunch_test.go: a server whose
// router changes its public address announces again and is reachable by key; a change of the
// host's interfaces emits network-change and announces again; so does a new sampled host.

// announceUpdates returns how many announces s's announcer has done.
func announceUpdates(s *Server) int {
	s.mu.Lock()
	a := s.ann
	s.mu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.updates
}

// TestServerPublicAddressChange: the server's router moves to a new public address. The
// relays still forward handshakes to the old one until the server announces again, which it
// does at its next relay ping (3 s), where it sees that a relay sees it elsewhere; a new
// client then reaches it by key, directly at the new address.
func TestServerPublicAddressChange(t *testing.T) {
	for _, tc := range []struct {
		name string
		maps [2]netsim.Mapping
	}{
		{"consistent", [2]netsim.Mapping{netsim.MappingEndpointIndependent, netsim.MappingEndpointIndependent}},
		{"random", [2]netsim.Mapping{netsim.MappingRandom, netsim.MappingEndpointIndependent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newNATLab(t, tc.maps, netsim.Options{Delay: 5 * time.Millisecond, Seed: 11})
				kp, _ := NewKeyPair(seed(0x64))
				srvNode := l.home(0, 2)
				srv := echoServer(t, srvNode, kp)
				defer srv.Close(context.Background())
				ctx := context.Background()

				c, err := l.home(1, 2).Connect(ctx, kp.PublicKey, nil)
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				before := announceUpdates(srv)

				moved := netip.MustParseAddr("198.51.100.3")
				l.nats[0].SetPublic(moved)
				changed := time.Now()
				for announceUpdates(srv) == before {
					if time.Since(changed) > time.Minute {
						t.Fatal("the server did not announce again within a minute of the address change")
					}
					time.Sleep(100 * time.Millisecond)
				}
				t.Logf("announced again %v after the change", time.Since(changed))
				if d := time.Since(changed); d > relayPingInterval+2*time.Second {
					t.Errorf("announced again after %v, want within one relay ping (%v) and the update", d, relayPingInterval)
				}
				for _, r := range srv.ann.holepunchRelays() {
					if r.PeerAddress.Addr() != moved {
						t.Errorf("relay %v sees the server at %v, want %v", r.RelayAddress, r.PeerAddress, moved)
					}
				}
				if tc.maps[0] == netsim.MappingRandom {
					// A new holepunch involving the random NAT waits out the last one.
					time.Sleep(holepunch.DefaultRandomPunchInterval)
				}
				client := l.home(1, 3)
				c, err = client.Connect(ctx, kp.PublicKey, nil)
				if err != nil {
					t.Fatalf("connect after the address change: %v", err)
				}
				defer c.Close()
				if info, _ := client.ConnInfo(c); info.Remote.Addr() != moved {
					t.Errorf("connected to %v, want the server's new address %v", info.Remote, moved)
				}
				echo(t, c)
			})
		})
	}
}

// TestNetworkChangeRefreshes: when the host's interface addresses change, the node emits
// network-change and network-update (dht-rpc's _onnetworkchange) and its servers announce
// again; nothing happens while they stay the same.
func TestNetworkChangeRefreshes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newNATLab(t, [2]netsim.Mapping{}, netsim.Options{Delay: 5 * time.Millisecond, Seed: 12})
		var mu sync.Mutex
		ifaces := []netip.Addr{netip.MustParseAddr("192.168.1.2")}
		var events []rpc.EventKind
		n, err := New(Options{
			Host: "192.168.1.2", ListenPacket: l.net.ListenPacket, Bootstrap: l.boot,
			InterfaceAddrs: func() []netip.Addr {
				mu.Lock()
				defer mu.Unlock()
				return ifaces
			},
			OnEvent: func(ev rpc.Event) {
				if ev.Kind == rpc.EventNetworkChange || ev.Kind == rpc.EventNetworkUpdate {
					mu.Lock()
					events = append(events, ev.Kind)
					mu.Unlock()
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		l.all = append(l.all, n)
		if err := n.Ready(context.Background()); err != nil {
			t.Fatal(err)
		}
		kp, _ := NewKeyPair(seed(0x65))
		srv := echoServer(t, n, kp)
		defer srv.Close(context.Background())

		time.Sleep(11 * time.Second)
		if got := announceUpdates(srv); got != 1 {
			t.Errorf("%d announces with the interfaces unchanged since Listen, want 1", got)
		}
		mu.Lock()
		ifaces = []netip.Addr{netip.MustParseAddr("192.168.1.2"), netip.MustParseAddr("10.9.0.1")}
		mu.Unlock()
		time.Sleep(6 * time.Second)
		if got := announceUpdates(srv); got != 2 {
			t.Errorf("%d announces after an interface change, want 2", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(events) != 2 || events[0] != rpc.EventNetworkChange || events[1] != rpc.EventNetworkUpdate {
			t.Errorf("events %v, want network-change, network-update", events)
		}
	})
}

// TestNATUpdateRefreshes: a new sampled public host (not the first one, and not a passage
// through "unknown") has the servers announce again.
func TestNATUpdateRefreshes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newNATLab(t, [2]netsim.Mapping{}, netsim.Options{Delay: 5 * time.Millisecond, Seed: 13})
		n := l.home(0, 2)
		kp, _ := NewKeyPair(seed(0x66))
		srv := echoServer(t, n, kp)
		defer srv.Close(context.Background())
		nat := func(a string) {
			n.onEvent(rpc.Event{Kind: rpc.EventNATUpdate, Addr: netip.MustParseAddrPort(a)})
			time.Sleep(time.Second)
		}
		// The node's own sampler already reported 198.51.100.2; the port alone or a passage
		// through unknown is no change of host.
		nat("198.51.100.2:4000")
		n.onEvent(rpc.Event{Kind: rpc.EventNATUpdate})
		nat("198.51.100.2:49737")
		if got := announceUpdates(srv); got != 1 {
			t.Fatalf("%d announces without a new host, want 1", got)
		}
		nat("198.51.100.9:49737")
		if got := announceUpdates(srv); got != 2 {
			t.Fatalf("%d announces after a new host, want 2", got)
		}
	})
}
