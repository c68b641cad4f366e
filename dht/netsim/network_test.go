package netsim_test

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

func TestDelay(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const delay = 50 * time.Millisecond
		n := netsim.New(netsim.Options{Delay: delay})
		a := listen(t, n, "10.0.0.1:1")
		b := listen(t, n, "10.0.0.2:1")

		arrived := make(chan time.Time, 2)
		go func() {
			for range 2 {
				if _, _, err := b.ReadFrom(make([]byte, 10)); err != nil {
					t.Errorf("ReadFrom: %v", err)
				}
				arrived <- time.Now()
			}
		}()
		t0 := time.Now()
		send(t, a, addrOf(b), []byte("first"))
		time.Sleep(10 * time.Millisecond)
		send(t, a, addrOf(b), []byte("second"))

		time.Sleep(delay - 10*time.Millisecond - time.Nanosecond)
		synctest.Wait()
		if len(arrived) != 0 {
			t.Fatalf("a packet arrived before Delay had passed")
		}
		for i, want := range []time.Duration{delay, delay + 10*time.Millisecond} {
			if got := (<-arrived).Sub(t0); got != want {
				t.Errorf("packet %d arrived at t0+%v, want t0+%v", i, got, want)
			}
		}
	})
}

func TestOrder(t *testing.T) {
	t.Parallel()
	for _, delay := range []time.Duration{0, 10 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				n := netsim.New(netsim.Options{Delay: delay, QueueLen: 2000})
				a := listen(t, n, "10.0.0.1:1")
				b := listen(t, n, "10.0.0.2:1")
				var want []int
				for i := range 1000 {
					send(t, a, addrOf(b), seqPacket(i))
					want = append(want, i)
					if i%100 == 0 {
						time.Sleep(time.Millisecond) // some packets share an arrival time, some do not
					}
				}
				time.Sleep(delay)
				if got := drain(t, b); !slices.Equal(got, want) {
					t.Errorf("packets arrived out of order: %v", got)
				}
			})
		})
	}
}

// jitterRun sends 200 packets back to back over a network with jitter and
// returns the order they arrived in.
func jitterRun(t *testing.T, seed uint64) []int {
	var got []int
	synctest.Test(t, func(t *testing.T) {
		const delay, jitter = 10 * time.Millisecond, 20 * time.Millisecond
		n := netsim.New(netsim.Options{Delay: delay, Jitter: jitter, Seed: seed})
		a := listen(t, n, "10.0.0.1:1")
		b := listen(t, n, "10.0.0.2:1")
		t0 := time.Now()
		for i := range 200 {
			send(t, a, addrOf(b), seqPacket(i))
		}
		buf := make([]byte, 10)
		for range 200 {
			k, _, err := b.ReadFrom(buf)
			if err != nil || k != 2 {
				t.Fatalf("ReadFrom = %d, %v", k, err)
			}
			if d := time.Since(t0); d < delay || d >= delay+jitter {
				t.Errorf("packet arrived at t0+%v, outside [Delay, Delay+Jitter)", d)
			}
			got = append(got, int(buf[0])<<8|int(buf[1]))
		}
	})
	return got
}

func TestJitter(t *testing.T) {
	t.Parallel()
	got := jitterRun(t, 1)
	sorted := slices.Sorted(slices.Values(got))
	if !slices.Equal(sorted, seqs(200)) {
		t.Fatalf("jitter lost or duplicated packets: %v", got)
	}
	if slices.IsSorted(got) {
		t.Errorf("200 packets with 20ms of jitter arrived in order")
	}
	if again := jitterRun(t, 1); !slices.Equal(again, got) {
		t.Errorf("same seed, different order:\n%v\n%v", got, again)
	}
	if other := jitterRun(t, 2); slices.Equal(other, got) {
		t.Errorf("seeds 1 and 2 gave the same order")
	}
}

func seqs(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// lossRun sends 10000 packets over a network with 50% loss and returns the
// ones that arrived.
func lossRun(t *testing.T, seed uint64) []int {
	const total = 10000
	var got []int
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{Loss: 0.5, Seed: seed, QueueLen: total})
		a := listen(t, n, "10.0.0.1:1")
		b := listen(t, n, "10.0.0.2:1")
		for i := range total {
			send(t, a, addrOf(b), seqPacket(i))
		}
		got = drain(t, b)
		s := n.Stats()
		if s.Sent != total || s.Delivered != uint64(len(got)) || s.Delivered+s.Dropped != total {
			t.Errorf("Stats = %+v with %d packets received, want Sent %d = Delivered + Dropped", s, len(got), total)
		}
	})
	// 5000 expected, standard deviation 50: 300 is six of them.
	if len(got) < 4700 || len(got) > 5300 {
		t.Errorf("seed %d: %d of %d packets arrived with Loss 0.5, want 5000±300", seed, len(got), total)
	}
	return got
}

func TestLoss(t *testing.T) {
	t.Parallel()
	got := lossRun(t, 42)
	if again := lossRun(t, 42); !slices.Equal(again, got) {
		t.Errorf("seed 42 lost different packets on a second run")
	}
	if other := lossRun(t, 43); slices.Equal(other, got) {
		t.Errorf("seeds 42 and 43 lost the same packets")
	}
}

func TestLossExtremes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		loss float64
		want int
	}{{0, 100}, {1, 0}} {
		synctest.Test(t, func(t *testing.T) {
			n := netsim.New(netsim.Options{Loss: tt.loss})
			a := listen(t, n, "10.0.0.1:1")
			b := listen(t, n, "10.0.0.2:1")
			for i := range 100 {
				send(t, a, addrOf(b), seqPacket(i))
			}
			if got := len(drain(t, b)); got != tt.want {
				t.Errorf("Loss %v: %d of 100 arrived, want %d", tt.loss, got, tt.want)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		a1 := netip.MustParseAddrPort("10.0.0.1:1")
		type seen struct{ from, to netip.AddrPort }
		var calls []seen
		n := netsim.New(netsim.Options{Filter: func(from, to netip.AddrPort, b []byte) bool {
			calls = append(calls, seen{from, to})
			return b[1]%2 == 0 // even packets only
		}})
		a := listen(t, n, a1.String())
		b := listen(t, n, "10.0.0.2:1")
		for i := range 6 {
			send(t, a, addrOf(b), seqPacket(i))
		}
		if got, want := drain(t, b), []int{0, 2, 4}; !slices.Equal(got, want) {
			t.Errorf("even-only filter let through %v, want %v", got, want)
		}
		if len(calls) != 6 || calls[0] != (seen{a1, addrOf(b)}) {
			t.Errorf("filter calls %v, want 6 of {%v %v}", calls, a1, addrOf(b))
		}

		// Replace the filter at run time: cut 10.0.0.1 off.
		n.SetFilter(func(from, to netip.AddrPort, b []byte) bool { return from.Addr() != a1.Addr() })
		send(t, a, addrOf(b), seqPacket(6))
		send(t, b, addrOf(a), seqPacket(7))
		if got := drain(t, b); len(got) != 0 {
			t.Errorf("filtered sender got through: %v", got)
		}
		if got := drain(t, a); !slices.Equal(got, []int{7}) {
			t.Errorf("other direction got %v, want [7]", got)
		}

		n.SetFilter(nil)
		send(t, a, addrOf(b), seqPacket(8))
		if got := drain(t, b); !slices.Equal(got, []int{8}) {
			t.Errorf("with no filter got %v, want [8]", got)
		}
		if s := n.Stats(); s != (netsim.Stats{Sent: 9, Delivered: 5, Dropped: 4}) {
			t.Errorf("Stats = %+v, want 9 sent, 5 delivered, 4 dropped", s)
		}
	})
}

func TestMTU(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ mtu, max int }{{0, netsim.DefaultMTU}, {1280, 1280}} {
		synctest.Test(t, func(t *testing.T) {
			n := netsim.New(netsim.Options{MTU: tt.mtu})
			a := listen(t, n, "10.0.0.1:1")
			b := listen(t, n, "10.0.0.2:1")
			send(t, a, addrOf(b), make([]byte, tt.max+1)) // dropped, yet the write succeeds
			send(t, a, addrOf(b), make([]byte, tt.max))
			if got, _ := recv(t, b); len(got) != tt.max {
				t.Errorf("MTU %d: received %d bytes, want the %d-byte packet only", tt.mtu, len(got), tt.max)
			}
			if s := n.Stats(); s != (netsim.Stats{Sent: 2, Delivered: 1, Dropped: 1}) {
				t.Errorf("MTU %d: Stats = %+v, want 2 sent, 1 delivered, 1 dropped", tt.mtu, s)
			}
		})
	}
}

func TestNobodyListening(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{Delay: time.Millisecond})
		a := listen(t, n, "10.0.0.1:1")
		send(t, a, netip.MustParseAddrPort("192.0.2.1:9"), []byte("void"))
		// A receiver that closes while the packet is in flight loses it too.
		b := listen(t, n, "10.0.0.2:1")
		send(t, a, addrOf(b), []byte("late"))
		b.Close()
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if s := n.Stats(); s != (netsim.Stats{Sent: 2, Dropped: 2}) {
			t.Errorf("Stats = %+v, want 2 sent and dropped", s)
		}
	})
}

func TestNetworkClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{Delay: time.Second})
		a := listen(t, n, "10.0.0.1:1")
		b := listen(t, n, "10.0.0.2:1")
		for i := range 5 {
			send(t, a, addrOf(b), seqPacket(i))
		}
		errc := make(chan error)
		go func() {
			_, _, err := b.ReadFrom(make([]byte, 10))
			errc <- err
		}()
		time.Sleep(500 * time.Millisecond)
		if err := n.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Errorf("reader blocked at Network.Close: error %v, want net.ErrClosed", err)
		}
		if _, err := a.WriteToUDPAddrPort([]byte("x"), addrOf(b)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("write after Network.Close: error %v, want net.ErrClosed", err)
		}
		if err := n.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		time.Sleep(time.Hour) // the stopped delivery timer must not fire
		if s := n.Stats(); s != (netsim.Stats{Sent: 5, Dropped: 5}) {
			t.Errorf("Stats = %+v, want the 5 packets in flight dropped", s)
		}
	})
}

// TestCleanupInBubble shows the pattern for tests that leave a reader
// blocked: a Cleanup registered inside the bubble runs before synctest.Test
// waits for the bubble's goroutines.
func TestCleanupInBubble(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{Delay: time.Second})
		t.Cleanup(func() { n.Close() })
		a := listen(t, n, "10.0.0.1:1")
		go func() {
			for {
				if _, _, err := a.ReadFrom(make([]byte, 10)); err != nil {
					return
				}
			}
		}()
		send(t, a, addrOf(a), []byte("in flight when the bubble ends"))
	})
}

// TestConcurrent hammers one network from many goroutines, for -race, on the
// real clock.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	const conns, packets = 8, 200
	n := netsim.New(netsim.Options{Delay: 100 * time.Microsecond, Jitter: 200 * time.Microsecond, Loss: 0.1, Seed: 7})
	var cs []*netsim.Conn
	for range conns {
		cs = append(cs, listen(t, n, "10.0.0.1:0"))
	}
	var readers, writers sync.WaitGroup
	received := make([]int, conns)
	for i, c := range cs {
		readers.Go(func() {
			buf := make([]byte, 100)
			for {
				if _, _, err := c.ReadFrom(buf); err != nil {
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("ReadFrom: %v", err)
					}
					return
				}
				received[i]++
			}
		})
		writers.Go(func() {
			msg := make([]byte, 32)
			for j := range packets {
				msg[0] = byte(j) // reusing the buffer at once is allowed
				to := cs[(i+j)%conns].LocalAddr()
				if _, err := c.WriteTo(msg, to); err != nil {
					t.Errorf("WriteTo: %v", err)
				}
			}
		})
		writers.Go(func() {
			for range packets {
				n.SetFilter(nil)
				c.SetReadDeadline(time.Time{})
				n.Stats()
			}
		})
	}
	writers.Wait()
	n.Close() // drops what is still in flight, discards what is unread
	readers.Wait()

	s := n.Stats()
	total := 0
	for _, r := range received {
		total += r
	}
	if s.Sent != conns*packets || s.Delivered+s.Dropped != s.Sent || uint64(total) > s.Delivered {
		t.Errorf("Stats = %+v, %d read; want Sent %d = Delivered + Dropped, and at most Delivered read", s, total, conns*packets)
	}
}

// TestNoGoroutinesLeft checks that a network with packets in flight leaves
// no goroutine behind once closed. It counts goroutines, so it does not run
// in parallel.
func TestNoGoroutinesLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	n := netsim.New(netsim.Options{Delay: time.Microsecond, Jitter: time.Millisecond})
	a, _ := n.ListenPacket("udp", "10.0.0.1:1")
	b, _ := n.ListenPacket("udp", "10.0.0.2:1")
	b.SetReadDeadline(time.Now().Add(time.Hour))
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 10)
		for {
			if _, _, err := b.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	for range 1000 {
		a.WriteTo([]byte("x"), b.LocalAddr())
	}
	n.Close()
	<-done
	// The reader above, and a timer callback that Close waited for, may
	// still be returning; give them a moment, as leak checkers do.
	after := runtime.NumGoroutine()
	for i := 0; after > before && i < 1000; i++ {
		time.Sleep(time.Millisecond)
		after = runtime.NumGoroutine()
	}
	if after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after Close:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

func BenchmarkSendReceive(b *testing.B) {
	for _, delay := range []time.Duration{0, time.Nanosecond} {
		b.Run("delay="+delay.String(), func(b *testing.B) {
			n := netsim.New(netsim.Options{Delay: delay})
			defer n.Close()
			pa, _ := n.ListenPacket("udp", "10.0.0.1:1")
			pb, _ := n.ListenPacket("udp", "10.0.0.2:1")
			a, c := pa.(*netsim.Conn), pb.(*netsim.Conn)
			to := addrOf(c)
			msg, buf := make([]byte, 1200), make([]byte, 1500)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := a.WriteToUDPAddrPort(msg, to); err != nil {
					b.Fatal(err)
				}
				if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
