package peers

import (
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/dht/udx"
	"github.com/hyperlan/hyperlan/tun"
	"github.com/hyperlan/hyperlan/tun/tuntest"
)

// fakeSender is a connection that takes datagrams up to limit bytes, with a send queue
// that is full while full is set: TrySend then drops, SendBefore waits for drain or its
// deadline.
type fakeSender struct {
	limit   int
	final   bool // the limit is the path's MTU
	full    atomic.Bool
	drain   chan struct{} // a value empties the full queue
	packets atomic.Int64
	waits   atomic.Int64 // SendBefore calls that found the queue full
	corks   atomic.Int64 // Cork calls not yet uncorked
	last    []byte
}

func (f *fakeSender) TrySend(b []byte) error {
	if len(b) > f.limit {
		return udx.ErrMessageTooLarge
	}
	if f.full.Load() {
		return udx.ErrSendQueueFull
	}
	f.packets.Add(1)
	f.last = append(f.last[:0], b...)
	return nil
}

func (f *fakeSender) SendBefore(b []byte, deadline time.Time) error {
	if len(b) <= f.limit && f.full.Load() {
		f.waits.Add(1)
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		select {
		case <-f.drain:
			f.full.Store(false)
		case <-t.C:
			return os.ErrDeadlineExceeded
		}
	}
	return f.TrySend(b)
}

func (f *fakeSender) MaxMessage() (int, bool) { return f.limit, f.final }

func (f *fakeSender) Cork()   { f.corks.Add(1) }
func (f *fakeSender) Uncork() { f.corks.Add(-1) }

// dataplane is an engine with only its data plane: a table with one member, whose session
// sends on a fakeSender, and the device's writer running on a tuntest pair.
type dataplane struct {
	e   *Engine
	p   *peer
	s   *session
	dg  *fakeSender
	os  *tuntest.Device
	got atomic.Int64 // packets the OS end read

	mu   sync.Mutex
	last []byte // the last packet the OS end read
}

// lastICMP returns the message body of the last packet the OS end read, an ICMPv6 one: after
// the type, code and checksum.
func (d *dataplane) lastICMP() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.last) < ipv6HeaderLen+8 {
		return make([]byte, 4)
	}
	return d.last[ipv6HeaderLen+4:]
}

func newDataplane(tb testing.TB) *dataplane {
	dev, osEnd := tuntest.NewPair(tuntest.Options{MTU: 1500, BatchSize: 32})
	e := &Engine{dev: dev, floor: 1128}
	size, count := rxPoolSize(dev)
	e.rx, e.toTUN = newBufferPool(count, size), make(chan *buffer, rxQueue)
	// Grow the pool to its size: what it allocates when a load first needs it is not per
	// packet.
	var all []*buffer
	for b := e.rx.get(); b != nil; b = e.rx.get() {
		all = append(all, b)
	}
	for _, b := range all {
		e.rx.put(b)
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	p := &peer{key: configs.PublicKey{1}, name: "b"}
	e.table.Store(newTable([]tableEntry{
		{netip.PrefixFrom(hostB4, 32), p}, {netip.PrefixFrom(hostB6, 128), p},
	}))
	dg := &fakeSender{limit: 1428, final: true, drain: make(chan struct{})}
	s := &session{e: e, dg: dg, peer: p}
	s.ready.Store(true)
	p.active.Store(s)
	d := &dataplane{e: e, p: p, s: s, dg: dg, os: osEnd}
	e.wg.Add(1)
	go e.routineWriteTUN()
	done := make(chan struct{})
	go func() {
		defer close(done)
		bufs := make([][]byte, 32)
		for i := range bufs {
			bufs[i] = make([]byte, 1600)
		}
		sizes := make([]int, 32)
		for {
			n, err := osEnd.Read(bufs, sizes, 0)
			if err != nil {
				return
			}
			if n > 0 {
				d.mu.Lock()
				d.last = append(d.last[:0], bufs[n-1][:sizes[n-1]]...)
				d.mu.Unlock()
			}
			d.got.Add(int64(n))
		}
	}()
	tb.Cleanup(func() {
		e.cancel()
		e.wg.Wait()
		dev.Close()
		osEnd.Close()
		<-done
	})
	return d
}

// TestDataplaneAllocs: sending a packet from the device and receiving one from a member
// allocate nothing once the buffers exist.
func TestDataplaneAllocs(t *testing.T) {
	d := newDataplane(t)
	out := tuntest.UDP(netip.AddrPortFrom(hostA4, 1), netip.AddrPortFrom(hostB4, 2), make([]byte, 1200))
	in := tuntest.UDP(netip.AddrPortFrom(hostB6, 2), netip.AddrPortFrom(hostA6, 1), make([]byte, 1200))
	tx := newTxBatch(1, 2048)
	if n := testing.AllocsPerRun(1000, func() { d.e.route(out, tx) }); n != 0 {
		t.Errorf("route: %v allocations per packet", n)
	}
	if n := testing.AllocsPerRun(1000, func() { d.e.receive(d.p, in) }); n != 0 {
		t.Errorf("receive: %v allocations per packet", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		for range 8 {
			d.e.receiveBatched(d.s, in)
		}
		d.s.endRxBatch()
	}); n != 0 {
		t.Errorf("receive in batches: %v allocations per batch", n)
	}
	if d.dg.packets.Load() == 0 || d.p.rxPackets.Load() == 0 {
		t.Fatal("nothing went through")
	}
	// A packet larger than the path is answered with ICMP.
	d.dg.limit = 1000
	big := tuntest.UDP(netip.AddrPortFrom(hostA6, 1), netip.AddrPortFrom(hostB6, 2), make([]byte, 1100))
	if n := testing.AllocsPerRun(100, func() { d.e.route(big, tx) }); n != 0 {
		t.Errorf("too big: %v allocations per packet", n)
	}
}

// TestTooBigWhileSearching: while the connection's path MTU search runs, a packet larger
// than the limit so far is dropped without ICMP (counted as MTUPending) when it may not be
// fragmented, IPv4 with DF and IPv6 alike, and an IPv4 one without DF goes in fragments of
// the limit. Once the search has ended (or the probe pings are over), "too big" names the
// MTU found.
func TestTooBigWhileSearching(t *testing.T) {
	d := newDataplane(t)
	d.dg.limit, d.dg.final = 1128, false
	tx := newTxBatch(1, 2048)
	v6 := tuntest.UDP(netip.AddrPortFrom(hostA6, 1), netip.AddrPortFrom(hostB6, 2), make([]byte, 1300))
	df := tuntest.UDP(netip.AddrPortFrom(hostA4, 1), netip.AddrPortFrom(hostB4, 2), make([]byte, 1300))
	noDF := slices.Clone(df)
	binary.BigEndian.PutUint16(noDF[6:], 0)
	d.e.route(v6, tx)
	d.e.route(df, tx)
	d.e.route(noDF, tx)
	c := d.e.counters.snapshot()
	if c.MTUPending != 2 || c.TooBig != 0 || c.Fragmented != 1 || d.dg.packets.Load() != 2 {
		t.Fatalf("while searching: counters %+v, %d datagrams sent; want 2 dropped silently, 1 fragmented into 2", c, d.dg.packets.Load())
	}

	for _, tc := range []struct {
		name          string
		final, probed bool
	}{{"search ended", true, false}, {"probe pings over", false, true}} {
		d.dg.limit, d.dg.final = 1280, tc.final
		d.s.probed.Store(tc.probed)
		before := d.e.counters.tooBig.Load()
		d.e.route(v6, tx)
		if got := d.e.counters.tooBig.Load() - before; got != 1 {
			t.Errorf("%s: %d answers", tc.name, got)
		}
	}
	// The two answers, and nothing from the search, reached the device, naming the MTU found.
	deadline := time.Now().Add(5 * time.Second)
	for d.got.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if d.got.Load() != 2 {
		t.Fatalf("the device got %d packets, want 2 answers", d.got.Load())
	}
	if mtu := binary.BigEndian.Uint32(d.lastICMP()); mtu != 1280 {
		t.Errorf("packet too big names MTU %d, want 1280", mtu)
	}
}

// TestSendWaitsForRoom: a full send queue makes the device reader wait until the socket's
// writer makes room, and nothing is dropped (back-pressure).
func TestSendWaitsForRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDataplane(t)
		pkt := tuntest.UDP(netip.AddrPortFrom(hostA4, 1), netip.AddrPortFrom(hostB4, 2), make([]byte, 1200))
		tx := newTxBatch(1, 2048)
		d.dg.full.Store(true)
		go func() {
			time.Sleep(sendWait / 2)
			d.dg.drain <- struct{}{}
		}()
		start := time.Now()
		d.e.route(pkt, tx)
		if waited := time.Since(start); waited != sendWait/2 {
			t.Errorf("route returned after %v, want %v (when the queue drained)", waited, sendWait/2)
		}
		if c := d.e.counters.snapshot(); c.SendDropped != 0 || d.dg.packets.Load() != 1 {
			t.Errorf("counters %+v, %d sent; want the packet sent", c, d.dg.packets.Load())
		}
	})
}

// TestStuckPeerDoesNotStallOthers: a member whose send queue stays full costs the device
// reader one wait of sendWait, after which its packets are dropped (and counted) at once for
// sendBackoff, while the packets of another member go through; after sendBackoff it is
// waited for again.
func TestStuckPeerDoesNotStallOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDataplane(t)
		c := &peer{key: configs.PublicKey{2}, name: "c"}
		dgC := &fakeSender{limit: 1428, final: true}
		sc := &session{e: d.e, dg: dgC, peer: c}
		sc.ready.Store(true)
		c.active.Store(sc)
		hostC4 := netip.MustParseAddr("10.1.0.3")
		d.e.table.Store(newTable([]tableEntry{{netip.PrefixFrom(hostB4, 32), d.p}, {netip.PrefixFrom(hostC4, 32), c}}))
		toB := tuntest.UDP(netip.AddrPortFrom(hostA4, 1), netip.AddrPortFrom(hostB4, 2), make([]byte, 1200))
		toC := tuntest.UDP(netip.AddrPortFrom(hostA4, 1), netip.AddrPortFrom(hostC4, 2), make([]byte, 1200))
		tx := newTxBatch(1, 2048)
		d.dg.full.Store(true) // b is stuck: nothing drains its queue

		start := time.Now()
		for range 100 {
			d.e.route(toB, tx)
			d.e.route(toC, tx)
		}
		if took := time.Since(start); took != sendWait {
			t.Errorf("200 packets took %v, want one wait of %v", took, sendWait)
		}
		if got := dgC.packets.Load(); got != 100 {
			t.Errorf("c got %d packets, want 100", got)
		}
		if cnt := d.e.counters.snapshot(); cnt.SendDropped != 100 || d.dg.waits.Load() != 1 {
			t.Errorf("counters %+v, %d waits for b; want 100 dropped after 1 wait", cnt, d.dg.waits.Load())
		}

		time.Sleep(sendBackoff)
		start = time.Now()
		d.e.route(toB, tx)
		if took := time.Since(start); took != sendWait || d.dg.waits.Load() != 2 {
			t.Errorf("after the back-off: route took %v, %d waits; want another wait of %v", took, d.dg.waits.Load(), sendWait)
		}
	})
}

// TestReceiveWaitsForDevice: a packet from a member waits for room in the device's queue up
// to rxWait, and is then dropped; for rxBackoff the next ones are dropped at once.
func TestReceiveWaitsForDevice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDataplane(t)
		in := tuntest.UDP(netip.AddrPortFrom(hostB4, 2), netip.AddrPortFrom(hostA4, 1), make([]byte, 1200))
		// Stop the writer: cancel and wait, then fill its queue.
		d.e.cancel()
		d.e.wg.Wait()
		d.e.ctx, d.e.cancel = context.WithCancel(context.Background())
		for range rxQueue {
			d.e.receive(d.p, in)
		}
		if c := d.e.counters.snapshot(); c.RecvDropped != 0 || len(d.e.toTUN) != rxQueue {
			t.Fatalf("filling the queue: counters %+v, %d queued", c, len(d.e.toTUN))
		}
		// One packet finds room when the writer takes one.
		go func() {
			time.Sleep(time.Millisecond)
			d.e.rx.put(<-d.e.toTUN)
		}()
		start := time.Now()
		d.e.receive(d.p, in)
		if took := time.Since(start); took != time.Millisecond || d.e.counters.recvDropped.Load() != 0 {
			t.Errorf("receive took %v, dropped %d; want queued after 1ms", took, d.e.counters.recvDropped.Load())
		}
		// A stuck device: one wait, then drops at once.
		start = time.Now()
		for range 10 {
			d.e.receive(d.p, in)
		}
		if took := time.Since(start); took != rxWait || d.e.counters.recvDropped.Load() != 10 {
			t.Errorf("10 packets for a stuck device took %v, %d dropped; want %v, 10", took, d.e.counters.recvDropped.Load(), rxWait)
		}
		d.e.wg.Add(1)
		go d.e.routineWriteTUN()
	})
}

func BenchmarkRoute(b *testing.B) {
	d := newDataplane(b)
	pkt := tuntest.UDP(netip.AddrPortFrom(hostA4, 1), netip.AddrPortFrom(hostB4, 2), make([]byte, 1200))
	tx := newTxBatch(1, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		d.e.route(pkt, tx)
	}
}

// TestSendCorksPerBatch: the device reader corks a session's connection once for a batch,
// at its first packet, and uncorks it at the end.
func TestSendCorksPerBatch(t *testing.T) {
	d := newDataplane(t)
	out := tuntest.UDP(netip.AddrPortFrom(hostA4, 1), netip.AddrPortFrom(hostB4, 2), make([]byte, 1200))
	tx := newTxBatch(4, 2048)
	for range 3 {
		d.e.route(out, tx)
	}
	if n := d.dg.corks.Load(); n != 1 || d.dg.packets.Load() != 3 {
		t.Fatalf("corks %d, packets %d; want 1, 3", n, d.dg.packets.Load())
	}
	tx.uncork()
	if n := d.dg.corks.Load(); n != 0 || d.s.corked {
		t.Fatalf("corks %d after the batch, session corked %v", n, d.s.corked)
	}
	d.e.route(out, tx)
	tx.uncork()
	if n := d.dg.corks.Load(); n != 0 || d.dg.packets.Load() != 4 {
		t.Fatalf("corks %d, packets %d; want 0, 4", n, d.dg.packets.Load())
	}
}

// TestReceiveBatched: packets from a connection that reports its read batches are held
// until the batch ends and then written to the device together, by the caller; a batch as
// large as the device's is written at once.
func TestReceiveBatched(t *testing.T) {
	d := newDataplane(t)
	in := tuntest.UDP(netip.AddrPortFrom(hostB4, 2), netip.AddrPortFrom(hostA4, 1), make([]byte, 1200))
	spoofed := tuntest.UDP(netip.AddrPortFrom(hostA4, 2), netip.AddrPortFrom(hostA4, 1), make([]byte, 1200))
	for range 5 {
		d.e.receiveBatched(d.s, in)
	}
	d.e.receiveBatched(d.s, spoofed)
	time.Sleep(20 * time.Millisecond)
	if n := d.got.Load(); n != 0 {
		t.Fatalf("%d packets written before the batch ended", n)
	}
	d.s.endRxBatch()
	waitPackets(t, func() bool { return d.got.Load() == 5 })
	if n := d.e.counters.spoofed.Load(); n != 1 {
		t.Errorf("spoofed %d, want 1", n)
	}
	for range 32 + 3 { // the device's batch is 32
		d.e.receiveBatched(d.s, in)
	}
	waitPackets(t, func() bool { return d.got.Load() == 5+32 })
	d.s.endRxBatch()
	waitPackets(t, func() bool { return d.got.Load() == 5+32+3 })
	if n := d.p.rxPackets.Load(); n != 40 {
		t.Errorf("rxPackets %d, want 40", n)
	}
}

func waitPackets(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

// BenchmarkReceiveBatched is BenchmarkReceive for a connection that reports its read
// batches, 32 packets each: no hand-over to routineWriteTUN.
func BenchmarkReceiveBatched(b *testing.B) {
	d := newDataplane(b)
	pkt := tuntest.UDP(netip.AddrPortFrom(hostB4, 2), netip.AddrPortFrom(hostA4, 1), make([]byte, 1200))
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	i := 0
	for b.Loop() {
		d.e.receiveBatched(d.s, pkt)
		if i++; i%32 == 0 {
			d.s.endRxBatch()
		}
	}
	d.s.endRxBatch()
}

func BenchmarkReceive(b *testing.B) {
	d := newDataplane(b)
	pkt := tuntest.UDP(netip.AddrPortFrom(hostB4, 2), netip.AddrPortFrom(hostA4, 1), make([]byte, 1200))
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		d.e.receive(d.p, pkt)
	}
}

var _ tun.Device = (*tuntest.Device)(nil)
