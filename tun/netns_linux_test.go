package tun_test

// Tests against the kernel: each opens TUN devices in network namespaces of
// its own, configures them with package routing, and sends packets through
// them with sockets, ping and TCP. They skip without root
// (HYPERLAN_REQUIRE_NETNS=1 makes that a failure).
//
//	ns a: socket ──▶ hl0 10.99.0.1/24 fd00:99::1/64 ──▶ Device ──▶ test
//	      (the test writes packets from 10.99.0.2 / fd00:99::2 into the Device)
//
// TestNetnsTCPRelay joins two namespaces through their Devices, as the VPN
// engine would:
//
//	ns a: hl0 10.99.0.1 ◀─▶ Device ◀── relay ──▶ Device ◀─▶ hl0 10.99.0.2 :ns b

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/interop"
	"github.com/hyperlan/hyperlan/routing"
	"github.com/hyperlan/hyperlan/tun"
	"github.com/hyperlan/hyperlan/tun/tuntest"
	"golang.org/x/sys/unix"
)

const offset = 16 // what the engine might reserve in front of each packet

var (
	local4, peer4 = netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("10.99.0.2")
	local6, peer6 = netip.MustParseAddr("fd00:99::1"), netip.MustParseAddr("fd00:99::2")
	net4, net6    = netip.MustParsePrefix("10.99.0.0/24"), netip.MustParsePrefix("fd00:99::/64")
)

const wait = 10 * time.Second // for anything the kernel should do at once

// end is a namespace with a Device and a Router on it.
type end struct {
	ns  *interop.Netns
	dev tun.Device
	r   *routing.Router
	rd  *reader // nil unless asked for
}

// openIn opens the device in ns and gives it addr (and the matching IPv6
// address) in the network's prefixes. With read set, a goroutine reads the
// device into end.rd. Cleanup closes the router, then the device.
func openIn(t testing.TB, ns *interop.Netns, opts tun.Options, addr4, addr6 netip.Addr, read bool) *end {
	t.Helper()
	e := &end{ns: ns}
	e.dev, e.r = start(t, ns, opts, routing.Config{
		Addrs:  []netip.Prefix{netip.PrefixFrom(addr4, net4.Bits()), netip.PrefixFrom(addr6, net6.Bits())},
		Routes: []netip.Prefix{net4, net6},
	})
	if read {
		e.rd = startReader(t, e.dev)
	}
	t.Cleanup(func() {
		if err := e.r.Close(); err != nil {
			t.Error(err)
		}
		if err := e.dev.Close(); err != nil {
			t.Error(err)
		}
		if e.rd != nil {
			<-e.rd.done
		}
	})
	return e
}

// start opens a device in ns and a router for it, and applies cfg: what
// hyperlan up does. The caller closes both.
func start(t testing.TB, ns *interop.Netns, opts tun.Options, cfg routing.Config) (tun.Device, *routing.Router) {
	t.Helper()
	var dev tun.Device
	var r *routing.Router
	err := ns.Do(func() (err error) {
		if dev, err = tun.Open(opts); err != nil {
			return err
		}
		if r, err = routing.New(dev.Name(), routing.Options{}); err != nil {
			dev.Close()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Set(cfg); err != nil {
		r.Close()
		dev.Close()
		t.Fatal(err)
	}
	return dev, r
}

// reader copies what a device reads into a channel, until the device closes.
type reader struct {
	pkts chan []byte
	done chan struct{}
}

func startReader(t testing.TB, dev tun.Device) *reader {
	rd := &reader{pkts: make(chan []byte, 4096), done: make(chan struct{})}
	bufs, sizes := readBufs(dev)
	go func() {
		defer close(rd.done)
		for {
			n, err := dev.Read(bufs, sizes, offset)
			for i := range n {
				select {
				case rd.pkts <- bytes.Clone(bufs[i][offset : offset+sizes[i]]):
				default:
					t.Errorf("reader: test not keeping up, packet dropped")
				}
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				t.Errorf("Read: %v", err)
				return
			}
		}
	}()
	return rd
}

// expect returns the first packet that match accepts, skipping others (the
// kernel's IPv6 router solicitations and MLD reports).
func (rd *reader) expect(t testing.TB, what string, match func(tuntest.Packet) bool) tuntest.Packet {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case b := <-rd.pkts:
			p, err := tuntest.Parse(b)
			if err != nil {
				t.Errorf("packet from the device: %v: %x", err, b)
				continue
			}
			if match(p) {
				return p
			}
		case <-timeout:
			t.Fatalf("no %s from the device within %v", what, wait)
		}
	}
}

func readBufs(dev tun.Device) ([][]byte, []int) {
	bufs := make([][]byte, dev.BatchSize())
	for i := range bufs {
		bufs[i] = make([]byte, offset+tun.MaxPacketSize)
	}
	return bufs, make([]int, len(bufs))
}

// write writes pkts to dev in one batch.
func write(t testing.TB, dev tun.Device, pkts ...[]byte) {
	t.Helper()
	bufs := make([][]byte, len(pkts))
	for i, p := range pkts {
		b := make([]byte, offset+len(p), offset+tun.MaxPacketSize)
		copy(b[offset:], p)
		bufs[i] = b
	}
	if n, err := dev.Write(bufs, offset); n != len(pkts) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
}

func listenUDP(t testing.TB, ns *interop.Netns, network, addr string) *net.UDPConn {
	t.Helper()
	pc, err := ns.ListenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.(*net.UDPConn)
}

func variants(t *testing.T, f func(t *testing.T, opts tun.Options)) {
	for _, v := range []struct {
		name string
		opts tun.Options
	}{
		{"offload", tun.Options{Name: "hl0", MTU: 1400}},
		{"nooffload", tun.Options{Name: "hl0", MTU: 1400, NoOffload: true}},
	} {
		t.Run(v.name, func(t *testing.T) { f(t, v.opts) })
	}
}

func TestNetnsDevice(t *testing.T) {
	variants(t, func(t *testing.T, opts tun.Options) {
		e := openIn(t, interop.NewLab(t).Netns("a"), opts, local4, local6, true)
		wantBatch := tun.IdealBatchSize
		if opts.NoOffload {
			wantBatch = 1
		}
		// MTU is read in the device's namespace, not this thread's.
		if e.dev.Name() != "hl0" || e.dev.MTU() != 1400 || e.dev.BatchSize() != wantBatch {
			t.Errorf("Name %q, MTU %d, BatchSize %d; want hl0, 1400, %d", e.dev.Name(), e.dev.MTU(), e.dev.BatchSize(), wantBatch)
		}

		t.Run("udp out", func(t *testing.T) {
			for _, addrs := range [][2]netip.Addr{{local4, peer4}, {local6, peer6}} {
				c := listenUDP(t, e.ns, "udp", netip.AddrPortFrom(addrs[0], 0).String())
				dst := netip.AddrPortFrom(addrs[1], 9000)
				msg := []byte("to the peer at " + dst.String())
				if _, err := c.WriteToUDPAddrPort(msg, dst); err != nil {
					t.Fatal(err)
				}
				p := e.rd.expect(t, "UDP to "+dst.String(), func(p tuntest.Packet) bool {
					return p.Proto == tuntest.ProtoUDP && p.DstPort == 9000 && p.Dst == addrs[1]
				})
				if p.Src != addrs[0] || !bytes.Equal(p.Payload, msg) {
					t.Errorf("got %v -> %v %q", p.Src, p.Dst, p.Payload)
				}
			}
		})

		t.Run("udp in", func(t *testing.T) {
			for _, addrs := range [][2]netip.Addr{{local4, peer4}, {local6, peer6}} {
				c := listenUDP(t, e.ns, "udp", netip.AddrPortFrom(addrs[0], 6000).String())
				src := netip.AddrPortFrom(addrs[1], 5000)
				msg := []byte("from the peer at " + src.String())
				write(t, e.dev, tuntest.UDP(src, netip.AddrPortFrom(addrs[0], 6000), msg))
				c.SetReadDeadline(time.Now().Add(wait))
				buf := make([]byte, 2000)
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatal(err)
				}
				if from != src || !bytes.Equal(buf[:n], msg) {
					t.Errorf("socket got %q from %v", buf[:n], from)
				}
			}
		})

		t.Run("echo", func(t *testing.T) {
			for i, addrs := range [][2]netip.Addr{{peer4, local4}, {peer6, local6}} {
				payload := []byte("are you there?")
				write(t, e.dev, tuntest.EchoRequest(addrs[0], addrs[1], 77, uint16(i), payload))
				p := e.rd.expect(t, "echo reply", func(p tuntest.Packet) bool {
					return p.IsEcho() && !p.IsEchoRequest() && p.ID == 77 && p.Seq == uint16(i)
				})
				if p.Src != addrs[1] || p.Dst != addrs[0] || !bytes.Equal(p.Payload, payload) {
					t.Errorf("reply %v -> %v %q", p.Src, p.Dst, p.Payload)
				}
			}
		})

		t.Run("contract", func(t *testing.T) {
			if _, err := e.dev.Write([][]byte{make([]byte, 100)}, tun.Headroom-1); err == nil {
				t.Error("Write with an offset below Headroom: no error")
			}
		})

		t.Run("mtu follows the interface", func(t *testing.T) {
			e.ns.IP("link", "set", "hl0", "mtu", "1300")
			deadline := time.Now().Add(wait)
			for e.dev.MTU() != 1300 {
				if time.Now().After(deadline) {
					t.Fatalf("MTU %d, want 1300", e.dev.MTU())
				}
				time.Sleep(10 * time.Millisecond) // the kernel's event is asynchronous
			}
		})
	})
}

// TestNetnsPing runs ping inside the namespace; the test answers each echo
// request the device reads by writing the reply.
func TestNetnsPing(t *testing.T) {
	e := openIn(t, interop.NewLab(t).Netns("a"), tun.Options{Name: "hl0"}, local4, local6, true)
	if _, err := exec.LookPath("ping"); err != nil {
		t.Skip("ping not found on PATH")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*wait)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case b := <-e.rd.pkts:
				p, err := tuntest.Parse(b)
				if err != nil || !p.IsEchoRequest() {
					continue
				}
				reply := tuntest.EchoReply(p.Dst, p.Src, p.ID, p.Seq, p.Payload)
				buf := append(make([]byte, offset, offset+len(reply)), reply...)
				if _, err := e.dev.Write([][]byte{buf}, offset); err != nil {
					t.Errorf("Write: %v", err)
				}
			}
		}
	}()
	defer wg.Wait()
	defer cancel()
	for _, dst := range []netip.Addr{peer4, peer6} {
		out, err := e.ns.Run(ctx, "ping", "-c", "3", "-i", "0.2", "-w", "10", dst.String())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "3 received") {
			t.Errorf("ping %v:\n%s", dst, out)
		}
	}
}

// TestNetnsWriteBatch writes 64 UDP datagrams of one flow in one Write: with
// offloads they are coalesced into one super-packet, which the kernel splits
// again for the socket. Every datagram arrives, in order.
func TestNetnsWriteBatch(t *testing.T) {
	variants(t, func(t *testing.T, opts tun.Options) {
		e := openIn(t, interop.NewLab(t).Netns("a"), opts, local4, local6, true)
		for _, addrs := range [][2]netip.Addr{{local4, peer4}, {local6, peer6}} {
			c := listenUDP(t, e.ns, "udp", netip.AddrPortFrom(addrs[0], 6000).String())
			c.SetReadBuffer(4 << 20)
			src, dst := netip.AddrPortFrom(addrs[1], 5000), netip.AddrPortFrom(addrs[0], 6000)
			const count, size = 64, 1000
			var pkts [][]byte
			for i := range count {
				pkts = append(pkts, tuntest.UDP(src, dst, bytes.Repeat([]byte{byte(i)}, size)))
			}
			for written := 0; written < count; written += e.dev.BatchSize() {
				write(t, e.dev, pkts[written:min(count, written+e.dev.BatchSize())]...)
			}
			c.SetReadDeadline(time.Now().Add(wait))
			buf := make([]byte, 2*size)
			for i := range count {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				if from != src || !bytes.Equal(buf[:n], bytes.Repeat([]byte{byte(i)}, size)) {
					t.Fatalf("datagram %d: %d bytes from %v starting %x", i, n, from, buf[:min(n, 4)])
				}
			}
		}
	})
}

// TestNetnsReadSplitsSuperPackets sends 32 UDP segments with one sendmsg
// (UDP_SEGMENT). With offloads, the kernel hands the device one super-packet
// and Read splits it into 32 packets with valid checksums.
func TestNetnsReadSplitsSuperPackets(t *testing.T) {
	variants(t, func(t *testing.T, opts tun.Options) {
		e := openIn(t, interop.NewLab(t).Netns("a"), opts, local4, local6, false)
		for _, addrs := range [][2]netip.Addr{{local4, peer4}, {local6, peer6}} {
			c := listenUDP(t, e.ns, "udp", netip.AddrPortFrom(addrs[0], 0).String())
			const count, size = 32, 1000
			sc, err := c.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			sc.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, size) })
			if err != nil {
				t.Fatalf("UDP_SEGMENT: %v", err)
			}
			msg := make([]byte, count*size)
			for i := range count {
				binary.BigEndian.PutUint32(msg[i*size:], uint32(i))
			}
			dst := netip.AddrPortFrom(addrs[1], 7000)
			if _, err := c.WriteToUDPAddrPort(msg, dst); err != nil {
				t.Fatal(err)
			}

			watchdog := time.AfterFunc(wait, func() { e.dev.Close() })
			bufs, sizes := readBufs(e.dev)
			got, most := 0, 0
			for got < count {
				n, err := e.dev.Read(bufs, sizes, offset)
				if err != nil {
					t.Fatalf("Read after %d segments: %v", got, err)
				}
				seg := 0
				for i := range n {
					p, err := tuntest.Parse(bufs[i][offset : offset+sizes[i]])
					if err != nil {
						t.Fatalf("segment %d: %v", got, err)
					}
					if p.Proto != tuntest.ProtoUDP || p.DstPort != 7000 {
						continue // the kernel's own IPv6 traffic
					}
					if len(p.Payload) != size || binary.BigEndian.Uint32(p.Payload) != uint32(got) {
						t.Fatalf("segment %d: %d bytes, number %d", got, len(p.Payload), binary.BigEndian.Uint32(p.Payload))
					}
					got++
					seg++
				}
				most = max(most, seg)
			}
			watchdog.Stop()
			t.Logf("%v: at most %d segments per Read", dst, most)
			if opts.NoOffload || !kernelAtLeast(6, 2) {
				continue
			}
			if most < 2 {
				t.Errorf("with UDP segmentation offload (Linux 6.2+) no Read returned more than one segment")
			}

			// Fewer buffers than segments: the ones that fit, and an error.
			if _, err := c.WriteToUDPAddrPort(msg, dst); err != nil {
				t.Fatal(err)
			}
			watchdog = time.AfterFunc(wait, func() { e.dev.Close() })
			for {
				n, err := e.dev.Read(bufs[:4], sizes, offset)
				if err == nil {
					continue // the kernel's own IPv6 traffic
				}
				if !errors.Is(err, tun.ErrTooManySegments) || n < 1 || n > 4 {
					t.Fatalf("Read into 4 buffers: %d, %v", n, err)
				}
				if p, err := tuntest.Parse(bufs[0][offset : offset+sizes[0]]); err != nil || p.DstPort != 7000 {
					t.Errorf("first segment: %+v, %v", p, err)
				}
				break
			}
			watchdog.Stop()
		}
	})
}

// kernelAtLeast reports whether the running kernel is major.minor or later.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var ma, mi int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi)
	return ma > major || ma == major && mi >= minor
}

// relay moves packets between two devices as the VPN engine does, until
// both are closed. It counts the reads that returned more than one packet.
func relay(t testing.TB, a, b tun.Device) (wait func() (batches int)) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	batches := 0
	move := func(from, to tun.Device) {
		defer wg.Done()
		bufs, sizes := readBufs(from)
		wbufs := make([][]byte, 0, len(bufs))
		for {
			n, err := from.Read(bufs, sizes, offset)
			if n > 1 {
				mu.Lock()
				batches++
				mu.Unlock()
			}
			wbufs = wbufs[:0]
			for i := range n {
				wbufs = append(wbufs, bufs[i][:offset+sizes[i]])
			}
			if n > 0 {
				if _, werr := to.Write(wbufs, offset); werr != nil && !errors.Is(werr, net.ErrClosed) {
					t.Errorf("relay Write: %v", werr)
				}
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				t.Errorf("relay Read: %v", err)
			}
		}
	}
	wg.Add(2)
	go move(a, b)
	go move(b, a)
	return func() int {
		wg.Wait()
		return batches
	}
}

// TestNetnsTCPRelay sends TCP streams between two namespaces through their
// devices and a relay: segmentation offload on the way in, coalescing on the
// way out, checksums completed by the device.
func TestNetnsTCPRelay(t *testing.T) {
	variants(t, func(t *testing.T, opts tun.Options) {
		lab := interop.NewLab(t)
		a := openIn(t, lab.Netns("a"), opts, local4, local6, false)
		b := openIn(t, lab.Netns("b"), opts, peer4, peer6, false)
		done := relay(t, a.dev, b.dev)
		for _, tc := range []struct {
			dst  netip.Addr
			size int
		}{{peer4, 16 << 20}, {peer6, 4 << 20}} {
			tcpTransfer(t, a.ns, b.ns, netip.AddrPortFrom(tc.dst, 8000), tc.size)
		}
		a.dev.Close()
		b.dev.Close()
		batches := done()
		t.Logf("%d reads returned more than one packet", batches)
		if !opts.NoOffload && batches == 0 {
			t.Error("with TCP segmentation offload no Read returned more than one packet")
		}
	})
}

// tcpTransfer sends size random bytes from a to a listener at dst in b and
// checks that the same bytes arrive.
func tcpTransfer(t *testing.T, a, b *interop.Netns, dst netip.AddrPort, size int) {
	t.Helper()
	var ln net.Listener
	if err := b.Do(func() (err error) { ln, err = net.Listen("tcp", dst.String()); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		sum [32]byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(6 * wait))
		h := sha256.New()
		n, err := io.Copy(h, c)
		got <- result{n: n, sum: [32]byte(h.Sum(nil)), err: err}
	}()
	var c net.Conn
	err := a.Do(func() (err error) {
		c, err = (&net.Dialer{Timeout: wait}).Dial("tcp", dst.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	rand.Read(data)
	c.SetDeadline(time.Now().Add(6 * wait))
	start := time.Now()
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	c.Close()
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.n != int64(size) || r.sum != sha256.Sum256(data) {
		t.Fatalf("%v: %d bytes arrived, want %d (checksum equal: %v)", dst, r.n, size, r.sum == sha256.Sum256(data))
	}
	t.Logf("%v: %d MiB in %v", dst, size>>20, time.Since(start).Round(time.Millisecond))
}

// TestNetnsCloseRemovesEverything: Close ends a blocked Read, and the
// interface goes with its addresses and routes.
func TestNetnsCloseRemovesEverything(t *testing.T) {
	ns := interop.NewLab(t).Netns("a")
	before := runtime.NumGoroutine()
	dev, r := start(t, ns, tun.Options{Name: "hl0"}, routing.Config{
		Addrs:  []netip.Prefix{netip.PrefixFrom(local4, 24)},
		Routes: []netip.Prefix{net4, netip.MustParsePrefix("192.168.50.0/24")},
	})
	readErr := make(chan error)
	go func() {
		bufs, sizes := readBufs(dev)
		for {
			if _, err := dev.Read(bufs, sizes, offset); err != nil {
				readErr <- err
				return
			}
		}
	}()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked Read after Close: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Close did not end a blocked Read")
	}
	if err := dev.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := dev.Write([][]byte{make([]byte, 100)}, offset); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	checkGone(t, ns)
	checkGoroutines(t, before)
}

// TestNetnsCrash: a process that dies leaves nothing when it created the TUN
// itself; on a persistent TUN its routes and addresses stay until the next
// start removes them.
func TestNetnsCrash(t *testing.T) {
	cfg := routing.Config{
		Addrs:  []netip.Prefix{netip.PrefixFrom(local4, 24), netip.PrefixFrom(local6, 64)},
		Routes: []netip.Prefix{net4, net6, netip.MustParsePrefix("192.168.50.0/24")},
	}
	t.Run("own tun", func(t *testing.T) {
		ns := interop.NewLab(t).Netns("a")
		dev, _ := start(t, ns, tun.Options{Name: "hl0"}, cfg)
		dev.Close() // the process dies; its file descriptors close, the Router is not closed
		checkGone(t, ns)
	})

	t.Run("persistent tun", func(t *testing.T) {
		ns := interop.NewLab(t).Netns("a")
		ns.IP("tuntap", "add", "dev", "hl0", "mode", "tun")
		dev, _ := start(t, ns, tun.Options{Name: "hl0"}, cfg)
		dev.Close()
		if routes := ourRoutes(t, ns); len(routes) != 3 {
			t.Fatalf("after the crash: routes %q, want the 3 left behind", routes)
		}
		dev, r := start(t, ns, tun.Options{Name: "hl0"}, cfg) // New removed the leftovers; Set put the same back
		if routes := ourRoutes(t, ns); len(routes) != 3 {
			t.Errorf("after the restart: routes %q, want 3", routes)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		dev.Close()
		if routes := ourRoutes(t, ns); len(routes) != 0 {
			t.Errorf("after Close: routes %q", routes)
		}
		out, err := ns.Run(t.Context(), "ip", "-o", "addr", "show", "dev", "hl0", "scope", "global")
		if err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("addresses after Close: %q %v", out, err)
		}
	})
}

// ourRoutes lists the routes with protocol 104 in ns, in every table.
func ourRoutes(t *testing.T, ns *interop.Netns) []string {
	t.Helper()
	var routes []string
	for _, family := range []string{"-4", "-6"} {
		out, err := ns.Run(t.Context(), "ip", family, "-o", "route", "show", "table", "all", "proto", strconv.Itoa(routing.Protocol))
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, strings.Fields(strings.ReplaceAll(strings.TrimSpace(out), " ", "_"))...)
	}
	return routes
}

// checkGone checks that hl0 and every route of ours are gone from ns.
func checkGone(t *testing.T, ns *interop.Netns) {
	t.Helper()
	if out, err := ns.Run(t.Context(), "ip", "link", "show", "hl0"); err == nil {
		t.Errorf("hl0 still exists:\n%s", out)
	}
	if routes := ourRoutes(t, ns); len(routes) > 0 {
		t.Errorf("routes left: %q", routes)
	}
}

// checkGoroutines waits for the goroutine count to drop back to before.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond) // goroutines end asynchronously
	}
}

// echoLoop writes a batch of echo requests to the kernel's address and reads
// the replies: the device's whole packet path, both ways.
type echoLoop struct {
	dev     tun.Device
	reqs    [][]byte // the requests, each in a buffer of full capacity
	wbufs   [][]byte
	rbufs   [][]byte
	sizes   []int
	packets int
}

func newEchoLoop(t testing.TB) *echoLoop {
	e := openIn(t, interop.NewLab(t).Netns("a"), tun.Options{Name: "hl0"}, local4, local6, false)
	l := &echoLoop{dev: e.dev}
	for i := range 32 {
		req := tuntest.EchoRequest(peer4, local4, 1, uint16(i), make([]byte, 56))
		buf := make([]byte, offset+len(req), offset+tun.MaxPacketSize)
		copy(buf[offset:], req)
		l.reqs = append(l.reqs, buf)
	}
	l.wbufs = make([][]byte, len(l.reqs))
	l.rbufs, l.sizes = readBufs(e.dev)
	return l
}

func (l *echoLoop) run(tb testing.TB) {
	copy(l.wbufs, l.reqs)
	if _, err := l.dev.Write(l.wbufs, offset); err != nil {
		tb.Fatal(err)
	}
	for replies := 0; replies < len(l.reqs); {
		n, err := l.dev.Read(l.rbufs, l.sizes, offset)
		if err != nil {
			tb.Fatal(err)
		}
		for i := range n {
			p := l.rbufs[i][offset:]
			if p[0]>>4 == 4 && p[9] == tuntest.ProtoICMP && p[20] == 0 { // an echo reply
				replies++
			}
		}
	}
	l.packets += 2 * len(l.reqs)
}

func TestNetnsNoAllocationsPerPacket(t *testing.T) {
	l := newEchoLoop(t)
	l.run(t) // the first round sizes what is sized once
	if allocs := testing.AllocsPerRun(50, func() { l.run(t) }); allocs != 0 {
		t.Errorf("%v allocations per round of %d packets each way", allocs, len(l.reqs))
	}
}

func BenchmarkNetnsEcho(b *testing.B) {
	l := newEchoLoop(b)
	b.ReportAllocs()
	for b.Loop() {
		l.run(b)
	}
	b.ReportMetric(float64(l.packets)/b.Elapsed().Seconds(), "packets/s")
}
