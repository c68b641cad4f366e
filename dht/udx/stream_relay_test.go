package udx

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

// relayNet is two endpoints joined through a relay with two legs:
//
//	a (10.0.0.1:1000, id 1) <-> ra (id 100) R 10.0.0.3:3000 rb (id 200) <-> b (10.0.0.2:2000, id 2)
//
// rb is connected only by connectRB, so that packets can arrive first.
type relayNet struct {
	n          *netsim.Network
	sa, sr, sb *Socket
	a, ra      *Stream
	rb, b      *Stream

	mu   sync.Mutex
	in   map[StreamID]int // packets into R by id
	out  map[StreamID]int // packets out of R by id
	outT []Type
}

func newRelayNet(t *testing.T) *relayNet {
	t.Helper()
	r := &relayNet{in: map[StreamID]int{}, out: map[StreamID]int{}}
	relay := netip.MustParseAddr("10.0.0.3")
	r.n = netsim.New(netsim.Options{Delay: 5 * time.Millisecond, QueueLen: 4096,
		Filter: func(from, to netip.AddrPort, b []byte) bool {
			h, err := ParseHeader(b)
			if err != nil {
				return true
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if to.Addr() == relay {
				r.in[h.ID]++
			}
			if from.Addr() == relay {
				r.out[h.ID]++
				r.outT = append(r.outT, h.Type)
			}
			return true
		}})
	t.Cleanup(func() { r.n.Close() })
	ua, ur, ub := NewInstance(), NewInstance(), NewInstance()
	r.sa = listen(t, ua, r.n, "10.0.0.1:1000")
	r.sr = listen(t, ur, r.n, "10.0.0.3:3000")
	r.sb = listen(t, ub, r.n, "10.0.0.2:2000")
	r.a = newTestStream(t, ua, 1, StreamOptions{})
	r.ra = newTestStream(t, ur, 100, StreamOptions{})
	r.rb = newTestStream(t, ur, 200, StreamOptions{})
	r.b = newTestStream(t, ub, 2, StreamOptions{})
	for _, err := range []error{
		r.ra.RelayTo(r.rb),
		r.rb.RelayTo(r.ra),
		r.a.Connect(r.sa, 100, r.sr.LocalAddrPort()),
		r.ra.Connect(r.sr, 1, r.sa.LocalAddrPort()),
		r.b.Connect(r.sb, 200, r.sr.LocalAddrPort()),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func (r *relayNet) connectRB(t *testing.T) {
	t.Helper()
	if err := r.rb.Connect(r.sr, 2, r.sb.LocalAddrPort()); err != nil {
		t.Fatal(err)
	}
}

func TestRelayData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRelayNet(t)
		if err := r.ra.RelayTo(r.rb); !errors.Is(err, ErrRelaying) {
			t.Errorf("second RelayTo: %v, want ErrRelaying", err)
		}
		// rb is not connected yet: what a sends is dropped at R.
		if _, err := r.a.Write([]byte("early")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		r.mu.Lock()
		in, out := r.in[100], len(r.outT)
		r.mu.Unlock()
		if in == 0 || out != 0 {
			t.Fatalf("before rb connects: %d packets into R, %d out; want some in, none out", in, out)
		}
		r.connectRB(t)

		ab, ba := randomBytes(11, 300<<10), randomBytes(12, 200<<10)
		var got []byte
		done := make(chan struct{})
		go func() {
			defer close(done)
			got = transfer(t, r.b, r.a, ba)
		}()
		if g := transfer(t, r.a, r.b, ab); !bytes.Equal(g, append([]byte("early"), ab...)) {
			t.Errorf("b read %d bytes, want %d, or they differ", len(g), 5+len(ab))
		}
		<-done
		if !bytes.Equal(got, ba) {
			t.Errorf("a read %d bytes, want %d, or they differ", len(got), len(ba))
		}
		// Both ends close cleanly: their acks went end to end through R.
		waitDone(t, r.a, nil)
		waitDone(t, r.b, nil)
		time.Sleep(time.Second) // let the last packets land
		synctest.Wait()

		r.mu.Lock()
		defer r.mu.Unlock()
		// R forwards every packet once with the id rewritten and adds none
		// of its own (the early ones went nowhere).
		if r.out[2] != r.in[100]-in || r.out[1] != r.in[200] || len(r.out) != 2 {
			t.Errorf("into R %v (%d before rb connected), out of R %v", r.in, in, r.out)
		}
		// A leg counts what it forwards to its own peer; it delivers nothing.
		if st := r.ra.Stats(); st.PacketsSent != int64(r.out[1]) || st.BytesReceived != 0 || st.BytesSent != 0 {
			t.Errorf("relay leg stats %+v: want %d packets sent, no stream bytes", st, r.out[1])
		}
	})
}

func TestRelayDestroy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRelayNet(t)
		r.connectRB(t)
		msg := []byte("via-relay")
		if g := transfer(t, r.a, r.b, msg); !bytes.Equal(g, msg) {
			t.Fatalf("b read %q", g)
		}
		r.a.Destroy()
		waitDone(t, r.b, ErrReset)
		waitDone(t, r.ra, ErrReset) // the leg the DESTROY went through
		waitDone(t, r.rb, nil)      // its partner, destroyed with it
		synctest.Wait()
		r.mu.Lock()
		last := r.outT[len(r.outT)-1]
		r.mu.Unlock()
		if last != TypeDestroy {
			t.Errorf("last packet out of R is %v, want DESTROY", last)
		}
		if err := r.ra.RelayTo(r.rb); !errors.Is(err, net.ErrClosed) {
			t.Errorf("RelayTo on an ended leg: %v", err)
		}
	})
}

// A relay leg destroyed locally vanishes silently and takes its partner
// with it.
func TestRelayLegDestroyedLocally(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRelayNet(t)
		r.connectRB(t)
		r.rb.Destroy()
		waitDone(t, r.ra, nil)
		synctest.Wait()
		r.mu.Lock()
		out := len(r.outT)
		r.mu.Unlock()
		if out != 0 {
			t.Errorf("R sent %d packets, want none", out)
		}
		select {
		case <-r.a.Done():
			t.Error("a ended")
		case <-r.b.Done():
			t.Error("b ended")
		default:
		}
	})
}
