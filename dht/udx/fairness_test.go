package udx_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/udx"
	"github.com/hyperlan/hyperlan/interop"
)

// Fairness of congestion control at a shared bottleneck, on 127.0.0.1. Every
// sender sends through one udpProxy (proxy_test.go) whose callback is a
// bottleneck link; one Go socket receives every flow, each on its own
// stream:
//
//	Go sender 1 (own socket) --+                                  +--> Go receiver stream 11 --+
//	Go sender 2 (own socket) --+--> udpProxy: bottleneck (rate,   +--> Go receiver stream 12   +-- one Go socket
//	JS sender   (udx.js)     --+    drop-tail queue, delay) ------+--> Go receiver stream 13 --+
//	                   <---------------- acks: delay only --------------------
//
// The tests measure the bytes each receiver reads over a window, after the
// flows have had time to find their share, and check that no flow starves
// or dominates. They assert shares, not speed: the rates are far below what
// loopback carries, so the proxy's queue, not the CPU, is the bottleneck.

// bottleneck is a proxyFunc modelling a link of rate bytes per second in the
// direction to the server, with a drop-tail FIFO queue of queueMax bytes,
// plus a propagation delay each way. The proxy's scheduler sends each
// datagram at the time the link would deliver it.
type bottleneck struct {
	rate     float64
	queueMax int
	delay    time.Duration

	mu   sync.Mutex
	busy time.Time // guarded by mu; the link has sent all it queued by then

	dropped, passed atomic.Int64
}

func (b *bottleneck) handle(dir proxyDir, p []byte, _ *rand.Rand) proxyAction {
	if dir == toClient {
		return proxyAction{Delay: b.delay}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	backlog := max(b.busy.Sub(now), 0)
	if float64(len(p))+backlog.Seconds()*b.rate > float64(b.queueMax) {
		b.dropped.Add(1)
		return proxyAction{Drop: true}
	}
	b.passed.Add(1)
	b.busy = now.Add(backlog + time.Duration(float64(len(p))/b.rate*float64(time.Second)))
	return proxyAction{Delay: b.busy.Sub(now) + b.delay}
}

// fairRig is the set-up drawn above.
type fairRig struct {
	t     *testing.T
	ctx   context.Context
	neck  *bottleneck
	proxy *udpProxy
	sock  *udx.Socket // the receivers' socket
	u     *udx.Instance
	flows []*fairFlow
}

// fairFlow is one sender and its receiver stream.
type fairFlow struct {
	name  string
	recv  *udx.Stream
	read  atomic.Int64     // bytes the receiver read
	stats func() string    // the sender's congestion state, for logs
	stop  func()           // stops the sender
	goSnd *udx.Stream      // the Go sender, if it is one
	js    *interop.UDXNode // the JS sender's driver, if it is one
}

// newFairRig starts a bottleneck of rate bytes per second with a queue of
// queueBDPs bandwidth-delay products and a one-way delay.
func newFairRig(t *testing.T, rate float64, queueBDPs float64, delay time.Duration, timeout time.Duration) *fairRig {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	bdp := rate * (2*delay + time.Millisecond).Seconds()
	r := &fairRig{t: t, ctx: ctx, u: udx.NewInstance()}
	r.neck = &bottleneck{rate: rate, queueMax: int(queueBDPs * bdp), delay: delay}
	r.sock = listenLoopback(t, r.u)
	r.proxy = newUDPProxy(t, r.sock.LocalAddrPort(), 1, r.neck.handle)
	return r
}

func listenLoopback(t *testing.T, u *udx.Instance) *udx.Socket {
	t.Helper()
	pc, err := u.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := pc.(*udx.Socket)
	sock.SetReadBuffer(1 << 20) // as libudx asks for
	t.Cleanup(func() { sock.Close() })
	return sock
}

// receiver adds a Go stream with local id that connects to the first sender
// it hears from (stream remote), and a reader that counts what it reads.
func (r *fairRig) receiver(name string, id, remote udx.StreamID) *fairFlow {
	r.t.Helper()
	f := &fairFlow{name: name}
	var err error
	f.recv, err = r.u.NewStream(id, udx.StreamOptions{
		Firewall: func(s *udx.Stream, sock *udx.Socket, from netip.AddrPort) bool {
			if s.RemoteAddr() == nil {
				s.Connect(sock, remote, from)
			}
			return true
		},
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { f.recv.Destroy() })
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := f.recv.Read(buf)
			f.read.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	r.flows = append(r.flows, f)
	return f
}

// goFlow starts a Go sender, on an instance and socket of its own, that
// writes to a receiver through the bottleneck until stopped.
func (r *fairRig) goFlow(name string, recvID udx.StreamID) *fairFlow {
	r.t.Helper()
	sndID := recvID + 100
	f := r.receiver(name, recvID, sndID)
	u := udx.NewInstance()
	sock := listenLoopback(r.t, u)
	s, err := u.NewStream(sndID, udx.StreamOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { s.Destroy() })
	if err := s.Connect(sock, recvID, r.proxy.Addr()); err != nil {
		r.t.Fatal(err)
	}
	f.goSnd = s
	f.stop = func() { s.Destroy() }
	f.stats = func() string {
		st := s.Stats()
		return fmt.Sprintf("%s bw %.1f MB/s pacing %.1f MB/s min RTT %v srtt %v cwnd %d inflight %d retransmits %d",
			st.BBRState, float64(st.Bandwidth)/1e6, float64(st.PacingRate)/1e6, st.MinRTT.Round(10*time.Microsecond),
			st.SRTT.Round(100*time.Microsecond), st.CWnd, st.Inflight, st.Retransmits)
	}
	go func() {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := s.Write(chunk); err != nil {
				return
			}
		}
	}()
	return f
}

// jsFlow starts a udx-native sender in a udx.js driver of its own.
func (r *fairRig) jsFlow(name string, recvID udx.StreamID) *fairFlow {
	r.t.Helper()
	const sndID = 300
	f := r.receiver(name, recvID, sndID)
	js := interop.StartUDX(r.t)
	sockID, _, err := js.Socket(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := js.Stream(r.ctx, sndID, interop.StreamOpts{}); err != nil {
		r.t.Fatal(err)
	}
	if err := js.Connect(r.ctx, sndID, sockID, uint32(recvID), r.proxy.Addr()); err != nil {
		r.t.Fatal(err)
	}
	f.js = js
	f.stop = func() { js.Destroy(context.Background(), sndID) }
	r.t.Cleanup(f.stop)
	f.stats = func() string {
		st, err := js.Stats(r.ctx, sndID)
		if err != nil {
			return err.Error()
		}
		return fmt.Sprintf("%s bw %.1f MB/s srtt %d ms cwnd %d inflight %d mtu %d retransmits %d",
			udx.BBRState(st.BBRState), float64(st.BBRBandwidth)/1e6, st.RTT, st.CWnd, st.Inflight, st.MTU, st.Retransmits)
	}
	go js.WriteFile(r.ctx, sndID, 1<<40, 1) // until destroyed
	return f
}

// wait waits for d, failing the test if its context ends first.
func (r *fairRig) wait(d time.Duration) {
	r.t.Helper()
	select {
	case <-time.After(d):
	case <-r.ctx.Done():
		r.t.Fatalf("timed out: %v", r.ctx.Err())
	}
}

// measure waits for d and returns the bytes each flow read meanwhile, and
// logs them with the senders' state.
func (r *fairRig) measure(d time.Duration) []int64 {
	r.t.Helper()
	before := make([]int64, len(r.flows))
	for i, f := range r.flows {
		before[i] = f.read.Load()
	}
	dropped, passed := r.neck.dropped.Load(), r.neck.passed.Load()
	r.wait(d)
	got := make([]int64, len(r.flows))
	var total int64
	for i, f := range r.flows {
		got[i] = f.read.Load() - before[i]
		total += got[i]
	}
	var b strings.Builder
	for i, f := range r.flows {
		fmt.Fprintf(&b, "\n  %s: %.2f MB/s (%.0f%%); sender %s", f.name, float64(got[i])/d.Seconds()/1e6,
			100*float64(got[i])/float64(max(total, 1)), f.stats())
	}
	r.t.Logf("over %v: %.2f MB/s of %.2f, Jain %.3f, bottleneck dropped %d of %d%s", d,
		float64(total)/d.Seconds()/1e6, r.neck.rate/1e6, udx.Jain(got),
		r.neck.dropped.Load()-dropped, r.neck.passed.Load()-passed+r.neck.dropped.Load()-dropped, b.String())
	return got
}

// wantFair fails the test unless every flow got between lo and hi of the
// total.
func (r *fairRig) wantFair(got []int64, lo, hi float64) {
	r.t.Helper()
	total := sum(got)
	if total == 0 {
		r.t.Fatal("nothing got through the bottleneck")
	}
	for i, g := range got {
		if share := float64(g) / float64(total); share < lo || share > hi {
			r.t.Errorf("%s got %.0f%% of the bottleneck, want %.0f%% to %.0f%%", r.flows[i].name, 100*share, 100*lo, 100*hi)
		}
	}
}

// wantFairSoon measures a window and wants every flow between lo and hi of it; a window out
// of the band is measured once more. One such window in ten-odd runs came from the machine
// (2 cores with go test -race of every package at once, and the fairness flows in processes
// of their own, Go and Node: whichever is starved of CPU for a second loses its share), and
// BBR v1 flows settle again at the next PROBE_RTT, 10 s on; a flow that stays unfair is a
// real failure.
func (r *fairRig) wantFairSoon(lo, hi float64) {
	r.t.Helper()
	got := r.measure(fairWindow)
	if !fair(got, lo, hi) {
		r.t.Logf("outside %.0f%%-%.0f%%; measuring another %v", 100*lo, 100*hi, fairWindow)
		got = r.measure(fairWindow)
	}
	r.wantFair(got, lo, hi)
}

// fair reports whether every flow got between lo and hi of the bytes.
func fair(got []int64, lo, hi float64) bool {
	total := sum(got)
	for _, g := range got {
		if share := float64(g) / float64(max(total, 1)); share < lo || share > hi {
			return false
		}
	}
	return total > 0
}

func sum(v []int64) int64 {
	var total int64
	for _, x := range v {
		total += x
	}
	return total
}

// The live bottleneck: 12 MB/s, a 50 ms RTT, a drop-tail queue of two BDPs
// (1.2 MB). The RTT is that of a path between continents rather than of
// loopback: at 20 ms or less, how BBR v1 flows (libudx's among themselves
// too) split a queue they keep full is dominated by how bunched their acks
// arrive, which on one loaded machine is mostly scheduling noise.
const (
	fairRate   = 12e6
	fairQueue  = 2 // BDPs
	fairDelay  = 25 * time.Millisecond
	fairWarmup = 4 * time.Second
	fairWindow = 10 * time.Second
)

func skipFairnessIfShort(t *testing.T) {
	if testing.Short() {
		t.Skip("fairness at a live bottleneck takes 15 s")
	}
}

// A Go sender and a udx-native sender started together share the
// bottleneck. Measured: the Go flow got 41 % to 73 % (median 48 %) in 7
// runs, 2 of them under -race; two udx-native senders split 46 %/54 % and
// 47 %/53 %; the NewReno sender this replaced got 10 % to 40 %. libudx
// under loss swings more than a Go flow does, hence the wide band.
func TestFairnessGoJS(t *testing.T) {
	skipFairnessIfShort(t)
	r := newFairRig(t, fairRate, fairQueue, fairDelay, time.Minute)
	r.goFlow("go", 11)
	r.jsFlow("udx-native", 12)
	r.wait(fairWarmup)
	r.wantFairSoon(0.2, 0.8)
}

// Two Go senders started together share the bottleneck. Measured: 44 % to
// 56 % in 5 runs.
func TestFairnessGoGo(t *testing.T) {
	skipFairnessIfShort(t)
	r := newFairRig(t, fairRate, fairQueue, fairDelay, time.Minute)
	r.goFlow("go 1", 11)
	r.goFlow("go 2", 12)
	r.wait(fairWarmup)
	r.wantFairSoon(1.0/3, 2.0/3)
}

// A Go sender that starts 2 s after another gets in at once, and neither
// flow starves afterwards. The late flow keeps the larger share for a while:
// it starts its min RTT filter with the queue the first flow built, so its
// window is larger, and BBR v1 windows at a full queue hold whatever split
// they have (each flow's delivery rate is its window over the shared RTT).
// libudx's senders do the same on this rig: the first of two udx-native
// senders started 2 s apart got 20 % to 35 % from 8 s to 28 s in 4 runs;
// two Go senders got 20 % to 35 % in 9 runs, once 57 %, and the late flow
// 40 % to 45 % of its first 4 s. (TestBBRPathLateFlow, in virtual time
// without the scheduling noise, converges on its path; its comment names
// rates at which it does not either.) So the band is "no one starves", not
// "fair"; a flow under a sixth is a real failure.
func TestFairnessGoLate(t *testing.T) {
	skipFairnessIfShort(t)
	r := newFairRig(t, fairRate, fairQueue, fairDelay, time.Minute)
	r.goFlow("go early", 11)
	r.wait(2 * time.Second)
	r.goFlow("go late", 12)
	early := r.measure(4 * time.Second)
	if early[1] < (early[0]+early[1])/10 {
		t.Errorf("the late flow got %d of %d bytes in its first 4 s", early[1], early[0]+early[1])
	}
	r.wait(2 * time.Second)
	r.wantFairSoon(1.0/6, 5.0/6)
}
