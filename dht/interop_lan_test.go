package dht_test

// Live interop of encrypted connections with the JS reference across a LAN of two network
// namespaces (veth ports on a bridge, real interfaces instead of loopback), in both directions.
// It needs root and node: without them it is skipped (a failure under HYPERLAN_REQUIRE_NETNS=1
// or HYPERLAN_REQUIRE_INTEROP=1), and the lab is removed in t.Cleanup.
//
//	a 10.77.0.2: Go bootstrapper :49737, JS persistent node :49738, Go server node :49739,
//	             Go client node :49740 (ephemeral)
//	b 10.77.0.3: JS server node :49737 (persistent), JS client node (ephemeral)
//
// JS client in b -> Go server in a, Go client in a -> JS server in b.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/interop"
)

var (
	lanPrefix = netip.MustParsePrefix("10.77.0.0/24")
	lanA      = netip.MustParseAddr("10.77.0.2")
	lanB      = netip.MustParseAddr("10.77.0.3")
)

const lanBulk = 4 << 20 // bytes echoed each way

// goIn returns options for a Go node whose sockets are opened inside ns, on host:port.
func goIn(ns *interop.Netns, host netip.Addr, port int, mode rpc.Mode, boot ...netip.AddrPort) dht.Options {
	return dht.Options{
		Host: host.String(), Port: port, FixedPort: true, Mode: mode,
		Bootstrap: bootList(boot...), ListenPacket: ns.ListenPacket,
		// The node's sockets are in ns: so are the addresses it shares for LAN connections.
		InterfaceAddrs: func() []netip.Addr { return []netip.Addr{host} },
	}
}

func TestInteropConnectLAN(t *testing.T) {
	ctx := interopCtx(t, 60*time.Second)
	interop.Require(t)
	lab := interop.NewLab(t)
	a, b := lab.Netns("a"), lab.Netns("b")
	lan := lab.LAN("lan", lanPrefix)
	lan.Attach(a, "eth0", lanA)
	lan.Attach(b, "eth0", lanB)

	bootOpts := goIn(a, lanA, 0, rpc.ModeAdaptive)
	bootOpts.Bootstrap = []rpc.BootstrapNode{}
	bn, err := dht.Bootstrapper(49737, lanA.String(), bootOpts)
	boot := readyGo(t, ctx, rpc.ModeAdaptive, bn, err).LocalAddr()
	if boot != netip.AddrPortFrom(lanA, 49737) {
		t.Fatalf("bootstrapper at %v", boot)
	}
	startJSWith(t, ctx, interop.NodeOptions{Host: lanA, Netns: a.Name(), Port: 49738}, boot)
	goSrvNode, err := dht.New(goIn(a, lanA, 49739, rpc.ModePersistent, boot))
	goSrvNode = readyGo(t, ctx, rpc.ModePersistent, goSrvNode, err)
	jsSrvNode := startJSWith(t, ctx, interop.NodeOptions{Host: lanB, Netns: b.Name(), Port: 49737}, boot)
	if _, err := jsSrvNode.WaitEvent(ctx, "persistent", nil); err != nil {
		t.Fatal(err)
	}

	t.Run("JSClientGoServer", func(t *testing.T) {
		kp, _ := keyPair(t, 0x61)
		msgs := make(chan []byte, 16)
		conns := goEchoServer(t, ctx, goSrvNode, kp, dht.ServerOptions{
			OnMessage: func(_ *dht.Conn, b []byte) { offer(msgs, b) },
		})
		client := startJSWith(t, ctx, interop.NodeOptions{Ephemeral: true, Host: lanB, Netns: b.Name()}, boot)
		jsToGoEcho(t, ctx, client, kp, conns, lanBulk, 11, func(gc *dht.Conn, jc *interop.JSConn) {
			acrossLAN(t, jc.Info().Remote, lanA, gc.RemoteAddr(), lanB)
			datagrams(t, ctx, gc, msgs, jc)
		})
	})

	t.Run("GoClientJSServer", func(t *testing.T) {
		_, seed := keyPair(t, 0x62)
		js, err := jsSrvNode.CreateServer(ctx, interop.ServerOptions{Seed: seed, Echo: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Listen(ctx); err != nil {
			t.Fatal(err)
		}
		cn, err := dht.New(goIn(a, lanA, 49740, rpc.ModeEphemeral, boot))
		client := readyGo(t, ctx, rpc.ModeEphemeral, cn, err)
		msgs := make(chan []byte, 16)
		opts := &dht.ConnectOptions{
			OnMessage: func(_ *dht.Conn, b []byte) { offer(msgs, b) },
		}
		goToJSEcho(t, ctx, client, js, opts, lanBulk, 12, func(c *dht.Conn, jc *interop.JSConn) {
			fw, err := js.WaitFirewall(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range fw.Payload.Addresses4 {
				if ap, err := netip.ParseAddrPort(s); err != nil || ap.Addr() != lanA {
					t.Errorf("Go client's handshake offers %s, not an address in a (all: %v)", s, fw.Payload.Addresses4)
				}
			}
			acrossLAN(t, jc.Info().Remote, lanA, c.RemoteAddr(), lanB)
			datagrams(t, ctx, c, msgs, jc)
		})
	})
}

// acrossLAN checks that the connection runs between the two namespaces: the JS side's UDX peer
// is on jsPeer, the Go side's on goPeer.
func acrossLAN(t *testing.T, jsRemote netip.AddrPort, jsPeer netip.Addr, goRemote net.Addr, goPeer netip.Addr) {
	t.Helper()
	if jsRemote.Addr() != jsPeer {
		t.Errorf("JS side's stream goes to %v, want %v", jsRemote, jsPeer)
	}
	if ua, ok := goRemote.(*net.UDPAddr); !ok || ua.AddrPort().Addr().Unmap() != goPeer {
		t.Errorf("Go side's stream goes to %v, want %v", goRemote, goPeer)
	}
}

// offer copies b into ch unless ch is full (OnMessage must not block).
func offer(ch chan<- []byte, b []byte) {
	select {
	case ch <- bytes.Clone(b):
	default:
	}
}

// datagrams sends one datagram each way and checks it arrived intact, repeating a send every
// 100 ms until it did: datagrams are unreliable even on a LAN.
func datagrams(t *testing.T, ctx context.Context, gc *dht.Conn, goGot <-chan []byte, jc *interop.JSConn) {
	t.Helper()
	toGo, toJS := []byte("datagram from js over the lan"), []byte("datagram from go over the lan")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for got := false; !got; {
		if _, err := jc.Send(ctx, toGo); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-goGot:
			if !bytes.Equal(m, toGo) {
				t.Fatalf("Go got datagram %q, want %q", m, toGo)
			}
			got = true
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("no datagram from JS")
		}
	}
	for {
		if err := gc.Send(toJS); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		m, err := jc.WaitMessage(wctx, nil)
		cancel()
		if err == nil {
			if m.SHA256 != sha256.Sum256(toJS) || m.Length != len(toJS) {
				t.Fatalf("JS got datagram %q (%d bytes), want %q", m.Data, m.Length, toJS)
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatal("no datagram from Go")
		}
	}
}
