package interop_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/blindrelay"
	"github.com/hyperlan/hyperlan/dht/noise"
	"github.com/hyperlan/hyperlan/dht/protomux"
	"github.com/hyperlan/hyperlan/dht/secretstream"
	"github.com/hyperlan/hyperlan/dht/udx"
	"github.com/hyperlan/hyperlan/interop"
)

// Blind relaying between Go (dht/blindrelay on dht/protomux) and npm
// blind-relay on protomux, on 127.0.0.1. Each client has one UDX socket
// that carries its secret-stream control connection to the relay and the
// stream it pairs; the relay has one socket for both too:
//
//	client a (Go or JS) --control--+                 +--control-- client b (Go or JS)
//	        stream a ---- UDP ---- relay (Go or JS): a's leg <-> b's leg ---- UDP ---- stream b
//
// The control connections are secret streams started with random keys
// handed to both ends, as if a Noise handshake had produced them; the
// blind-relay channel id is the client's public key, as hyperdht uses. Both
// clients pair the same token in opposite roles, connect their streams to
// the relay's, and send each other bulk data, checked by SHA-256.

type brEnv struct {
	t   *testing.T
	ctx context.Context
	js  *interop.BlindRelayNode

	mu   sync.Mutex
	next uint32 // guarded by mu; stream ids, JS and Go alike
}

func newBREnv(t *testing.T) *brEnv {
	js := interop.StartBlindRelay(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return &brEnv{t: t, ctx: ctx, js: js, next: 100}
}

func (e *brEnv) id() uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.next++
	return e.next
}

// brRelay is a relay, in Go or in the JS driver.
type brRelay struct {
	addr netip.AddrPort
	// Go
	inst *udx.Instance
	sock *udx.Socket
	srv  *blindrelay.Server
	// JS
	jsSock int
}

// brClient is a client connected to a relay.
type brClient struct {
	name string
	// Go
	inst   *udx.Instance
	sock   *udx.Socket
	client *blindrelay.Client
	mux    *protomux.Mux
	// JS
	js        bool
	jsSock    int
	jsControl uint32
	// the relay's end of the control connection
	relayControl uint32
}

func (e *brEnv) goSocket(u *udx.Instance) *udx.Socket {
	pc, err := u.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	s := pc.(*udx.Socket)
	s.SetReadBuffer(1 << 20)
	e.t.Cleanup(func() { s.Close() })
	return s
}

func (e *brEnv) goStream(u *udx.Instance, id uint32, opts udx.StreamOptions) *udx.Stream {
	s, err := u.NewStream(udx.StreamID(id), opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Destroy() })
	return s
}

func (e *brEnv) goRelay() *brRelay {
	r := &brRelay{inst: udx.NewInstance()}
	r.sock = e.goSocket(r.inst)
	r.addr = r.sock.LocalAddrPort()
	r.srv = blindrelay.NewServer(blindrelay.ServerOptions{Instance: r.inst})
	e.t.Cleanup(func() { r.srv.Close() })
	return r
}

func (e *brEnv) jsRelay() *brRelay {
	r := &brRelay{}
	var err error
	if r.jsSock, r.addr, err = e.js.Socket(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	if err := e.js.Server(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// keys returns the two ends of a Noise handshake with random keys.
func keys() (init, resp noise.Result) {
	for _, b := range [][]byte{init.Tx[:], init.Rx[:], init.Hash[:], init.PublicKey[:], init.RemotePublicKey[:]} {
		rand.Read(b)
	}
	init.Initiator = true
	resp = noise.Result{Hash: init.Hash, Tx: init.Rx, Rx: init.Tx, PublicKey: init.RemotePublicKey, RemotePublicKey: init.PublicKey}
	return init, resp
}

func jsHandshake(r *noise.Result) *interop.SecretHandshake {
	return &interop.SecretHandshake{Tx: r.Tx, Rx: r.Rx, Hash: r.Hash, PublicKey: r.PublicKey, RemotePublicKey: r.RemotePublicKey}
}

// goMux runs a protomux on a Go secret stream over raw, closed in cleanup.
func (e *brEnv) goMux(raw *udx.Stream, hs *noise.Result) *protomux.Mux {
	conn, err := secretstream.New(raw, hs, secretstream.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	m := protomux.New(conn, protomux.Options{})
	e.t.Cleanup(func() {
		m.Close()
		<-m.Done()
	})
	return m
}

// client connects a new client, in Go or in JS, to r: the control
// connection and the blind-relay channel on both ends. The client initiates
// the secret stream; the relay's end connects back to its first packet.
func (e *brEnv) client(name string, r *brRelay, js bool) *brClient {
	t := e.t
	c := &brClient{name: name, js: js}
	init, resp := keys()
	pk := init.PublicKey[:]
	cid, rid := e.id(), e.id()
	c.relayControl = rid
	if js {
		var err error
		if c.jsSock, _, err = e.js.Socket(e.ctx); err != nil {
			t.Fatal(err)
		}
		c.jsControl = cid
	} else {
		c.inst = udx.NewInstance()
		c.sock = e.goSocket(c.inst)
	}

	// The relay's end first, so that the client's first packet finds it.
	if r.srv != nil {
		raw := e.goStream(r.inst, rid, udx.StreamOptions{
			Firewall: func(s *udx.Stream, sock *udx.Socket, from netip.AddrPort) bool {
				return s.Connect(sock, udx.StreamID(cid), from) == nil
			},
		})
		m := e.goMux(raw, &resp)
		if _, err := r.srv.Accept(m, blindrelay.Options{ID: pk}); err != nil {
			t.Fatal(err)
		}
		m.Start()
	} else {
		err := e.js.Control(e.ctx, interop.ControlOpts{Stream: rid, Socket: r.jsSock, Handshake: jsHandshake(&resp), RemoteID: cid})
		if err == nil {
			err = e.js.Accept(e.ctx, rid, pk)
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	if js {
		err := e.js.Control(e.ctx, interop.ControlOpts{Stream: cid, Socket: c.jsSock, Initiator: true,
			Handshake: jsHandshake(&init), RemoteID: rid, Remote: r.addr})
		if err == nil {
			err = e.js.Client(e.ctx, cid, pk)
		}
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	raw := e.goStream(c.inst, cid, udx.StreamOptions{})
	if err := raw.Connect(c.sock, udx.StreamID(rid), r.addr); err != nil {
		t.Fatal(err)
	}
	c.mux = e.goMux(raw, &init)
	var err error
	if c.client, err = blindrelay.NewClient(c.mux, blindrelay.Options{ID: pk}); err != nil {
		t.Fatal(err)
	}
	c.mux.Start()
	return c
}

// flow is one client's half of an exchange: its relayed stream, what it
// sends and what it received.
type flow struct {
	c    *brClient
	id   uint32
	goS  *udx.Stream
	seed uint32
	n    int64
	got  [32]byte // SHA-256 of what it read
	gotN int64
}

// pair pairs a fresh stream of c with token in role initiator.
func (e *brEnv) pair(r *brRelay, c *brClient, initiator bool, token blindrelay.Token, f *flow) error {
	f.c, f.id = c, e.id()
	if c.js {
		if err := e.js.Data(e.ctx, f.id); err != nil {
			return err
		}
		relayID, err := e.js.Pair(e.ctx, c.jsControl, initiator, token, f.id)
		if err == nil && relayID == 0 {
			err = fmt.Errorf("relay stream id 0")
		}
		return err
	}
	f.goS = e.goStream(c.inst, f.id, udx.StreamOptions{})
	return c.client.Connect(e.ctx, initiator, token, f.goS, c.sock, r.addr)
}

// send writes f's data and ends the stream; recv reads until the end.
func (e *brEnv) send(f *flow) error {
	if f.c.js {
		if _, err := e.js.WriteFile(e.ctx, f.id, f.n, f.seed); err != nil {
			return err
		}
		return e.js.End(e.ctx, f.id)
	}
	if _, err := io.Copy(f.goS, interop.PseudoRandom(f.seed, f.n)); err != nil {
		return err
	}
	return f.goS.CloseWrite()
}

func (e *brEnv) recv(f *flow) error {
	if f.c.js {
		end, err := e.js.WaitEnd(e.ctx, f.id)
		f.got, f.gotN = end.SHA256, end.Bytes
		return err
	}
	h := sha256.New()
	n, err := io.Copy(h, f.goS)
	copy(f.got[:], h.Sum(nil))
	f.gotN = n
	return err
}

func digest(seed uint32, n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, interop.PseudoRandom(seed, n))
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// relayed pairs a (initiator) and b through r and checks data both ways.
func (e *brEnv) relayed(r *brRelay, a, b *brClient) {
	t := e.t
	token := blindrelay.NewToken()
	fa := &flow{seed: 0xa1, n: 768 << 10}
	fb := &flow{seed: 0xb2, n: 300 << 10}
	run := func(fs ...func() error) {
		t.Helper()
		errs := make([]error, len(fs))
		var wg sync.WaitGroup
		for i, f := range fs {
			wg.Go(func() { errs[i] = f() })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	run(func() error { return e.pair(r, a, true, token, fa) }, func() error { return e.pair(r, b, false, token, fb) })
	run(func() error { return e.send(fa) }, func() error { return e.send(fb) },
		func() error { return e.recv(fa) }, func() error { return e.recv(fb) })
	if want := digest(fb.seed, fb.n); fa.got != want || fa.gotN != fb.n {
		t.Errorf("%s read %d bytes, SHA-256 %x; %s sent %d, %x", a.name, fa.gotN, fa.got, b.name, fb.n, want)
	}
	if want := digest(fa.seed, fa.n); fb.got != want || fb.gotN != fa.n {
		t.Errorf("%s read %d bytes, SHA-256 %x; %s sent %d, %x", b.name, fb.gotN, fb.got, a.name, fa.n, want)
	}
	if r.srv != nil {
		if st := r.srv.Stats(); st.PairingsMatched != 1 || st.StreamsOpened != 2 || st.SessionsOpened != 2 {
			t.Errorf("Go relay stats: %+v", st)
		}
		return
	}
	if st, err := e.js.ServerStats(e.ctx); err != nil || st.PairingsMatched != 1 || st.StreamsOpened != 2 || st.SessionsOpened != 2 {
		t.Errorf("JS relay stats: %+v, %v", st, err)
	}
	for _, f := range []*flow{fa, fb} {
		ev, err := e.js.WaitRelayPair(e.ctx, f.c.relayControl)
		if err != nil || ev.RemoteID != f.id || ev.RelayStream < 1000000 || [32]byte(ev.Token) != token {
			t.Errorf("%s: relay-pair event %+v, %v; want the client's stream %d", f.c.name, ev, err, f.id)
		}
	}
}

// TestBlindRelayGoRelayJSClients: two JS clients pair through a Go relay.
func TestBlindRelayGoRelayJSClients(t *testing.T) {
	e := newBREnv(t)
	r := e.goRelay()
	e.relayed(r, e.client("js a", r, true), e.client("js b", r, true))
}

// TestBlindRelayJSRelayGoClients: two Go clients pair through a JS relay.
func TestBlindRelayJSRelayGoClients(t *testing.T) {
	e := newBREnv(t)
	r := e.jsRelay()
	e.relayed(r, e.client("go a", r, false), e.client("go b", r, false))
}

// TestBlindRelayMixed: a Go and a JS client pair through a JS relay and
// through a Go relay, each side initiating once.
func TestBlindRelayMixed(t *testing.T) {
	t.Run("js-relay", func(t *testing.T) {
		e := newBREnv(t)
		r := e.jsRelay()
		e.relayed(r, e.client("go", r, false), e.client("js", r, true))
	})
	t.Run("go-relay", func(t *testing.T) {
		e := newBREnv(t)
		r := e.goRelay()
		e.relayed(r, e.client("js", r, true), e.client("go", r, false))
	})
}

// TestBlindRelayCancel covers unpair and the end of a session across
// implementations: a pending pairing cancelled by the client (JS unpair to
// a Go relay; a Go Pair timing out, which sends unpair, to a JS relay), then
// the client's connection going away, which ends the relay's session.
func TestBlindRelayCancel(t *testing.T) {
	t.Run("js-client-go-relay", func(t *testing.T) {
		e := newBREnv(t)
		r := e.goRelay()
		c := e.client("js", r, true)
		token := blindrelay.NewToken()
		id := e.id()
		if err := e.js.Data(e.ctx, id); err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := e.js.Pair(e.ctx, c.jsControl, true, token, id)
			errc <- err
		}()
		waitFor(t, e.ctx, "the Go relay to hold the request", func() bool { return r.srv.Stats().PairingsPending == 1 })
		if err := e.js.Unpair(e.ctx, c.jsControl, token); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; interop.ErrorCode(err) != "PAIRING_CANCELLED" {
			t.Errorf("JS pair after unpair: %v, want PAIRING_CANCELLED", err)
		}
		waitFor(t, e.ctx, "the Go relay to drop the request", func() bool {
			st := r.srv.Stats()
			return st.PairingsPending == 0 && st.PairingsCancelled == 1
		})
		if err := e.js.DestroyControl(e.ctx, c.jsControl); err != nil {
			t.Fatal(err)
		}
		waitFor(t, e.ctx, "the Go relay's session to end", func() bool { return r.srv.Stats().SessionsClosed == 1 })
	})
	t.Run("go-client-js-relay", func(t *testing.T) {
		e := newBREnv(t)
		r := e.jsRelay()
		c := e.client("go", r, false)
		ctx, cancel := context.WithTimeout(e.ctx, 500*time.Millisecond)
		defer cancel()
		if _, err := c.client.Pair(ctx, false, blindrelay.NewToken(), 5); err != context.DeadlineExceeded {
			t.Fatalf("Pair = %v, want the deadline", err)
		}
		waitFor(t, e.ctx, "the JS relay to drop the request", func() bool {
			st, err := e.js.ServerStats(e.ctx)
			return err == nil && st.PairingsRequested == 1 && st.PairingsPending == 0 && st.PairingsCancelled == 1
		})
		c.mux.Close()
		if err := e.js.WaitSessionClose(e.ctx, c.relayControl); err != nil {
			t.Fatal(err)
		}
	})
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
