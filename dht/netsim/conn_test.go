package netsim_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

func TestSendReceive(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{})
		a := listen(t, n, "10.0.0.1:1000")
		b := listen(t, n, "10.0.0.2:2000")

		// net.PacketConn methods.
		msg := []byte("hello")
		if k, err := a.WriteTo(msg, b.LocalAddr()); err != nil || k != len(msg) {
			t.Fatalf("WriteTo = %d, %v; want %d, nil", k, err, len(msg))
		}
		copy(msg, "XXXXX") // WriteTo copied the buffer
		buf := make([]byte, 100)
		k, from, err := b.ReadFrom(buf)
		if err != nil {
			t.Fatalf("ReadFrom: %v", err)
		}
		if got := string(buf[:k]); got != "hello" {
			t.Errorf("ReadFrom payload = %q, want %q", got, "hello")
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok || ua.String() != "10.0.0.1:1000" {
			t.Errorf("ReadFrom source = %#v, want *net.UDPAddr 10.0.0.1:1000", from)
		}

		// The netip methods, in the other direction.
		send(t, b, addrOf(a), []byte("world"))
		got, src := recv(t, a)
		if string(got) != "world" || src != netip.MustParseAddrPort("10.0.0.2:2000") {
			t.Errorf("ReadFromUDPAddrPort = %q from %v; want %q from 10.0.0.2:2000", got, src, "world")
		}
		if !src.Addr().Is4() {
			t.Errorf("source %v is not a plain IPv4 address", src)
		}

		// An IPv4-mapped destination reaches the IPv4 endpoint.
		mapped := netip.AddrPortFrom(netip.AddrFrom16(addrOf(b).Addr().As16()), addrOf(b).Port())
		send(t, a, mapped, []byte("mapped"))
		if got, _ := recv(t, b); string(got) != "mapped" {
			t.Errorf("via IPv4-mapped address got %q, want %q", got, "mapped")
		}

		if s := n.Stats(); s != (netsim.Stats{Sent: 3, Delivered: 3}) {
			t.Errorf("Stats = %+v, want 3 sent and delivered", s)
		}
	})
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{})
		a := listen(t, n, "10.0.0.1:1")
		b := listen(t, n, "10.0.0.2:1")
		send(t, a, addrOf(b), []byte("0123456789"))
		send(t, a, addrOf(b), []byte("next"))
		buf := make([]byte, 4)
		if k, _, err := b.ReadFrom(buf); err != nil || string(buf[:k]) != "0123" {
			t.Errorf("short read = %q, %v; want %q, nil", buf[:k], err, "0123")
		}
		if got, _ := recv(t, b); string(got) != "next" {
			t.Errorf("after a truncated packet got %q, want the next packet", got)
		}
	})
}

func TestWriteToBadAddr(t *testing.T) {
	t.Parallel()
	n := netsim.New(netsim.Options{})
	defer n.Close()
	a := listen(t, n, "10.0.0.1:1")
	for _, addr := range []net.Addr{nil, (*net.UDPAddr)(nil), &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 1}, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2)}} {
		if _, err := a.WriteTo([]byte("x"), addr); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("WriteTo(%#v) error = %v, want EINVAL", addr, err)
		}
	}
	if s := n.Stats(); s.Sent != 0 {
		t.Errorf("rejected writes counted: %+v", s)
	}
}

func TestReadDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{})
		a := listen(t, n, "10.0.0.1:1")

		start := time.Now()
		a.SetReadDeadline(start.Add(time.Second))
		_, _, err := a.ReadFrom(make([]byte, 10))
		if elapsed := time.Since(start); elapsed != time.Second {
			t.Errorf("read returned after %v of virtual time, want exactly 1s", elapsed)
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("error %v does not wrap os.ErrDeadlineExceeded", err)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("error %v is not a net.Error with Timeout() true", err)
		}

		// A deadline in the past fails at once, even with a packet queued,
		// as on a real socket.
		b := listen(t, n, "10.0.0.2:1")
		send(t, b, addrOf(a), []byte("x"))
		start = time.Now()
		if _, _, err := a.ReadFrom(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 0 {
			t.Errorf("read with passed deadline = %v after %v, want timeout at once", err, time.Since(start))
		}
		// Clearing the deadline makes the queued packet readable.
		a.SetReadDeadline(time.Time{})
		if got, _ := recv(t, a); string(got) != "x" {
			t.Errorf("after clearing the deadline got %q, want %q", got, "x")
		}
	})
}

func TestReadDeadlineMovedWhileBlocked(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{})
		a := listen(t, n, "10.0.0.1:1")
		start := time.Now()
		a.SetReadDeadline(start.Add(time.Second))
		done := make(chan time.Duration)
		go func() {
			a.ReadFrom(make([]byte, 10))
			done <- time.Since(start)
		}()
		time.Sleep(500 * time.Millisecond)
		a.SetReadDeadline(start.Add(3 * time.Second)) // extend
		if got := <-done; got != 3*time.Second {
			t.Errorf("extended deadline: read returned after %v, want 3s", got)
		}

		start = time.Now()
		a.SetReadDeadline(start.Add(time.Hour))
		go func() {
			a.ReadFrom(make([]byte, 10))
			done <- time.Since(start)
		}()
		time.Sleep(time.Second)
		a.SetReadDeadline(start) // move into the past
		if got := <-done; got != time.Second {
			t.Errorf("deadline moved into the past: read returned after %v, want 1s", got)
		}
	})
}

func TestWriteDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{})
		a := listen(t, n, "10.0.0.1:1")
		b := listen(t, n, "10.0.0.2:1")
		a.SetDeadline(time.Now().Add(time.Second))
		send(t, a, addrOf(b), []byte("before"))
		time.Sleep(time.Second)
		if _, err := a.WriteToUDPAddrPort([]byte("after"), addrOf(b)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("write after the deadline: error %v, want os.ErrDeadlineExceeded", err)
		}
	})
}

func TestCloseUnblocksReaders(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{})
		a := listen(t, n, "10.0.0.1:1")
		errs := make(chan error, 3)
		for range 3 {
			go func() {
				_, _, err := a.ReadFrom(make([]byte, 10))
				errs <- err
			}()
		}
		synctest.Wait() // all three are blocked in ReadFrom
		a.Close()
		for range 3 {
			if err := <-errs; !errors.Is(err, net.ErrClosed) {
				t.Errorf("blocked ReadFrom after Close: error %v, want net.ErrClosed", err)
			}
		}
		if _, _, err := a.ReadFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadFrom after Close: error %v, want net.ErrClosed", err)
		}
	})
}

func TestUseAfterClose(t *testing.T) {
	t.Parallel()
	n := netsim.New(netsim.Options{})
	defer n.Close()
	a := listen(t, n, "10.0.0.1:1")
	b := listen(t, n, "10.0.0.2:1")
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	if _, err := a.WriteTo([]byte("x"), b.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteTo after Close: error %v, want net.ErrClosed", err)
	}
	if _, err := a.WriteToUDPAddrPort([]byte("x"), addrOf(b)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteToUDPAddrPort after Close: error %v, want net.ErrClosed", err)
	}
	if err := a.SetReadDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetReadDeadline after Close: error %v, want net.ErrClosed", err)
	}
	if got := a.LocalAddr().String(); got != "10.0.0.1:1" {
		t.Errorf("LocalAddr after Close = %s, want 10.0.0.1:1", got)
	}
	// The port is free again, and packets to it reach the new endpoint.
	c := listen(t, n, "10.0.0.1:1")
	send(t, b, addrOf(c), []byte("x"))
	if got, _ := recv(t, c); !bytes.Equal(got, []byte("x")) {
		t.Errorf("rebound endpoint got %q, want %q", got, "x")
	}
}

func TestQueueOverflow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{QueueLen: 4})
		a := listen(t, n, "10.0.0.1:1")
		b := listen(t, n, "10.0.0.2:1")
		for i := range 10 {
			send(t, a, addrOf(b), seqPacket(i))
		}
		if got, want := drain(t, b), []int{0, 1, 2, 3}; !slices.Equal(got, want) {
			t.Errorf("queue of 4 kept %v, want %v", got, want)
		}
		if s := n.Stats(); s != (netsim.Stats{Sent: 10, Delivered: 4, Dropped: 6}) {
			t.Errorf("Stats = %+v, want 10 sent, 4 delivered, 6 dropped", s)
		}
		// Reading made room again; the ring wraps around.
		for round := range 5 {
			for i := range 3 {
				send(t, a, addrOf(b), seqPacket(10*round+i))
			}
			if got, want := drain(t, b), []int{10 * round, 10*round + 1, 10*round + 2}; !slices.Equal(got, want) {
				t.Errorf("round %d: got %v, want %v", round, got, want)
			}
		}
	})
}
