package main

// The connection commands against the JS reference (hyperdht.js in interop/) on a private
// DHT on 127.0.0.1: dht connect to a JS echo server, and a JS client to dht listen --echo.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/interop"
)

func TestConnInterop(t *testing.T) {
	interop.Require(t)
	checkNoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	ct := newConnTest(t, 2)
	js := interop.StartHyperDHTNode(t, []netip.AddrPort{netip.MustParseAddrPort(ct.bootstrap)}, interop.NodeOptions{})
	if _, err := js.WaitEvent(ctx, "bootstrapped", nil); err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(interop.PseudoRandom(5, 200<<10))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("connect to a JS echo server", func(t *testing.T) {
		var seed [32]byte
		seed[0] = 0x61
		srv, err := js.CreateServer(ctx, interop.ServerOptions{Seed: seed, Echo: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Listen(ctx); err != nil {
			t.Fatal(err)
		}
		pk := srv.PublicKey()
		code, out, events, text := runWithStdin(t, data, ct.dht("connect", hex.EncodeToString(pk[:]))...)
		if code != exitOK || !bytes.Equal(out, data) {
			t.Fatalf("connect: exit %d, %d bytes back (want 0 and the %d sent); stderr:\n%s", code, len(out), len(data), text)
		}
		jc, err := srv.WaitConnection(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		connected := findEvent(events, "connected")
		info := jc.Info()
		if got := connected.str("handshakeHash"); got != hex.EncodeToString(info.HandshakeHash) {
			t.Errorf("handshake hash: connect %s, JS %x", got, info.HandshakeHash)
		}
		if got := connected.str("publicKey"); got != hex.EncodeToString(info.RemotePublicKey) {
			t.Errorf("our key: connect %s, JS sees %x", got, info.RemotePublicKey)
		}
	})

	t.Run("JS client to listen --echo", func(t *testing.T) {
		lis := startProc(t, ct.dht("listen", "--key-file", ct.serverKey, "--echo")...)
		lis.await("listening")
		var pk [32]byte
		if _, err := hex.Decode(pk[:], []byte(ct.serverPK)); err != nil {
			t.Fatal(err)
		}
		jc, err := js.Connect(ctx, pk, interop.ConnectOptions{})
		if err != nil {
			t.Fatalf("JS connect to listen --echo: %v", err)
		}
		conn := lis.await("connection")
		info := jc.Info()
		if got := conn.str("handshakeHash"); got != hex.EncodeToString(info.HandshakeHash) {
			t.Errorf("handshake hash: listen %s, JS %x", got, info.HandshakeHash)
		}
		if got := conn.str("remotePublicKey"); got != hex.EncodeToString(info.PublicKey) {
			t.Errorf("client key: listen sees %s, JS has %x", got, info.PublicKey)
		}

		if _, err := jc.Send(ctx, []byte("a datagram")); err != nil {
			t.Fatal(err)
		}
		if _, err := jc.WaitMessage(ctx, func(m interop.ConnMessage) bool { return string(m.Data) == "a datagram" }); err != nil {
			t.Fatalf("no datagram echoed: %v", err)
		}
		if err := jc.Write(ctx, data); err != nil {
			t.Fatal(err)
		}
		if err := jc.End(ctx); err != nil {
			t.Fatal(err)
		}
		end, err := jc.WaitEnded(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if end.Bytes != int64(len(data)) || end.SHA256 != interop.Digest(sha256.Sum256(data)) {
			t.Errorf("echo: %d bytes %x, want %d %x", end.Bytes, end.SHA256, len(data), sha256.Sum256(data))
		}
		closed := lis.await("connection-closed")
		if closed["bytes"] != float64(len(data)) || closed["messages"] != 1.0 || closed["error"] != nil {
			t.Errorf("connection-closed line %v: want %d bytes, 1 message, no error", closed, len(data))
		}
		if code, rest := lis.stop(); code != exitOK || len(rest) == 0 || rest[len(rest)-1].str("event") != "close" {
			t.Errorf("listen stopped: exit %d, last lines %v", code, rest)
		}
	})
}
