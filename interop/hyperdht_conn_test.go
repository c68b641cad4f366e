package interop_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/crypto/blake2b"

	"github.com/hyperlan/hyperlan/interop"
)

// startHyperNetwork starts a JS hyperdht bootstrapper and n persistent JS
// hyperdht nodes on 127.0.0.1 that bootstrap from it (never the public
// bootstrap nodes) and returns the nodes once all have bootstrapped.
func startHyperNetwork(t *testing.T, ctx context.Context, n int) []*interop.HyperNode {
	t.Helper()
	boot := interop.StartHyperDHTBootstrapper(t, interop.FreeUDPPort(t))
	nodes := make([]*interop.HyperNode, n)
	for i := range nodes {
		nodes[i] = interop.StartHyperDHTNode(t, []netip.AddrPort{boot.Addr()}, interop.NodeOptions{})
	}
	for _, node := range append([]*interop.HyperNode{boot}, nodes...) {
		if _, err := node.WaitEvent(ctx, "bootstrapped", nil); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// listeningServer creates a server on node with a fresh key pair and opts,
// and makes it listen. It closes the server when the (sub)test ends.
func listeningServer(t *testing.T, ctx context.Context, node *interop.HyperNode, opts interop.ServerOptions) *interop.JSServer {
	t.Helper()
	opts.Seed = randomKey(t)
	s, err := node.CreateServer(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if s.PublicKey() != publicKeyOf(opts.Seed) {
		t.Fatalf("server public key %x, want the ed25519 key of its seed %x", s.PublicKey(), publicKeyOf(opts.Seed))
	}
	t.Cleanup(func() {
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	addr, err := s.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pk := s.PublicKey(); !bytes.Equal(addr.PublicKey, pk[:]) {
		t.Fatalf("Listen: address %+v, want public key %x", addr, s.PublicKey())
	}
	return s
}

// connPair connects client to s and returns both ends once the server side
// has opened too.
func connPair(t *testing.T, ctx context.Context, client *interop.HyperNode, s *interop.JSServer, opts interop.ConnectOptions) (c, sc *interop.JSConn) {
	t.Helper()
	c, err := client.Connect(ctx, s.PublicKey(), opts)
	if err != nil {
		t.Fatal(err)
	}
	sc, err = s.WaitConnection(ctx, func(i interop.ConnInfo) bool {
		return bytes.Equal(i.HandshakeHash, c.Info().HandshakeHash)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.WaitOpen(ctx); err != nil {
		t.Fatal(err)
	}
	return c, sc
}

// wantClosed waits for the close of c and fails unless its code is code
// ("" for a clean close).
func wantClosed(t *testing.T, ctx context.Context, c *interop.JSConn, code string) interop.ConnClose {
	t.Helper()
	cl, err := c.WaitClosed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cl.Code != code {
		t.Errorf("%v closed with %q (code %q), want code %q", c, cl.Error, cl.Code, code)
	}
	return cl
}

// TestHyperDHTConnReference proves the connection ops of hyperdht.js against
// the JS reference alone: JS clients connect to JS servers by public key
// through a bootstrapper and three persistent JS nodes on 127.0.0.1.
//
//	          bootstrapper (127.0.0.1:P)
//	      /            |            \
//	nodes[0]        nodes[1]       nodes[2]
//	(servers)       (clients)      (lookups)
func TestHyperDHTConnReference(t *testing.T) {
	interop.Require(t)
	t.Cleanup(func() { checkNoReaders(t) }) // registered first, so it runs after the nodes' cleanups
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	nodes := startHyperNetwork(t, ctx, 3)
	server, client, other := nodes[0], nodes[1], nodes[2]

	t.Run("Echo", func(t *testing.T) {
		s := listeningServer(t, ctx, server, interop.ServerOptions{Echo: true})
		seed := randomKey(t)
		c, sc := connPair(t, ctx, client, s, interop.ConnectOptions{Seed: &seed})
		ci, si := c.Info(), sc.Info()
		t.Logf("connect opened in %v; client %v, server %v", ci.Open, ci.Remote, si.Remote)
		if pk := publicKeyOf(seed); !bytes.Equal(ci.PublicKey, pk[:]) || !bytes.Equal(si.RemotePublicKey, pk[:]) {
			t.Errorf("client key %x, server sees %x, want %x", ci.PublicKey, si.RemotePublicKey, pk)
		}
		if pk := s.PublicKey(); !bytes.Equal(ci.RemotePublicKey, pk[:]) || !bytes.Equal(si.PublicKey, pk[:]) {
			t.Errorf("client sees server key %x, server has %x, want %x", ci.RemotePublicKey, si.PublicKey, pk)
		}
		if len(ci.HandshakeHash) != 64 || !bytes.Equal(ci.HandshakeHash, si.HandshakeHash) {
			t.Errorf("handshake hash client %x, server %x: want the same 64 bytes", ci.HandshakeHash, si.HandshakeHash)
		}
		if !ci.IsInitiator || si.IsInitiator || ci.Side != "client" || si.Side != "server" || si.Server != s.ID() {
			t.Errorf("client %+v, server %+v: want initiator client, responder server", ci, si)
		}

		msg := []byte("hello through the noise")
		if err := c.Write(ctx, msg); err != nil {
			t.Fatal(err)
		}
		if err := c.End(ctx); err != nil {
			t.Fatal(err)
		}
		end, err := c.WaitEnded(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := sha256.Sum256(msg); end.Bytes != int64(len(msg)) || end.SHA256 != want {
			t.Errorf("echo: got %d bytes %v, want %d bytes %x", end.Bytes, end.SHA256, len(msg), want)
		}
		wantClosed(t, ctx, c, "")
		wantClosed(t, ctx, sc, "")
		if conns := s.Connections(); len(conns) != 1 || conns[0].Conn != sc.ID() {
			t.Errorf("server connections %+v, want just %d", conns, sc.ID())
		}
	})

	t.Run("RelayAddresses", func(t *testing.T) {
		// The server's own node as the relay: the handshake goes to it directly.
		s := listeningServer(t, ctx, server, interop.ServerOptions{Echo: true})
		c, _ := connPair(t, ctx, client, s, interop.ConnectOptions{RelayAddresses: []netip.AddrPort{server.Addr()}})
		if err := c.Write(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := c.End(ctx); err != nil {
			t.Fatal(err)
		}
		if end, err := c.WaitEnded(ctx); err != nil || end.Bytes != 1 {
			t.Fatalf("echo through a connection made via relayAddresses: %+v, %v", end, err)
		}
	})

	t.Run("Bulk", func(t *testing.T) {
		const n, seed = 5 << 20, 7
		s := listeningServer(t, ctx, server, interop.ServerOptions{Sink: true})
		c, sc := connPair(t, ctx, client, s, interop.ConnectOptions{})
		sent, err := c.SendBulk(ctx, n, seed)
		if err != nil {
			t.Fatal(err)
		}
		want := pseudoRandomSum(t, seed, n)
		if sent.Bytes != n || sent.SHA256 != want {
			t.Errorf("SendBulk wrote %d bytes %v, want %d bytes %x", sent.Bytes, sent.SHA256, n, want)
		}
		got, err := sc.WaitEnded(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Bytes != n || got.SHA256 != interop.Digest(want) {
			t.Errorf("server read %d bytes %v, want %d bytes %x", got.Bytes, got.SHA256, n, want)
		}
		t.Logf("%d MiB in %v (writes took %v)", n>>20, got.At.Sub(c.Info().At), sent.Elapsed)
		// The sink ends when the client ends, so both close cleanly.
		if _, err := c.WaitEnded(ctx); err != nil {
			t.Fatal(err)
		}
		wantClosed(t, ctx, c, "")
		wantClosed(t, ctx, sc, "")
		st, err := sc.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Closed || !st.RemoteEnded || !st.Ended || st.Received != n || st.RawBytesRead <= n {
			t.Errorf("server stats after close %+v", st)
		}
	})

	t.Run("Messages", func(t *testing.T) {
		s := listeningServer(t, ctx, server, interop.ServerOptions{})
		c, sc := connPair(t, ctx, client, s, interop.ConnectOptions{})
		toServer := [][]byte{{}, []byte("ping"), bytes.Repeat([]byte{0xa5}, 1000)}
		for _, m := range toServer {
			if sent, err := c.Send(ctx, m); err != nil || !sent {
				t.Fatalf("client Send(%d bytes) = %v, %v", len(m), sent, err)
			}
		}
		if err := sc.TrySend(ctx, []byte("pong")); err != nil {
			t.Fatal(err)
		}
		if sent, err := sc.Send(ctx, []byte("pong 2")); err != nil || !sent {
			t.Fatalf("server Send = %v, %v", sent, err)
		}
		for _, m := range toServer {
			got, err := sc.WaitMessage(ctx, func(got interop.ConnMessage) bool { return got.SHA256 == sha256.Sum256(m) })
			if err != nil {
				t.Fatal(err)
			}
			if got.Length != len(m) || !bytes.Equal(got.Data, m[:min(len(m), 256)]) {
				t.Errorf("server got %d bytes %x, want %d bytes", got.Length, got.Data, len(m))
			}
		}
		for _, m := range []string{"pong", "pong 2"} {
			if _, err := c.WaitMessage(ctx, func(got interop.ConnMessage) bool { return string(got.Data) == m }); err != nil {
				t.Fatal(err)
			}
		}
		list, count, err := sc.Messages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if count != len(toServer) || len(list) != count {
			t.Errorf("server Messages: %d kept, %d in total, want %d", len(list), count, len(toServer))
		}
		if err := c.Destroy(ctx); err != nil {
			t.Fatal(err)
		}
		wantClosed(t, ctx, c, "")
	})

	t.Run("EndBothWays", func(t *testing.T) {
		s := listeningServer(t, ctx, server, interop.ServerOptions{})
		c, sc := connPair(t, ctx, client, s, interop.ConnectOptions{})
		if err := sc.Write(ctx, []byte("from server")); err != nil {
			t.Fatal(err)
		}
		if err := sc.End(ctx); err != nil {
			t.Fatal(err)
		}
		if end, err := c.WaitEnded(ctx); err != nil || end.Bytes != int64(len("from server")) {
			t.Fatalf("client after the server's end: %+v, %v", end, err)
		}
		if st, err := sc.Stats(ctx); err != nil || st.Closed {
			t.Fatalf("server side closed after its own end only: %+v, %v", st, err)
		}
		if err := c.End(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.WaitEnded(ctx); err != nil {
			t.Fatal(err)
		}
		wantClosed(t, ctx, c, "")
		wantClosed(t, ctx, sc, "")
	})

	for _, from := range []string{"client", "server"} {
		t.Run("DestroyFrom"+from, func(t *testing.T) {
			s := listeningServer(t, ctx, server, interop.ServerOptions{})
			c, sc := connPair(t, ctx, client, s, interop.ConnectOptions{})
			local, remote := c, sc
			if from == "server" {
				local, remote = sc, c
			}
			if err := local.Destroy(ctx); err != nil {
				t.Fatal(err)
			}
			wantClosed(t, ctx, local, "")
			cl := wantClosed(t, ctx, remote, "ECONNRESET")
			t.Logf("after a destroy on the %s side, the other closed with %q (%s) after %v",
				from, cl.Error, cl.Code, cl.At.Sub(local.Info().At))
		})
	}

	t.Run("FirewallReject", func(t *testing.T) {
		seed := randomKey(t)
		pk := publicKeyOf(seed)
		s := listeningServer(t, ctx, server, interop.ServerOptions{Reject: [][32]byte{pk}})
		start := time.Now()
		_, err := client.Connect(ctx, s.PublicKey(), interop.ConnectOptions{Seed: &seed})
		took := time.Since(start)
		t.Logf("connect through a refusing firewall: %v after %v", err, took)
		if code := interop.ErrorCode(err); code != interop.CodePeerConnectionFailed {
			t.Errorf("connect through a refusing firewall: %v (code %q), want code %s", err, code, interop.CodePeerConnectionFailed)
		}
		fw, err := s.WaitFirewall(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if fw.Accepted || !bytes.Equal(fw.RemotePublicKey, pk[:]) || fw.Payload.Version != 1 || fw.Payload.UDX == nil ||
			fw.Payload.SecretStream == nil || !fw.ClientAddress.IsValid() {
			t.Errorf("firewall call %+v, want a refused call from %x with a version 1 payload", fw, pk)
		}
		t.Logf("firewall: %d call(s), client address %v, payload %+v", fw.Calls, fw.ClientAddress, fw.Payload)
		if len(s.Connections()) != 0 {
			t.Errorf("refused client got connections %+v", s.Connections())
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		start := time.Now()
		_, err := client.Connect(ctx, randomKey(t), interop.ConnectOptions{})
		t.Logf("connect to a key nobody announced: %v after %v", err, time.Since(start))
		if code := interop.ErrorCode(err); code != interop.CodePeerNotFound {
			t.Errorf("connect to an unknown key: %v (code %q), want code %s", err, code, interop.CodePeerNotFound)
		}
	})

	t.Run("CloseUnannounces", func(t *testing.T) {
		s := listeningServer(t, ctx, server, interop.ServerOptions{})
		pk := s.PublicKey()
		found, err := other.FindPeer(ctx, pk)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) == 0 {
			t.Fatal("findPeer of a listening server: no replies")
		}
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if found, err := other.FindPeer(ctx, pk); err != nil || len(found) != 0 {
			t.Errorf("findPeer after close: %d replies, %v; want none", len(found), err)
		}
		if replies, err := other.Lookup(ctx, blake2b.Sum256(pk[:])); err != nil || len(replies) != 0 {
			t.Errorf("lookup of hash(publicKey) after close: %+v, %v; want no replies", replies, err)
		}
		if _, err := server.WaitEvent(ctx, "server-close", nil); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = client.Connect(ctx, pk, interop.ConnectOptions{})
		t.Logf("connect after close: %v after %v", err, time.Since(start))
	})
}
