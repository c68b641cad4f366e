package dht_test

// Blind relays in the NAT lab (interop_nat_test.go's layout: server behind router ra on LAN
// host a, client behind router rb on LAN host b, the reference DHT on a public host), with a
// Go relay and a JS relay on addresses of their own on the DHT's public host:
//
//   - random+random, which no punch can solve, connects through either relay for Go and JS
//     clients and servers, whichever side names the relay;
//   - a relayed connection moves to a direct path once the server's NAT becomes consistent
//     (our client punches again; the reference never does, so both ends are ours);
//   - the reference's own later punch: a server that punched a random NAT a moment ago puts
//     the next punch off (TRY_LATER), the client connects through the relay meanwhile and
//     moves to the direct path when the punch succeeds 10 to 20 s later, Go and JS either
//     way round.
//
// It needs root and node (skipped otherwise, failed under HYPERLAN_REQUIRE_NETNS=1 or
// HYPERLAN_REQUIRE_INTEROP=1).

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/interop"
)

// labRelay is a blind relay of the lab.
type labRelay struct {
	name   string
	key    [32]byte
	addr   netip.AddrPort      // where its node is reached
	active func() (int, error) // relayed pairings up
}

// goRelay starts a persistent Go node serving as a blind relay on a new public address.
func (l *natLab) goRelay(t *testing.T, ctx context.Context, seed byte) labRelay {
	t.Helper()
	addr := l.d.Host.ExtraAddr()
	n, err := dht.New(goIn(l.d.Host.Netns, addr, interop.JSDHTPort, rpc.ModePersistent, l.d.Bootstrap()...))
	n = readyGo(t, ctx, rpc.ModePersistent, n, err)
	kp, _ := keyPair(t, seed)
	r, err := n.ServeBlindRelay(ctx, kp)
	if err != nil {
		t.Fatal(err)
	}
	return labRelay{name: "go-relay", key: kp.PublicKey, addr: n.LocalAddr(),
		active: func() (int, error) { return r.Stats().PairingsActive, nil }}
}

// jsRelay starts a persistent reference node serving as a blind relay on a new public
// address.
func (l *natLab) jsRelay(t *testing.T, ctx context.Context, seed byte) labRelay {
	t.Helper()
	addr := l.d.Host.ExtraAddr()
	n := interop.StartHyperDHTNode(t, l.d.Bootstrap(), interop.NodeOptions{Netns: l.d.Host.Name(), Host: addr, Port: interop.JSDHTPort})
	if _, err := n.WaitEvent(ctx, "persistent", nil); err != nil {
		t.Fatal(err)
	}
	_, s := keyPair(t, seed)
	key, err := n.ServeBlindRelay(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	return labRelay{name: "js-relay", key: key, addr: netip.AddrPortFrom(addr, interop.JSDHTPort),
		active: func() (int, error) {
			st, err := n.RelayStats(context.Background())
			return st.Pairings.Active, err
		}}
}

// relayCase is one relayed connection: who runs the client and the server, which relay,
// and whether the server (else the client) names it.
type relayCase struct {
	relay              labRelay
	goClient, goServer bool
	byServer           bool
}

func (c relayCase) name() string {
	side := func(goSide bool) string {
		if goSide {
			return "go"
		}
		return "js"
	}
	by := "client"
	if c.byServer {
		by = "server"
	}
	return c.relay.name + "/" + side(c.goClient) + "-to-" + side(c.goServer) + "/named-by-" + by
}

func TestInteropRelayRandomNATs(t *testing.T) {
	l := newNATLab(t)
	ctx := interopCtx(t, 120*time.Second)
	goR, jsR := l.goRelay(t, ctx, 0x50), l.jsRelay(t, ctx, 0x51)
	if err := l.ra.SetNAT(interop.NATRandom); err != nil {
		t.Fatal(err)
	}
	if err := l.rb.SetNAT(interop.NATRandom); err != nil {
		t.Fatal(err)
	}
	var cases []relayCase
	for _, r := range []labRelay{goR, jsR} {
		for _, p := range [][2]bool{{true, true}, {true, false}, {false, true}, {false, false}} {
			cases = append(cases, relayCase{relay: r, goClient: p[0], goServer: p[1]})
		}
	}
	cases = append(cases,
		relayCase{relay: goR, goClient: true, goServer: true, byServer: true},
		relayCase{relay: goR, goClient: true, goServer: false, byServer: true},
		relayCase{relay: jsR, goClient: false, goServer: true, byServer: true},
	)
	for i, tc := range cases {
		t.Run(tc.name(), func(t *testing.T) {
			ctx := interopCtx(t, 90*time.Second)
			l.runRelayed(t, ctx, tc, byte(0x52+i))
		})
	}
}

// relayedServer is the server of a relayed case, on host a.
type relayedServer struct {
	node   *dht.Node // a Go server's
	goConn <-chan acceptedConn
	js     *interop.JSServer
}

// startServer starts a Go or JS echo server on a with kp (seed), naming relay when byServer.
func (l *natLab) startServer(t *testing.T, ctx context.Context, goServer bool, relay *labRelay, kp dht.KeyPair, seed [32]byte) relayedServer {
	t.Helper()
	if goServer {
		n := goInLab(t, ctx, l.a, l.d.Bootstrap())
		var opts dht.ServerOptions
		if relay != nil {
			opts.RelayThrough = dht.Relays(relay.key)
		}
		return relayedServer{node: n, goConn: echoWith(t, ctx, n, kp, opts)}
	}
	n := startJSWith(t, ctx, l.a.NodeOptions(interop.NodeOptions{Adaptive: true}), l.d.Bootstrap()...)
	if relay != nil {
		if err := n.SetRelayThrough(ctx, relay.key); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := n.CreateServer(ctx, interop.ServerOptions{Seed: seed, Echo: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	return relayedServer{js: srv}
}

// destroyJS destroys the JS server's connections, so that its node can exit at once when the
// test stops it (a UDX socket closes only once its streams have).
func (s relayedServer) destroyJS(ctx context.Context) {
	if s.js == nil {
		return
	}
	for _, ci := range s.js.Connections() {
		if sc, err := s.js.WaitConnection(ctx, func(c interop.ConnInfo) bool { return c.Conn == ci.Conn }); err == nil {
			sc.Destroy(ctx)
		}
	}
}

// remote returns the address the server's side of its first connection goes to.
func (s relayedServer) remote(t *testing.T, ctx context.Context) netip.AddrPort {
	t.Helper()
	if s.js != nil {
		sc, err := s.js.WaitConnection(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return sc.Info().Remote
	}
	select {
	case sc := <-s.goConn:
		t.Logf("server: %v", sc.info)
		if !sc.info.Relayed() || sc.remote != sc.info.Remote {
			t.Errorf("server's connection: %v, stream to %v", sc.info, sc.remote)
		}
		return sc.info.Remote
	case <-ctx.Done():
		t.Fatal("no connection on the Go server")
	}
	return netip.AddrPort{}
}

// runRelayed connects a client on b to a server on a, both NATs random, through tc's relay,
// and checks that both streams go to the relay and carry data.
func (l *natLab) runRelayed(t *testing.T, ctx context.Context, tc relayCase, key byte) {
	t.Helper()
	kp, seed := keyPair(t, key)
	var byServer, byClient *labRelay
	if tc.byServer {
		byServer = &tc.relay
	} else {
		byClient = &tc.relay
	}
	srv := l.startServer(t, ctx, tc.goServer, byServer, kp, seed)
	defer srv.destroyJS(ctx)
	msg := []byte("through a blind relay")
	var clientRemote netip.AddrPort
	start := time.Now()
	if tc.goClient {
		client := goInLab(t, ctx, l.b, l.d.Bootstrap())
		var opts dht.ConnectOptions
		if byClient != nil {
			opts.RelayThrough = dht.Relays(byClient.key)
		}
		c, err := client.Connect(ctx, kp.PublicKey, &opts)
		if err != nil {
			t.Fatalf("connect after %v: %v", time.Since(start), err)
		}
		defer c.Close()
		info, _ := client.ConnInfo(c)
		t.Logf("open after %v: %v", time.Since(start), info)
		clientRemote = info.Remote
		if !info.Relayed() || info.Relay != tc.relay.key {
			t.Errorf("client: %v, want relayed through %x", info, tc.relay.key[:4])
		}
		c.Write(msg)
		c.CloseWrite()
		if got, err := io.ReadAll(c); err != nil || string(got) != string(msg) {
			t.Errorf("echo %q, %v", got, err)
		}
	} else {
		client := startJSWith(t, ctx, l.b.NodeOptions(interop.NodeOptions{Adaptive: true}), l.d.Bootstrap()...)
		if byClient != nil {
			if err := client.SetRelayThrough(ctx, byClient.key); err != nil {
				t.Fatal(err)
			}
		}
		c, err := client.Connect(ctx, kp.PublicKey, interop.ConnectOptions{})
		if err != nil {
			t.Fatalf("connect after %v: %v", time.Since(start), err)
		}
		defer c.Destroy(ctx) // as destroyJS
		t.Logf("open after %v (the reference's own measure %v) to %v", time.Since(start), c.Info().Open, c.Info().Remote)
		clientRemote = c.Info().Remote
		jsEcho(t, ctx, c, msg)
	}
	if clientRemote != tc.relay.addr {
		t.Errorf("client's stream goes to %v, want the relay %v", clientRemote, tc.relay.addr)
	}
	if got := srv.remote(t, ctx); got != tc.relay.addr {
		t.Errorf("server's stream goes to %v, want the relay %v", got, tc.relay.addr)
	}
}

// acceptedConn is a connection a server accepted, with how it was made then.
type acceptedConn struct {
	*dht.Conn
	info   dht.ConnInfo
	remote netip.AddrPort // where its stream went
}

// echoWith listens with kp and opts on node; each connection is handed to the returned
// channel, echoed until the client ends, ended and closed.
func echoWith(t *testing.T, ctx context.Context, node *dht.Node, kp dht.KeyPair, opts dht.ServerOptions) <-chan acceptedConn {
	t.Helper()
	conns := make(chan acceptedConn, 4)
	opts.OnConnection = func(c *dht.Conn) {
		info, _ := node.ConnInfo(c)
		var remote netip.AddrPort
		if ua, ok := c.RemoteAddr().(*net.UDPAddr); ok {
			remote = ua.AddrPort()
		}
		conns <- acceptedConn{c, info, remote}
		io.Copy(c, c)
		c.CloseWrite()
		c.Close()
	}
	srv := node.CreateServer(opts)
	if err := srv.Listen(ctx, kp); err != nil {
		t.Fatal(err)
	}
	return conns
}

// TestInteropRelayUpgrade: Go client and Go server behind random NATs connect through a
// relay; the server's router then reloads its rules as a consistent NAT (existing flows keep
// their mappings, so the relayed path stays up), the client punches again, and the
// connection moves to the direct path on both sides; the relay is let go.
func TestInteropRelayUpgrade(t *testing.T) {
	l := newNATLab(t)
	ctx := interopCtx(t, 60*time.Second)
	relays := []labRelay{l.goRelay(t, ctx, 0x60), l.jsRelay(t, ctx, 0x61)}
	for i, r := range relays {
		t.Run(r.name, func(t *testing.T) {
			ctx := interopCtx(t, 120*time.Second)
			if err := l.ra.SetNAT(interop.NATRandom); err != nil {
				t.Fatal(err)
			}
			if err := l.rb.SetNAT(interop.NATRandom); err != nil {
				t.Fatal(err)
			}
			kp, _ := keyPair(t, byte(0x62+i))
			srvNode := goInLab(t, ctx, l.a, l.d.Bootstrap())
			upgraded := make(chan dht.ConnInfo, 2)
			onUpgrade := func(_ *dht.Conn, info dht.ConnInfo) { upgraded <- info }
			conns := echoWith(t, ctx, srvNode, kp, dht.ServerOptions{OnUpgrade: onUpgrade})
			client := goInLab(t, ctx, l.b, l.d.Bootstrap())
			start := time.Now()
			c, err := client.Connect(ctx, kp.PublicKey, &dht.ConnectOptions{
				RelayThrough: dht.Relays(r.key), RepunchInterval: 2 * time.Second, OnUpgrade: onUpgrade,
			})
			if err != nil {
				t.Fatalf("connect after %v: %v", time.Since(start), err)
			}
			defer c.Close()
			info, _ := client.ConnInfo(c)
			t.Logf("open after %v: %v", time.Since(start), info)
			if !info.Relayed() || info.Remote != r.addr {
				t.Fatalf("client: %v, want relayed through %v", info, r.addr)
			}
			var sc acceptedConn
			select {
			case sc = <-conns:
			case <-ctx.Done():
				t.Fatal("no connection on the server")
			}
			echoLine(t, c, "relayed")

			if err := l.ra.ReloadNAT(interop.NATConsistent); err != nil {
				t.Fatal(err)
			}
			changed := time.Now()
			for range 2 {
				select {
				case info := <-upgraded:
					t.Logf("upgraded %v after the NAT change: %v", time.Since(changed), info)
				case <-ctx.Done():
					t.Fatal("the connection did not move to a direct path")
				}
			}
			info, _ = client.ConnInfo(c)
			if info.Path != dht.PathHolepunch || !info.Upgraded || info.Remote.Addr() != l.ra.PublicAddr() {
				t.Errorf("client: %v, want a holepunch to %v", info, l.ra.PublicAddr())
			}
			if info, ok := srvNode.ConnInfo(sc.Conn); !ok || info.Path != dht.PathHolepunch || info.Remote.Addr() != l.rb.PublicAddr() {
				t.Errorf("server: %v, want a holepunch to %v", info, l.rb.PublicAddr())
			}
			echoLine(t, c, "direct")
			waitRelayIdle(t, ctx, r)
			echoLine(t, c, "without the relay")
		})
	}
}

// jsEcho writes msg on c, a JS client's connection to an echo server, ends it and checks that
// msg came back.
func jsEcho(t *testing.T, ctx context.Context, c *interop.JSConn, msg []byte) {
	t.Helper()
	if err := c.Write(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if err := c.End(ctx); err != nil {
		t.Fatal(err)
	}
	if end, err := c.WaitEnded(ctx); err != nil || end.Bytes != int64(len(msg)) {
		t.Errorf("echo: %d bytes came back (%v), want %d", end.Bytes, err, len(msg))
	}
}

// echoLine sends line on c, whose server echoes, and checks that it comes back.
func echoLine(t *testing.T, c *dht.Conn, line string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(line)); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	got := make([]byte, len(line))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != line {
		t.Fatalf("%s: echo %q, %v", line, got, err)
	}
}

// waitRelayIdle waits until r relays nothing.
func waitRelayIdle(t *testing.T, ctx context.Context, r labRelay) {
	t.Helper()
	for {
		n, err := r.active()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s still relays %d pairings", r.name, n)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestInteropRelayTryLater: the server behind a random NAT punched a consistent client a
// moment ago, so the next random punch must wait (the random-punch interval); with a relay
// the next client connects through it at once, and the server answers its punch with
// TRY_LATER. With a JS server and a Go client, the client punches again 10 to 20 s later and
// the connection moves to the direct path (the reference's relay-then-direct flow). A JS
// client gets our Go server's TRY_LATER and stays on the relay: the reference sends no
// token in a delayed punch round, so it never verifies the server's address and cannot
// start a random punch (REMOTE_NOT_HOLEPUNCHABLE, which a relayed connection survives);
// ours sends the token.
func TestInteropRelayTryLater(t *testing.T) {
	l := newNATLab(t)
	ctx := interopCtx(t, 60*time.Second)
	r := l.goRelay(t, ctx, 0x68)
	for i, goServer := range []bool{false, true} {
		tc := relayCase{relay: r, goClient: !goServer, goServer: goServer}
		t.Run(tc.name(), func(t *testing.T) {
			ctx := interopCtx(t, 150*time.Second)
			if err := l.ra.SetNAT(interop.NATRandom); err != nil {
				t.Fatal(err)
			}
			if err := l.rb.SetNAT(interop.NATConsistent); err != nil {
				t.Fatal(err)
			}
			kp, seed := keyPair(t, byte(0x69+i))
			srv := l.startServer(t, ctx, goServer, nil, kp, seed)
			defer srv.destroyJS(ctx)
			// A first client punches (no relay), which starts the server's interval.
			first := goInLab(t, ctx, l.b, l.d.Bootstrap())
			fc, err := first.Connect(ctx, kp.PublicKey, nil)
			if err != nil {
				t.Fatalf("first connect: %v", err)
			}
			fc.Close()
			first.Destroy(ctx, dht.DestroyOptions{Force: true})
			if goServer {
				<-srv.goConn
			}

			start := time.Now()
			if !goServer {
				client := goInLab(t, ctx, l.b, l.d.Bootstrap())
				upgraded := make(chan dht.ConnInfo, 1)
				c, err := client.Connect(ctx, kp.PublicKey, &dht.ConnectOptions{RelayThrough: dht.Relays(r.key),
					OnUpgrade: func(_ *dht.Conn, info dht.ConnInfo) { upgraded <- info }})
				if err != nil {
					t.Fatalf("connect after %v: %v", time.Since(start), err)
				}
				defer c.Close()
				info, _ := client.ConnInfo(c)
				t.Logf("open after %v: %v", time.Since(start), info)
				if !info.Relayed() {
					t.Fatalf("client: %v, want relayed while the server waits", info)
				}
				echoLine(t, c, "relayed")
				select {
				case info = <-upgraded:
					t.Logf("upgraded after %v: %v", time.Since(start), info)
				case <-ctx.Done():
					t.Fatal("the connection did not move to a direct path")
				}
				if info.Path != dht.PathHolepunch || info.Remote.Addr() != l.ra.PublicAddr() {
					t.Errorf("client: %v, want a holepunch to %v", info, l.ra.PublicAddr())
				}
				echoLine(t, c, "direct")
				waitRelayIdle(t, ctx, r)
				echoLine(t, c, "without the relay")
				return
			}
			client := startJSWith(t, ctx, l.b.NodeOptions(interop.NodeOptions{Adaptive: true}), l.d.Bootstrap()...)
			if err := client.SetRelayThrough(ctx, r.key); err != nil {
				t.Fatal(err)
			}
			c, err := client.Connect(ctx, kp.PublicKey, interop.ConnectOptions{})
			if err != nil {
				t.Fatalf("connect after %v: %v", time.Since(start), err)
			}
			defer c.Destroy(ctx) // as destroyJS
			t.Logf("open after %v to %v", time.Since(start), c.Info().Remote)
			if c.Info().Remote != r.addr {
				t.Fatalf("client's stream goes to %v, want the relay %v", c.Info().Remote, r.addr)
			}
			select {
			case sc := <-srv.goConn:
				if !sc.info.Relayed() {
					t.Errorf("server: %v, want relayed", sc.info)
				}
			case <-ctx.Done():
				t.Fatal("no connection on the Go server")
			}
			jsEcho(t, ctx, c, []byte("relayed"))
		})
	}
}
