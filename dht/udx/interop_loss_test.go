package udx_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/udx"
	"github.com/hyperlan/hyperlan/interop"
)

// Go streams against udx-native through a hostile path (proxy_test.go):
//
//	Go: socket 1 (and 2) <---> udpProxy <---> JS: udx.js socket 1, stream jsID
//	                            drop, delay (reorder), duplicate, replay,
//	                            truncate, mangle
//	    a third socket sprays garbage straight at both endpoints
//
// Each transfer is checked byte for byte (SHA-256 of interop.PseudoRandom).
// Once the data has been checked the proxy is calmed (it forwards everything
// unchanged) for the closing exchange: a lost final ack is a protocol
// property, not what these tests are about (udx.md §2.4, §8.3; libudx has
// no TIME_WAIT, so a lost ack of Go's END makes the Go side time out).

// raceEnabled reports whether the test binary was built with -race.
var raceEnabled = sync.OnceValue(func() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
})

// lossBulkSize is the size of the transfers through a lossy proxy: smaller
// under the race detector, which slows the Go side several times, and with
// -short.
func lossBulkSize() int64 {
	switch {
	case testing.Short():
		return 2 << 20
	case raceEnabled():
		return 8 << 20
	}
	return 16 << 20
}

// lossPair is an interopPair that keeps its Go instance (for more sockets)
// and whose Go firewall can follow a move of the JS side to a new socket.
type lossPair struct {
	*interopPair
	u    *udx.Instance
	calm atomic.Bool // the proxies forward everything unchanged

	followTo atomic.Pointer[udx.Socket] // the firewall moves the stream here on its first packet
	followed atomic.Bool
}

func newLossPair(t *testing.T, timeout time.Duration) *lossPair {
	t.Helper()
	js := interop.StartUDX(t)
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	p := &lossPair{interopPair: &interopPair{ctx: ctx, js: js}, u: udx.NewInstance()}
	p.calm.Store(true) // until connected
	sockID, port, err := js.Socket(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.jsSock = sockID
	p.jsAddr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port))
	p.sock = p.newSocket(t)
	p.s, err = p.u.NewStream(goID, udx.StreamOptions{
		Firewall: func(s *udx.Stream, sock *udx.Socket, from netip.AddrPort) bool {
			if s.RemoteAddr() == nil {
				s.Connect(sock, udx.StreamID(jsID), from)
				return true
			}
			// The hyperdht pattern for a peer that moved: the first packet
			// on the new socket moves the stream there, to its sender.
			if to := p.followTo.Load(); to == sock && p.followed.CompareAndSwap(false, true) {
				if err := s.ChangeRemote(sock, udx.StreamID(jsID), from); err != nil {
					t.Errorf("Go ChangeRemote from the firewall: %v", err)
				}
			}
			return true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.s.Destroy() })
	if dl, ok := ctx.Deadline(); ok {
		p.s.SetDeadline(dl)
	}
	return p
}

// newSocket adds a socket on 127.0.0.1 to the Go instance.
func (p *lossPair) newSocket(t *testing.T) *udx.Socket {
	t.Helper()
	pc, err := p.u.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := pc.(*udx.Socket)
	sock.SetReadBuffer(1 << 20)
	t.Cleanup(func() { sock.Close() })
	return sock
}

// goConnectsVia makes a JS stream that connects on the first packet and
// connects the Go stream to it through the proxy at via. The Go stream then
// sends empty messages until the JS stream has connected, so either side may
// write first; the path is calm until then, and lossy from then on.
func (p *lossPair) goConnectsVia(t *testing.T, via netip.AddrPort) {
	t.Helper()
	opts := interop.StreamOpts{Firewall: interop.FirewallConnectOnFirst, RemoteID: uint32(goID)}
	if err := p.js.Stream(p.ctx, jsID, opts); err != nil {
		t.Fatal(err)
	}
	if err := p.s.Connect(p.sock, udx.StreamID(jsID), via); err != nil {
		t.Fatal(err)
	}
	p.handshake(t, func() error { return p.s.Send(nil) }, func(ctx context.Context) bool {
		_, err := p.js.WaitStreamConnect(ctx, jsID)
		return err == nil
	})
}

// jsConnectsVia makes a plain JS stream and connects it to the Go stream
// through the proxy at via; the Go firewall connects back on the first
// packet, which is an empty message sent until it has.
func (p *lossPair) jsConnectsVia(t *testing.T, via netip.AddrPort) {
	t.Helper()
	if err := p.js.Stream(p.ctx, jsID, interop.StreamOpts{}); err != nil {
		t.Fatal(err)
	}
	if err := p.js.Connect(p.ctx, jsID, p.jsSock, uint32(goID), via); err != nil {
		t.Fatal(err)
	}
	p.handshake(t, func() error {
		_, err := p.js.Send(p.ctx, jsID, nil)
		return err
	}, func(ctx context.Context) bool {
		for ctx.Err() == nil {
			if p.s.RemoteAddr() != nil {
				return true
			}
			time.Sleep(time.Millisecond)
		}
		return false
	})
}

// handshake sends until connected reports the peer connected, then makes
// the path lossy.
func (p *lossPair) handshake(t *testing.T, send func() error, connected func(context.Context) bool) {
	t.Helper()
	for i := 0; ; i++ {
		if err := send(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(p.ctx, 200*time.Millisecond)
		ok := connected(ctx)
		cancel()
		if ok {
			break
		}
		if i == 10 {
			t.Fatal("the peer stream did not connect")
		}
	}
	p.calm.Store(false)
}

// transferHook is called once at least at bytes of the transfer have been
// written (Go to JS) or read (JS to Go) by the Go side.
type transferHook struct {
	at int64
	f  func()
}

// hooked counts the bytes through it and runs the due hooks.
type hooked struct {
	n     int64
	hooks []transferHook // in order of at
}

func (h *hooked) advance(k int) {
	h.n += int64(k)
	for len(h.hooks) > 0 && h.n >= h.hooks[0].at {
		f := h.hooks[0].f
		h.hooks = h.hooks[1:]
		f()
	}
}

type hookedReader struct {
	r io.Reader
	hooked
}

func (r *hookedReader) Read(b []byte) (int, error) {
	k, err := r.r.Read(b)
	r.advance(k)
	return k, err
}

type hookedWriter struct {
	w io.Writer
	hooked
}

func (w *hookedWriter) Write(b []byte) (int, error) {
	k, err := w.w.Write(b)
	w.advance(k)
	return k, err
}

// goToJS sends n bytes of PseudoRandom(seed) from Go to JS, runs the hooks
// on the way, checks what JS read, then calms the path and closes the
// stream from both sides.
func (p *lossPair) goToJS(t *testing.T, n int64, seed uint32, hooks ...transferHook) {
	t.Helper()
	start := time.Now()
	h := sha256.New()
	src := &hookedReader{r: interop.PseudoRandom(seed, n), hooked: hooked{hooks: hooks}}
	if _, err := io.Copy(io.MultiWriter(p.s, h), src); err != nil {
		t.Fatalf("Go write after %d bytes: %v (Go %+v)", src.n, err, p.s.Stats())
	}
	if err := p.s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	end, err := p.js.WaitStreamEnd(p.ctx, jsID)
	if err != nil {
		st, _ := p.js.Stats(context.Background(), jsID)
		t.Fatalf("JS stream end: %v (Go %+v; JS %+v)", err, p.s.Stats(), st)
	}
	elapsed := time.Since(start)
	if end.Bytes != n || end.SHA256 != [32]byte(h.Sum(nil)) {
		t.Fatalf("JS got %d bytes, sha256 %v; want %d, %x", end.Bytes, end.SHA256, n, h.Sum(nil))
	}
	t.Logf("Go->JS %d MiB in %v (%.1f MB/s), Go %+v", n>>20, elapsed.Round(time.Millisecond),
		float64(n)/elapsed.Seconds()/1e6, p.s.Stats())
	p.calm.Store(true)
	if err := p.js.End(p.ctx, jsID); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(p.s); err != nil || len(got) != 0 {
		t.Fatalf("Go read %d bytes, %v; want EOF", len(got), err)
	}
	waitGoDone(t, p.ctx, p.s, nil)
	p.wantJSClose(t, "")
}

// jsToGo is goToJS the other way: JS writes, Go reads.
func (p *lossPair) jsToGo(t *testing.T, n int64, seed uint32, hooks ...transferHook) {
	t.Helper()
	start := time.Now()
	type result struct {
		sum [32]byte
		err error
	}
	sent := make(chan result, 1)
	go func() {
		sum, err := p.js.WriteFile(p.ctx, jsID, n, seed)
		if err == nil {
			err = p.js.End(p.ctx, jsID)
		}
		sent <- result{sum, err}
	}()
	h := sha256.New()
	dst := &hookedWriter{w: h, hooked: hooked{hooks: hooks}}
	got, err := io.Copy(dst, p.s)
	if err != nil {
		st, _ := p.js.Stats(context.Background(), jsID)
		t.Fatalf("Go read after %d bytes: %v (Go %+v; JS %+v)", got, err, p.s.Stats(), st)
	}
	elapsed := time.Since(start)
	r := <-sent
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got != n || r.sum != [32]byte(h.Sum(nil)) {
		t.Fatalf("Go got %d bytes, sha256 %x; JS wrote %d, %x", got, h.Sum(nil), n, r.sum)
	}
	st, _ := p.js.Stats(p.ctx, jsID)
	t.Logf("JS->Go %d MiB in %v (%.1f MB/s), JS mtu %d rtt %d ms retransmits %d fast recoveries %d",
		n>>20, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds()/1e6,
		st.MTU, st.RTT, st.Retransmits, st.FastRecoveries)
	p.calm.Store(true)
	if err := p.s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	waitGoDone(t, p.ctx, p.s, nil)
	p.wantJSClose(t, "")
}

// lossy drops a fraction loss of the datagrams and delays a fraction
// reorder of the rest by up to maxDelay, until calm is set.
func lossy(calm *atomic.Bool, loss, reorder float64, maxDelay time.Duration) proxyFunc {
	return func(_ proxyDir, _ []byte, r *rand.Rand) proxyAction {
		if calm.Load() {
			return proxyAction{}
		}
		if r.Float64() < loss {
			return proxyAction{Drop: true}
		}
		if r.Float64() < reorder {
			return proxyAction{Delay: time.Duration(1 + r.Int64N(int64(maxDelay)))}
		}
		return proxyAction{}
	}
}

// hostile is lossy plus, for a fraction each: a duplicate (at once or a
// little later), a replay of one of the last 4096 datagrams of the same
// direction, a truncated copy in place of the datagram (shorter than a
// header, or a SACK cut in a block), and a copy with a mangled
// version byte. A datagram that carries stream data is never cut after its
// header: UDX has no checksum, UDP's stops that on a real path.
func hostile(calm *atomic.Bool, loss, reorder float64, maxDelay time.Duration) proxyFunc {
	base := lossy(calm, loss, reorder, maxDelay)
	const keep = 4096
	var history [2][][]byte // per direction; calls for one direction never overlap
	return func(dir proxyDir, b []byte, r *rand.Rand) proxyAction {
		a := base(dir, b, r)
		if calm.Load() {
			return a
		}
		hist := history[dir]
		if len(hist) < keep {
			hist = append(hist, b)
		} else {
			hist[r.IntN(keep)] = b
		}
		history[dir] = hist
		delay := func() time.Duration { return time.Duration(r.Int64N(int64(maxDelay))) }
		switch x := r.Float64(); {
		case x < 0.02:
			a.Extra = append(a.Extra, proxyExtra{Data: b, Delay: delay()})
		case x < 0.04:
			a.Extra = append(a.Extra, proxyExtra{Data: hist[r.IntN(len(hist))], Delay: delay()})
		case x < 0.05:
			cut := r.IntN(udx.HeaderSize)
			if h, err := udx.ParseHeader(b); err == nil && h.Type == udx.TypeSACK && len(b) > udx.HeaderSize {
				cut = udx.HeaderSize + r.IntN(len(b)-udx.HeaderSize)
			}
			a.Drop = true
			a.Extra = append(a.Extra, proxyExtra{Data: b[:cut:cut], Delay: delay()})
		case x < 0.06:
			m := bytes.Clone(b)
			if len(m) > 1 {
				m[1] ^= 0x80
			}
			a.Extra = append(a.Extra, proxyExtra{Data: m, Delay: delay()})
		}
		return a
	}
}

// sprayTarget is a socket to spray and the stream that lives on it.
type sprayTarget struct {
	addr netip.AddrPort
	id   uint32
}

// sprayGarbage sends burst junk datagrams from a socket of its own, to each
// target in turn, every interval, until the test ends: random bytes, dht-rpc-like
// and holepunch-like datagrams, UDX packets for unknown ids or with another
// version, truncated UDX headers for the live stream, and HEARTBEATs for the
// live stream (which only draw an ack, udx.md §3.2). A UDX packet for the
// live stream that carries data, an ack or a DESTROY would be a spoofing
// attack UDX does not defend against (the secret stream above it does), so
// none is sent. It returns the number of datagrams sent so far.
func sprayGarbage(t *testing.T, seed uint64, interval time.Duration, burst int, targets ...sprayTarget) func() int64 {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ; {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for range burst {
				tg := targets[i%len(targets)]
				i++
				c.WriteToUDPAddrPort(garbage(r, tg.id), tg.addr)
				sent.Add(1)
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
		c.Close()
	})
	return sent.Load
}

func garbage(r *rand.Rand, live uint32) []byte {
	fill := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	udxHeader := func(n int, typ byte, id uint32) []byte {
		b := fill(max(n, udx.HeaderSize))
		b[0], b[1], b[2], b[3] = udx.Magic, udx.Version, typ, 0
		binary.LittleEndian.PutUint32(b[4:], id)
		return b
	}
	switch r.IntN(8) {
	case 0:
		return fill(r.IntN(1500))
	case 1:
		return []byte{0} // a holepunch probe
	case 2:
		b := fill(1 + r.IntN(200))
		b[0] = 0x03 // a dht-rpc request, in looks only
		return b
	case 3: // a UDX packet for a stream nobody has
		id := r.Uint32()
		for id == live || id == uint32(goID) || id == jsID {
			id = r.Uint32()
		}
		return udxHeader(udx.HeaderSize+r.IntN(1200), byte(r.Uint32()), id)
	case 4: // the live stream, a version nobody speaks
		b := udxHeader(udx.HeaderSize+r.IntN(1200), byte(udx.TypeData), live)
		b[1] = udx.Version + 1
		return b
	case 5: // the live stream, truncated inside the header
		return udxHeader(udx.HeaderSize, byte(udx.TypeData), live)[:1+r.IntN(udx.HeaderSize-1)]
	default: // a HEARTBEAT for the live stream, junk in every other field
		return udxHeader(udx.HeaderSize+r.IntN(64), byte(udx.TypeHeartbeat), live)
	}
}

// TestInteropLossBulk sends bulk data each way through 2 % random loss per
// direction, with 5 % of the datagrams delayed 1-5 ms (reordered).
func TestInteropLossBulk(t *testing.T) {
	n := lossBulkSize()
	t.Run("GoToJS", func(t *testing.T) {
		p := newLossPair(t, 30*time.Second)
		px := newUDPProxy(t, p.jsAddr, 1, lossy(&p.calm, 0.02, 0.05, 5*time.Millisecond))
		p.goConnectsVia(t, px.Addr())
		p.goToJS(t, n, 11)
		fwd, drop, _ := px.Stats()
		t.Logf("proxy: %d forwarded, %d dropped", fwd, drop)
	})
	t.Run("JSToGo", func(t *testing.T) {
		p := newLossPair(t, 30*time.Second)
		px := newUDPProxy(t, p.sock.LocalAddrPort(), 2, lossy(&p.calm, 0.02, 0.05, 5*time.Millisecond))
		p.jsConnectsVia(t, px.Addr())
		p.jsToGo(t, n, 12)
		fwd, drop, _ := px.Stats()
		t.Logf("proxy: %d forwarded, %d dropped", fwd, drop)
	})
}

// TestInteropLossChangeRemote moves one end of a stream to another address
// in the middle of a transfer each way, with data in flight, over paths with
// 1 % loss and reordering (udx.md §2.8, L12). The Go stream connects to JS
// through proxy 1:
//
//		Go socket 1 ---> proxy 1 ---> JS socket
//		Go socket 2 ---> proxy 1 ---> JS socket     (GoMoves)
//		Go socket 2 <--- proxy 2 <--- JS socket     (JSMoves)
//
//	  - GoMoves: the Go stream moves to a new local socket (ChangeRemote to a
//	    new udx.Socket, same remote). Through proxy 1 that is a new source
//	    address for JS, which accepts it because it arrives on the same JS
//	    socket, while JS's packets still reach the old Go socket, which the Go
//	    firewall accepts. Later JS follows with changeRemote to the new source.
//	  - JSMoves: JS changeRemote's to proxy 2 in front of a new Go socket. Its
//	    packets arrive on that socket, the Go firewall accepts them and moves
//	    the Go stream there, to their source (the hyperdht pattern). Packets
//	    sent before keep being retransmitted on the old path.
func TestInteropLossChangeRemote(t *testing.T) {
	n := lossBulkSize() / 2
	for i, dir := range []string{"GoToJS", "JSToGo"} {
		seed := uint64(10 * (i + 1))
		transfer := func(t *testing.T, p *lossPair, hooks ...transferHook) {
			if dir == "GoToJS" {
				p.goToJS(t, n, uint32(seed), hooks...)
			} else {
				p.jsToGo(t, n, uint32(seed), hooks...)
			}
		}
		t.Run("GoMoves/"+dir, func(t *testing.T) {
			p := newLossPair(t, 30*time.Second)
			px := newUDPProxy(t, p.jsAddr, seed, lossy(&p.calm, 0.01, 0.05, 5*time.Millisecond))
			p.goConnectsVia(t, px.Addr())
			var sock2 *udx.Socket
			var newSrc netip.AddrPort
			moveGo := func() {
				sock2 = p.newSocket(t)
				if err := p.s.ChangeRemote(sock2, udx.StreamID(jsID), px.Addr()); err != nil {
					t.Errorf("Go ChangeRemote: %v", err)
				}
				t.Logf("Go ChangeRemote with %d packets in flight", p.s.Stats().Inflight)
			}
			jsFollows := func() {
				backs := px.BackAddrs()
				if len(backs) != 2 {
					t.Errorf("proxy saw %d Go sources, want 2", len(backs))
					return
				}
				newSrc = backs[1]
				imm, err := p.js.ChangeRemote(p.ctx, jsID, p.jsSock, uint32(goID), newSrc)
				if err != nil {
					t.Errorf("JS changeRemote: %v", err)
				}
				t.Logf("JS changeRemote immediate=%v", imm)
			}
			transfer(t, p, transferHook{n / 3, moveGo}, transferHook{2 * n / 3, jsFollows})
			if t.Failed() {
				return
			}
			if got := p.s.LocalAddr().(*net.UDPAddr).AddrPort(); got != sock2.LocalAddrPort() {
				t.Errorf("Go stream on %v, want the new socket %v", got, sock2.LocalAddrPort())
			}
			if st, err := p.js.Stats(p.ctx, jsID); err != nil || st.Remote != newSrc {
				t.Errorf("JS stream remote %v (%v), want %v", st.Remote, err, newSrc)
			}
		})
		t.Run("JSMoves/"+dir, func(t *testing.T) {
			p := newLossPair(t, 30*time.Second)
			px := newUDPProxy(t, p.jsAddr, seed+1, lossy(&p.calm, 0.01, 0.05, 5*time.Millisecond))
			p.goConnectsVia(t, px.Addr())
			var px2 *udpProxy
			var sock2 *udx.Socket
			moveJS := func() {
				sock2 = p.newSocket(t)
				px2 = newUDPProxy(t, sock2.LocalAddrPort(), seed+2, lossy(&p.calm, 0.01, 0.05, 5*time.Millisecond))
				p.followTo.Store(sock2)
				imm, err := p.js.ChangeRemote(p.ctx, jsID, p.jsSock, uint32(goID), px2.Addr())
				if err != nil {
					t.Errorf("JS changeRemote: %v", err)
				}
				t.Logf("JS changeRemote immediate=%v", imm)
			}
			transfer(t, p, transferHook{n / 2, moveJS})
			if t.Failed() {
				return
			}
			if !p.followed.Load() {
				t.Fatal("the Go firewall never saw a packet on the new socket")
			}
			backs := px2.BackAddrs()
			if got := p.s.LocalAddr().(*net.UDPAddr).AddrPort(); got != sock2.LocalAddrPort() || len(backs) != 1 ||
				p.s.RemoteAddr().(*net.UDPAddr).AddrPort() != backs[0] {
				t.Errorf("Go stream %v -> %v, want %v -> %v", got, p.s.RemoteAddr(), sock2.LocalAddrPort(), backs)
			}
			if st, err := p.js.Stats(p.ctx, jsID); err != nil || st.Remote != px2.Addr() {
				t.Errorf("JS stream remote %v (%v), want %v", st.Remote, err, px2.Addr())
			}
		})
	}
}

// TestInteropLossHostile runs a transfer each way while the proxy drops 1 %,
// reorders, duplicates, replays old datagrams, truncates and mangles, and a
// third socket sprays garbage at both endpoints' sockets.
func TestInteropLossHostile(t *testing.T) {
	n := lossBulkSize() / 2
	for _, dir := range []string{"GoToJS", "JSToGo"} {
		t.Run(dir, func(t *testing.T) {
			p := newLossPair(t, 30*time.Second)
			var sprayed func() int64
			spray := func() {
				sprayed = sprayGarbage(t, 9, 200*time.Microsecond, 8,
					sprayTarget{p.sock.LocalAddrPort(), uint32(goID)},
					sprayTarget{p.jsAddr, jsID})
			}
			// Spray once both streams are connected: before that, a
			// firewall that connects on the first packet would take the
			// sprayer for the peer.
			hooks := []transferHook{{64 << 10, spray}}
			var px *udpProxy
			if dir == "GoToJS" {
				px = newUDPProxy(t, p.jsAddr, 8, hostile(&p.calm, 0.01, 0.05, 5*time.Millisecond))
				p.goConnectsVia(t, px.Addr())
				p.goToJS(t, n, 17, hooks...)
			} else {
				px = newUDPProxy(t, p.sock.LocalAddrPort(), 9, hostile(&p.calm, 0.01, 0.05, 5*time.Millisecond))
				p.jsConnectsVia(t, px.Addr())
				p.jsToGo(t, n, 18, hooks...)
			}
			fwd, drop, extra := px.Stats()
			t.Logf("proxy: %d forwarded, %d dropped, %d added; %d garbage datagrams sprayed; Go socket dropped %d plain datagrams",
				fwd, drop, extra, sprayed(), p.sock.Dropped())
		})
	}
}
