package udx_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/udx"
	"github.com/hyperlan/hyperlan/interop"
)

// Go streams against udx-native (the pinned reference) on 127.0.0.1:
//
//	Go: udx.Instance, socket, stream goID  <---- UDP ---->  JS: udx.js, socket 1, stream jsID
//
// Each test skips without Node.js and fails instead with
// HYPERLAN_REQUIRE_INTEROP=1.

const (
	goID udx.StreamID = 100
	jsID uint32       = 200
)

type interopPair struct {
	ctx    context.Context
	js     *interop.UDXNode
	jsSock int
	jsAddr netip.AddrPort
	sock   *udx.Socket
	s      *udx.Stream
	mu     sync.Mutex
	msgs   [][]byte // messages received by the Go stream
}

// newInteropPair starts udx.js with one socket and a Go socket and stream.
// Nothing is connected yet.
func newInteropPair(t *testing.T, timeout time.Duration) *interopPair {
	t.Helper()
	js := interop.StartUDX(t)
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	p := &interopPair{ctx: ctx, js: js}
	sockID, port, err := js.Socket(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.jsSock = sockID
	p.jsAddr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port))
	u := udx.NewInstance()
	pc, err := u.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.sock = pc.(*udx.Socket)
	p.sock.SetReadBuffer(1 << 20) // as libudx asks for
	t.Cleanup(func() { p.sock.Close() })
	p.s, err = u.NewStream(goID, udx.StreamOptions{
		// Connect to whoever sends first: the hyperdht server pattern.
		Firewall: func(s *udx.Stream, sock *udx.Socket, from netip.AddrPort) bool {
			if s.RemoteAddr() == nil {
				s.Connect(sock, udx.StreamID(jsID), from)
			}
			return true
		},
		OnMessage: func(b []byte) {
			p.mu.Lock()
			p.msgs = append(p.msgs, bytes.Clone(b))
			p.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.s.Destroy() })
	return p
}

// goConnects makes a JS stream that connects on the Go stream's first packet,
// and connects the Go stream to it.
func (p *interopPair) goConnects(t *testing.T, opts interop.StreamOpts) {
	t.Helper()
	opts.Firewall, opts.RemoteID = interop.FirewallConnectOnFirst, uint32(goID)
	if err := p.js.Stream(p.ctx, jsID, opts); err != nil {
		t.Fatal(err)
	}
	if err := p.s.Connect(p.sock, udx.StreamID(jsID), p.jsAddr); err != nil {
		t.Fatal(err)
	}
	// UDX has no handshake: the JS stream connects when the first Go packet
	// arrives, so tests that make the JS side write first send something.
}

// waitJSConnected waits until the JS stream has connected through its
// firewall.
func (p *interopPair) waitJSConnected(t *testing.T) {
	t.Helper()
	if _, err := p.js.WaitStreamConnect(p.ctx, jsID); err != nil {
		t.Fatal(err)
	}
}

// jsConnects makes a JS stream and connects it to the Go stream, which
// connects back through its firewall on the first packet.
func (p *interopPair) jsConnects(t *testing.T, opts interop.StreamOpts) {
	t.Helper()
	if err := p.js.Stream(p.ctx, jsID, opts); err != nil {
		t.Fatal(err)
	}
	if err := p.js.Connect(p.ctx, jsID, p.jsSock, uint32(goID), p.sock.LocalAddrPort()); err != nil {
		t.Fatal(err)
	}
}

func (p *interopPair) wantJSClose(t *testing.T, code string) {
	t.Helper()
	c, err := p.js.WaitStreamClose(p.ctx, jsID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Code != code {
		t.Errorf("JS stream closed with %q (%s), want code %q", c.Error, c.Code, code)
	}
}

func waitGoDone(t *testing.T, ctx context.Context, s *udx.Stream, want error) {
	t.Helper()
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatalf("Go stream not done: %v", ctx.Err())
	}
	if err := s.Err(); !errors.Is(err, want) {
		t.Errorf("Go stream Err() = %v, want %v", err, want)
	}
}

func TestInteropEchoGoToJS(t *testing.T) {
	p := newInteropPair(t, 20*time.Second)
	p.goConnects(t, interop.StreamOpts{Echo: true})
	msg := []byte("hello from go")
	if _, err := p.s.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := p.s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(p.s)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %q, %v", got, err)
	}
	waitGoDone(t, p.ctx, p.s, nil)
	p.wantJSClose(t, "")
}

func TestInteropEchoJSToGo(t *testing.T) {
	p := newInteropPair(t, 20*time.Second)
	p.jsConnects(t, interop.StreamOpts{})
	go func() {
		io.Copy(p.s, p.s)
		p.s.CloseWrite()
	}()
	msg := []byte("hello from js")
	if err := p.js.Write(p.ctx, jsID, msg); err != nil {
		t.Fatal(err)
	}
	if err := p.js.End(p.ctx, jsID); err != nil {
		t.Fatal(err)
	}
	end, err := p.js.WaitStreamEnd(p.ctx, jsID)
	if err != nil {
		t.Fatal(err)
	}
	if end.Bytes != int64(len(msg)) || end.SHA256 != sha256.Sum256(msg) {
		t.Fatalf("JS read back %d bytes (sha %v)", end.Bytes, end.SHA256)
	}
	waitGoDone(t, p.ctx, p.s, nil)
	p.wantJSClose(t, "")
}

const bulkSize = 100_000_000 // the 100 MB

func TestInteropBulkGoToJS(t *testing.T) {
	p := newInteropPair(t, 60*time.Second)
	p.goConnects(t, interop.StreamOpts{})
	start := time.Now()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(p.s, h), interop.PseudoRandom(1, bulkSize)); err != nil {
		t.Fatal(err)
	}
	p.s.CloseWrite()
	end, err := p.js.WaitStreamEnd(p.ctx, jsID)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if end.Bytes != bulkSize || end.SHA256 != [32]byte(h.Sum(nil)) {
		t.Fatalf("JS got %d bytes, sha256 %v; want %d, %x", end.Bytes, end.SHA256, bulkSize, h.Sum(nil))
	}
	t.Logf("Go->JS %d MB in %v (%.1f MB/s), Go %+v", bulkSize/1_000_000, elapsed, bulkSize/elapsed.Seconds()/1e6, p.s.Stats())
	p.js.End(p.ctx, jsID)
	waitGoDone(t, p.ctx, p.s, nil)
	p.wantJSClose(t, "")
}

func TestInteropBulkJSToGo(t *testing.T) {
	p := newInteropPair(t, 60*time.Second)
	p.jsConnects(t, interop.StreamOpts{})
	start := time.Now()
	type result struct {
		sum [32]byte
		err error
	}
	sent := make(chan result, 1)
	go func() {
		sum, err := p.js.WriteFile(p.ctx, jsID, bulkSize, 2)
		if err == nil {
			err = p.js.End(p.ctx, jsID)
		}
		sent <- result{sum, err}
	}()
	h := sha256.New()
	n, err := io.Copy(h, p.s)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	r := <-sent
	if r.err != nil {
		t.Fatal(r.err)
	}
	if n != bulkSize || r.sum != [32]byte(h.Sum(nil)) {
		t.Fatalf("Go got %d bytes, sha256 %x; JS wrote %d, %x", n, h.Sum(nil), bulkSize, r.sum)
	}
	st, _ := p.js.Stats(p.ctx, jsID)
	t.Logf("JS->Go %d MB in %v (%.1f MB/s), JS mtu %d retransmits %d", bulkSize/1_000_000, elapsed, bulkSize/elapsed.Seconds()/1e6, st.MTU, st.Retransmits)
	p.s.CloseWrite()
	waitGoDone(t, p.ctx, p.s, nil)
	p.wantJSClose(t, "")
}

// JS ends first, Go keeps writing, then ends.
func TestInteropHalfCloseJSFirst(t *testing.T) {
	p := newInteropPair(t, 20*time.Second)
	p.goConnects(t, interop.StreamOpts{})
	if _, err := p.s.Write([]byte("go first data")); err != nil {
		t.Fatal(err)
	}
	p.waitJSConnected(t)
	if err := p.js.Write(p.ctx, jsID, []byte("js data")); err != nil {
		t.Fatal(err)
	}
	if err := p.js.End(p.ctx, jsID); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(p.s)
	if err != nil || string(got) != "js data" {
		t.Fatalf("Go read %q, %v", got, err)
	}
	if _, err := p.s.Write([]byte(" and after js ended")); err != nil {
		t.Fatal(err)
	}
	p.s.CloseWrite()
	end, err := p.js.WaitStreamEnd(p.ctx, jsID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte("go first data and after js ended"); end.SHA256 != sha256.Sum256(want) {
		t.Fatalf("JS got %d bytes, want %q", end.Bytes, want)
	}
	waitGoDone(t, p.ctx, p.s, nil)
	p.wantJSClose(t, "")
}

// Go ends first, JS keeps writing, then ends.
func TestInteropHalfCloseGoFirst(t *testing.T) {
	p := newInteropPair(t, 20*time.Second)
	p.jsConnects(t, interop.StreamOpts{})
	if err := p.js.Write(p.ctx, jsID, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, err := p.s.Read(buf); err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("Go read %q, %v", buf[:n], err)
	}
	p.s.Write([]byte("bye"))
	p.s.CloseWrite()
	end, err := p.js.WaitStreamEnd(p.ctx, jsID)
	if err != nil || end.Bytes != 3 {
		t.Fatalf("JS end: %+v, %v", end, err)
	}
	if err := p.js.Write(p.ctx, jsID, []byte(" still here")); err != nil {
		t.Fatal(err)
	}
	p.js.End(p.ctx, jsID)
	got, err := io.ReadAll(p.s)
	if err != nil || string(got) != " still here" {
		t.Fatalf("Go read %q, %v", got, err)
	}
	waitGoDone(t, p.ctx, p.s, nil)
	p.wantJSClose(t, "")
}

func TestInteropDestroyFromGo(t *testing.T) {
	p := newInteropPair(t, 20*time.Second)
	p.goConnects(t, interop.StreamOpts{})
	p.s.Write([]byte("x"))
	p.waitJSConnected(t)
	if err := p.js.Write(p.ctx, jsID, []byte("y")); err != nil {
		t.Fatal(err)
	}
	if n, err := p.s.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatal(err)
	}
	p.s.Destroy()
	p.wantJSClose(t, "ECONNRESET")
}

func TestInteropDestroyFromJS(t *testing.T) {
	p := newInteropPair(t, 20*time.Second)
	p.jsConnects(t, interop.StreamOpts{})
	if err := p.js.Write(p.ctx, jsID, []byte("y")); err != nil {
		t.Fatal(err)
	}
	if n, err := p.s.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatal(err)
	}
	if err := p.js.Destroy(p.ctx, jsID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.s.Read(make([]byte, 1)); !errors.Is(err, udx.ErrReset) {
		t.Fatalf("Go read after JS destroy: %v, want ErrReset", err)
	}
	waitGoDone(t, p.ctx, p.s, udx.ErrReset)
	p.wantJSClose(t, "")
}

func TestInteropMessages(t *testing.T) {
	p := newInteropPair(t, 20*time.Second)
	p.goConnects(t, interop.StreamOpts{})
	// The JS stream connects on the Go stream's first packet: a message.
	for _, m := range [][]byte{[]byte("ping"), {}, bytes.Repeat([]byte{7}, 1152)} {
		if err := p.s.Send(m); err != nil {
			t.Fatal(err)
		}
		got, err := p.js.WaitMessage(p.ctx, jsID, func(e interop.StreamMessage) bool { return e.Length == len(m) })
		if err != nil {
			t.Fatal(err)
		}
		if got.SHA256 != sha256.Sum256(m) {
			t.Fatalf("JS got a different %d-byte message", len(m))
		}
	}
	for _, m := range []string{"pong", ""} {
		if ok, err := p.js.Send(p.ctx, jsID, []byte(m)); err != nil || !ok {
			t.Fatalf("JS send: %v, %v", ok, err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		n := len(p.msgs)
		p.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Go got %d messages, want 2", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if string(p.msgs[0]) != "pong" || len(p.msgs[1]) != 0 {
		t.Fatalf("Go got %q", p.msgs)
	}
}
