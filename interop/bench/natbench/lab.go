package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/interop"
)

// lab is the NAT lab of one run (as in dht/interop_nat_test.go): the public reference DHT,
// the server's router ra with host a and the client's router rb with host b.
type lab struct {
	tb     *tb
	nl     *interop.NATLab
	d      *interop.JSDHT
	ra, rb *interop.Router
	a, b   *interop.Host
}

// newLab builds the lab; the JS DHT has jsNodes persistent nodes besides its bootstrapper.
// impair, if not nil, is applied to every packet through the internet router.
func newLab(t *tb, jsNodes int, impair *interop.Impairment) (*lab, error) {
	l := &lab{tb: t}
	err := t.do(func() {
		interop.Require(t)
		l.nl = interop.NewNATLab(t)
		l.d = l.nl.StartJSDHT(t, "dht", jsNodes)
		l.ra = l.nl.Router("ra", interop.RouterOptions{})
		l.rb = l.nl.Router("rb", interop.RouterOptions{})
		l.a, l.b = l.ra.Host("a"), l.rb.Host("b")
		if impair != nil {
			l.nl.RequireImpairment(t)
			if err := l.nl.Impair(*impair); err != nil {
				t.Fatal(err)
			}
		}
	})
	return l, err
}

// trial is what one connect gave.
type trial struct {
	ok     bool
	time   time.Duration // until the server's secret-stream header was read, or the failure
	direct bool          // the stream went to the server's router (no relay)
	err    string        // the failure's code or text
	detail string        // the failure's whole text
}

// endpoint is one side's node of a trial, Go (in this process) or JS (a driver process).
type endpoint struct {
	goNode *dht.Node
	jsNode *interop.HyperNode
}

func (e *endpoint) stop() {
	if e.goNode != nil {
		e.goNode.Destroy(context.Background(), dht.DestroyOptions{Force: true})
	}
	if e.jsNode != nil {
		e.jsNode.Stop()
	}
}

// start starts a node of impl on h and waits until it has joined the DHT.
func (l *lab) start(ctx context.Context, impl string, h *interop.Host) (*endpoint, error) {
	if impl == "go" {
		host := h.Addr()
		n, err := dht.New(dht.Options{
			Host: host.String(), FixedPort: true, Mode: rpc.ModeAdaptive,
			Bootstrap:    []rpc.BootstrapNode{{Host: l.d.Bootstrap()[0].Addr().String(), Port: l.d.Bootstrap()[0].Port()}},
			ListenPacket: h.Netns.ListenPacket,
			// The node's sockets are in h's namespace: so are the addresses it shares.
			InterfaceAddrs: func() []netip.Addr { return []netip.Addr{host} },
		})
		if err != nil {
			return nil, err
		}
		e := &endpoint{goNode: n}
		if err := n.Ready(ctx); err != nil {
			e.stop()
			return nil, err
		}
		return e, nil
	}
	var e endpoint
	err := l.tb.do(func() {
		e.jsNode = interop.StartHyperDHTNode(l.tb, l.d.Bootstrap(), h.NodeOptions(interop.NodeOptions{Adaptive: true}))
	})
	if err != nil {
		return nil, err
	}
	if _, err := e.jsNode.WaitEvent(ctx, "bootstrapped", nil); err != nil {
		e.stop()
		return nil, err
	}
	return &e, nil
}

// run does one trial of c: fresh routers' conntrack, a fresh server on a listening on a key
// of its own, a fresh client on b, one timed connect. The nodes are new each time, as
// NATLAB.md's trial.sh does: a node refuses a second random punch within 20 s.
func (l *lab) run(ctx context.Context, c cell, i int) (trial, error) {
	for _, r := range []*interop.Router{l.ra, l.rb} {
		if err := r.FlushConntrack(); err != nil {
			return trial{}, err
		}
	}
	seed := sha256.Sum256(fmt.Appendf(nil, "natbench %v %d", c, i))
	kp, err := dht.NewKeyPair(seed[:])
	if err != nil {
		return trial{}, err
	}

	srv, err := l.start(ctx, c.pair.server, l.a)
	if err != nil {
		return trial{}, fmt.Errorf("%s server: %w", c.pair.server, err)
	}
	defer srv.stop()
	if srv.goNode != nil {
		s := srv.goNode.CreateServer(dht.ServerOptions{OnConnection: func(c *dht.Conn) {
			io.Copy(io.Discard, c)
			c.Close()
		}})
		if err := s.Listen(ctx, kp); err != nil {
			return trial{}, fmt.Errorf("go server: listen: %w", err)
		}
	} else {
		s, err := srv.jsNode.CreateServer(ctx, interop.ServerOptions{Seed: seed})
		if err != nil {
			return trial{}, fmt.Errorf("js server: %w", err)
		}
		if _, err := s.Listen(ctx); err != nil {
			return trial{}, fmt.Errorf("js server: listen: %w", err)
		}
	}

	cl, err := l.start(ctx, c.pair.client, l.b)
	if err != nil {
		return trial{}, fmt.Errorf("%s client: %w", c.pair.client, err)
	}
	defer cl.stop()
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	var t trial
	var remote netip.AddrPort
	if cl.goNode != nil {
		start := time.Now()
		conn, err := cl.goNode.Connect(cctx, kp.PublicKey, nil)
		t.time = time.Since(start)
		if err != nil {
			var ce *dht.ConnError
			if t.err, t.detail = err.Error(), err.Error(); errors.As(err, &ce) {
				t.err = ce.Code
			}
			return t, ctx.Err()
		}
		info, _ := cl.goNode.ConnInfo(conn)
		remote = info.Remote
		conn.Close()
	} else {
		start := time.Now()
		conn, err := cl.jsNode.Connect(cctx, kp.PublicKey, interop.ConnectOptions{WaitHeader: true})
		if err != nil {
			t.time = time.Since(start)
			if t.err, t.detail = interop.ErrorCode(err), err.Error(); t.err == "" {
				t.err = err.Error()
			}
			return t, ctx.Err()
		}
		t.time = conn.Info().Header
		remote = conn.Info().Remote
		conn.Destroy(ctx)
	}
	t.ok = true
	t.direct = remote.Addr() == l.ra.PublicAddr()
	return t, nil
}
