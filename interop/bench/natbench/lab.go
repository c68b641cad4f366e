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
	relays map[string]relay // by implementation, "go" or "js"
}

// relay is a blind relay of the lab, on an address of its own on the public DHT's host.
type relay struct {
	key  [32]byte
	addr netip.AddrPort // where its node is reached
}

// startRelay starts a persistent node of impl on a new address of the public host, makes it
// a blind relay (as dht/interop_relay_test.go does) and keeps it for the whole run.
func (l *lab) startRelay(ctx context.Context, impl string) (relay, error) {
	seed := sha256.Sum256([]byte("natbench relay " + impl))
	var r relay
	var addr netip.Addr
	if err := l.tb.do(func() { addr = l.d.Host.ExtraAddr() }); err != nil {
		return r, err
	}
	if impl == "go" {
		n, err := l.goNode(ctx, l.d.Host.Netns, addr, interop.JSDHTPort, rpc.ModePersistent)
		if err != nil {
			return r, err
		}
		l.tb.Cleanup(func() { n.Destroy(context.Background(), dht.DestroyOptions{Force: true}) })
		if _, ok := n.ID(); !ok {
			return r, fmt.Errorf("node %v did not become persistent", n.LocalAddr())
		}
		kp, err := dht.NewKeyPair(seed[:])
		if err != nil {
			return r, err
		}
		if _, err := n.ServeBlindRelay(ctx, kp); err != nil {
			return r, err
		}
		r = relay{key: kp.PublicKey, addr: n.LocalAddr()}
	} else {
		var n *interop.HyperNode
		err := l.tb.do(func() {
			n = interop.StartHyperDHTNode(l.tb, l.d.Bootstrap(), interop.NodeOptions{Netns: l.d.Host.Name(), Host: addr, Port: interop.JSDHTPort})
		})
		if err != nil {
			return r, err
		}
		if _, err := n.WaitEvent(ctx, "persistent", nil); err != nil {
			return r, err
		}
		key, err := n.ServeBlindRelay(ctx, seed)
		if err != nil {
			return r, err
		}
		r = relay{key: key, addr: netip.AddrPortFrom(addr, interop.JSDHTPort)}
	}
	if l.relays == nil {
		l.relays = map[string]relay{}
	}
	l.relays[impl] = r
	return r, nil
}

// bootstrapNodes returns the public DHT's bootstrapper for dht.Options.
func bootstrapNodes(d *interop.JSDHT) []rpc.BootstrapNode {
	b := d.Bootstrap()[0]
	return []rpc.BootstrapNode{{Host: b.Addr().String(), Port: b.Port()}}
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
	ok      bool
	time    time.Duration // until the server's secret-stream header was read, or the failure
	direct  bool          // the stream went to the server's router (no relay)
	relayed bool          // the stream went to the relay when it opened
	err     string        // the failure's code or text
	detail  string        // the failure's whole text
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

// goNode starts a Go node at addr (port 0: the default) in ns, with mode, and waits until it
// has joined the lab's DHT. Its sockets are in ns: so is the one address it shares.
func (l *lab) goNode(ctx context.Context, ns *interop.Netns, addr netip.Addr, port int, mode rpc.Mode) (*dht.Node, error) {
	n, err := dht.New(dht.Options{
		Host: addr.String(), Port: port, FixedPort: true, Mode: mode,
		Bootstrap:      bootstrapNodes(l.d),
		ListenPacket:   ns.ListenPacket,
		InterfaceAddrs: func() []netip.Addr { return []netip.Addr{addr} },
	})
	if err != nil {
		return nil, err
	}
	if err := n.Ready(ctx); err != nil {
		n.Destroy(context.Background(), dht.DestroyOptions{Force: true})
		return nil, err
	}
	return n, nil
}

// start starts a node of impl on h and waits until it has joined the DHT.
func (l *lab) start(ctx context.Context, impl string, h *interop.Host) (*endpoint, error) {
	if impl == "go" {
		n, err := l.goNode(ctx, h.Netns, h.Addr(), 0, rpc.ModeAdaptive)
		if err != nil {
			return nil, err
		}
		return &endpoint{goNode: n}, nil
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
// NATLAB.md's trial.sh does: a node refuses a second random punch within 20 s. With a relay,
// both sides name it.
func (l *lab) run(ctx context.Context, c cell, i int) (trial, error) {
	var rel *relay
	if c.relay != "" {
		r, ok := l.relays[c.relay]
		if !ok {
			return trial{}, fmt.Errorf("no %s relay", c.relay)
		}
		rel = &r
	}
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
		opts := dht.ServerOptions{OnConnection: func(c *dht.Conn) {
			io.Copy(io.Discard, c)
			c.Close()
		}}
		if rel != nil {
			opts.RelayThrough = dht.Relays(rel.key)
		}
		s := srv.goNode.CreateServer(opts)
		if err := s.Listen(ctx, kp); err != nil {
			return trial{}, fmt.Errorf("go server: listen: %w", err)
		}
	} else {
		if rel != nil {
			if err := srv.jsNode.SetRelayThrough(ctx, rel.key); err != nil {
				return trial{}, fmt.Errorf("js server: %w", err)
			}
		}
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
	var goOpts *dht.ConnectOptions
	if rel != nil {
		if cl.goNode != nil {
			goOpts = &dht.ConnectOptions{RelayThrough: dht.Relays(rel.key)}
		} else if err := cl.jsNode.SetRelayThrough(ctx, rel.key); err != nil {
			return trial{}, fmt.Errorf("js client: %w", err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	var t trial
	var remote netip.AddrPort
	if cl.goNode != nil {
		start := time.Now()
		conn, err := cl.goNode.Connect(cctx, kp.PublicKey, goOpts)
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
		t.relayed = info.Relayed()
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
		t.relayed = rel != nil && remote == rel.addr
		conn.Destroy(ctx)
	}
	t.ok = true
	t.direct = remote.Addr() == l.ra.PublicAddr()
	return t, nil
}
