package dht

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/holepunch"
	"github.com/hyperlan/hyperlan/dht/netsim"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// Holepunching across the NAT boxes of the in-memory network, in virtual time. The layout is
// the NAT lab's (/work/shared/lab/NATLAB.md):
//
//	LAN A 192.168.1.0/24 behind 198.51.100.2 ─┐
//	                                            internet: bootstrapper 192.0.2.10, nodes 192.0.2.11-18
//	LAN B 192.168.2.0/24 behind 203.0.113.2 ──┘
//
// The server is in LAN A, the client in LAN B.

type natLab struct {
	t    *testing.T
	net  *netsim.Network
	nats [2]*netsim.NAT
	all  []*Node
	boot []rpc.BootstrapNode
}

var (
	labLAN    = [2]netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("192.168.2.0/24")}
	labPublic = [2]netip.Addr{netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("203.0.113.2")}
)

func newNATLab(t *testing.T, maps [2]netsim.Mapping, opts netsim.Options) *natLab {
	t.Helper()
	l := &natLab{t: t, net: netsim.New(opts)}
	t.Cleanup(func() {
		for _, n := range l.all {
			n.Destroy(context.Background(), DestroyOptions{Force: true})
		}
		l.net.Close()
	})
	boot, err := Bootstrapper(49737, "192.0.2.10", Options{Host: "192.0.2.10", ListenPacket: l.net.ListenPacket})
	if err != nil {
		t.Fatal(err)
	}
	l.all = append(l.all, boot)
	l.boot = []rpc.BootstrapNode{{Host: "192.0.2.10", Port: 49737}}
	for i := range 8 {
		l.node(fmt.Sprintf("192.0.2.%d", 11+i), rpc.ModePersistent)
	}
	for i := range 2 {
		l.nats[i] = l.net.AddNAT(netsim.NATOptions{Public: labPublic[i], Inside: labLAN[i], Mapping: maps[i]})
	}
	return l
}

// node starts a node at host and waits until it joined.
func (l *natLab) node(host string, mode rpc.Mode) *Node {
	l.t.Helper()
	ip := netip.MustParseAddr(host)
	n, err := New(Options{
		Host: host, Mode: mode, ListenPacket: l.net.ListenPacket, Bootstrap: l.boot,
		InterfaceAddrs: func() []netip.Addr { return []netip.Addr{ip} },
	})
	if err != nil {
		l.t.Fatal(err)
	}
	l.all = append(l.all, n)
	if err := n.Ready(context.Background()); err != nil {
		l.t.Fatal(err)
	}
	return n
}

// home starts a node on LAN i (0: A, 1: B).
func (l *natLab) home(i, host int) *Node {
	a := labLAN[i].Addr().As4()
	a[3] = byte(host)
	return l.node(netip.AddrFrom4(a).String(), rpc.ModeAdaptive)
}

// echoServer listens on n and echoes every connection.
func echoServer(t *testing.T, n *Node, kp KeyPair) *Server {
	t.Helper()
	srv := n.CreateServer(ServerOptions{OnConnection: func(c *Conn) {
		defer c.Close()
		io.Copy(c, c)
		c.CloseWrite()
	}})
	if err := srv.Listen(context.Background(), kp); err != nil {
		t.Fatal(err)
	}
	return srv
}

// echo checks that c carries data both ways.
func echo(t *testing.T, c *Conn) {
	t.Helper()
	msg := []byte("through the NATs")
	c.Write(msg)
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != string(msg) {
		t.Fatalf("echo %q, %v", got, err)
	}
}

func TestConnectThroughNATs(t *testing.T) {
	t.Run("clean", func(t *testing.T) { testConnectThroughNATs(t, netsim.Options{Delay: 5 * time.Millisecond, Seed: 3}) })
	// The NAT lab's impaired case: 50 ms each way and 1% loss; the reference's retries cope.
	t.Run("impaired", func(t *testing.T) {
		testConnectThroughNATs(t, netsim.Options{Delay: 50 * time.Millisecond, Loss: 0.01, Seed: 4})
	})
}

func testConnectThroughNATs(t *testing.T, opts netsim.Options) {
	cons, random := netsim.MappingEndpointIndependent, netsim.MappingRandom
	for _, tc := range []struct {
		name     string
		maps     [2]netsim.Mapping // server's NAT, client's NAT
		fw       [2]records.Firewall
		strategy holepunch.Strategy // the client's
		err      error
	}{
		// Fast open: the server's answering punch connects the client during the probe round,
		// before the server's classification arrives and before any strategy runs.
		{"consistent+consistent", [2]netsim.Mapping{cons, cons}, [2]records.Firewall{records.FirewallUnknown, records.FirewallConsistent}, holepunch.None, nil},
		{"consistent+random", [2]netsim.Mapping{cons, random}, [2]records.Firewall{records.FirewallConsistent, records.FirewallRandom}, holepunch.Birthday, nil},
		{"random+consistent", [2]netsim.Mapping{random, cons}, [2]records.Firewall{records.FirewallRandom, records.FirewallConsistent}, holepunch.RandomProbes, nil},
		{"random+random", [2]netsim.Mapping{random, random}, [2]records.Firewall{}, holepunch.None, ErrHolepunchDoubleRandomizedNATs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newNATLab(t, tc.maps, opts)
				kp, _ := NewKeyPair(seed(0x61))
				srvNode := l.home(0, 2)
				srv := echoServer(t, srvNode, kp)
				defer srv.Close(context.Background())
				client := l.home(1, 2)
				start := time.Now()
				c, err := client.Connect(context.Background(), kp.PublicKey, nil)
				if tc.err != nil {
					// The reference reports HOLEPUNCH_ABORTED; the cause says why.
					if !errors.Is(err, ErrHolepunchAborted) || !errors.Is(err, tc.err) {
						t.Fatalf("Connect: %v, want %v caused by %v", err, ErrHolepunchAborted, tc.err)
					}
					t.Logf("failed after %v: %v", time.Since(start), err)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				t.Logf("connected after %v", time.Since(start))
				if info, _ := client.ConnInfo(c); !strings.HasPrefix(info.String(), "holepunch to ") {
					t.Errorf("ConnInfo.String %q", info)
				}
				info, ok := client.ConnInfo(c)
				if !ok {
					t.Fatal("no ConnInfo")
				}
				if info.Path != PathHolepunch || info.Relayed() {
					t.Errorf("path %v", info.Path)
				}
				if info.Remote.Addr() != labPublic[0] {
					t.Errorf("connected to %v, want the server's NAT %v", info.Remote, labPublic[0])
				}
				if info.LocalFirewall != tc.fw[1] || (info.RemoteFirewall != tc.fw[0] && info.Strategy != holepunch.None) {
					t.Errorf("firewalls: local %v remote %v, want %v and %v", info.LocalFirewall, info.RemoteFirewall, tc.fw[1], tc.fw[0])
				}
				if info.Strategy != tc.strategy {
					t.Errorf("strategy %v, want %v", info.Strategy, tc.strategy)
				}
				synctest.Wait()
				// Only the socket the stream uses is left of the punch.
				if n := client.punch.pool.Len(); n != 1 {
					t.Errorf("client keeps %d pooled sockets, want 1", n)
				}
				echo(t, c)
			})
		})
	}
}

// TestConnectSameLAN: client and server behind one NAT connect at the server's private
// address (the LAN ping), while the server pre-punches and answers from its usual socket.
func TestConnectSameLAN(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newNATLab(t, [2]netsim.Mapping{netsim.MappingRandom, netsim.MappingRandom}, netsim.Options{Delay: 5 * time.Millisecond, Seed: 5})
		kp, _ := NewKeyPair(seed(0x62))
		srvNode := l.home(0, 2)
		srv := echoServer(t, srvNode, kp)
		defer srv.Close(context.Background())
		client := l.home(0, 3)
		c, err := client.Connect(context.Background(), kp.PublicKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		info, _ := client.ConnInfo(c)
		if info.Path != PathLAN || info.Remote != netip.AddrPortFrom(netip.MustParseAddr("192.168.1.2"), srvNode.LocalAddr().Port()) {
			t.Errorf("connected by %v to %v, want the server's private address", info.Path, info.Remote)
		}
		echo(t, c)
	})
}

// TestRandomPunchInterval: a node runs one punch involving a random NAT at a time and none
// within Options.RandomPunchInterval of the last; the server then answers TRY_LATER, which a
// client without a relay takes as the end (HOLEPUNCH_ABORTED caused by REMOTE_ABORTED).
func TestRandomPunchInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newNATLab(t, [2]netsim.Mapping{netsim.MappingRandom, netsim.MappingEndpointIndependent}, netsim.Options{Delay: 5 * time.Millisecond, Seed: 6})
		kp, _ := NewKeyPair(seed(0x63))
		srvNode := l.home(0, 2)
		srv := echoServer(t, srvNode, kp)
		defer srv.Close(context.Background())
		ctx := context.Background()

		c, err := l.home(1, 2).Connect(ctx, kp.PublicKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		_, err = l.home(1, 3).Connect(ctx, kp.PublicKey, nil)
		if !errors.Is(err, ErrHolepunchAborted) || !errors.Is(err, ErrRemoteAborted) {
			t.Fatalf("second random punch at once: %v, want HOLEPUNCH_ABORTED caused by REMOTE_ABORTED", err)
		}
		time.Sleep(holepunch.DefaultRandomPunchInterval)
		c, err = l.home(1, 4).Connect(ctx, kp.PublicKey, nil)
		if err != nil {
			t.Fatalf("random punch after the interval: %v", err)
		}
		c.Close()
	})
}

// TestPunchRoundRepeated: the reply to the client's punch round is lost, the client sends the
// round again, and the server, whose own punch through its random NAT is already running and
// counted against its random-punch limit, answers it as the first (the reference's server
// answers TRY_LATER and aborts here).
func TestPunchRoundRepeated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newNATLab(t, [2]netsim.Mapping{netsim.MappingRandom, netsim.MappingEndpointIndependent}, netsim.Options{Delay: 5 * time.Millisecond, Seed: 7})
		kp, _ := NewKeyPair(seed(0x64))
		srvNode := l.home(0, 2)
		srv := echoServer(t, srvNode, kp)
		defer srv.Close(context.Background())
		client := l.home(1, 2)

		// The client's holepunch requests in order; the first reply to the second (the
		// punch round, after the probe round) is dropped.
		var mu sync.Mutex
		var rounds []uint16
		dropped := false
		l.net.SetFilter(func(from, to netip.AddrPort, b []byte) bool {
			var m rpc.Message
			if rpc.ParseMessage(b, &m) != nil {
				return true
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case m.Kind == rpc.KindRequest && labLAN[1].Contains(from.Addr()) && m.Command == records.CmdPeerHolepunch:
				if !slices.Contains(rounds, m.TID) {
					rounds = append(rounds, m.TID)
				}
			case m.Kind == rpc.KindResponse && to.Addr() == labPublic[1] && len(rounds) >= 2 && m.TID == rounds[1] && !dropped:
				dropped = true
				return false
			}
			return true
		})
		c, err := client.Connect(context.Background(), kp.PublicKey, nil)
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		defer c.Close()
		mu.Lock()
		if !dropped {
			t.Error("no punch round reply was dropped")
		}
		mu.Unlock()
		if info, _ := client.ConnInfo(c); info.Path != PathHolepunch || info.Strategy != holepunch.RandomProbes {
			t.Errorf("path %v, strategy %v", info.Path, info.Strategy)
		}
		echo(t, c)
	})
}

// TestHolepunchOptions: the reference's holepunch vetoes on either side, the server's
// holepunch: false, and the client's fastOpen: false.
func TestHolepunchOptions(t *testing.T) {
	cons, random := netsim.MappingEndpointIndependent, netsim.MappingRandom
	type seen struct {
		remote, local records.Firewall
		remoteAddrs   []netip.AddrPort
	}
	for _, tc := range []struct {
		name     string
		maps     [2]netsim.Mapping
		srv      ServerOptions
		client   func(*seen) *ConnectOptions
		sameLAN  bool
		err      error // nil: connects
		strategy holepunch.Strategy
	}{
		{name: "client veto", maps: [2]netsim.Mapping{random, cons},
			client: func(s *seen) *ConnectOptions {
				return &ConnectOptions{Holepunch: func(remote, local records.Firewall, remoteAddrs, _ []netip.AddrPort) bool {
					*s = seen{remote, local, remoteAddrs}
					return false
				}}
			}, err: ErrHolepunchAborted},
		{name: "client allows", maps: [2]netsim.Mapping{random, cons},
			client: func(s *seen) *ConnectOptions {
				return &ConnectOptions{Holepunch: func(remote, local records.Firewall, remoteAddrs, _ []netip.AddrPort) bool {
					*s = seen{remote, local, remoteAddrs}
					return true
				}}
			}, strategy: holepunch.RandomProbes},
		{name: "server veto", maps: [2]netsim.Mapping{cons, random},
			srv: ServerOptions{Holepunch: func(remote, local records.Firewall, _, _ []netip.AddrPort) bool {
				return !(remote == records.FirewallRandom && local == records.FirewallConsistent)
			}}, err: ErrRemoteAborted},
		{name: "server never punches", maps: [2]netsim.Mapping{cons, cons}, srv: ServerOptions{NoHolepunch: true}, err: ErrRemoteAborted},
		{name: "server never punches, same LAN", maps: [2]netsim.Mapping{cons, cons}, srv: ServerOptions{NoHolepunch: true}, sameLAN: true},
		// Without fast open the server sends no punch at once: the pair connects by the
		// punch round's consistent strategy.
		{name: "no fast open", maps: [2]netsim.Mapping{cons, cons},
			client: func(*seen) *ConnectOptions { return &ConnectOptions{NoFastOpen: true} }, strategy: holepunch.ConsistentProbe},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newNATLab(t, tc.maps, netsim.Options{Delay: 5 * time.Millisecond, Seed: 8})
				kp, _ := NewKeyPair(seed(0x65))
				srvNode := l.home(0, 2)
				opts := tc.srv
				opts.OnConnection = func(c *Conn) {
					defer c.Close()
					io.Copy(c, c)
					c.CloseWrite()
				}
				srv := srvNode.CreateServer(opts)
				if err := srv.Listen(context.Background(), kp); err != nil {
					t.Fatal(err)
				}
				defer srv.Close(context.Background())
				client := l.home(1, 2)
				if tc.sameLAN {
					client = l.home(0, 3)
				}
				var s seen
				var copts *ConnectOptions
				if tc.client != nil {
					copts = tc.client(&s)
				}
				c, err := client.Connect(context.Background(), kp.PublicKey, copts)
				if tc.err != nil {
					if !errors.Is(err, ErrHolepunchAborted) || !errors.Is(err, tc.err) {
						t.Fatalf("Connect: %v, want %v caused by %v", err, ErrHolepunchAborted, tc.err)
					}
				} else {
					if err != nil {
						t.Fatalf("Connect: %v", err)
					}
					defer c.Close()
					info, _ := client.ConnInfo(c)
					if tc.sameLAN && info.Path != PathLAN || !tc.sameLAN && info.Strategy != tc.strategy {
						t.Errorf("path %v, strategy %v", info.Path, info.Strategy)
					}
					echo(t, c)
				}
				if tc.client != nil && tc.strategy != holepunch.ConsistentProbe {
					if s.remote != records.FirewallRandom || s.local != records.FirewallConsistent || len(s.remoteAddrs) == 0 || s.remoteAddrs[0].Addr() != labPublic[0] {
						t.Errorf("the veto saw remote %v at %v, local %v", s.remote, s.remoteAddrs, s.local)
					}
				}
			})
		})
	}
}

// TestConnectWithOneDHTNode: two nodes on one LAN whose whole DHT is a bootstrapper (set up
// by hand): nobody can tell them they are reachable, their NATs stay unclassified, and they
// punch. The client's punch reaches the server at once; the server's NAT analysis then fails
// for want of samples, and the server keeps the socket the client reached instead of
// reopening it and giving the handshake up (where the reference's server does, and the
// client's session never opens).
func TestConnectWithOneDHTNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := netsim.New(netsim.Options{Delay: time.Millisecond, Seed: 10})
		defer net.Close()
		boot, err := Bootstrapper(49737, "10.88.0.10", Options{Host: "10.88.0.10", ListenPacket: net.ListenPacket})
		if err != nil {
			t.Fatal(err)
		}
		defer boot.Destroy(context.Background(), DestroyOptions{Force: true})
		member := func(host string) *Node {
			ip := netip.MustParseAddr(host)
			n, err := New(Options{Host: host, Mode: rpc.ModeAdaptive, ListenPacket: net.ListenPacket,
				Bootstrap:      []rpc.BootstrapNode{{Host: "10.88.0.10", Port: 49737}},
				InterfaceAddrs: func() []netip.Addr { return []netip.Addr{ip} }})
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Ready(context.Background()); err != nil {
				t.Fatal(err)
			}
			return n
		}
		a, b := member("10.88.0.2"), member("10.88.0.3")
		defer a.Destroy(context.Background(), DestroyOptions{Force: true})
		defer b.Destroy(context.Background(), DestroyOptions{Force: true})
		kp, _ := NewKeyPair(seed(0x66))
		srv := echoServer(t, a, kp)
		defer srv.Close(context.Background())
		for i := range 3 {
			start := time.Now()
			c, err := b.Connect(context.Background(), kp.PublicKey, nil)
			if err != nil {
				t.Fatalf("connect %d: %v", i, err)
			}
			info, _ := b.ConnInfo(c)
			t.Logf("connect %d after %v: %v", i, time.Since(start), info)
			echo(t, c)
			c.Close()
		}
	})
}
