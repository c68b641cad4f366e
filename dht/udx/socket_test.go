package udx

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

type recordingStream struct {
	mu   sync.Mutex
	got  []Header
	from []netip.AddrPort
	on   []*Socket
}

func (r *recordingStream) onPacket(s *Socket, h Header, b []byte, from netip.AddrPort) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, h)
	r.from = append(r.from, from)
	r.on = append(r.on, s)
}

func (r *recordingStream) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func listen(t *testing.T, u *Instance, n *netsim.Network, addr string) *Socket {
	t.Helper()
	pc, err := n.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := u.Listen(pc)
	t.Cleanup(func() { s.Close() })
	return s
}

func packet(typ Type, id StreamID, payload string) []byte {
	h := Header{Type: typ, ID: id, RWnd: 4 << 20}
	return append(h.Append(nil), payload...)
}

func read(t *testing.T, s *Socket) ([]byte, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, MaxDatagram)
	s.SetReadDeadline(time.Now().Add(time.Second))
	n, from, err := s.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n], from
}

// Known streams get their packets on any socket of the instance; everything else is a plain
// datagram (udx.md §1.6).
func TestSocketDemux(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{})
		defer n.Close()
		u := NewInstance()
		a := listen(t, u, n, "10.0.0.1:1000")
		b := listen(t, u, n, "10.0.0.1:2000")
		peer := listen(t, NewInstance(), n, "10.0.0.2:3000")
		st := &recordingStream{}
		if !u.register(7, st) {
			t.Fatal("register failed")
		}
		if u.register(7, &recordingStream{}) {
			t.Fatal("duplicate id registered")
		}
		send := func(to *Socket, b []byte) {
			if _, err := peer.WriteToUDPAddrPort(b, to.LocalAddrPort()); err != nil {
				t.Fatal(err)
			}
		}
		send(a, packet(TypeData, 7, "x"))
		send(b, packet(TypeMessage, 7, "y"))
		synctest.Wait()
		// The two sockets' read goroutines run independently: match packets to sockets.
		if st.count() != 2 {
			t.Fatalf("stream got %d packets, want 2", st.count())
		}
		for i, h := range st.got {
			want := a
			if h.Type == TypeMessage {
				want = b
			}
			if st.on[i] != want || st.from[i] != peer.LocalAddrPort() {
				t.Fatalf("%v packet arrived on the wrong socket or from %v", h.Type, st.from[i])
			}
		}
		plain := [][]byte{
			packet(TypeData, 8, "unknown id"),
			{0x03, 0x00, 1, 2, 127, 0, 0, 1, 1, 1, 0}, // a dht-rpc request
			{0x00},                       // a holepunch probe
			packet(TypeData, 7, "")[:19], // 19 bytes starting ff 01
			append([]byte{0xff, 0x02}, packet(TypeData, 7, "")[2:]...), // version 2
		}
		for _, p := range plain {
			send(a, p)
			got, from := read(t, a)
			if !bytes.Equal(got, p) || from != peer.LocalAddrPort() {
				t.Fatalf("plain datagram %x: got %x from %v", p, got, from)
			}
		}
		if st.count() != 2 {
			t.Fatal("a plain datagram reached the stream")
		}
		u.unregister(7, st)
		send(a, packet(TypeData, 7, "after"))
		if got, _ := read(t, a); !bytes.Equal(got, packet(TypeData, 7, "after")) {
			t.Fatalf("packet for an unregistered stream: %x", got)
		}
	})
}

func TestSocketDeadlineAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{})
		defer n.Close()
		s := listen(t, NewInstance(), n, "10.0.0.1:1000")
		start := time.Now()
		s.SetReadDeadline(start.Add(2 * time.Second))
		_, _, err := s.ReadFrom(make([]byte, 10))
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 2*time.Second {
			t.Fatalf("deadline: %v after %v", err, time.Since(start))
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("deadline error %v is not a timeout", err)
		}
		// Moving the deadline wakes a blocked reader.
		s.SetReadDeadline(time.Time{})
		done := make(chan error, 1)
		go func() {
			_, _, err := s.ReadFrom(make([]byte, 10))
			done <- err
		}()
		synctest.Wait()
		s.SetReadDeadline(time.Now().Add(time.Second))
		if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("moved deadline: %v", err)
		}
		s.SetReadDeadline(time.Time{})
		go func() {
			_, _, err := s.ReadFrom(make([]byte, 10))
			done <- err
		}()
		synctest.Wait()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
	})
}

// A reader that does not keep up loses the newest datagrams, never blocks the socket.
func TestSocketPlainQueueBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{QueueLen: 4096})
		defer n.Close()
		s := listen(t, NewInstance(), n, "10.0.0.1:1000")
		peer := listen(t, NewInstance(), n, "10.0.0.2:1000")
		for i := range plainQueueLen + 100 {
			peer.WriteToUDPAddrPort([]byte{byte(i)}, s.LocalAddrPort())
		}
		synctest.Wait()
		if s.Dropped() != 100 {
			t.Fatalf("dropped %d, want 100", s.Dropped())
		}
		got, _ := read(t, s)
		if got[0] != 0 {
			t.Fatalf("first queued datagram %d, want 0", got[0])
		}
	})
}

// TestSocketRealUDP runs a stream over real loopback UDP sockets, so the platform's batched
// path (socket_linux.go) is used where there is one: plain datagrams both ways, an echo, and
// a few MiB in each direction checked byte for byte.
func TestSocketRealUDP(t *testing.T) {
	for _, network := range []string{"udp4", "udp"} {
		t.Run(network, func(t *testing.T) {
			ua, ub := NewInstance(), NewInstance()
			pa, err := ua.ListenPacket(network, "127.0.0.1:0")
			if network == "udp" {
				pa, err = ua.ListenPacket(network, ":0") // dual-stack: IPv4 peers are v4-mapped
			}
			if err != nil {
				t.Skip("no loopback UDP:", err)
			}
			pb, err := ub.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			sa, sb := pa.(*Socket), pb.(*Socket)
			defer sa.Close()
			defer sb.Close()
			sa.SetReadBuffer(1 << 20)
			sb.SetReadBuffer(1 << 20)
			aAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), sa.LocalAddrPort().Port())

			// Plain datagrams (the RPC layer's path) both ways.
			if _, err := sa.WriteToUDPAddrPort([]byte("ping"), sb.LocalAddrPort()); err != nil {
				t.Fatal(err)
			}
			if b, from := read(t, sb); string(b) != "ping" || from != aAddr {
				t.Fatalf("b got %q from %v, want ping from %v", b, from, aAddr)
			}
			if _, err := sb.WriteTo([]byte("pong"), net.UDPAddrFromAddrPort(aAddr)); err != nil {
				t.Fatal(err)
			}
			if b, from := read(t, sa); string(b) != "pong" || from != sb.LocalAddrPort() {
				t.Fatalf("a got %q from %v", b, from)
			}

			a, err := ua.NewStream(1, StreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c, err := ub.NewStream(2, StreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Destroy()
			defer c.Destroy()
			if err := a.Connect(sa, 2, sb.LocalAddrPort()); err != nil {
				t.Fatal(err)
			}
			if err := c.Connect(sb, 1, aAddr); err != nil {
				t.Fatal(err)
			}

			// Echo: c sends back all it reads; a writes n bytes, half-closes, and reads them back.
			const n = 4 << 20
			data := make([]byte, n)
			rng := rand.NewChaCha8([32]byte{7})
			rng.Read(data)
			echoErr := make(chan error, 1)
			go func() {
				_, err := io.Copy(c, c)
				if err == nil {
					err = c.CloseWrite()
				}
				echoErr <- err
			}()
			writeErr := make(chan error, 1)
			go func() {
				for off := 0; off < n; off += 50000 {
					if _, err := a.Write(data[off:min(off+50000, n)]); err != nil {
						writeErr <- err
						return
					}
				}
				writeErr <- a.CloseWrite()
			}()
			a.SetReadDeadline(time.Now().Add(30 * time.Second))
			got, err := io.ReadAll(a)
			if err != nil {
				t.Fatalf("read back: %v after %d bytes", err, len(got))
			}
			if err := <-writeErr; err != nil {
				t.Fatal("write:", err)
			}
			if err := <-echoErr; err != nil {
				t.Fatal("echo:", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("echoed %d bytes, want %d identical ones", len(got), n)
			}
		})
	}
}

// TestSocketBatchOnlyForUDPConn checks that in-memory connections keep the portable path.
func TestSocketBatchOnlyForUDPConn(t *testing.T) {
	s := listen(t, NewInstance(), netsim.New(netsim.Options{}), "10.0.0.1:1")
	if s.batch != nil {
		t.Fatal("a netsim conn got the batched path")
	}
}
