package peers

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/dht/udx"
	"github.com/hyperlan/hyperlan/tun"
	"github.com/hyperlan/hyperlan/tun/tuntest"
)

// fakeSender is a connection that takes datagrams up to limit bytes.
type fakeSender struct {
	limit   int
	packets atomic.Int64
	last    []byte
}

func (f *fakeSender) TrySend(b []byte) error {
	if len(b) > f.limit {
		return udx.ErrMessageTooLarge
	}
	f.packets.Add(1)
	f.last = append(f.last[:0], b...)
	return nil
}

// dataplane is an engine with only its data plane: a table with one member, whose session
// sends on a fakeSender, and the device's writer running on a tuntest pair.
type dataplane struct {
	e   *Engine
	p   *peer
	s   *session
	dg  *fakeSender
	os  *tuntest.Device
	got atomic.Int64 // packets the OS end read
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
	dg := &fakeSender{limit: 1428}
	s := &session{e: e, dg: dg, peer: p}
	s.fits.Store(1128)
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
	scratch := make([]byte, 2048)
	if n := testing.AllocsPerRun(1000, func() { d.e.route(out, scratch) }); n != 0 {
		t.Errorf("route: %v allocations per packet", n)
	}
	if n := testing.AllocsPerRun(1000, func() { d.e.receive(d.p, in) }); n != 0 {
		t.Errorf("receive: %v allocations per packet", n)
	}
	if d.dg.packets.Load() == 0 || d.p.rxPackets.Load() == 0 {
		t.Fatal("nothing went through")
	}
	// A packet that no longer fits (the path shrank) is answered from the floor.
	d.dg.limit = 1000
	big := tuntest.UDP(netip.AddrPortFrom(hostA6, 1), netip.AddrPortFrom(hostB6, 2), make([]byte, 1100))
	if n := testing.AllocsPerRun(100, func() { d.e.route(big, scratch) }); n != 0 {
		t.Errorf("too big: %v allocations per packet", n)
	}
}

// TestSendLearnsPathSize: the size a session reports in "too big" is the largest packet
// that went through, and falls back to the floor when a packet no larger fails.
func TestSendLearnsPathSize(t *testing.T) {
	d := newDataplane(t)
	scratch := make([]byte, 2048)
	send := func(n int) {
		d.e.route(tuntest.UDP(netip.AddrPortFrom(hostA6, 1), netip.AddrPortFrom(hostB6, 2), make([]byte, n-48)), scratch)
	}
	send(1300)
	if got := d.s.fits.Load(); got != 1300 {
		t.Errorf("fits %d after a 1300-byte packet went through", got)
	}
	send(1500) // larger than the path: too big, size kept
	if got := d.s.fits.Load(); got != 1300 {
		t.Errorf("fits %d after a 1500-byte packet failed", got)
	}
	d.dg.limit = 1200
	send(1250) // the path shrank
	if got := d.s.fits.Load(); got != 1128 {
		t.Errorf("fits %d after the path shrank, want the floor", got)
	}
	if c := d.e.counters.snapshot(); c.TooBig != 2 {
		t.Errorf("counters %+v", c)
	}
}

func BenchmarkRoute(b *testing.B) {
	d := newDataplane(b)
	pkt := tuntest.UDP(netip.AddrPortFrom(hostA4, 1), netip.AddrPortFrom(hostB4, 2), make([]byte, 1200))
	scratch := make([]byte, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		d.e.route(pkt, scratch)
	}
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
