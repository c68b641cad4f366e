package dht_test

// Benchmarks of encrypted connections between two in-process nodes over real UDP on 127.0.0.1:
// a full connect (relayed Noise IK handshake, UDX stream, secret-stream session) and a bulk
// transfer through one connection. interop/bench/connbench compares the same two figures with
// the JS reference, each endpoint in a process of its own.
//
//	go test -run xxx -bench Conn ./dht/

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/interop"
)

// connBenchNet is a private network on 127.0.0.1 (a bootstrapper and three persistent nodes), a
// persistent server node listening on a key pair, and a persistent client node.
type connBenchNet struct {
	client *dht.Node
	server *dht.Server
	key    [32]byte
}

// newConnBenchNet starts the network; accept receives the server's connections on goroutines
// of their own and must close them.
func newConnBenchNet(b *testing.B, accept func(*dht.Conn)) *connBenchNet {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := func(boot []rpc.BootstrapNode) *dht.Node {
		n, err := dht.New(dht.Options{Host: "127.0.0.1", Port: interop.FreeUDPPort(b), FixedPort: true, Mode: rpc.ModePersistent, Bootstrap: boot})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Destroy(context.Background(), dht.DestroyOptions{Force: true}) })
		if err := n.Ready(ctx); err != nil {
			b.Fatal(err)
		}
		return n
	}
	bs, err := dht.Bootstrapper(interop.FreeUDPPort(b), "127.0.0.1", dht.Options{Host: "127.0.0.1", Bootstrap: []rpc.BootstrapNode{}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bs.Destroy(context.Background(), dht.DestroyOptions{Force: true}) })
	if err := bs.Ready(ctx); err != nil {
		b.Fatal(err)
	}
	boot := []rpc.BootstrapNode{{Host: "127.0.0.1", Port: bs.LocalAddr().Port()}}
	for range 3 {
		start(boot)
	}
	srvNode := start(boot)
	kp, err := dht.NewKeyPair(nil)
	if err != nil {
		b.Fatal(err)
	}
	srv := srvNode.CreateServer(dht.ServerOptions{OnConnection: accept})
	if err := srv.Listen(ctx, kp); err != nil {
		b.Fatal(err)
	}
	return &connBenchNet{client: start(boot), server: srv, key: kp.PublicKey}
}

// BenchmarkConnect opens and closes one connection per op, from the same client node and key
// pair to the same server, as connbench's timed connects do: the client has cached the relays
// that carried the first handshake, so an op is one relayed PEER_HANDSHAKE round trip, a UDX
// connect and the secret-stream set-up on both sides, plus the close.
func BenchmarkConnect(b *testing.B) {
	nw := newConnBenchNet(b, func(c *dht.Conn) {
		io.Copy(io.Discard, c) // until the client's DESTROY
		c.Close()
	})
	ctx := context.Background()
	connect := func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		c, err := nw.client.Connect(ctx, nw.key, nil)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	connect() // looks the server up and caches its relays
	b.ReportAllocs()
	for b.Loop() {
		connect()
	}
}

// BenchmarkConnBulk writes 64 KiB per op through one connection, the server reading and
// discarding; the clock stops once the server has read everything (hence b.N, not b.Loop, which
// would stop it after the last write).
func BenchmarkConnBulk(b *testing.B) {
	const chunk = 64 << 10
	read := make(chan int64, 1)
	nw := newConnBenchNet(b, func(c *dht.Conn) {
		n, _ := io.Copy(io.Discard, c)
		c.CloseWrite()
		read <- n
		c.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	c, err := nw.client.Connect(ctx, nw.key, nil)
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	data, _ := io.ReadAll(interop.PseudoRandom(1, chunk))
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	var sent int64
	for range b.N {
		if _, err := c.Write(data); err != nil {
			b.Fatal(err)
		}
		sent += chunk
	}
	if err := c.CloseWrite(); err != nil {
		b.Fatal(err)
	}
	if n := <-read; n != sent {
		b.Fatalf("server read %d bytes, want %d", n, sent)
	}
}
