package dht_test

// Live interop of encrypted connections (createServer/connect: Noise IK through the DHT,
// secret-stream over UDX) with the JS reference on 127.0.0.1, in both directions.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/interop"
)

// connNet is a small mixed network: a Go bootstrapper, two JS and two Go storing nodes.
type connNet struct {
	boot netip.AddrPort
	js   []*interop.HyperNode
	gos  []*dht.Node
}

func newConnNet(t *testing.T, ctx context.Context) *connNet {
	t.Helper()
	interop.Require(t)
	b := startGoBootstrapper(t, ctx)
	cn := &connNet{boot: b.LocalAddr()}
	for i := 0; i < 2; i++ {
		cn.js = append(cn.js, startJS(t, ctx, false, cn.boot))
		cn.gos = append(cn.gos, startGo(t, ctx, rpc.ModePersistent, cn.boot))
	}
	return cn
}

// echo copies what c reads back to it, half-closes, and closes once the stream has ended
// both ways (or after 10 s).
func echo(c *dht.Conn) {
	io.Copy(c, c)
	c.CloseWrite()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
	}
	c.Close()
}

func TestInteropConnectJSClientGoServer(t *testing.T) {
	ctx := interopCtx(t, 90*time.Second)
	cn := newConnNet(t, ctx)
	srvNode := startGo(t, ctx, rpc.ModePersistent, cn.boot)
	kp, _ := keyPair(t, 0x51)
	conns := goEchoServer(t, ctx, srvNode, kp, dht.ServerOptions{})
	jsToGoEcho(t, ctx, startJS(t, ctx, true, cn.boot), kp, conns, 1<<20, 7, nil)
}

func TestInteropConnectGoClientJSServer(t *testing.T) {
	ctx := interopCtx(t, 90*time.Second)
	cn := newConnNet(t, ctx)
	srvNode := startJS(t, ctx, false, cn.boot)
	_, seed := keyPair(t, 0x52)
	js, err := srvNode.CreateServer(ctx, interop.ServerOptions{Seed: seed, Echo: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	goToJSEcho(t, ctx, startGo(t, ctx, rpc.ModeEphemeral, cn.boot), js, nil, 1<<20, 9, nil)
}

// goEchoServer listens with kp on node with a server that runs echo on every connection, after
// handing it to the returned channel. opts may set anything but OnConnection.
func goEchoServer(t *testing.T, ctx context.Context, node *dht.Node, kp dht.KeyPair, opts dht.ServerOptions) <-chan *dht.Conn {
	t.Helper()
	conns := make(chan *dht.Conn, 4)
	opts.OnConnection = func(c *dht.Conn) {
		conns <- c
		echo(c)
	}
	if err := node.CreateServer(opts).Listen(ctx, kp); err != nil {
		t.Fatal(err)
	}
	return conns
}

// jsToGoEcho connects a JS client on client to the Go echo server listening with kp (see
// goEchoServer), checks that both sides agree on the keys and the handshake hash, runs during on
// the pair unless it is nil, then has JS send n bytes of PseudoRandom(seed) and end, and checks
// the echo by hash.
func jsToGoEcho(t *testing.T, ctx context.Context, client *interop.HyperNode, kp dht.KeyPair, conns <-chan *dht.Conn,
	n int64, seed uint32, during func(gc *dht.Conn, jc *interop.JSConn)) {
	t.Helper()
	jc, err := client.Connect(ctx, kp.PublicKey, interop.ConnectOptions{})
	if err != nil {
		t.Fatalf("JS connect to Go server: %v", err)
	}
	var gc *dht.Conn
	select {
	case gc = <-conns:
	case <-ctx.Done():
		t.Fatal("no connection on the Go server")
	}
	defer gc.Close()
	info := jc.Info()
	if !bytes.Equal(info.RemotePublicKey, kp.PublicKey[:]) {
		t.Errorf("JS remotePublicKey %x, want %x", info.RemotePublicKey, kp.PublicKey)
	}
	if rpk := gc.RemotePublicKey(); !bytes.Equal(rpk[:], info.PublicKey) {
		t.Errorf("Go RemotePublicKey %x, JS publicKey %x", rpk, info.PublicKey)
	}
	if h := gc.HandshakeHash(); !bytes.Equal(h[:], info.HandshakeHash) {
		t.Errorf("handshake hash differs: Go %x, JS %x", h, info.HandshakeHash)
	}
	if during != nil {
		during(gc, jc)
	}
	res, err := jc.SendBulk(ctx, n, seed)
	if err != nil {
		t.Fatal(err)
	}
	end, err := jc.WaitEnded(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if end.Bytes != n || end.SHA256 != res.SHA256 {
		t.Errorf("echo: %d bytes %x, want %d %x", end.Bytes, end.SHA256, n, res.SHA256)
	}
}

// goToJSEcho connects node to the JS echo server js with opts, checks that both sides agree on
// the keys and the handshake hash, runs during on the pair unless it is nil, then writes n bytes
// of PseudoRandom(seed), half-closes, and checks the echo by hash.
func goToJSEcho(t *testing.T, ctx context.Context, node *dht.Node, js *interop.JSServer, opts *dht.ConnectOptions,
	n int64, seed uint32, during func(c *dht.Conn, jc *interop.JSConn)) {
	t.Helper()
	c, err := node.Connect(ctx, js.PublicKey(), opts)
	if err != nil {
		t.Fatalf("Go connect to JS server: %v", err)
	}
	defer c.Close()
	jc, err := js.WaitConnection(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	info := jc.Info()
	if h := c.HandshakeHash(); !bytes.Equal(h[:], info.HandshakeHash) {
		t.Errorf("handshake hash differs: Go %x, JS %x", h, info.HandshakeHash)
	}
	if rpk := c.RemotePublicKey(); rpk != js.PublicKey() {
		t.Errorf("Go RemotePublicKey %x, want %x", rpk, js.PublicKey())
	}
	if pk := c.PublicKey(); !bytes.Equal(info.RemotePublicKey, pk[:]) {
		t.Errorf("JS remotePublicKey %x, Go PublicKey %x", info.RemotePublicKey, pk)
	}
	if during != nil {
		during(c, jc)
	}
	data, _ := io.ReadAll(interop.PseudoRandom(seed, n))
	go func() {
		c.Write(data)
		c.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Errorf("echo: got %d bytes, want %d identical", len(got), len(data))
	}
}

// TestInteropConnectRefusals: a firewall refusal and an unknown key give both
// implementations' clients the reference's errors (PEER_CONNECTION_FAILED, PEER_NOT_FOUND),
// in comparable times.
func TestInteropConnectRefusals(t *testing.T) {
	ctx := interopCtx(t, 3*time.Minute)
	cn := newConnNet(t, ctx)
	goClientKP, _ := keyPair(t, 0x71)
	_, jsClientSeed := keyPair(t, 0x72)
	jsClientKP, _ := keyPair(t, 0x72)

	// A Go server refusing the JS client, and a JS server refusing the Go client.
	goKP, _ := keyPair(t, 0x73)
	var seen []string
	var mu sync.Mutex
	srv := cn.gos[0].CreateServer(dht.ServerOptions{Firewall: func(pk [32]byte, p *records.NoisePayload, from netip.AddrPort) bool {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%x udx=%v from=%v", pk[:4], p.UDX != nil, from))
		mu.Unlock()
		return pk == jsClientKP.PublicKey
	}})
	if err := srv.Listen(ctx, goKP); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	_, jsSeed := keyPair(t, 0x74)
	js, err := cn.js[0].CreateServer(ctx, interop.ServerOptions{Seed: jsSeed, Reject: [][32]byte{goClientKP.PublicKey}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	goClient := startGo(t, ctx, rpc.ModeEphemeral, cn.boot)
	jsClient := startJS(t, ctx, true, cn.boot)
	nobody, _ := keyPair(t, 0x75)

	var wg sync.WaitGroup
	check := func(name string, want error, wantCode string, run func() (string, error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			code, err := run()
			took := time.Since(start)
			switch {
			case want != nil && !errors.Is(err, want):
				t.Errorf("%s: %v, want %v", name, err, want)
			case wantCode != "" && code != wantCode:
				t.Errorf("%s: code %q (%v), want %s", name, code, err, wantCode)
			default:
				t.Logf("%s: %v after %v", name, err, took.Round(time.Millisecond))
			}
		}()
	}
	check("Go client refused by JS firewall", dht.ErrPeerConnectionFailed, "", func() (string, error) {
		_, err := goClient.Connect(ctx, js.PublicKey(), &dht.ConnectOptions{KeyPair: goClientKP})
		return "", err
	})
	check("JS client refused by Go firewall", nil, interop.CodePeerConnectionFailed, func() (string, error) {
		_, err := jsClient.Connect(ctx, goKP.PublicKey, interop.ConnectOptions{Seed: &jsClientSeed})
		return interop.ErrorCode(err), err
	})
	check("Go client, unknown key", dht.ErrPeerNotFound, "", func() (string, error) {
		_, err := goClient.Connect(ctx, nobody.PublicKey, nil)
		return "", err
	})
	check("JS client, unknown key", nil, interop.CodePeerNotFound, func() (string, error) {
		_, err := jsClient.Connect(ctx, nobody.PublicKey, interop.ConnectOptions{})
		return interop.ErrorCode(err), err
	})
	wg.Wait()
	if _, err := js.WaitFirewall(ctx, func(f interop.FirewallCall) bool { return !f.Accepted }); err != nil {
		t.Errorf("the JS firewall never refused the Go client: %v", err)
	}
	mu.Lock()
	if len(seen) == 0 {
		t.Error("the Go firewall was never asked")
	}
	t.Logf("Go firewall saw: %v", seen)
	mu.Unlock()
}

// TestInteropServerCloseUnannounces: after a Go server's Close, and after a Go node's
// graceful Destroy, neither implementation finds the server any more.
func TestInteropServerCloseUnannounces(t *testing.T) {
	ctx := interopCtx(t, 2*time.Minute)
	cn := newConnNet(t, ctx)
	jsLooker := startJS(t, ctx, true, cn.boot)
	goLooker := startGo(t, ctx, rpc.ModeEphemeral, cn.boot)
	found := func(pk [32]byte) (goSees, jsSees bool) {
		if r, err := goLooker.FindPeer(ctx, pk); err == nil && len(r) > 0 {
			goSees = true
		}
		if r, err := jsLooker.FindPeer(ctx, pk); err == nil && len(r) > 0 {
			jsSees = true
		}
		return
	}

	kp, _ := keyPair(t, 0x81)
	srv := cn.gos[0].CreateServer(dht.ServerOptions{})
	if err := srv.Listen(ctx, kp); err != nil {
		t.Fatal(err)
	}
	if g, j := found(kp.PublicKey); !g || !j {
		t.Fatalf("listening server found by Go %v, JS %v", g, j)
	}
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if g, j := found(kp.PublicKey); g || j {
		t.Fatalf("closed server still found by Go %v, JS %v", g, j)
	}
	select {
	case <-srv.Done():
	default:
		t.Error("Done not closed after Close")
	}

	kp2, _ := keyPair(t, 0x82)
	node := startGo(t, ctx, rpc.ModePersistent, cn.boot)
	srv2 := node.CreateServer(dht.ServerOptions{})
	if err := srv2.Listen(ctx, kp2); err != nil {
		t.Fatal(err)
	}
	if g, j := found(kp2.PublicKey); !g || !j {
		t.Fatalf("listening server found by Go %v, JS %v", g, j)
	}
	if err := node.Destroy(ctx, dht.DestroyOptions{}); err != nil {
		t.Fatal(err)
	}
	if g, j := found(kp2.PublicKey); g || j {
		t.Fatalf("server of a destroyed node still found by Go %v, JS %v", g, j)
	}
	if err := srv2.Listen(ctx, kp2); !errors.Is(err, dht.ErrServerClosed) {
		t.Errorf("Listen after Destroy: %v", err)
	}
}

// TestInteropManyClients: 50 clients, half Go and half JS, connect at once to one Go server,
// each echoing a distinct message.
func TestInteropManyClients(t *testing.T) {
	ctx := interopCtx(t, 3*time.Minute)
	cn := newConnNet(t, ctx)
	kp, _ := keyPair(t, 0x91)
	var open sync.WaitGroup
	var mu sync.Mutex
	var served []*dht.Conn
	srv := cn.gos[0].CreateServer(dht.ServerOptions{OnConnection: func(c *dht.Conn) {
		mu.Lock()
		served = append(served, c)
		mu.Unlock()
		echo(c)
	}})
	if err := srv.Listen(ctx, kp); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Close(context.Background())
		mu.Lock()
		for _, c := range served {
			c.Close()
		}
		mu.Unlock()
	}()
	const perSide = 25
	goClient := startGo(t, ctx, rpc.ModeEphemeral, cn.boot)
	jsClients := []*interop.HyperNode{startJS(t, ctx, true, cn.boot), startJS(t, ctx, true, cn.boot)}
	errs := make(chan error, 2*perSide)
	for i := 0; i < perSide; i++ {
		open.Add(2)
		go func() {
			defer open.Done()
			ckp, _ := keyPair(t, byte(i+1))
			c, err := goClient.Connect(ctx, kp.PublicKey, &dht.ConnectOptions{KeyPair: ckp})
			if err != nil {
				errs <- fmt.Errorf("Go client %d: %w", i, err)
				return
			}
			defer c.Close()
			msg := fmt.Sprintf("go client %d", i)
			c.Write([]byte(msg))
			c.CloseWrite()
			b, err := io.ReadAll(c)
			if err != nil || string(b) != msg {
				errs <- fmt.Errorf("Go client %d: echo %q, %v", i, b, err)
			}
		}()
		go func() {
			defer open.Done()
			_, seed := keyPair(t, byte(100+i))
			jc, err := jsClients[i%2].Connect(ctx, kp.PublicKey, interop.ConnectOptions{Seed: &seed})
			if err != nil {
				errs <- fmt.Errorf("JS client %d: %w", i, err)
				return
			}
			msg := fmt.Sprintf("js client %d", i)
			if err := jc.Write(ctx, []byte(msg)); err != nil {
				errs <- fmt.Errorf("JS client %d: write: %w", i, err)
				return
			}
			if err := jc.End(ctx); err != nil {
				errs <- fmt.Errorf("JS client %d: end: %w", i, err)
				return
			}
			end, err := jc.WaitEnded(ctx)
			if err != nil || end.Bytes != int64(len(msg)) || end.SHA256 != sha256.Sum256([]byte(msg)) {
				errs <- fmt.Errorf("JS client %d: echo %+v, %v", i, end, err)
			}
		}()
	}
	open.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(served) != 2*perSide {
		t.Errorf("server accepted %d connections, want %d", len(served), 2*perSide)
	}
}

// sinkServer listens on a Go node with a server that hashes what each connection sends,
// echoes its datagrams, and reports the end of each stream on ends.
type sinkResult struct {
	conn  *dht.Conn
	n     int64
	sum   [32]byte
	err   error
	ended time.Time
}

func goSinkServer(t *testing.T, ctx context.Context, node *dht.Node, kp dht.KeyPair, opts dht.ServerOptions) (*dht.Server, chan sinkResult) {
	t.Helper()
	ends := make(chan sinkResult, 64)
	opts.OnConnection = func(c *dht.Conn) {
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r sinkResult
		r.conn, r.n, r.err, r.ended = c, n, err, time.Now()
		copy(r.sum[:], h.Sum(nil))
		ends <- r
	}
	opts.OnMessage = func(c *dht.Conn, b []byte) { c.TrySend(append([]byte("echo:"), b...)) }
	srv := node.CreateServer(opts)
	if err := srv.Listen(ctx, kp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	return srv, ends
}

// TestInteropConnBulkMessagesEnd moves 50 MB each way between Go and JS, checked by hash,
// sends datagrams both ways, and ends and destroys streams from either side.
func TestInteropConnBulkMessagesEnd(t *testing.T) {
	ctx := interopCtx(t, 3*time.Minute)
	cn := newConnNet(t, ctx)
	const bulk = 50 << 20

	t.Run("JS client to Go server", func(t *testing.T) {
		kp, _ := keyPair(t, 0x61)
		_, ends := goSinkServer(t, ctx, cn.gos[0], kp, dht.ServerOptions{})
		jc, err := cn.js[1].Connect(ctx, kp.PublicKey, interop.ConnectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Datagrams both ways: the server echoes each one.
		if _, err := jc.Send(ctx, []byte("ping-from-js")); err != nil {
			t.Fatal(err)
		}
		if _, err := jc.WaitMessage(ctx, func(m interop.ConnMessage) bool { return string(m.Data) == "echo:ping-from-js" }); err != nil {
			t.Fatalf("JS never got the Go server's datagram: %v", err)
		}
		res, err := jc.SendBulk(ctx, bulk, 11)
		if err != nil {
			t.Fatal(err)
		}
		var r sinkResult
		select {
		case r = <-ends:
		case <-ctx.Done():
			t.Fatal("Go server never saw the end")
		}
		defer r.conn.Close()
		if r.err != nil || r.n != bulk || r.sum != [32]byte(res.SHA256) {
			t.Fatalf("Go server read %d bytes (%v) %x, want %d %x", r.n, r.err, r.sum, bulk, res.SHA256)
		}
		// The JS side ended; the Go side may still write, then ends too: a clean close.
		if _, err := r.conn.Write([]byte("after your end")); err != nil {
			t.Fatal(err)
		}
		r.conn.CloseWrite()
		end, err := jc.WaitEnded(ctx)
		if err != nil || end.Bytes != int64(len("after your end")) {
			t.Fatalf("JS end after Go half-close: %+v %v", end, err)
		}
		cl, err := jc.WaitClosed(ctx)
		if err != nil || cl.Code != "" {
			t.Fatalf("JS close: %+v %v", cl, err)
		}
	})

	t.Run("Go client to JS server", func(t *testing.T) {
		_, seed := keyPair(t, 0x62)
		js, err := cn.js[0].CreateServer(ctx, interop.ServerOptions{Seed: seed, Sink: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Listen(ctx); err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 4)
		c, err := cn.gos[1].Connect(ctx, js.PublicKey(), &dht.ConnectOptions{OnMessage: func(_ *dht.Conn, b []byte) { got <- append([]byte(nil), b...) }})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		jc, err := js.WaitConnection(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jc.Send(ctx, []byte("ping-from-js-server")); err != nil {
			t.Fatal(err)
		}
		select {
		case b := <-got:
			if string(b) != "ping-from-js-server" {
				t.Fatalf("Go got datagram %q", b)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Go never got the JS server's datagram")
		}
		if err := c.Send([]byte("ping-from-go")); err != nil {
			t.Fatal(err)
		}
		if _, err := jc.WaitMessage(ctx, func(m interop.ConnMessage) bool { return string(m.Data) == "ping-from-go" }); err != nil {
			t.Fatalf("JS never got Go's datagram: %v", err)
		}
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(c, h), interop.PseudoRandom(13, bulk)); err != nil {
			t.Fatal(err)
		}
		c.CloseWrite()
		end, err := jc.WaitEnded(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if end.Bytes != bulk || !bytes.Equal(end.SHA256[:], h.Sum(nil)) {
			t.Fatalf("JS server read %d bytes %x, want %d %x", end.Bytes, end.SHA256, bulk, h.Sum(nil))
		}
		// The sink ends its side when ours ended: Go reads EOF, and the stream closes cleanly.
		if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
			t.Fatalf("Go read after JS end: %d bytes, %v", len(b), err)
		}
	})

	t.Run("destroy from Go", func(t *testing.T) {
		kp, _ := keyPair(t, 0x63)
		conns := make(chan *dht.Conn, 1)
		srv := cn.gos[0].CreateServer(dht.ServerOptions{OnConnection: func(c *dht.Conn) { conns <- c }})
		if err := srv.Listen(ctx, kp); err != nil {
			t.Fatal(err)
		}
		defer srv.Close(context.Background())
		jc, err := cn.js[1].Connect(ctx, kp.PublicKey, interop.ConnectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var gc *dht.Conn
		select {
		case gc = <-conns:
		case <-ctx.Done():
			t.Fatal("no server connection")
		}
		buf := make([]byte, 16)
		jc.Write(ctx, []byte("hello"))
		if _, err := io.ReadFull(gc, buf[:5]); err != nil {
			t.Fatal(err)
		}
		gc.Close()
		cl, err := jc.WaitClosed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cl.Code == "" {
			t.Fatalf("JS closed cleanly after a Go destroy, want an error: %+v", cl)
		}
		t.Logf("JS saw the Go destroy as %s (%s)", cl.Code, cl.Error)
	})

	t.Run("destroy from JS", func(t *testing.T) {
		kp, _ := keyPair(t, 0x64)
		_, ends := goSinkServer(t, ctx, cn.gos[1], kp, dht.ServerOptions{})
		jc, err := cn.js[0].Connect(ctx, kp.PublicKey, interop.ConnectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := jc.Write(ctx, []byte("some bytes")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if err := jc.Destroy(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-ends:
			defer r.conn.Close()
			if r.err == nil {
				t.Fatalf("Go read %d bytes and a clean end after the JS destroy, want a reset", r.n)
			}
			t.Logf("Go saw the JS destroy as: %v", r.err)
		case <-time.After(10 * time.Second):
			t.Fatal("Go never noticed the JS destroy")
		}
	})
}

// TestInteropEphemeralServers: servers on ephemeral (firewalled) nodes are reached on the same
// host, the Go client through the reference's same-LAN shortcut (ping the server's local
// address, then connect to it) and the JS client through the address the relay saw.
func TestInteropEphemeralServers(t *testing.T) {
	ctx := interopCtx(t, 2*time.Minute)
	cn := newConnNet(t, ctx)

	t.Run("Go client to JS server", func(t *testing.T) {
		node := startJS(t, ctx, true, cn.boot)
		_, seed := keyPair(t, 0xa1)
		js, err := node.CreateServer(ctx, interop.ServerOptions{Seed: seed, Echo: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Listen(ctx); err != nil {
			t.Fatal(err)
		}
		client := startGo(t, ctx, rpc.ModeEphemeral, cn.boot)
		c, err := client.Connect(ctx, js.PublicKey(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("over the LAN shortcut"))
		c.CloseWrite()
		if b, err := io.ReadAll(c); err != nil || string(b) != "over the LAN shortcut" {
			t.Fatalf("echo %q, %v", b, err)
		}
	})

	t.Run("JS client to Go server", func(t *testing.T) {
		node := startGo(t, ctx, rpc.ModeEphemeral, cn.boot)
		kp, _ := keyPair(t, 0xa2)
		conns := make(chan *dht.Conn, 1)
		srv := node.CreateServer(dht.ServerOptions{OnConnection: func(c *dht.Conn) {
			conns <- c
			echo(c)
		}})
		if err := srv.Listen(ctx, kp); err != nil {
			t.Fatal(err)
		}
		defer srv.Close(context.Background())
		jc, err := cn.js[0].Connect(ctx, kp.PublicKey, interop.ConnectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { (<-conns).Close() }()
		res, err := jc.SendBulk(ctx, 1<<20, 5)
		if err != nil {
			t.Fatal(err)
		}
		end, err := jc.WaitEnded(ctx)
		if err != nil || end.SHA256 != res.SHA256 {
			t.Fatalf("echo: %+v %v", end, err)
		}
	})
}
