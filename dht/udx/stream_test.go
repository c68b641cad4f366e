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

// streamPair is two connected streams on two instances of one netsim
// network:
//
//	a: instance ua, socket sa 10.0.0.1:1000, stream 1  <->  b: ub, sb 10.0.0.2:2000, stream 2
type streamPair struct {
	n      *netsim.Network
	ua, ub *Instance
	sa, sb *Socket
	a, b   *Stream
}

func newStreamPair(t *testing.T, opts netsim.Options, ao, bo StreamOptions) *streamPair {
	t.Helper()
	p := &streamPair{n: netsim.New(opts), ua: NewInstance(), ub: NewInstance()}
	t.Cleanup(func() { p.n.Close() })
	p.sa = listen(t, p.ua, p.n, "10.0.0.1:1000")
	p.sb = listen(t, p.ub, p.n, "10.0.0.2:2000")
	p.a = newTestStream(t, p.ua, 1, ao)
	p.b = newTestStream(t, p.ub, 2, bo)
	if err := p.a.Connect(p.sa, 2, p.sb.LocalAddrPort()); err != nil {
		t.Fatal(err)
	}
	if err := p.b.Connect(p.sb, 1, p.sa.LocalAddrPort()); err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestStream(t *testing.T, u *Instance, id StreamID, opts StreamOptions) *Stream {
	t.Helper()
	s, err := u.NewStream(id, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Destroy() })
	return s
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// transfer writes data on w then ends it, reads r to EOF, and returns what
// was read.
func transfer(t *testing.T, w, r *Stream, data []byte) []byte {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := w.Write(data)
		if err == nil {
			err = w.CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v after %d bytes", err, len(got))
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	return got
}

func waitDone(t *testing.T, s *Stream, want error) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(time.Minute):
		t.Fatalf("stream %d not done", s.ID())
	}
	if err := s.Err(); !errors.Is(err, want) {
		t.Fatalf("stream %d: Err() = %v, want %v", s.ID(), err, want)
	}
}

func TestStreamEcho(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStreamPair(t, netsim.Options{Delay: 5 * time.Millisecond}, StreamOptions{}, StreamOptions{})
		go func() {
			io.Copy(p.b, p.b)
			p.b.CloseWrite()
		}()
		msg := []byte("hello, udx")
		got := transfer(t, p.a, p.a, msg)
		if !bytes.Equal(got, msg) {
			t.Fatalf("echo: got %q, want %q", got, msg)
		}
		waitDone(t, p.a, nil)
		waitDone(t, p.b, nil)
		if st := p.a.Stats(); st.SRTT != 10*time.Millisecond || st.Retransmits != 0 {
			t.Errorf("stats %+v: want srtt 10ms and no retransmits", st)
		}
	})
}

func TestStreamBulk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStreamPair(t, netsim.Options{Delay: 10 * time.Millisecond, QueueLen: 4096}, StreamOptions{}, StreamOptions{})
		data := randomBytes(1, 5<<20)
		start := time.Now()
		got := transfer(t, p.a, p.b, data)
		elapsed := time.Since(start)
		if !bytes.Equal(got, data) {
			t.Fatalf("received %d bytes, want %d, or they differ", len(got), len(data))
		}
		p.b.CloseWrite()
		waitDone(t, p.a, nil)
		waitDone(t, p.b, nil)
		t.Logf("5 MiB in %v virtual (%.0f MB/s at 20 ms RTT), %+v",
			elapsed, float64(len(data))/elapsed.Seconds()/1e6, p.a.Stats())
	})
}

func TestStreamBulkLossy(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		synctest.Test(t, func(t *testing.T) {
			opts := netsim.Options{Delay: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.02, Seed: seed}
			p := newStreamPair(t, opts, StreamOptions{}, StreamOptions{})
			ab, ba := randomBytes(seed, 1<<20), randomBytes(seed+100, 300<<10)
			var wg sync.WaitGroup
			var gotBA []byte
			wg.Go(func() { gotBA = transfer(t, p.b, p.a, ba) })
			gotAB := transfer(t, p.a, p.b, ab)
			wg.Wait()
			if !bytes.Equal(gotAB, ab) || !bytes.Equal(gotBA, ba) {
				t.Fatalf("seed %d: data corrupted (%d/%d and %d/%d bytes)", seed, len(gotAB), len(ab), len(gotBA), len(ba))
			}
			// With 2% loss the last ack of the close can be lost; lingering
			// re-acks the retransmitted END, so both close cleanly.
			waitDone(t, p.a, nil)
			waitDone(t, p.b, nil)
			st := p.a.Stats()
			if st.Retransmits == 0 {
				t.Errorf("seed %d: no retransmissions with 2%% loss: %+v", seed, st)
			}
			t.Logf("seed %d: a %+v", seed, st)
		})
	}
}

func TestStreamHalfClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStreamPair(t, netsim.Options{Delay: time.Millisecond}, StreamOptions{}, StreamOptions{})
		if _, err := p.a.Write([]byte("from a")); err != nil {
			t.Fatal(err)
		}
		if err := p.a.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if _, err := p.a.Write([]byte("x")); !errors.Is(err, ErrWriteAfterEnd) {
			t.Fatalf("write after CloseWrite: %v", err)
		}
		if got, err := io.ReadAll(p.b); err != nil || string(got) != "from a" {
			t.Fatalf("b read %q, %v", got, err)
		}
		synctest.Wait()
		select {
		case <-p.a.Done():
			t.Fatal("a closed while b's direction is open")
		default:
		}
		// b's direction still works after a ended.
		for i := range 3 {
			if _, err := p.b.Write(bytes.Repeat([]byte{byte(i)}, 3000)); err != nil {
				t.Fatal(err)
			}
		}
		p.b.CloseWrite()
		got, err := io.ReadAll(p.a)
		if err != nil || len(got) != 9000 || got[8999] != 2 {
			t.Fatalf("a read %d bytes, %v", len(got), err)
		}
		waitDone(t, p.a, nil)
		waitDone(t, p.b, nil)
		if _, err := p.a.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read after clean close: %v, want EOF", err)
		}
	})
}

func TestStreamDestroy(t *testing.T) {
	for _, name := range []string{"a", "b"} {
		t.Run("by "+name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newStreamPair(t, netsim.Options{Delay: time.Millisecond}, StreamOptions{}, StreamOptions{})
				x, y := p.a, p.b
				if name == "b" {
					x, y = y, x
				}
				x.Write([]byte("some data"))
				buf := make([]byte, 100)
				if n, err := y.Read(buf); err != nil || string(buf[:n]) != "some data" {
					t.Fatalf("read %q, %v", buf[:n], err)
				}
				readErr := make(chan error, 1)
				go func() {
					_, err := y.Read(buf)
					readErr <- err
				}()
				synctest.Wait()
				if err := x.Close(); err != nil {
					t.Fatal(err)
				}
				if err := <-readErr; !errors.Is(err, ErrReset) {
					t.Fatalf("peer read after destroy: %v, want ErrReset", err)
				}
				waitDone(t, y, ErrReset)
				waitDone(t, x, nil)
				if _, err := x.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
					t.Fatalf("write after Close: %v", err)
				}
				if _, err := y.Write([]byte("x")); !errors.Is(err, ErrReset) {
					t.Fatalf("write after reset: %v", err)
				}
				// Both ids are free again.
				if s, err := p.ua.NewStream(1, StreamOptions{}); err != nil {
					t.Fatalf("id 1 not released: %v", err)
				} else {
					s.Destroy()
				}
			})
		})
	}
}

// A peer that vanishes with data in flight: RTO at 1, 3, 5, 7, 9 and 11 s,
// then ErrTimeout at 13 s (udx.md §3.5).
func TestStreamTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStreamPair(t, netsim.Options{Delay: time.Millisecond}, StreamOptions{}, StreamOptions{})
		transferTimes := []time.Time{}
		var mu sync.Mutex
		start := time.Now()
		p.n.SetFilter(func(from, to netip.AddrPort, b []byte) bool {
			if from == p.sa.LocalAddrPort() {
				mu.Lock()
				transferTimes = append(transferTimes, time.Now())
				mu.Unlock()
			}
			return from != p.sb.LocalAddrPort() // b says nothing
		})
		if _, err := p.a.Write([]byte("anyone there?")); err != nil {
			t.Fatal(err)
		}
		_, err := p.a.Read(make([]byte, 1))
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("read: %v, want ErrTimeout", err)
		}
		if d := time.Since(start); d != 13*time.Second {
			t.Errorf("timed out after %v, want 13s", d)
		}
		waitDone(t, p.a, ErrTimeout)
		var got []time.Duration
		for _, at := range transferTimes {
			got = append(got, at.Sub(start))
		}
		want := []time.Duration{0, time.Second, 3 * time.Second, 5 * time.Second, 7 * time.Second, 9 * time.Second, 11 * time.Second}
		if len(got) != len(want) {
			t.Fatalf("a sent at %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("a sent at %v, want %v", got, want)
			}
		}
		// The seventh expiry fails the stream and, as in libudx, is counted.
		if st := p.a.Stats(); st.RTOCount != 7 || st.Retransmits != 6 {
			t.Errorf("stats %+v, want 7 RTOs and 6 retransmits", st)
		}
	})
}

func TestStreamMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		got := map[StreamID][]string{}
		onMsg := func(id StreamID) func([]byte) {
			return func(b []byte) {
				mu.Lock()
				got[id] = append(got[id], string(b))
				mu.Unlock()
			}
		}
		u := NewInstance()
		s := newTestStream(t, u, 9, StreamOptions{})
		if err := s.Send([]byte("x")); !errors.Is(err, ErrNotConnected) {
			t.Fatalf("send before connect: %v", err)
		}
		p := newStreamPair(t, netsim.Options{Delay: time.Millisecond},
			StreamOptions{OnMessage: onMsg(1)}, StreamOptions{OnMessage: onMsg(2)})
		for _, m := range []string{"ping", "", string(make([]byte, 1152))} {
			if err := p.a.Send([]byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.b.TrySend([]byte("pong")); err != nil {
			t.Fatal(err)
		}
		if err := p.a.Send(make([]byte, 1153)); !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("send 1153 bytes: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(got[2]) != 3 || got[2][0] != "ping" || got[2][1] != "" || len(got[2][2]) != 1152 {
			t.Errorf("b got %d messages: %q", len(got[2]), got[2][:min(2, len(got[2]))])
		}
		if len(got[1]) != 1 || got[1][0] != "pong" {
			t.Errorf("a got %q", got[1])
		}
	})
}

// rawPeer is a socket with no streams, for talking to a stream by hand.
func rawPeer(t *testing.T, n *netsim.Network, addr string) *Socket {
	t.Helper()
	return listen(t, NewInstance(), n, addr)
}

func expectPacket(t *testing.T, s *Socket) (Header, []byte) {
	t.Helper()
	b, _ := read(t, s)
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatalf("not a UDX packet: %x", b)
	}
	return h, b[HeaderSize:]
}

func expectNothing(t *testing.T, s *Socket) {
	t.Helper()
	s.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := s.ReadFromUDPAddrPort(make([]byte, MaxDatagram)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %d bytes (%v), want nothing", n, err)
	}
}

func sendRaw(t *testing.T, from *Socket, to *Socket, h Header, payload []byte) {
	t.Helper()
	b := append(h.Append(nil), payload...)
	if _, err := from.WriteToUDPAddrPort(b, to.LocalAddrPort()); err != nil {
		t.Fatal(err)
	}
}

// The receiver algorithm of udx.md §3.2, replayed from a raw peer: one ack
// per DATA packet with the SACK blocks of the held runs, duplicates re-acked,
// heartbeats answered, messages and pure acks not acked.
func TestStreamReceiverTable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{})
		defer n.Close()
		u := NewInstance()
		sock := listen(t, u, n, "10.0.0.1:1000")
		raw := rawPeer(t, n, "10.0.0.2:2000")
		var msgs []string
		s := newTestStream(t, u, 0x0a0a0a0a, StreamOptions{OnMessage: func(b []byte) { msgs = append(msgs, string(b)) }})
		if err := s.Connect(sock, 0x0b0b0b0b, raw.LocalAddrPort()); err != nil {
			t.Fatal(err)
		}
		data := func(seq Seq, p string) Header {
			return Header{Type: TypeData, ID: 0x0a0a0a0a, RWnd: recvWindow, Seq: seq}
		}
		steps := []struct {
			h       Header
			payload string
			ack     Seq
			sacks   []SACKBlock
			noReply bool
		}{
			{h: data(0, "a"), payload: "a", ack: 1},
			{h: data(2, ""), payload: "d", ack: 1, sacks: []SACKBlock{{2, 3}}},
			{h: data(4, ""), payload: "f", ack: 1, sacks: []SACKBlock{{2, 3}, {4, 5}}},
			{h: data(6, ""), payload: "h", ack: 1, sacks: []SACKBlock{{2, 3}, {4, 5}, {6, 7}}},
			{h: data(2, ""), payload: "X", ack: 1, sacks: []SACKBlock{{2, 3}, {4, 5}, {6, 7}}},
			{h: data(1, ""), payload: "bc", ack: 3, sacks: []SACKBlock{{4, 5}, {6, 7}}},
			{h: data(0, ""), payload: "a", ack: 3, sacks: []SACKBlock{{4, 5}, {6, 7}}},
			{h: Header{Type: TypeHeartbeat, ID: 0x0a0a0a0a}, ack: 3, sacks: []SACKBlock{{4, 5}, {6, 7}}},
			{h: Header{Type: TypeMessage, ID: 0x0a0a0a0a, RWnd: recvWindow}, payload: "msg", noReply: true},
			{h: Header{ID: 0x0a0a0a0a, RWnd: recvWindow}, noReply: true},
			{h: Header{Type: TypeData, DataOffset: 200, ID: 0x0a0a0a0a, RWnd: recvWindow, Seq: 3}, payload: "e", noReply: true},
			{h: Header{Type: TypeData, DataOffset: 2, ID: 0x0a0a0a0a, RWnd: recvWindow, Seq: 3}, payload: "\x00\x00e", ack: 5, sacks: []SACKBlock{{6, 7}}},
			{h: data(5, ""), payload: "g", ack: 7},
			{h: data(8, ""), payload: "j", ack: 7, sacks: []SACKBlock{{8, 9}}},
			{h: Header{Type: TypeEnd, ID: 0x0a0a0a0a, RWnd: recvWindow, Seq: 7}, ack: 8},
		}
		for i, st := range steps {
			sendRaw(t, raw, sock, st.h, []byte(st.payload))
			if st.noReply {
				expectNothing(t, raw)
				continue
			}
			h, body := expectPacket(t, raw)
			sacks := ParseSACK(h, body, nil)
			if h.ID != 0x0b0b0b0b || h.Ack != st.ack || len(sacks) != len(st.sacks) || h.Type&^TypeSACK != 0 || h.RWnd == 0 {
				t.Fatalf("step %d (%v seq %d): reply %v ack %d sacks %v, want ack %d sacks %v", i, st.h.Type, st.h.Seq, h.Type, h.Ack, sacks, st.ack, st.sacks)
			}
			for j := range sacks {
				if sacks[j] != st.sacks[j] {
					t.Fatalf("step %d: sacks %v, want %v", i, sacks, st.sacks)
				}
			}
		}
		got, err := io.ReadAll(s)
		if err != nil || string(got) != "abcdefgh" {
			t.Fatalf("read %q, %v", got, err)
		}
		if len(msgs) != 1 || msgs[0] != "msg" {
			t.Fatalf("messages %q", msgs)
		}
		// A stale DESTROY is ignored; a current one resets the stream.
		sendRaw(t, raw, sock, Header{Type: TypeDestroy, ID: 0x0a0a0a0a, Seq: 3}, nil)
		synctest.Wait()
		if s.Err() != nil {
			t.Fatalf("stale DESTROY honoured: %v", s.Err())
		}
	})
}

func TestStreamDestroySeq(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{})
		defer n.Close()
		u := NewInstance()
		sock := listen(t, u, n, "10.0.0.1:1000")
		raw := rawPeer(t, n, "10.0.0.2:2000")
		s := newTestStream(t, u, 5, StreamOptions{})
		s.Connect(sock, 6, raw.LocalAddrPort())
		sendRaw(t, raw, sock, Header{Type: TypeData, ID: 5, Seq: 0}, []byte("x"))
		expectPacket(t, raw)
		sendRaw(t, raw, sock, Header{Type: TypeDestroy, ID: 5, Seq: 0}, nil) // seq 0 < ack 1: stale
		synctest.Wait()
		if s.Err() != nil {
			t.Fatal("stale DESTROY honoured")
		}
		sendRaw(t, raw, sock, Header{Type: TypeDestroy, ID: 5, Seq: 1}, nil)
		waitDone(t, s, ErrReset)
		expectNothing(t, raw) // DESTROY is not acked
		// The id is gone: a packet for it is a plain datagram now.
		sendRaw(t, raw, sock, Header{Type: TypeData, ID: 5, Seq: 1}, []byte("y"))
		if b, _ := read(t, sock); len(b) != HeaderSize+1 {
			t.Fatalf("plain datagram %x", b)
		}
	})
}

// The firewall sees packets from other sockets and before Connect; an
// accept without connect delivers data and defers the ack (udx.md §2.2).
func TestStreamFirewall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{})
		defer n.Close()
		u := NewInstance()
		sock := listen(t, u, n, "10.0.0.1:1000")
		raw := rawPeer(t, n, "10.0.0.2:2000")
		reject := newTestStream(t, u, 1, StreamOptions{})
		sendRaw(t, raw, sock, Header{Type: TypeData, ID: 1}, []byte("dropped"))
		synctest.Wait()
		if reject.c.rcv.nxt != 0 {
			t.Fatal("nil firewall accepted a packet")
		}
		var calls int
		var s *Stream
		s = newTestStream(t, u, 2, StreamOptions{Firewall: func(st *Stream, from *Socket, addr netip.AddrPort) bool {
			calls++
			if st != s || from != sock || addr != raw.LocalAddrPort() {
				t.Errorf("firewall(%p, %v, %v)", st, from, addr)
			}
			if calls == 2 {
				if err := st.Connect(from, 7, addr); err != nil {
					t.Error(err)
				}
			}
			return true
		}})
		sendRaw(t, raw, sock, Header{Type: TypeData, ID: 2, Seq: 0}, []byte("first "))
		expectNothing(t, raw) // accepted, ack deferred
		sendRaw(t, raw, sock, Header{Type: TypeData, ID: 2, Seq: 1}, []byte("second"))
		for _, want := range []Seq{1, 2} { // the deferred ack, then this packet's
			h, _ := expectPacket(t, raw)
			if h.ID != 7 || h.Ack != want {
				t.Fatalf("ack %+v, want id 7 ack %d", h, want)
			}
		}
		sendRaw(t, raw, sock, Header{Type: TypeData, ID: 2, Seq: 2}, []byte("!"))
		expectPacket(t, raw)
		if calls != 2 {
			t.Fatalf("firewall called %d times, want 2 (not for the stream's own socket)", calls)
		}
		buf := make([]byte, 100)
		if n, _ := s.Read(buf); string(buf[:n]) != "first second!" {
			t.Fatalf("read %q", buf[:n])
		}
		if err := s.Connect(sock, 7, raw.LocalAddrPort()); !errors.Is(err, ErrAlreadyConnected) {
			t.Fatalf("second connect: %v", err)
		}
		if _, err := u.NewStream(2, StreamOptions{}); !errors.Is(err, ErrStreamIDTaken) {
			t.Fatalf("duplicate id: %v", err)
		}
	})
}

// Mid-transfer, a moves to a new socket of b's instance; b follows through
// its firewall, as hyperdht does when a relayed connection goes direct.
func TestStreamChangeRemote(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p *streamPair
		var sb2 *Socket
		moved := false
		fw := func(s *Stream, sock *Socket, from netip.AddrPort) bool {
			if sock == sb2 && !moved {
				moved = true
				if err := s.ChangeRemote(sock, 1, from); err != nil {
					t.Error(err)
				}
			}
			return true
		}
		p = newStreamPair(t, netsim.Options{Delay: 10 * time.Millisecond}, StreamOptions{}, StreamOptions{Firewall: fw})
		sb2 = listen(t, p.ub, p.n, "10.0.0.3:3000")
		data := randomBytes(7, 2<<20)
		go func() {
			p.a.Write(data[:1<<20])
			if err := p.a.ChangeRemote(p.sa, 2, sb2.LocalAddrPort()); err != nil {
				t.Error(err)
			}
			p.a.Write(data[1<<20:])
			p.a.CloseWrite()
		}()
		got, err := io.ReadAll(p.b)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
		if !moved {
			t.Fatal("b never saw traffic on the new socket")
		}
		p.b.CloseWrite()
		waitDone(t, p.a, nil)
		waitDone(t, p.b, nil)
	})
}

func TestStreamReadDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStreamPair(t, netsim.Options{}, StreamOptions{}, StreamOptions{})
		start := time.Now()
		p.a.SetReadDeadline(start.Add(time.Second))
		if _, err := p.a.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != time.Second {
			t.Fatalf("read: %v after %v", err, time.Since(start))
		}
		p.a.SetReadDeadline(time.Time{})
		errc := make(chan error, 1)
		go func() {
			_, err := p.a.Read(make([]byte, 1))
			errc <- err
		}()
		synctest.Wait()
		p.a.Close()
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after Close: %v", err)
		}
	})
}

// A Write larger than the send buffer blocks until the peer acks.
func TestStreamWriteBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStreamPair(t, netsim.Options{Delay: 50 * time.Millisecond}, StreamOptions{}, StreamOptions{})
		p.a.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
		n, err := p.a.Write(make([]byte, 1<<20))
		if !errors.Is(err, os.ErrDeadlineExceeded) || n == 0 || n >= 1<<20 {
			t.Fatalf("write: %d, %v; want a partial write and a deadline error", n, err)
		}
	})
}

// TestStreamNudge: a's first packet is lost (a relay that did not know b yet); once a packet
// of b arrived, Nudge resends it at once instead of at the 1 s retransmission timeout. Once
// something was acknowledged, Nudge does nothing.
func TestStreamNudge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newStreamPair(t, netsim.Options{Delay: 10 * time.Millisecond}, StreamOptions{}, StreamOptions{})
		var mu sync.Mutex
		dropped, fromA := false, 0
		p.n.SetFilter(func(from, to netip.AddrPort, b []byte) bool {
			mu.Lock()
			defer mu.Unlock()
			if from == p.sa.LocalAddrPort() {
				fromA++
				if !dropped {
					dropped = true
					return false
				}
			}
			return true
		})
		start := time.Now()
		if _, err := p.a.Write([]byte("header")); err != nil {
			t.Fatal(err)
		}
		if _, err := p.b.Write([]byte("theirs")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 6)
		if _, err := io.ReadFull(p.a, got); err != nil {
			t.Fatal(err)
		}
		p.a.Nudge()
		if _, err := io.ReadFull(p.b, got); err != nil || string(got) != "header" {
			t.Fatalf("b read %q, %v", got, err)
		}
		if d := time.Since(start); d >= 100*time.Millisecond {
			t.Errorf("b got a's first packet after %v, want about two one-way delays", d)
		}
		time.Sleep(100 * time.Millisecond) // the ack comes back
		mu.Lock()
		before := fromA
		mu.Unlock()
		p.a.Nudge()
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if fromA != before {
			t.Errorf("Nudge after an ack sent %d packets", fromA-before)
		}
	})
}
