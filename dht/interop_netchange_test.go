package dht_test

// A server whose router changes its public address, in the NAT lab (interop_nat_test.go): the
// reference's relays forward handshakes to the address the server's ANNOUNCE came from, so
// the server is unreachable by key until it announces again. hyperdht does that on a
// network-change (its host's interfaces changed) through server.refresh(), and otherwise at
// its next scheduled announce, up to 5 minutes later; a router's change does not touch the
// host's interfaces. Our server notices within one relay ping (3 s) that its relays see it at
// a new address and announces again by itself; the JS server here is refreshed as a
// network-change would. Both must then be reachable by key, directly at the new address, from
// Go and JS clients.

import (
	"context"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/interop"
)

// reannounceWait is how long the test gives a server to announce again after the change:
// one relay ping (ours) or one announcer loop check (the reference's), plus the update.
const reannounceWait = 5 * time.Second

func TestInteropPublicAddressChange(t *testing.T) {
	l := newNATLab(t)
	for i, goServer := range []bool{true, false} {
		name := map[bool]string{true: "go-server", false: "js-server"}[goServer]
		t.Run(name, func(t *testing.T) {
			ctx := interopCtx(t, 120*time.Second)
			l.addressChange(t, ctx, goServer, byte(0xc0+i))
		})
	}
}

// addressChange runs one server on a, checks a client on b reaches it, moves ra to a new
// public address, refreshes a JS server (a Go one needs nothing), and checks that a new Go
// client and a new JS client reach it directly at the new address.
func (l *natLab) addressChange(t *testing.T, ctx context.Context, goServer bool, key byte) {
	for _, r := range []*interop.Router{l.ra, l.rb} {
		if err := r.SetNAT(interop.NATConsistent); err != nil {
			t.Fatal(err)
		}
	}
	kp, seed := keyPair(t, key)
	var jsSrv *interop.JSServer
	if goServer {
		srv := goInLab(t, ctx, l.a, l.d.Bootstrap()).CreateServer(dht.ServerOptions{OnConnection: func(c *dht.Conn) {
			io.Copy(c, c)
			c.CloseWrite()
			c.Close()
		}})
		if err := srv.Listen(ctx, kp); err != nil {
			t.Fatal(err)
		}
	} else {
		node := startJSWith(t, ctx, l.a.NodeOptions(interop.NodeOptions{Adaptive: true}), l.d.Bootstrap()...)
		var err error
		if jsSrv, err = node.CreateServer(ctx, interop.ServerOptions{Seed: seed, Echo: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := jsSrv.Listen(ctx); err != nil {
			t.Fatal(err)
		}
	}

	old := l.ra.PublicAddr()
	l.connectGo(t, ctx, kp.PublicKey, old, "before the change")

	moved, err := l.ra.ChangePublicAddr()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("router ra moved from %v to %v", old, moved)
	if jsSrv != nil {
		// What hyperdht does on 'network-change'.
		if err := jsSrv.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(reannounceWait)
	l.connectGo(t, ctx, kp.PublicKey, moved, "after the change")
	l.connectJS(t, ctx, kp.PublicKey, moved, "after the change")
}

// connectGo connects a new Go client on b to pk and checks the stream goes to want.
func (l *natLab) connectGo(t *testing.T, ctx context.Context, pk [32]byte, want netip.Addr, when string) {
	t.Helper()
	client := goInLab(t, ctx, l.b, l.d.Bootstrap())
	start := time.Now()
	c, err := client.Connect(ctx, pk, nil)
	if err != nil {
		t.Fatalf("go client %s: %v after %v", when, err, time.Since(start))
	}
	defer c.Close()
	info, _ := client.ConnInfo(c)
	t.Logf("go client %s: %v after %v", when, info, time.Since(start))
	if info.Remote.Addr() != want {
		t.Errorf("go client %s: stream to %v, want the server's router at %v", when, info.Remote, want)
	}
	msg := []byte("after a move")
	c.Write(msg)
	c.CloseWrite()
	if got, err := io.ReadAll(c); err != nil || string(got) != string(msg) {
		t.Errorf("go client %s: echo %q, %v", when, got, err)
	}
	client.Destroy(ctx, dht.DestroyOptions{Force: true})
}

// connectJS connects a new JS client on b to pk and checks the stream goes to want.
func (l *natLab) connectJS(t *testing.T, ctx context.Context, pk [32]byte, want netip.Addr, when string) {
	t.Helper()
	client := startJSWith(t, ctx, l.b.NodeOptions(interop.NodeOptions{Adaptive: true}), l.d.Bootstrap()...)
	start := time.Now()
	c, err := client.Connect(ctx, pk, interop.ConnectOptions{})
	if err != nil {
		t.Fatalf("js client %s: %q (%v) after %v", when, interop.ErrorCode(err), err, time.Since(start))
	}
	t.Logf("js client %s: open after %v to %v", when, c.Info().Open, c.Info().Remote)
	if c.Info().Remote.Addr() != want {
		t.Errorf("js client %s: stream to %v, want the server's router at %v", when, c.Info().Remote, want)
	}
	if err := c.Destroy(ctx); err != nil {
		t.Error(err)
	}
}
