package interop_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/netip"
	"testing"
	"testing/iotest"
	"time"

	"github.com/hyperlan/hyperlan/interop"
)

// udxEnd is one side of a JS stream pair: a udx.js process, its socket and
// the stream's local id.
type udxEnd struct {
	js     *interop.UDXNode
	socket int
	addr   netip.AddrPort // the socket's address
	stream uint32
}

// startUDXPair starts two udx.js processes with one socket each and creates
// stream 1 in a and stream 2 in b. b connects to a explicitly; a uses opts
// (by default FirewallConnectOnFirst with remote id 2, so it connects when b's
// first packet arrives, as a hyperdht server does).
//
//	a: socket 1, stream 1  <---- 127.0.0.1 ---->  b: socket 1, stream 2
func startUDXPair(t *testing.T, ctx context.Context, opts interop.StreamOpts) (a, b udxEnd) {
	t.Helper()
	a = newUDXEnd(t, ctx, interop.StartUDX(t), 1)
	b = newUDXEnd(t, ctx, interop.StartUDX(t), 2)
	if opts.Firewall == "" {
		opts.Firewall = interop.FirewallConnectOnFirst
		opts.RemoteID = b.stream
	}
	if err := a.js.Stream(ctx, a.stream, opts); err != nil {
		t.Fatal(err)
	}
	if err := b.js.Stream(ctx, b.stream, interop.StreamOpts{}); err != nil {
		t.Fatal(err)
	}
	if err := b.js.Connect(ctx, b.stream, b.socket, a.stream, a.addr); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func newUDXEnd(t *testing.T, ctx context.Context, js *interop.UDXNode, stream uint32) udxEnd {
	t.Helper()
	sock, port, err := js.Socket(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return udxEnd{js: js, socket: sock, addr: loopback(port), stream: stream}
}

func loopback(port int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port))
}

func udxContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	t.Cleanup(cancel)
	t.Cleanup(func() { checkNoReaders(t) }) // runs after the drivers' cleanups
	return ctx
}

// pseudoRandomSum returns the SHA-256 of the first n bytes of
// PseudoRandom(seed).
func pseudoRandomSum(t *testing.T, seed uint32, n int64) [32]byte {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, interop.PseudoRandom(seed, n)); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// wantCleanClose waits for the stream-close event of e and fails unless it
// carries no error.
func wantCleanClose(t *testing.T, ctx context.Context, e udxEnd) interop.StreamClose {
	t.Helper()
	c, err := e.js.WaitStreamClose(ctx, e.stream)
	if err != nil {
		t.Fatal(err)
	}
	if c.Error != "" || c.Code != "" {
		t.Errorf("%v: stream %d closed with %q (%s), want a clean close", e.js, e.stream, c.Error, c.Code)
	}
	return c
}

func TestPseudoRandom(t *testing.T) {
	// xorshift32(13, 17, 5) from state 1 gives 270369 = 0x00042021 first.
	first := make([]byte, 4)
	if _, err := io.ReadFull(interop.PseudoRandom(1, 4), first); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x21, 0x20, 0x04, 0x00}; !bytes.Equal(first, want) {
		t.Errorf("PseudoRandom(1) starts % x, want % x", first, want)
	}

	for _, seed := range []uint32{0, 1, 0xdeadbeef} {
		for _, n := range []int64{0, 1, 3, 4, 5, 1001} {
			all, err := io.ReadAll(interop.PseudoRandom(seed, n))
			if err != nil || int64(len(all)) != n {
				t.Fatalf("PseudoRandom(%#x, %d): %d bytes, %v", seed, n, len(all), err)
			}
			// Any read sizes give the same bytes, and the reader follows the
			// io.Reader rules.
			if err := iotest.TestReader(interop.PseudoRandom(seed, n), all); err != nil {
				t.Errorf("PseudoRandom(%#x, %d): %v", seed, n, err)
			}
			odd, err := io.ReadAll(iotest.OneByteReader(interop.PseudoRandom(seed, n)))
			if err != nil || !bytes.Equal(odd, all) {
				t.Errorf("PseudoRandom(%#x, %d) read byte by byte differs", seed, n)
			}
		}
	}
	zero, _ := io.ReadAll(interop.PseudoRandom(0, 8))
	if bytes.Equal(zero, make([]byte, 8)) {
		t.Error("PseudoRandom(0) is all zeros; seed 0 must be replaced")
	}
}

// TestUDXEcho sends a few bytes from b to an echo stream in a, which connects
// through its firewall on b's first packet.
func TestUDXEcho(t *testing.T) {
	interop.Require(t)
	ctx := udxContext(t)
	a, b := startUDXPair(t, ctx, interop.StreamOpts{Echo: true})

	// Misuse is reported with udx-style codes, and a closed id can be reused.
	for range 2 {
		if err := a.js.Stream(ctx, 9, interop.StreamOpts{}); err != nil {
			t.Fatal(err)
		}
		var ce *interop.CallError
		if err := a.js.Write(ctx, 9, []byte("x")); !errors.As(err, &ce) || ce.Code != "ENOTCONN" {
			t.Errorf("Write on an unconnected stream: %v, want a CallError with code ENOTCONN", err)
		}
		if err := a.js.Stream(ctx, 9, interop.StreamOpts{}); !errors.As(err, &ce) || ce.Code != "EEXIST" {
			t.Errorf("Stream with an id in use: %v, want a CallError with code EEXIST", err)
		}
		destroyed := time.Now()
		if err := a.js.Destroy(ctx, 9); err != nil {
			t.Fatal(err)
		}
		// WaitStreamClose would return the first close of id 9 again.
		if _, err := a.js.WaitEvent(ctx, "stream-close", func(ev interop.Event) bool {
			return !ev.At.Before(destroyed)
		}); err != nil {
			t.Fatal(err)
		}
	}

	// A short write, then 4 MiB that the echo must pace with backpressure.
	msg := []byte("hello udx")
	const n, seed = 4 << 20, 11
	if err := b.js.Write(ctx, b.stream, msg); err != nil {
		t.Fatal(err)
	}
	if _, err := b.js.WriteFile(ctx, b.stream, n, seed); err != nil {
		t.Fatal(err)
	}
	if err := b.js.End(ctx, b.stream); err != nil {
		t.Fatal(err)
	}
	want, err := io.ReadAll(io.MultiReader(bytes.NewReader(msg), interop.PseudoRandom(seed, n)))
	if err != nil {
		t.Fatal(err)
	}

	conn, err := a.js.WaitStreamConnect(ctx, a.stream)
	if err != nil {
		t.Fatal(err)
	}
	if conn.Remote != b.addr || conn.RemoteID != b.stream || conn.Socket != a.socket {
		t.Errorf("a connected to %v id %d on socket %d, want %v id %d on socket %d",
			conn.Remote, conn.RemoteID, conn.Socket, b.addr, b.stream, a.socket)
	}
	end, err := b.js.WaitStreamEnd(ctx, b.stream)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(want); end.Bytes != int64(len(want)) || end.SHA256 != sum {
		t.Errorf("b read back %d bytes with sha256 %v, want %d bytes with %x", end.Bytes, end.SHA256, len(want), sum)
	}
	got, total, err := b.js.Recv(ctx, b.stream)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want[:64<<10]) || total != int64(len(want)) {
		t.Errorf("b Recv = %d bytes starting %q, total %d; want the first 64 KiB of the echo, total %d",
			len(got), got[:min(len(got), 16)], total, len(want))
	}
	wantCleanClose(t, ctx, a)
	wantCleanClose(t, ctx, b)
	st, err := a.js.Stats(ctx, a.stream)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Closed || !st.RemoteEnded || st.Received != int64(len(want)) || st.Written != int64(len(want)) || st.FirewallCalls != 1 {
		t.Errorf("a stats after close: %+v; want closed, remote ended, %d bytes each way, 1 firewall call", st, len(want))
	}
}

// TestUDXBulk sends 20 MiB (plus 3 bytes, so the last word is partial) from
// a to b and checks it against PseudoRandom.
func TestUDXBulk(t *testing.T) {
	interop.Require(t)
	ctx := udxContext(t)
	a, b := startUDXPair(t, ctx, interop.StreamOpts{})
	const n, seed = 20<<20 + 3, 0x5eed
	want := pseudoRandomSum(t, seed, n)

	// a is connected only once b's first packet arrives.
	if err := b.js.Write(ctx, b.stream, []byte("go")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.js.WaitStreamConnect(ctx, a.stream); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sum, err := a.js.WriteFile(ctx, a.stream, n, seed)
	if err != nil {
		t.Fatal(err)
	}
	if sum != want {
		t.Errorf("writeFile sha256 %x, PseudoRandom gives %x", sum, want)
	}
	if err := a.js.End(ctx, a.stream); err != nil {
		t.Fatal(err)
	}
	end, err := b.js.WaitStreamEnd(ctx, b.stream)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := end.At.Sub(start)
	if end.Bytes != n || end.SHA256 != want {
		t.Errorf("b read %d bytes with sha256 %v, want %d with %x", end.Bytes, end.SHA256, n, want)
	}
	st, err := a.js.Stats(ctx, a.stream)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes in %v (%.0f MB/s); sender: mtu %d, rtt %d ms, cwnd %d, retransmits %d, rto %d",
		n, elapsed.Round(time.Millisecond), float64(n)/1e6/elapsed.Seconds(), st.MTU, st.RTT, st.CWnd, st.Retransmits, st.RTOCount)
	if err := b.js.End(ctx, b.stream); err != nil {
		t.Fatal(err)
	}
	wantCleanClose(t, ctx, a)
	wantCleanClose(t, ctx, b)
}

// TestUDXHalfClose ends a's side first; b keeps writing and a keeps reading
// until b ends too.
func TestUDXHalfClose(t *testing.T) {
	interop.Require(t)
	ctx := udxContext(t)
	a, b := startUDXPair(t, ctx, interop.StreamOpts{})
	if err := b.js.Write(ctx, b.stream, []byte("before")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.js.WaitStreamConnect(ctx, a.stream); err != nil {
		t.Fatal(err)
	}
	if err := a.js.End(ctx, a.stream); err != nil {
		t.Fatal(err)
	}
	if end, err := b.js.WaitStreamEnd(ctx, b.stream); err != nil || end.Bytes != 0 {
		t.Fatalf("b: stream-end %+v, %v; want 0 bytes", end, err)
	}

	const n, seed = 1 << 20, 7
	if err := b.js.Write(ctx, b.stream, []byte("after-a-ended")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.js.WriteFile(ctx, b.stream, n, seed); err != nil {
		t.Fatal(err)
	}
	if err := b.js.Flush(ctx, b.stream); err != nil {
		t.Fatal(err)
	}
	if st, err := a.js.Stats(ctx, a.stream); err != nil || st.Closed || st.RemoteEnded {
		t.Fatalf("a after its own end: %+v, %v; want open, remote not ended", st, err)
	}
	if err := b.js.End(ctx, b.stream); err != nil {
		t.Fatal(err)
	}

	h := sha256.New()
	h.Write([]byte("beforeafter-a-ended"))
	if _, err := io.Copy(h, interop.PseudoRandom(seed, n)); err != nil {
		t.Fatal(err)
	}
	end, err := a.js.WaitStreamEnd(ctx, a.stream)
	if err != nil {
		t.Fatal(err)
	}
	if want := [32]byte(h.Sum(nil)); end.Bytes != n+19 || end.SHA256 != want {
		t.Errorf("a read %d bytes with sha256 %v, want %d with %x", end.Bytes, end.SHA256, n+19, want)
	}
	wantCleanClose(t, ctx, a)
	wantCleanClose(t, ctx, b)
}

// TestUDXDestroy destroys a's stream while b is connected: a closes cleanly,
// b sees ECONNRESET.
func TestUDXDestroy(t *testing.T) {
	interop.Require(t)
	ctx := udxContext(t)
	a, b := startUDXPair(t, ctx, interop.StreamOpts{})
	if err := b.js.Write(ctx, b.stream, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := b.js.Flush(ctx, b.stream); err != nil { // a has acked, so a's DESTROY carries a current seq
		t.Fatal(err)
	}
	if err := a.js.Destroy(ctx, a.stream); err != nil {
		t.Fatal(err)
	}
	wantCleanClose(t, ctx, a)
	c, err := b.js.WaitStreamClose(ctx, b.stream)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("b closed: %q (%s)", c.Error, c.Code)
	if c.Code != "ECONNRESET" {
		t.Errorf("b closed with %q (code %q), want ECONNRESET", c.Error, c.Code)
	}
	var ce *interop.CallError
	if err := b.js.Write(ctx, b.stream, []byte("y")); !errors.As(err, &ce) || ce.Code != "ESTREAMCLOSED" {
		t.Errorf("Write on a closed stream: %v, want a CallError with code ESTREAMCLOSED", err)
	}
}

// TestUDXMessages sends messages both ways, including an empty one and one
// longer than the event carries.
func TestUDXMessages(t *testing.T) {
	interop.Require(t)
	ctx := udxContext(t)
	a, b := startUDXPair(t, ctx, interop.StreamOpts{})
	big := make([]byte, 1152)
	if _, err := io.ReadFull(interop.PseudoRandom(3, int64(len(big))), big); err != nil {
		t.Fatal(err)
	}
	// b's first message connects a through its firewall.
	for _, m := range [][]byte{[]byte("ping"), {}, big} {
		if sent, err := b.js.Send(ctx, b.stream, m); err != nil || !sent {
			t.Fatalf("b Send(%d bytes) = %v, %v", len(m), sent, err)
		}
		got, err := a.js.WaitMessage(ctx, a.stream, func(e interop.StreamMessage) bool { return e.Length == len(m) })
		if err != nil {
			t.Fatal(err)
		}
		wantData := m[:min(len(m), 256)]
		if got.SHA256 != sha256.Sum256(m) || !bytes.Equal(got.Data, wantData) {
			t.Errorf("a got message of %d bytes starting %x, sha256 %v; want %d bytes starting %x",
				got.Length, got.Data[:min(len(got.Data), 8)], got.SHA256, len(m), wantData[:min(len(wantData), 8)])
		}
	}
	if err := a.js.TrySend(ctx, a.stream, []byte("pong")); err != nil {
		t.Fatal(err)
	}
	got, err := b.js.WaitMessage(ctx, b.stream, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data) != "pong" {
		t.Errorf("b got message %q, want pong", got.Data)
	}
	if st, err := a.js.Stats(ctx, a.stream); err != nil || st.Messages != 3 || st.Received != 0 {
		t.Errorf("a stats: %+v, %v; want 3 messages and no stream bytes", st, err)
	}
}

// TestUDXSocketMessage sends plain datagrams, including one that looks like
// UDX but names an unknown stream, and sees them as socket messages.
func TestUDXSocketMessage(t *testing.T) {
	interop.Require(t)
	ctx := udxContext(t)
	js := interop.StartUDX(t)
	a := newUDXEnd(t, ctx, js, 0)
	b := newUDXEnd(t, ctx, js, 0)

	// A DATA header for stream 0x0b0b0b0b, which does not exist (udx.md V1).
	udxLike := []byte{0xff, 0x01, 0x01, 0x00, 0x0b, 0x0b, 0x0b, 0x0b, 0x00, 0x00, 0x40, 0x00,
		0, 0, 0, 0, 0, 0, 0, 0, 'h', 'i'}
	for _, d := range [][]byte{[]byte("plain datagram"), udxLike} {
		if err := js.SendRaw(ctx, a.socket, b.addr, d); err != nil {
			t.Fatal(err)
		}
		got, err := js.WaitSocketMessage(ctx, b.socket, func(m interop.SocketMessage) bool { return bytes.Equal(m.Data, d) })
		if err != nil {
			t.Fatal(err)
		}
		if got.From != a.addr || got.Length != len(d) || got.SHA256 != sha256.Sum256(d) {
			t.Errorf("socket-message from %v, %d bytes, sha256 %v; want from %v, %d bytes", got.From, got.Length, got.SHA256, a.addr, len(d))
		}
	}
}

// TestUDXRelayAndChangeRemote runs a stream pair through a relay process,
// then moves both ends to the direct path and tears the relay down.
//
//	a: stream 1 ---> r: stream 10 =relay= stream 20 <--- b: stream 2 (echo)
//	a: stream 1 <----------------- direct -----------------> b: stream 2
func TestUDXRelayAndChangeRemote(t *testing.T) {
	interop.Require(t)
	ctx := udxContext(t)
	a := newUDXEnd(t, ctx, interop.StartUDX(t), 1)
	b := newUDXEnd(t, ctx, interop.StartUDX(t), 2)
	r := newUDXEnd(t, ctx, interop.StartUDX(t), 10)
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(r.js.Stream(ctx, 10, interop.StreamOpts{}))
	check(r.js.Stream(ctx, 20, interop.StreamOpts{}))
	check(r.js.Connect(ctx, 10, r.socket, a.stream, a.addr))
	check(r.js.Connect(ctx, 20, r.socket, b.stream, b.addr))
	check(r.js.RelayTo(ctx, 10, 20))
	check(r.js.RelayTo(ctx, 20, 10))
	check(a.js.Stream(ctx, a.stream, interop.StreamOpts{}))
	check(b.js.Stream(ctx, b.stream, interop.StreamOpts{Echo: true}))
	check(a.js.Connect(ctx, a.stream, a.socket, 10, r.addr))
	check(b.js.Connect(ctx, b.stream, b.socket, 20, r.addr))

	check(a.js.Write(ctx, a.stream, []byte("via-relay ")))
	check(a.js.Flush(ctx, a.stream))
	check(b.js.Flush(ctx, b.stream)) // b's echo has been acked, so a has it

	// Nothing is in flight on either side, so both changes complete at once.
	for _, c := range []struct{ from, to udxEnd }{{a, b}, {b, a}} {
		immediate, err := c.from.js.ChangeRemote(ctx, c.from.stream, c.from.socket, c.to.stream, c.to.addr)
		check(err)
		if !immediate {
			t.Errorf("%v: changeRemote with nothing in flight did not complete at once", c.from.js)
		}
	}
	for _, e := range []udxEnd{a, b} {
		if _, err := e.js.WaitEvent(ctx, "remote-changed", nil); err != nil {
			t.Fatal(err)
		}
	}
	check(r.js.Destroy(ctx, 10))
	check(r.js.Destroy(ctx, 20))

	check(a.js.Write(ctx, a.stream, []byte("direct")))
	check(a.js.End(ctx, a.stream))
	end, err := a.js.WaitStreamEnd(ctx, a.stream)
	check(err)
	data, _, err := a.js.Recv(ctx, a.stream)
	check(err)
	if want := "via-relay direct"; string(data) != want || end.Bytes != int64(len(want)) {
		t.Errorf("a read back %q (%d bytes), want %q", data, end.Bytes, want)
	}
	wantCleanClose(t, ctx, a)
	wantCleanClose(t, ctx, b)
}
