package tuntest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"testing/synctest"

	"github.com/hyperlan/hyperlan/tun"
)

const offset = 16 // what an engine might reserve in front of each packet

// batch returns n buffers of offset+MTU bytes, the i-th holding packet pkts[i]
// after offset, with the headroom filled with 0xee.
func batch(pkts [][]byte) [][]byte {
	bufs := make([][]byte, len(pkts))
	for i, p := range pkts {
		b := make([]byte, offset+len(p))
		for j := range offset {
			b[j] = 0xee
		}
		copy(b[offset:], p)
		bufs[i] = b
	}
	return bufs
}

func readBufs(n, size int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	return bufs, make([]int, n)
}

func udp(i int) []byte {
	return UDP(netip.MustParseAddrPort("10.99.0.2:5000"), netip.MustParseAddrPort("10.99.0.1:6000"), []byte{byte(i), 'x', 'y'})
}

func TestPairCarriesPacketsBothWays(t *testing.T) {
	a, b := NewPair(Options{})
	defer a.Close()
	defer b.Close()
	if a.Name() != "tuntest0" || b.Name() != "tuntest0-os" || a.MTU() != tun.DefaultMTU || a.BatchSize() != tun.IdealBatchSize {
		t.Fatalf("defaults: %s %s MTU %d batch %d", a.Name(), b.Name(), a.MTU(), a.BatchSize())
	}
	for _, dir := range []struct {
		name     string
		from, to *Device
	}{{"a to b", a, b}, {"b to a", b, a}} {
		t.Run(dir.name, func(t *testing.T) {
			pkts := [][]byte{udp(1), udp(2), udp(3)}
			in := batch(pkts)
			n, err := dir.from.Write(in, offset)
			if n != 3 || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			for i, b := range in {
				if !bytes.Equal(b[offset-tun.Headroom:offset], make([]byte, tun.Headroom)) {
					t.Errorf("packet %d: headroom not overwritten as a real device does: %x", i, b[:offset])
				}
			}
			bufs, sizes := readBufs(8, offset+tun.DefaultMTU)
			n, err = dir.to.Read(bufs, sizes, offset)
			if n != 3 || err != nil {
				t.Fatalf("Read = %d, %v", n, err)
			}
			for i := range n {
				if got := bufs[i][offset : offset+sizes[i]]; !bytes.Equal(got, pkts[i]) {
					t.Errorf("packet %d: got %x, want %x", i, got, pkts[i])
				}
			}
		})
	}
}

func TestReadStopsAtBatchSize(t *testing.T) {
	a, b := NewPair(Options{BatchSize: 2})
	if _, err := a.Write(batch([][]byte{udp(1), udp(2), udp(3)}), offset); err != nil {
		t.Fatal(err)
	}
	bufs, sizes := readBufs(8, offset+tun.DefaultMTU)
	for _, want := range []int{2, 1} {
		if n, err := b.Read(bufs, sizes, offset); n != want || err != nil {
			t.Fatalf("Read = %d, %v; want %d", n, err, want)
		}
	}
}

func TestContractErrors(t *testing.T) {
	a, b := NewPair(Options{MTU: 100})
	if _, err := a.Write(batch([][]byte{udp(1)}), tun.Headroom-1); !errors.Is(err, errOffset) {
		t.Errorf("offset below headroom: %v", err)
	}
	if n, err := a.Write(batch([][]byte{udp(1), {}}), offset); n != 1 || !errors.Is(err, errEmpty) {
		t.Errorf("empty packet: %d, %v", n, err)
	}
	if _, err := a.Write(batch([][]byte{make([]byte, 101)}), offset); !errors.Is(err, errTooBig) {
		t.Errorf("packet over the MTU: %v", err)
	}
	bufs, sizes := readBufs(2, offset+100)
	if _, err := b.Read(bufs, sizes[:1], offset); !errors.Is(err, errBufs) {
		t.Errorf("short sizes: %v", err)
	}
	if _, err := b.Read(nil, nil, offset); !errors.Is(err, errNoBuffers) {
		t.Errorf("no buffers: %v", err)
	}
	// The packet written before the empty one is there; a buffer too short
	// for it drops it.
	if n, err := b.Read([][]byte{make([]byte, offset+10)}, sizes, offset); n != 0 || !errors.Is(err, io.ErrShortBuffer) {
		t.Errorf("short buffer: %d, %v", n, err)
	}
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := NewPair(Options{QueueLen: 1})
		readErr := make(chan error)
		go func() {
			bufs, sizes := readBufs(1, offset+tun.DefaultMTU)
			_, err := b.Read(bufs, sizes, offset)
			readErr <- err
		}()
		synctest.Wait() // Read is blocked
		b.Close()
		if err := <-readErr; !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked Read after Close: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := b.Write(batch([][]byte{udp(1)}), offset); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write after Close: %v", err)
		}
		// Writes towards the closed end are dropped, even past the queue's length.
		if n, err := a.Write(batch([][]byte{udp(1), udp(2), udp(3)}), offset); n != 3 || err != nil {
			t.Errorf("Write to a closed peer = %d, %v", n, err)
		}

		// A Write waiting for room ends when its own device closes.
		c, d := NewPair(Options{QueueLen: 1})
		defer d.Close()
		writeErr := make(chan error)
		go func() {
			_, err := c.Write(batch([][]byte{udp(1), udp(2)}), offset)
			writeErr <- err
		}()
		synctest.Wait()
		c.Close()
		if err := <-writeErr; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write blocked on a full queue, after Close: %v", err)
		}
	})
}

func TestPackets(t *testing.T) {
	a4, b4 := netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.1")
	a6, b6 := netip.MustParseAddr("fd00:99::2"), netip.MustParseAddr("fd00:99::1")
	payload := []byte("odd length payload")
	tests := []struct {
		name string
		pkt  []byte
		want Packet
	}{
		{"udp4", UDP(netip.AddrPortFrom(a4, 5000), netip.AddrPortFrom(b4, 6000), payload),
			Packet{Src: a4, Dst: b4, Proto: ProtoUDP, TTL: 64, SrcPort: 5000, DstPort: 6000}},
		{"udp6", UDP(netip.AddrPortFrom(a6, 5000), netip.AddrPortFrom(b6, 6000), payload),
			Packet{Src: a6, Dst: b6, Proto: ProtoUDP, TTL: 64, SrcPort: 5000, DstPort: 6000}},
		{"echo4", EchoRequest(a4, b4, 7, 9, payload),
			Packet{Src: a4, Dst: b4, Proto: ProtoICMP, TTL: 64, Type: icmpEchoRequest, ID: 7, Seq: 9}},
		{"reply4", EchoReply(a4, b4, 7, 9, payload),
			Packet{Src: a4, Dst: b4, Proto: ProtoICMP, TTL: 64, Type: icmpEchoReply, ID: 7, Seq: 9}},
		{"echo6", EchoRequest(a6, b6, 7, 9, payload),
			Packet{Src: a6, Dst: b6, Proto: ProtoICMPv6, TTL: 64, Type: icmpv6EchoRequest, ID: 7, Seq: 9}},
		{"reply6", EchoReply(a6, b6, 7, 9, payload),
			Packet{Src: a6, Dst: b6, Proto: ProtoICMPv6, TTL: 64, Type: icmpv6EchoReply, ID: 7, Seq: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(append(tt.pkt, 0xaa, 0xbb)) // trailing bytes are ignored
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Payload, payload) {
				t.Errorf("payload %q", got.Payload)
			}
			got.Payload = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			if got.IsEchoRequest() != (tt.want.Type == icmpEchoRequest || tt.want.Type == icmpv6EchoRequest) {
				t.Errorf("IsEchoRequest = %v", got.IsEchoRequest())
			}
			for i := range tt.pkt {
				if _, err := Parse(tt.pkt[:i]); err == nil {
					t.Fatalf("truncated to %d bytes: no error", i)
				}
			}
			bad := bytes.Clone(tt.pkt)
			bad[len(bad)-1] ^= 0x40
			if _, err := Parse(bad); !errors.Is(err, errChecksum) {
				t.Errorf("corrupted payload: %v", err)
			}
		})
	}
}

// ping moves a batch of 64 packets from a to b, as an engine's packet loop
// would, rebuilding the write batch each time.
type ping struct {
	a, b      *Device
	pkts      [][]byte
	wbufs     [][]byte
	rbufs     [][]byte
	sizes     []int
	tb        testing.TB
	delivered int
}

func newPing(tb testing.TB) *ping {
	p := &ping{tb: tb}
	p.a, p.b = NewPair(Options{})
	for i := range 64 {
		pkt := udp(i)
		buf := make([]byte, offset+tun.DefaultMTU)
		copy(buf[offset:], pkt)
		p.pkts = append(p.pkts, buf[:offset+len(pkt)])
	}
	p.wbufs = make([][]byte, len(p.pkts))
	p.rbufs, p.sizes = readBufs(tun.IdealBatchSize, offset+tun.DefaultMTU)
	return p
}

func (p *ping) run() {
	copy(p.wbufs, p.pkts)
	if _, err := p.a.Write(p.wbufs, offset); err != nil {
		p.tb.Fatal(err)
	}
	for got := 0; got < len(p.pkts); {
		n, err := p.b.Read(p.rbufs, p.sizes, offset)
		if err != nil {
			p.tb.Fatal(err)
		}
		got += n
	}
	p.delivered += len(p.pkts)
}

func TestNoAllocationsPerPacket(t *testing.T) {
	p := newPing(t)
	if allocs := testing.AllocsPerRun(100, p.run); allocs != 0 {
		t.Errorf("%v allocations per batch of %d packets", allocs, len(p.pkts))
	}
}

func BenchmarkPair(b *testing.B) {
	p := newPing(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(p.pkts) * (len(p.pkts[0]) - offset)))
	for b.Loop() {
		p.run()
	}
	b.ReportMetric(float64(p.delivered)/b.Elapsed().Seconds(), "packets/s")
}
