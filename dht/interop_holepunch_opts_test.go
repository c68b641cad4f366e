package dht_test

import (
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/holepunch"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/interop"
)

// TestInteropHolepunchOptions: the reference's holepunch options against the other
// implementation in the NAT lab, both ways: a server that never punches (holepunch: false), a
// holepunch callback that refuses on either side, and a client without fast open.
func TestInteropHolepunchOptions(t *testing.T) {
	l := newNATLab(t)
	cons, random := interop.NATConsistent, interop.NATRandom
	for i, tc := range []struct {
		name               string
		server, client     interop.NATKind
		goServer, goClient bool
		srvOpt, cliOpt     string // "never" (server), "veto", "no-fast-open" (client)
		connects           bool
	}{
		{name: "go-server-never/js-client", server: cons, client: cons, goServer: true, srvOpt: "never"},
		{name: "js-server-never/go-client", server: cons, client: cons, goClient: true, srvOpt: "never"},
		{name: "go-server-veto/js-client", server: cons, client: random, goServer: true, srvOpt: "veto"},
		{name: "js-server-veto/go-client", server: cons, client: random, goClient: true, srvOpt: "veto"},
		{name: "js-client-veto/go-server", server: cons, client: random, goServer: true, cliOpt: "veto"},
		{name: "go-client-veto/js-server", server: cons, client: random, goClient: true, cliOpt: "veto"},
		{name: "go-client-no-fast-open/js-server", server: cons, client: cons, goClient: true, cliOpt: "no-fast-open", connects: true},
		{name: "js-client-no-fast-open/go-server", server: cons, client: cons, goServer: true, cliOpt: "no-fast-open", connects: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := interopCtx(t, 90*time.Second)
			if err := l.ra.SetNAT(tc.server); err != nil {
				t.Fatal(err)
			}
			if err := l.rb.SetNAT(tc.client); err != nil {
				t.Fatal(err)
			}
			kp, seed := keyPair(t, byte(0xc0+i))
			var goConns chan *dht.Conn
			var jsSrv *interop.JSServer
			if tc.goServer {
				node := goInLab(t, ctx, l.a, l.d.Bootstrap())
				opts := dht.ServerOptions{NoHolepunch: tc.srvOpt == "never"}
				if tc.srvOpt == "veto" {
					opts.Holepunch = func(remote, local records.Firewall, _, _ []netip.AddrPort) bool { return false }
				}
				goConns = make(chan *dht.Conn, 1)
				opts.OnConnection = func(c *dht.Conn) { goConns <- c; io.Copy(c, c); c.Close() }
				srv := node.CreateServer(opts)
				if err := srv.Listen(ctx, kp); err != nil {
					t.Fatal(err)
				}
			} else {
				node := startJSWith(t, ctx, l.a.NodeOptions(interop.NodeOptions{Adaptive: true}), l.d.Bootstrap()...)
				var err error
				if jsSrv, err = node.CreateServer(ctx, interop.ServerOptions{Seed: seed, Echo: true, Holepunch: tc.srvOpt}); err != nil {
					t.Fatal(err)
				}
				if _, err := jsSrv.Listen(ctx); err != nil {
					t.Fatal(err)
				}
			}

			start := time.Now()
			if tc.goClient {
				client := goInLab(t, ctx, l.b, l.d.Bootstrap())
				var vetoed bool
				opts := &dht.ConnectOptions{NoFastOpen: tc.cliOpt == "no-fast-open"}
				if tc.cliOpt == "veto" {
					opts.Holepunch = func(remote, local records.Firewall, _, _ []netip.AddrPort) bool {
						vetoed = remote == records.FirewallConsistent && local == records.FirewallRandom
						return false
					}
				}
				c, err := client.Connect(ctx, kp.PublicKey, opts)
				t.Logf("Go client after %v: %v", time.Since(start), err)
				if tc.connects {
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					info, _ := client.ConnInfo(c)
					if info.Path != dht.PathHolepunch || info.Strategy != holepunch.ConsistentProbe || info.Remote.Addr() != l.ra.PublicAddr() {
						t.Errorf("path %v to %v, strategy %v: want a consistent punch to %v", info.Path, info.Remote, info.Strategy, l.ra.PublicAddr())
					}
					msg := []byte("no fast open")
					c.Write(msg)
					c.CloseWrite()
					if got, err := io.ReadAll(c); err != nil || string(got) != string(msg) {
						t.Errorf("echo %q, %v", got, err)
					}
					return
				}
				if !errors.Is(err, dht.ErrHolepunchAborted) {
					t.Fatalf("Connect: %v, want %v", err, dht.ErrHolepunchAborted)
				}
				if tc.cliOpt == "veto" && !vetoed {
					t.Error("the callback did not see a consistent server and our random NAT")
				}
			} else {
				client := startJSWith(t, ctx, l.b.NodeOptions(interop.NodeOptions{Adaptive: true}), l.d.Bootstrap()...)
				opts := interop.ConnectOptions{Echo: false, NoFastOpen: tc.cliOpt == "no-fast-open"}
				if tc.cliOpt == "veto" {
					opts.Holepunch = "veto"
				}
				c, err := client.Connect(ctx, kp.PublicKey, opts)
				t.Logf("JS client after %v: %v", time.Since(start), err)
				if tc.connects {
					if err != nil {
						t.Fatal(err)
					}
					defer c.Destroy(ctx)
					if c.Info().Remote.Addr() != l.ra.PublicAddr() {
						t.Errorf("stream to %v, want %v", c.Info().Remote, l.ra.PublicAddr())
					}
					return
				}
				if code := interop.ErrorCode(err); code != interop.CodeHolepunchAborted {
					t.Fatalf("connect: %q (%v), want %s", code, err, interop.CodeHolepunchAborted)
				}
			}
			// A refused punch leaves the server without a connection.
			if goConns != nil {
				select {
				case <-goConns:
					t.Error("the Go server got a connection")
				default:
				}
			}
		})
	}
}
