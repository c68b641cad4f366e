package blindrelay_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/blindrelay"
	"github.com/hyperlan/hyperlan/dht/netsim"
	"github.com/hyperlan/hyperlan/dht/noise"
	"github.com/hyperlan/hyperlan/dht/protomux"
	"github.com/hyperlan/hyperlan/dht/secretstream"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// rig is a relay and its peers on an in-memory network, each peer with one
// UDX socket that carries both its secret-stream connection to the relay
// and the stream it has relayed, as in hyperdht:
//
//	peer a 10.0.0.1:1000 --control (stream 1 <-> 101), relayed stream 7--+
//	                                                                      relay 10.0.0.9:9000
//	peer b 10.0.0.2:1000 --control (stream 2 <-> 102), relayed stream 8--+
type rig struct {
	t     *testing.T
	n     *netsim.Network
	relay *udx.Instance
	rsock *udx.Socket
	srv   *blindrelay.Server
	next  udx.StreamID
}

// peer is one client of the relay.
type peer struct {
	inst    *udx.Instance
	sock    *udx.Socket
	control *secretstream.Conn // to the relay
	mux     *protomux.Mux
	client  *blindrelay.Client
	session *blindrelay.Session // the relay's side
	rmux    *protomux.Mux       // the relay's side
}

var relayAddr = netip.MustParseAddrPort("10.0.0.9:9000")

func newRig(t *testing.T) *rig {
	r := &rig{t: t, n: netsim.New(netsim.Options{Delay: 5 * time.Millisecond, QueueLen: 4096}), relay: udx.NewInstance(), next: 1}
	t.Cleanup(func() { r.n.Close() })
	r.rsock = listen(t, r.relay, r.n, relayAddr.String())
	r.srv = blindrelay.NewServer(blindrelay.ServerOptions{Instance: r.relay})
	t.Cleanup(func() { r.srv.Close() })
	return r
}

func listen(t *testing.T, u *udx.Instance, n *netsim.Network, addr string) *udx.Socket {
	t.Helper()
	pc, err := n.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := u.Listen(pc)
	t.Cleanup(func() { s.Close() })
	return s
}

func stream(t *testing.T, u *udx.Instance, id udx.StreamID, opts udx.StreamOptions) *udx.Stream {
	t.Helper()
	s, err := u.NewStream(id, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Destroy() })
	return s
}

// results returns the two ends of a Noise handshake with random keys.
func results() (init, resp noise.Result) {
	for _, b := range [][]byte{init.Tx[:], init.Rx[:], init.Hash[:], init.PublicKey[:], init.RemotePublicKey[:]} {
		rand.Read(b)
	}
	init.Initiator = true
	resp = noise.Result{Hash: init.Hash, Tx: init.Rx, Rx: init.Tx, PublicKey: init.RemotePublicKey, RemotePublicKey: init.PublicKey}
	return init, resp
}

// peer connects a new peer at addr to the relay and opens the blind-relay
// channel on both ends, with the peer's public key as its id.
func (r *rig) peer(addr string) *peer {
	t := r.t
	p := &peer{inst: udx.NewInstance()}
	p.sock = listen(t, p.inst, r.n, addr)
	cid, rid := r.next, r.next+100
	r.next++
	init, resp := results()
	rraw := stream(t, r.relay, rid, udx.StreamOptions{
		Firewall: func(s *udx.Stream, sock *udx.Socket, from netip.AddrPort) bool {
			return s.Connect(sock, cid, from) == nil
		},
	})
	craw := stream(t, p.inst, cid, udx.StreamOptions{})
	if err := craw.Connect(p.sock, rid, relayAddr); err != nil {
		t.Fatal(err)
	}
	rconn, err := secretstream.New(rraw, &resp, secretstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.control, err = secretstream.New(craw, &init, secretstream.Options{}); err != nil {
		t.Fatal(err)
	}
	p.rmux = protomux.New(rconn, protomux.Options{})
	p.mux = protomux.New(p.control, protomux.Options{})
	t.Cleanup(func() {
		p.mux.Close()
		p.rmux.Close()
		<-p.mux.Done()
		<-p.rmux.Done()
	})
	id := init.PublicKey[:]
	if p.session, err = r.srv.Accept(p.rmux, blindrelay.Options{ID: id}); err != nil {
		t.Fatal(err)
	}
	if p.client, err = blindrelay.NewClient(p.mux, blindrelay.Options{ID: id}); err != nil {
		t.Fatal(err)
	}
	p.rmux.Start()
	p.mux.Start()
	return p
}

// connect pairs a's and b's new streams through the relay, a as the
// initiator, and returns them connected.
func (r *rig) connect(ctx context.Context, a, b *peer, token blindrelay.Token) (sa, sb *udx.Stream) {
	t := r.t
	sa = stream(t, a.inst, 7, udx.StreamOptions{})
	sb = stream(t, b.inst, 8, udx.StreamOptions{})
	var wg sync.WaitGroup
	var ea, eb error
	wg.Go(func() { ea = a.client.Connect(ctx, true, token, sa, a.sock, relayAddr) })
	wg.Go(func() { eb = b.client.Connect(ctx, false, token, sb, b.sock, relayAddr) })
	wg.Wait()
	if ea != nil || eb != nil {
		t.Fatalf("connect: a %v, b %v", ea, eb)
	}
	return sa, sb
}

// TestRelayForwards pairs two peers and moves data both ways through the
// relay, then checks the relay's accounting.
func TestRelayForwards(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		a, b := r.peer("10.0.0.1:1000"), r.peer("10.0.0.2:1000")
		sa, sb := r.connect(t.Context(), a, b, blindrelay.NewToken())

		st := r.srv.Stats()
		if st.PairingsMatched != 1 || st.PairingsActive != 1 || st.StreamsOpened != 2 || st.PairingsPending != 0 {
			t.Errorf("stats after pairing: %+v", st)
		}
		toB, toA := make([]byte, 200<<10), make([]byte, 50<<10)
		rand.Read(toB)
		rand.Read(toA)
		var wg sync.WaitGroup
		var gotB, gotA []byte
		var errB, errA error
		wg.Go(func() { gotB, errB = io.ReadAll(sb) })
		wg.Go(func() { gotA, errA = io.ReadAll(sa) })
		for _, w := range []struct {
			s *udx.Stream
			b []byte
		}{{sa, toB}, {sb, toA}} {
			if _, err := w.s.Write(w.b); err != nil {
				t.Fatal(err)
			}
			w.s.CloseWrite()
		}
		wg.Wait()
		if errA != nil || errB != nil || !bytes.Equal(gotB, toB) || !bytes.Equal(gotA, toA) {
			t.Fatalf("b read %d bytes (%v), a read %d (%v); want %d and %d", len(gotB), errB, len(gotA), errA, len(toB), len(toA))
		}
		select {
		case <-sa.Done():
		case <-time.After(time.Minute):
			t.Fatal("a's stream did not close cleanly")
		}
		if sa.Err() != nil || sb.Err() != nil {
			t.Errorf("stream errors: a %v, b %v", sa.Err(), sb.Err())
		}
		// The peer's relayed streams were not torn down by the end: the
		// relay keeps its legs until told.
		if st := r.srv.Stats(); st.StreamsClosed != 0 {
			t.Errorf("relay closed %d streams", st.StreamsClosed)
		}
	})
}

// TestRelaySessionEnd checks that the relay destroys a session's relayed
// streams, and counts them, when the session's connection closes.
func TestRelaySessionEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		a, b := r.peer("10.0.0.1:1000"), r.peer("10.0.0.2:1000")
		r.connect(t.Context(), a, b, blindrelay.NewToken())
		a.mux.Close()
		<-a.session.Done()
		synctest.Wait()
		st := r.srv.Stats()
		if st.SessionsClosed != 1 || st.StreamsClosed != 2 || st.PairingsActive != 0 {
			t.Errorf("stats after a left: %+v", st)
		}
		// b's client still works: a new peer pairs with it.
		c := r.peer("10.0.0.3:1000")
		cs := stream(t, c.inst, 9, udx.StreamOptions{})
		bs := stream(t, b.inst, 10, udx.StreamOptions{})
		tok := blindrelay.NewToken()
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := c.client.Connect(t.Context(), true, tok, cs, c.sock, relayAddr); err != nil {
				t.Error(err)
			}
		})
		if err := b.client.Connect(t.Context(), false, tok, bs, b.sock, relayAddr); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		// Each relayed stream learns its peer's address from the peer's
		// first packet, so both sides send (a secret stream's headers do).
		cs.Write([]byte("hello"))
		bs.Write([]byte("olleh"))
		for _, s := range []*udx.Stream{cs, bs} {
			buf := make([]byte, 5)
			if _, err := io.ReadFull(s, buf); err != nil {
				t.Fatalf("read %q, %v", buf, err)
			}
		}
	})
}

// TestPairCancel covers a Pair that ends without its other side: by
// timeout (which sends unpair), by Unpair, and by the channel closing.
func TestPairCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		a := r.peer("10.0.0.1:1000")
		tok := blindrelay.NewToken()

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := a.client.Pair(ctx, true, tok, 5); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Pair = %v, want the deadline", err)
		}
		synctest.Wait()
		time.Sleep(100 * time.Millisecond) // the unpair reaches the relay
		if st := r.srv.Stats(); st.PairingsPending != 0 || st.PairingsCancelled != 1 || st.PairingsRequested != 1 {
			t.Errorf("stats after the timeout: %+v", st)
		}

		errc := make(chan error, 1)
		go func() {
			_, err := a.client.Pair(t.Context(), false, tok, 5)
			errc <- err
		}()
		synctest.Wait()
		if _, err := a.client.Pair(t.Context(), true, tok, 6); !errors.Is(err, blindrelay.ErrAlreadyPairing) {
			t.Errorf("second Pair of a token: %v, want ErrAlreadyPairing", err)
		}
		a.client.Unpair(tok)
		if err := <-errc; !errors.Is(err, blindrelay.ErrPairingCancelled) {
			t.Errorf("Pair after Unpair: %v, want ErrPairingCancelled", err)
		}

		go func() {
			_, err := a.client.Pair(t.Context(), false, blindrelay.NewToken(), 5)
			errc <- err
		}()
		synctest.Wait()
		a.session.Close() // the relay closes the channel
		if err := <-errc; !errors.Is(err, blindrelay.ErrChannelClosed) {
			t.Errorf("Pair when the channel closed: %v, want ErrChannelClosed", err)
		}
		if _, err := a.client.Pair(t.Context(), true, tok, 5); !errors.Is(err, blindrelay.ErrChannelClosed) {
			t.Errorf("Pair on a closed channel: %v", err)
		}
	})
}

// TestPairSameRoleIgnored checks that a second request for a token in the
// same role is ignored, and that the other role then pairs with the first.
func TestPairSameRoleIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		a, b, c := r.peer("10.0.0.1:1000"), r.peer("10.0.0.2:1000"), r.peer("10.0.0.3:1000")
		tok := blindrelay.NewToken()
		ida := make(chan udx.StreamID, 1)
		go func() {
			id, err := a.client.Pair(t.Context(), true, tok, 5)
			if err != nil {
				t.Error(err)
			}
			ida <- id
		}()
		time.Sleep(time.Second)
		errb := make(chan error, 1)
		go func() {
			_, err := b.client.Pair(t.Context(), true, tok, 6)
			errb <- err
		}()
		time.Sleep(time.Second)
		if st := r.srv.Stats(); st.PairingsRequested != 1 || st.PairingsPending != 1 {
			t.Errorf("stats after the same role twice: %+v", st)
		}
		idc, err := c.client.Pair(t.Context(), false, tok, 7)
		if err != nil {
			t.Fatal(err)
		}
		if id := <-ida; id == idc || id == 0 || idc == 0 {
			t.Errorf("relay streams %d and %d", id, idc)
		}
		b.client.Close()
		if err := <-errb; !errors.Is(err, blindrelay.ErrChannelClosed) {
			t.Errorf("the ignored request ended with %v", err)
		}
	})
}
