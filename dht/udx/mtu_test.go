package udx

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

// probeLog records, for the DATA packets from 10.0.0.1 that the network
// carried, the IP size (UDP payload + 28) of each MTU probe and the largest
// UDP payload of all.
type probeLog struct {
	mu      sync.Mutex
	probes  []int
	largest int
}

func (l *probeLog) filter(from, _ netip.AddrPort, b []byte) bool {
	h, err := ParseHeader(b)
	if err != nil || from.Addr() != netip.MustParseAddr("10.0.0.1") || h.Type&TypeData == 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if h.DataOffset != 0 {
		l.probes = append(l.probes, len(b)+28)
	}
	l.largest = max(l.largest, len(b))
	return true
}

func (l *probeLog) get() ([]int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.probes), l.largest
}

func mtuTransfer(t *testing.T, opts netsim.Options) (*streamPair, *probeLog) {
	t.Helper()
	return mtuTransferRoute(t, opts, nil)
}

// mtuTransferRoute is mtuTransfer with route as the route-MTU lookup of a's
// socket (nil: unknown, as for every netsim socket).
func mtuTransferRoute(t *testing.T, opts netsim.Options, route func(netip.AddrPort) int) (*streamPair, *probeLog) {
	t.Helper()
	log := &probeLog{}
	opts.Delay = 10 * time.Millisecond
	opts.QueueLen = 4096
	opts.Filter = log.filter
	p := &streamPair{n: netsim.New(opts), ua: NewInstance(), ub: NewInstance()}
	t.Cleanup(func() { p.n.Close() })
	p.sa = listen(t, p.ua, p.n, "10.0.0.1:1000")
	p.sb = listen(t, p.ub, p.n, "10.0.0.2:2000")
	p.sa.routeMTU = route
	p.a = newTestStream(t, p.ua, 1, StreamOptions{})
	p.b = newTestStream(t, p.ub, 2, StreamOptions{})
	if err := p.a.Connect(p.sa, 2, p.sb.LocalAddrPort()); err != nil {
		t.Fatal(err)
	}
	if err := p.b.Connect(p.sb, 1, p.sa.LocalAddrPort()); err != nil {
		t.Fatal(err)
	}
	// Paced writes: the search advances one size per round trip, and an
	// unpaced transfer is over in a few round trips of virtual time.
	data := randomBytes(3, 1<<20)
	go func() {
		for chunk := range slices.Chunk(data, 8<<10) {
			if _, err := p.a.Write(chunk); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		p.a.CloseWrite()
	}()
	if got, err := io.ReadAll(p.b); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes (%v), want %d, or they differ", len(got), err, len(data))
	}
	p.b.CloseWrite()
	waitDone(t, p.a, nil)
	waitDone(t, p.b, nil)
	return p, log
}

// Without a limit the search climbs in 32-byte steps to MTUMax, as libudx
// does (udx.md §5.3), and the data then fills 1500-byte IP packets.
func TestMTUSearchToMax(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, log := mtuTransfer(t, netsim.Options{})
		probes, largest := log.get()
		want := []int{1232, 1264, 1296, 1328, 1360, 1392, 1424, 1456, 1488, 1500}
		if !slices.Equal(probes, want) {
			t.Errorf("probe sizes %v, want %v", probes, want)
		}
		if st := p.a.Stats(); st.MTU != MTUMax || st.Retransmits != 0 {
			t.Errorf("stats %+v: want MTU %d and no retransmits", st, MTUMax)
		}
		if largest != MTUMax-28 {
			t.Errorf("largest datagram %d, want %d", largest, MTUMax-28)
		}
	})
}

// A path that carries at most 1364 bytes of UDP (an IPv4 MTU of 1392):
// probes up to 1392 get through, the three at 1424 are lost and resent
// unpadded, and the search stops there.
func TestMTUSearchStopsAtPath(t *testing.T) {
	for _, pathMTU := range []int{1392, 1400} {
		synctest.Test(t, func(t *testing.T) {
			p, log := mtuTransfer(t, netsim.Options{MTU: pathMTU - 28})
			probes, largest := log.get()
			want := []int{1232, 1264, 1296, 1328, 1360, 1392}
			if !slices.Equal(probes, want) {
				t.Errorf("path %d: probe sizes carried %v, want %v", pathMTU, probes, want)
			}
			st := p.a.Stats()
			if st.MTU != 1392 {
				t.Errorf("path %d: MTU %d, want 1392", pathMTU, st.MTU)
			}
			if largest != 1392-28 {
				t.Errorf("path %d: largest datagram %d, want %d", pathMTU, largest, 1392-28)
			}
			// Everything the network dropped is the three 1424-byte probes,
			// each resent (a tail-loss probe may add one more), and lost
			// probes start no loss recovery.
			if ns := p.n.Stats(); ns.Dropped != mtuMaxProbes || st.Retransmits < mtuMaxProbes || st.FastRecoveries != 0 {
				t.Errorf("path %d: network %+v, stream %+v: want %d probes dropped and resent, no recovery",
					pathMTU, ns, st, mtuMaxProbes)
			}
		})
	}
}

// A path below the first visible probe keeps the stream at MTUBase.
func TestMTUSearchNarrowPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, log := mtuTransfer(t, netsim.Options{MTU: MTUBase - 28})
		if probes, _ := log.get(); len(probes) != 0 {
			t.Errorf("probes carried: %v", probes)
		}
		if st := p.a.Stats(); st.MTU != MTUBase {
			t.Errorf("MTU %d, want %d", st.MTU, MTUBase)
		}
		if ns := p.n.Stats(); ns.Dropped != mtuMaxProbes {
			t.Errorf("network %+v: want %d probes dropped", ns, mtuMaxProbes)
		}
	})
}

// ChangeRemote starts the search over from MTUBase.
func TestMTUResetOnChangeRemote(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := mtuTransfer(t, netsim.Options{})
		p.a.mu.Lock()
		p.a.c.closed = false // only the engine's MTU state is looked at
		p.a.c.changeRemote(2, p.sb.LocalAddrPort(), false, time.Now())
		mtu, mss := p.a.c.mtu.mtu, p.a.c.mss
		p.a.c.closed = true
		p.a.mu.Unlock()
		if mtu != MTUBase || mss != MaxPayload(MTUBase, false) {
			t.Errorf("after ChangeRemote: mtu %d, mss %d", mtu, mss)
		}
	})
}

// The route MTU the kernel reports caps the search: min(MTUMax, route), and a
// route no wider than MTUBase means no probing at all (udx.md §5.1).
func TestMTULimitToRoute(t *testing.T) {
	for _, tc := range []struct {
		name   string
		route  int
		probes []int // sizes probed, in order, each acked
	}{
		{"unknown", 0, []int{1200, 1232, 1264, 1296, 1328, 1360, 1392, 1424, 1456, 1488, 1500}},
		{"loopback", 65536, []int{1200, 1232, 1264, 1296, 1328, 1360, 1392, 1424, 1456, 1488, 1500}},
		{"1400", 1400, []int{1200, 1232, 1264, 1296, 1328, 1360, 1392, 1400}},
		{"1201", 1201, []int{1200, 1201}},
		{"1200", 1200, nil},
		{"1100", 1100, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m mtuProber
			m.reset()
			m.limitToRoute(tc.route)
			m.acked(false) // the first ack of all
			var probed []int
			for m.wanted && len(probed) < 20 {
				probed = append(probed, m.target)
				m.sent()
				m.acked(true)
			}
			if !slices.Equal(probed, tc.probes) {
				t.Errorf("probed %v, want %v", probed, tc.probes)
			}
			want := MTUBase
			if len(tc.probes) > 0 {
				want = tc.probes[len(tc.probes)-1]
			}
			if m.mtu != want || m.state != mtuComplete {
				t.Errorf("mtu %d, state %d: want %d, complete", m.mtu, m.state, want)
			}
		})
	}
}

// A stream probes up to the route MTU its socket reports for the peer, at
// Connect and again at ChangeRemote; a route of MTUBase or less sends no
// probe at all, on a network that would carry 1500.
func TestMTURouteCapsSearch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, log := mtuTransferRoute(t, netsim.Options{}, func(netip.AddrPort) int { return 1360 })
		probes, largest := log.get()
		if want := []int{1232, 1264, 1296, 1328, 1360}; !slices.Equal(probes, want) {
			t.Errorf("route 1360: probes %v, want %v", probes, want)
		}
		if st := p.a.Stats(); st.MTU != 1360 || largest != 1360-28 {
			t.Errorf("route 1360: MTU %d, largest datagram %d; want 1360 and %d", st.MTU, largest, 1360-28)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		p, log := mtuTransferRoute(t, netsim.Options{}, func(netip.AddrPort) int { return 1100 })
		if probes, largest := log.get(); len(probes) != 0 || largest != MTUBase-28 {
			t.Errorf("route 1100: probes %v, largest datagram %d; want none and %d", probes, largest, MTUBase-28)
		}
		if st := p.a.Stats(); st.MTU != MTUBase {
			t.Errorf("route 1100: MTU %d, want %d", st.MTU, MTUBase)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		p := newStreamPair(t, netsim.Options{}, StreamOptions{}, StreamOptions{})
		p.sa.routeMTU = func(netip.AddrPort) int { return 1300 }
		if err := p.a.ChangeRemote(p.sa, 2, p.sb.LocalAddrPort()); err != nil {
			t.Fatal(err)
		}
		p.a.mu.Lock()
		ceiling := p.a.c.mtu.max
		p.a.mu.Unlock()
		if ceiling != 1300 {
			t.Errorf("after ChangeRemote on a 1300 route: ceiling %d", ceiling)
		}
	})
}

// MaxMessage reports the message limit of the confirmed MTU and whether the search is over:
// MTUBase's payload and not final after connect; after the search MTUMax's, or that of the
// narrower path, and final. Send and SendBefore take exactly that much.
func TestMaxMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStreamPair(t, netsim.Options{Delay: time.Millisecond}, StreamOptions{}, StreamOptions{})
		base := MaxPayload(MTUBase, false)
		if n, final := p.a.MaxMessage(); n != base || final {
			t.Errorf("at connect: MaxMessage %d, %v; want %d, false", n, final, base)
		}
		// No wait is needed on a path without a send queue, so a passed deadline is no error.
		if err := p.a.SendBefore(make([]byte, base), time.Now().Add(-time.Second)); err != nil {
			t.Errorf("SendBefore %d bytes: %v", base, err)
		}
		if err := p.a.SendBefore(make([]byte, base+1), time.Now().Add(time.Second)); !errors.Is(err, ErrMessageTooLarge) {
			t.Errorf("SendBefore %d bytes: %v, want ErrMessageTooLarge", base+1, err)
		}
	})
	for _, pathMTU := range []int{0, 1400} {
		synctest.Test(t, func(t *testing.T) {
			opts, want := netsim.Options{}, MTUMax
			if pathMTU > 0 {
				opts.MTU, want = pathMTU-28, 1392
			}
			p, _ := mtuTransfer(t, opts)
			if n, final := p.a.MaxMessage(); n != MaxPayload(want, false) || !final {
				t.Errorf("path %d: after the search MaxMessage %d, %v; want %d, true", pathMTU, n, final, MaxPayload(want, false))
			}
		})
	}
}
