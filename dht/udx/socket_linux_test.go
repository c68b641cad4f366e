//go:build linux

package udx

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Real sockets on the batched path get libudx's PMTU mode: DF on, path-MTU cache ignored.
func TestSocketProbeMTUMode(t *testing.T) {
	pc, err := NewInstance().ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := pc.(*Socket)
	defer s.Close()
	if s.batch == nil {
		t.Skip("no batched path on this kernel")
	}
	var mode int
	var gerr error
	if err := s.batch.rc.Control(func(fd uintptr) {
		mode, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if mode != unix.IP_PMTUDISC_PROBE {
		t.Fatalf("IP_MTU_DISCOVER = %d, want IP_PMTUDISC_PROBE (%d)", mode, unix.IP_PMTUDISC_PROBE)
	}
}

// A batch of datagrams leaves a real socket whole and in order: runs of equal sizes to one
// address (sent as one GSO message where the kernel can), a shorter one closing a run,
// other destinations and sizes in between.
func TestSocketBatchOrderRealUDP(t *testing.T) {
	for _, network := range []string{"udp4", "udp"} {
		t.Run(network, func(t *testing.T) {
			laddr := "127.0.0.1:0"
			if network == "udp" {
				laddr = ":0" // dual-stack: IPv4 destinations are v4-mapped
			}
			pc, err := NewInstance().ListenPacket(network, laddr)
			if err != nil {
				t.Skip("no loopback UDP:", err)
			}
			s := pc.(*Socket)
			defer s.Close()
			if s.q == nil {
				t.Skip("no batched path on this kernel")
			}
			var peers [2]*net.UDPConn
			for i := range peers {
				peers[i], err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					t.Fatal(err)
				}
				defer peers[i].Close()
				peers[i].SetReadBuffer(1 << 20)
			}
			// Per datagram: size and peer. 64 datagrams, one full batch.
			type dg struct{ size, peer int }
			var plan []dg
			for range 20 {
				plan = append(plan, dg{1172, 0})
			}
			plan = append(plan, dg{300, 0}, dg{1172, 1}, dg{1172, 1}, dg{40, 0}, dg{40, 0})
			for range 30 {
				plan = append(plan, dg{1452, 0})
			}
			plan = append(plan, dg{1452, 1}, dg{1000, 0}, dg{1000, 0}, dg{1000, 1}, dg{20, 0}, dg{1500, 0}, dg{1500, 0}, dg{1500, 0}, dg{1500, 0})
			for round := range 3 {
				s.q.cork()
				for i, d := range plan {
					to := peers[d.peer].LocalAddr().(*net.UDPAddr).AddrPort()
					if _, err := s.WriteToUDPAddrPort(numbered(round<<16|i, d.size), to); err != nil {
						t.Fatal(err)
					}
				}
				s.q.release()
				next := [2]int{}
				buf := make([]byte, 2048)
				for i, d := range plan {
					peers[d.peer].SetReadDeadline(time.Now().Add(5 * time.Second))
					n, err := peers[d.peer].Read(buf)
					if err != nil {
						t.Fatalf("round %d: peer %d after %d datagrams: %v", round, d.peer, next[d.peer], err)
					}
					if n != d.size || binary.LittleEndian.Uint32(buf) != uint32(round<<16|i) {
						t.Fatalf("round %d: peer %d got %d bytes numbered %#x, want datagram %d (%d bytes)", round, d.peer, n, binary.LittleEndian.Uint32(buf), i, d.size)
					}
					next[d.peer]++
				}
			}
			t.Logf("gso %v", s.batch.gso)
		})
	}
}

// The kernel's route MTU: loopback's is far above MTUMax (65536 on Linux), so probing goes up
// to MTUMax there, as libudx's strace shows (udx.md §5.1); real UDP sockets use it.
func TestRouteMTULoopback(t *testing.T) {
	if mtu := routeMTU(netip.MustParseAddrPort("127.0.0.1:9")); mtu < MTUMax {
		t.Fatalf("route MTU to 127.0.0.1: %d, want at least %d", mtu, MTUMax)
	}
	if mtu := routeMTU(netip.MustParseAddrPort("[::ffff:127.0.0.1]:9")); mtu < MTUMax {
		t.Fatalf("route MTU to v4-mapped 127.0.0.1: %d, want at least %d", mtu, MTUMax)
	}
	if mtu := routeMTU(netip.MustParseAddrPort("[::1]:9")); mtu != 0 && mtu < MTUMax {
		t.Fatalf("route MTU to ::1: %d, want 0 (no IPv6) or at least %d", mtu, MTUMax)
	}
	pc, err := NewInstance().ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if got := pc.(*Socket).pathMTU(netip.MustParseAddrPort("127.0.0.1:9")); got < MTUMax {
		t.Fatalf("a real socket's route MTU to 127.0.0.1: %d", got)
	}
}

// A socket reads a few datagrams per recvmmsg until reads come back full, then more, up to
// batchLen: an idle socket keeps a small receive buffer. Every datagram arrives either way.
func TestSocketRecvSlotsGrow(t *testing.T) {
	pc, err := NewInstance().ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := pc.(*Socket)
	if s.batch == nil {
		s.Close()
		t.Skip("no batched path on this kernel")
	}
	s.SetReadBuffer(1 << 20)
	raw, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// Bursts that fit the default socket buffer and the plain queue, each read back before
	// the next, until a read came back full (the read goroutine can keep up with a burst
	// when the machine is busy).
	const burst = 128
	buf := make([]byte, 64)
	bursts := 0
	for ; bursts < 4 || s.batch.grows.Load() == 0; bursts++ {
		if bursts == 200 {
			t.Fatalf("%d bursts of %d datagrams and no read came back full", bursts, burst)
		}
		for i := range burst {
			if _, err := raw.WriteToUDPAddrPort(numbered(bursts*burst+i, 40), s.LocalAddrPort()); err != nil {
				t.Fatal(err)
			}
		}
		for i := range burst {
			s.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := s.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("burst %d: datagram %d: %v", bursts, i, err)
			}
			if got := binary.LittleEndian.Uint32(buf[:n]); got != uint32(bursts*burst+i) {
				t.Fatalf("burst %d: got datagram %d, want %d", bursts, got, bursts*burst+i)
			}
		}
	}
	s.Close() // the read goroutine has exited: its state can be looked at
	if s.batch.rslots <= recvSlotsMin && !s.batch.gro.Load() || len(s.batch.rbuf) != s.batch.rslots*s.batch.rsize {
		t.Errorf("after %d datagrams in bursts: %d slots, %d buffer bytes; want more than %d slots", bursts*burst, s.batch.rslots, len(s.batch.rbuf), recvSlotsMin)
	}
}

// Stream.Cork holds a stream's messages in the socket's send queue until Uncork, which
// sends them together (one sendmmsg, one GSO message for equal sizes); the receiver's
// batch-end function follows the messages of each read.
func TestStreamCorkAndBatchEndRealUDP(t *testing.T) {
	ia, ib := NewInstance(), NewInstance()
	pa, err := ia.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Skip("no loopback UDP:", err)
	}
	pb, _ := ib.ListenPacket("udp4", "127.0.0.1:0")
	sa, sb := pa.(*Socket), pb.(*Socket)
	defer sa.Close()
	defer sb.Close()
	if sa.q == nil || sb.batch == nil {
		t.Skip("no batched path on this kernel")
	}
	sb.SetReadBuffer(1 << 20)
	var mu sync.Mutex
	got, inBatch, ends := 0, 0, 0
	a, _ := ia.NewStream(1, StreamOptions{})
	c, _ := ib.NewStream(2, StreamOptions{OnMessage: func([]byte) {
		mu.Lock()
		got++
		inBatch++
		mu.Unlock()
	}})
	defer a.Destroy()
	defer c.Destroy()
	c.SetMessageBatchEnd(func() {
		mu.Lock()
		defer mu.Unlock()
		if inBatch == 0 {
			t.Error("batch end without a message")
		}
		inBatch = 0
		ends++
	})
	a.Connect(sa, 2, sb.LocalAddrPort())
	c.Connect(sb, 1, sa.LocalAddrPort())
	counts := func() (int, int, int) {
		mu.Lock()
		defer mu.Unlock()
		return got, inBatch, ends
	}
	const n = 20
	a.Cork()
	a.Cork()
	for range n {
		if err := a.Send(make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	a.Uncork()
	time.Sleep(50 * time.Millisecond)
	if g, _, _ := counts(); g != 0 {
		t.Fatalf("%d messages arrived while corked", g)
	}
	a.Uncork()
	a.Uncork() // an extra one is ignored
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if g, b, _ := counts(); g == n && b == 0 {
			break
		}
	}
	g, b, e := counts()
	if g != n || b != 0 || e == 0 || e > n {
		t.Fatalf("%d messages, %d after the last batch end, %d batch ends; want %d, 0, 1..%d", g, b, e, n, n)
	}
	t.Logf("%d messages in %d reads", g, e)
}

// A busy socket turns UDP_GRO on (after reads that fill batchLen slots) and then takes a
// sender's UDP_SEGMENT sends whole, as one message per send; it still hands out every
// datagram on its own and in order: equal sizes, a shorter last one, a single datagram, an
// empty one.
func TestSocketGRORealUDP(t *testing.T) {
	t.Run("udp4", func(t *testing.T) { testSocketGRO(t, "udp4", net.IPv4(127, 0, 0, 1)) })
	t.Run("udp6", func(t *testing.T) { testSocketGRO(t, "udp6", net.IPv6loopback) })
}

func testSocketGRO(t *testing.T, network string, ip net.IP) {
	pc, err := NewInstance().ListenPacket(network, net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Skipf("no %s loopback: %v", network, err)
	}
	s := pc.(*Socket)
	if s.batch == nil || !s.batch.groOK || !s.batch.gso {
		s.Close()
		t.Skip("no UDP_GRO or UDP_SEGMENT on this kernel")
	}
	s.SetReadBuffer(4 << 20)
	raw, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetWriteBuffer(4 << 20)
	to := s.LocalAddrPort()
	next := 0
	buf := make([]byte, 2048)
	readBack := func(sizes ...int) {
		t.Helper()
		for _, size := range sizes {
			s.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := s.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("datagram %d: %v", next, err)
			}
			if n != size || (n >= 4 && binary.LittleEndian.Uint32(buf) != uint32(next)) {
				t.Fatalf("got %d bytes numbered %d, want datagram %d of %d bytes", n, binary.LittleEndian.Uint32(buf[:max(n, 4)]), next, size)
			}
			next++
		}
	}
	// Bursts of plain datagrams, bigger than a read, until the socket turns GRO on.
	for k := 0; !s.batch.gro.Load(); k++ {
		if k == 100 {
			t.Fatal("100 bursts of 256 datagrams and UDP_GRO still off")
		}
		var sizes []int
		for range 256 {
			if _, err := raw.WriteToUDPAddrPort(numbered(next+len(sizes), 100), to); err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, 100)
		}
		readBack(sizes...)
	}
	// UDP_SEGMENT sends: one buffer of segments, all of seg bytes but the last.
	gsoSend := func(seg int, sizes []int) error {
		t.Helper()
		var b []byte
		for i, size := range sizes {
			d := make([]byte, size)
			if size >= 4 {
				binary.LittleEndian.PutUint32(d, uint32(next+i))
			}
			b = append(b, d...)
		}
		var c cmsgBuf
		_, _, err := raw.WriteMsgUDPAddrPort(b, c.putSegment(seg), to)
		return err
	}
	for range 20 {
		sizes := make([]int, 40)
		for i := range sizes {
			sizes[i] = 1452
		}
		if err := gsoSend(1452, sizes); err != nil {
			t.Fatal(err)
		}
		readBack(sizes...)
		sizes = []int{1000, 1000, 1000, 17}
		if err := gsoSend(1000, sizes); err != nil {
			t.Fatal(err)
		}
		readBack(sizes...)
		// More segments than the driver's GRO makes (64): a local send arrives whole with
		// up to the kernel's UDP_MAX_SEGMENTS, 128 since Linux 6.9 (older ones refuse it).
		sizes = make([]int, 100)
		for i := range sizes {
			sizes[i] = 100
		}
		if err := gsoSend(100, sizes); err == nil {
			readBack(sizes...)
		} else if !errors.Is(err, unix.EINVAL) {
			t.Fatal(err)
		}
		if _, err := raw.WriteToUDPAddrPort(numbered(next, 300), to); err != nil {
			t.Fatal(err)
		}
		readBack(300)
		if _, err := raw.WriteToUDPAddrPort(nil, to); err != nil {
			t.Fatal(err)
		}
		readBack(0)
	}
	s.Close() // the read goroutine has exited: its state can be looked at
	if s.batch.rgro == 0 {
		t.Errorf("no read held more than one datagram: the kernel does not coalesce UDP_SEGMENT sends on loopback?")
	}
	t.Logf("%d slots of %d bytes, %d coalesced messages", s.batch.rslots, s.batch.rsize, s.batch.rgro)
}

// A read of several messages of more segments than the driver's GRO makes (a local
// UDP_SEGMENT send arrives whole with up to 128 on Linux 6.9 and later) hands out every
// datagram, in order: batchConn on its own, right after UDP_GRO was turned on (4 slots).
func TestBatchConnGROManySegments(t *testing.T) {
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.SetReadBuffer(1 << 20)
	b := newBatchConn(uc)
	if b == nil || !b.groOK || !b.gso {
		t.Skip("no UDP_GRO or UDP_SEGMENT on this kernel")
	}
	b.enableGRO()
	if !b.gro.Load() {
		t.Fatal("UDP_GRO could not be set")
	}
	raw, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	const sends, segs, size = groSlotsMin, 120, 100
	var c cmsgBuf
	oob := c.putSegment(size)
	for k := range sends {
		buf := make([]byte, segs*size)
		for i := range segs {
			binary.LittleEndian.PutUint32(buf[i*size:], uint32(k*segs+i))
		}
		if _, _, err := raw.WriteMsgUDPAddrPort(buf, oob, uc.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			if errors.Is(err, unix.EINVAL) {
				t.Skip("this kernel sends at most 64 segments at once")
			}
			t.Fatal(err)
		}
	}
	next := 0
	for next < sends*segs {
		uc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := b.readBatch()
		if err != nil {
			t.Fatalf("after %d datagrams: %v", next, err)
		}
		for i := range n {
			d, _ := b.datagram(i)
			if len(d) != size || binary.LittleEndian.Uint32(d) != uint32(next) {
				t.Fatalf("got %d bytes numbered %d, want datagram %d", len(d), binary.LittleEndian.Uint32(d), next)
			}
			next++
		}
	}
	if b.rgro == 0 {
		t.Error("no message held more than one datagram")
	}
}
