package interop_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/noise"
	"github.com/hyperlan/hyperlan/dht/secretstream"
	"github.com/hyperlan/hyperlan/dht/udx"
	"github.com/hyperlan/hyperlan/interop"
)

// Go secret streams (dht/secretstream on dht/udx) against
// @hyperswarm/secret-stream on udx-native, on 127.0.0.1:
//
//	Go: udx.Instance, socket, stream n, secretstream.Conn
//	        <---- UDP ---->  JS: secretstream.js, socket 1, stream n+1000, NoiseSecretStream
//
// Each session gets fresh random keys, handed to both sides as a finished
// handshake (or runs secret-stream's XX). Both roles are tested: the side
// that initiates the secret stream also connects the UDX stream, the other
// connects back to whoever sends first, as in hyperdht.

type ssEnv struct {
	ctx    context.Context
	js     *interop.SecretStreamNode
	jsSock int
	jsAddr netip.AddrPort
	u      *udx.Instance
	sock   *udx.Socket

	mu     sync.Mutex
	nextID uint32 // guarded by mu
}

func newSSEnv(t *testing.T) *ssEnv {
	t.Helper()
	js := interop.StartSecretStream(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	t.Cleanup(cancel)
	e := &ssEnv{ctx: ctx, js: js, u: udx.NewInstance(), nextID: 1}
	var err error
	if e.jsSock, e.jsAddr, err = js.Socket(ctx); err != nil {
		t.Fatal(err)
	}
	pc, err := e.u.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.sock = pc.(*udx.Socket)
	e.sock.SetReadBuffer(1 << 20)
	t.Cleanup(func() { e.sock.Close() })
	return e
}

// ssSession is one Go secret stream and the id of its JS peer.
type ssSession struct {
	raw  *udx.Stream
	c    *secretstream.Conn
	msgs chan []byte // messages the Go side received
	js   uint32      // the JS stream's id
}

// session opens a session with a fresh random handshake. goInitiator picks
// which side initiates; the JS side's stream, socket, peer and handshake
// fields of jsOpts are filled in here.
func (e *ssEnv) session(t *testing.T, goInitiator bool, goOpts secretstream.Options, jsOpts interop.SecretOpts) *ssSession {
	t.Helper()
	var init, resp noise.Result
	for _, b := range [][]byte{init.Tx[:], init.Rx[:], init.Hash[:], init.PublicKey[:], init.RemotePublicKey[:]} {
		rand.Read(b)
	}
	init.Initiator = true
	resp = noise.Result{Hash: init.Hash, Tx: init.Rx, Rx: init.Tx, PublicKey: init.RemotePublicKey, RemotePublicKey: init.PublicKey}
	goResult, jsResult := &init, &resp
	if !goInitiator {
		goResult, jsResult = &resp, &init
	}
	jsOpts.Handshake = &interop.SecretHandshake{
		Tx: jsResult.Tx, Rx: jsResult.Rx, Hash: jsResult.Hash,
		PublicKey: jsResult.PublicKey, RemotePublicKey: jsResult.RemotePublicKey,
	}
	s := e.open(t, goInitiator, &goOpts, &jsOpts)
	// The side that connects must find the other's stream in place: a
	// packet for an unknown stream is dropped and waits for a retransmission.
	if goInitiator {
		if err := e.js.Open(e.ctx, jsOpts); err != nil {
			t.Fatal(err)
		}
	}
	c, err := secretstream.New(s.raw, goResult, goOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s.c = c
	if !goInitiator {
		if err := e.js.Open(e.ctx, jsOpts); err != nil {
			t.Fatal(err)
		}
		// The Go stream connects on the JS header's arrival; Send needs it.
		for s.raw.RemoteAddr() == nil {
			select {
			case <-e.ctx.Done():
				t.Fatal("Go stream not connected")
			case <-time.After(time.Millisecond):
			}
		}
	}
	return s
}

// open makes the Go raw stream and fills in jsOpts's stream and peer
// fields, for an initiator that connects and a responder that connects back.
func (e *ssEnv) open(t *testing.T, goInitiator bool, goOpts *secretstream.Options, jsOpts *interop.SecretOpts) *ssSession {
	t.Helper()
	e.mu.Lock()
	goID := e.nextID
	e.nextID++
	e.mu.Unlock()
	s := &ssSession{js: goID + 1000, msgs: make(chan []byte, 64)}
	if goOpts.Messages == nil {
		goOpts.Messages = new(secretstream.MessageHook)
	}
	if goOpts.OnMessage == nil {
		goOpts.OnMessage = func(b []byte) {
			select {
			case s.msgs <- bytes.Clone(b):
			default:
			}
		}
	}
	sopts := udx.StreamOptions{OnMessage: goOpts.Messages.Deliver}
	if !goInitiator {
		sopts.Firewall = func(st *udx.Stream, sock *udx.Socket, from netip.AddrPort) bool {
			if st.RemoteAddr() == nil {
				st.Connect(sock, udx.StreamID(s.js), from)
			}
			return true
		}
	}
	raw, err := e.u.NewStream(udx.StreamID(goID), sopts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Destroy() })
	s.raw = raw
	jsOpts.Stream, jsOpts.Socket, jsOpts.RemoteID = s.js, e.jsSock, goID
	jsOpts.Initiator = !goInitiator
	if goInitiator {
		if err := raw.Connect(e.sock, udx.StreamID(s.js), e.jsAddr); err != nil {
			t.Fatal(err)
		}
	} else {
		jsOpts.Remote = e.sock.LocalAddrPort()
	}
	return s
}

func (e *ssEnv) wantJSClose(t *testing.T, stream uint32, code string) interop.SecretClose {
	t.Helper()
	c, err := e.js.WaitClose(e.ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if c.Code != code || (code == "" && c.Error != "") {
		t.Errorf("JS stream %d closed with %q (code %q), want code %q", stream, c.Error, c.Code, code)
	}
	return c
}

// wantCleanGoClose closes the Conn after a graceful end and checks that the
// UDX stream closed without error.
func wantCleanGoClose(t *testing.T, ctx context.Context, s *ssSession) {
	t.Helper()
	if err := s.c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.raw.Done():
	case <-ctx.Done():
		t.Fatal("Go UDX stream not closed")
	}
	if err := s.raw.Err(); err != nil {
		t.Errorf("Go UDX stream ended with %v, want a clean close", err)
	}
}

func roles(t *testing.T, f func(t *testing.T, goInitiator bool)) {
	for _, goInitiator := range []bool{true, false} {
		name := "GoInitiator"
		if !goInitiator {
			name = "JSInitiator"
		}
		t.Run(name, func(t *testing.T) { f(t, goInitiator) })
	}
}

// TestSecretStreamUDX runs the live scenarios in both roles over one JS
// driver: echo, 10 MB each way at once, messages both ways, an end from
// either side, a destroy from either side, and keep-alives.
func TestSecretStreamUDX(t *testing.T) {
	interop.Require(t)
	env := newSSEnv(t)
	ctx := env.ctx

	roles(t, func(t *testing.T, goInitiator bool) {
		t.Run("Echo", func(t *testing.T) {
			s := env.session(t, goInitiator, secretstream.Options{}, interop.SecretOpts{Echo: true})
			open, err := env.js.WaitOpen(ctx, s.js)
			if err != nil {
				t.Fatal(err)
			}
			if hash := s.c.HandshakeHash(); !bytes.Equal(open.HandshakeHash, hash[:]) {
				t.Errorf("JS handshake hash %x, want %x", open.HandshakeHash, hash)
			}
			for _, m := range []string{"hello", "a", string(make([]byte, 3000))} {
				if err := s.c.WriteFrame([]byte(m)); err != nil {
					t.Fatal(err)
				}
				// The echo writes each chunk back as one write: one frame.
				f, err := s.c.ReadFrame()
				if err != nil || string(f) != m {
					t.Fatalf("echo of %d bytes: %d bytes, %v", len(m), len(f), err)
				}
			}
			if err := s.c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if rest, err := io.ReadAll(s.c); err != nil || len(rest) != 0 {
				t.Fatalf("after the echo's end: %q, %v", rest, err)
			}
			env.wantJSClose(t, s.js, "")
			wantCleanGoClose(t, ctx, s)
		})

		t.Run("Bulk", func(t *testing.T) {
			const n = 10 << 20
			s := env.session(t, goInitiator, secretstream.Options{}, interop.SecretOpts{})
			data := make([]byte, n)
			rand.Read(data)
			errc := make(chan error, 2)
			go func() { // Go -> JS: one 1 MiB frame, then 64 KiB writes, then the end
				rest := data
				for _, size := range []int{1 << 20, 64 << 10} {
					for len(rest) > 0 {
						k := min(size, len(rest))
						if _, err := s.c.Write(rest[:k]); err != nil {
							errc <- err
							return
						}
						rest = rest[k:]
						if size == 1<<20 {
							break
						}
					}
				}
				errc <- s.c.CloseWrite()
			}()
			var jsSum interop.Digest
			go func() { // JS -> Go, in 256 KiB writes
				var err error
				jsSum, err = env.js.WriteRandom(ctx, s.js, n, 256<<10)
				if err == nil {
					err = env.js.End(ctx, s.js)
				}
				errc <- err
			}()
			h := sha256.New()
			got, err := io.Copy(h, s.c)
			if err != nil || got != n {
				t.Fatalf("Go read %d bytes, %v", got, err)
			}
			for range 2 {
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
			if sum := [32]byte(h.Sum(nil)); sum != jsSum {
				t.Errorf("Go read sha256 %x, JS wrote %v", sum, jsSum)
			}
			end, err := env.js.WaitEnd(ctx, s.js)
			if err != nil {
				t.Fatal(err)
			}
			if want := sha256.Sum256(data); end.Bytes != n || end.SHA256 != want {
				t.Errorf("JS read %d bytes with sha256 %v, Go wrote %d with %x", end.Bytes, end.SHA256, n, want)
			}
			env.wantJSClose(t, s.js, "")
			wantCleanGoClose(t, ctx, s)
		})

		t.Run("Messages", func(t *testing.T) {
			s := env.session(t, goInitiator, secretstream.Options{}, interop.SecretOpts{})
			if _, err := env.js.WaitOpen(ctx, s.js); err != nil {
				t.Fatal(err)
			}
			big := make([]byte, 1100)
			rand.Read(big)
			// A JS receiver drops messages that come before its stream has
			// opened, and datagrams can be lost: resend until each arrives.
			for i, m := range [][]byte{[]byte("ping"), {}, big} {
				send := s.c.Send
				if i == 2 {
					send = s.c.TrySend
				}
				want := sha256.Sum256(m)
				waitJS(t, ctx, func() error { return send(m) }, func(ctx context.Context) error {
					_, err := env.js.WaitMessage(ctx, s.js, func(e interop.SecretMessage) bool {
						return e.Length == len(m) && e.SHA256 == want
					})
					return err
				})
			}
			for i, m := range [][]byte{[]byte("pong"), {}, big} {
				if i == 1 {
					err := env.js.TrySend(ctx, s.js, m)
					if err != nil {
						t.Fatal(err)
					}
				} else if _, err := env.js.Send(ctx, s.js, m); err != nil {
					t.Fatal(err)
				}
				select {
				case got := <-s.msgs:
					if !bytes.Equal(got, m) {
						t.Fatalf("Go received %x, want %x", got, m)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("Go did not receive message %d", i)
				}
			}
			if st := s.c.Stats(); st.MessagesRejected != 0 || st.MessagesReplayed != 0 {
				t.Errorf("Go message stats %+v", st)
			}
		})

		t.Run("EndGoFirst", func(t *testing.T) {
			s := env.session(t, goInitiator, secretstream.Options{}, interop.SecretOpts{})
			if _, err := s.c.Write([]byte("bye")); err != nil {
				t.Fatal(err)
			}
			if err := s.c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			end, err := env.js.WaitEnd(ctx, s.js)
			if err != nil || end.Bytes != 3 {
				t.Fatalf("JS end after %d bytes, %v", end.Bytes, err)
			}
			if err := env.js.Write(ctx, s.js, []byte("late")); err != nil {
				t.Fatal(err)
			}
			if err := env.js.End(ctx, s.js); err != nil {
				t.Fatal(err)
			}
			if b, err := io.ReadAll(s.c); err != nil || string(b) != "late" {
				t.Fatalf("Go read %q, %v after its end", b, err)
			}
			env.wantJSClose(t, s.js, "")
			wantCleanGoClose(t, ctx, s)
		})

		t.Run("EndJSFirst", func(t *testing.T) {
			s := env.session(t, goInitiator, secretstream.Options{}, interop.SecretOpts{})
			if err := env.js.Write(ctx, s.js, []byte("bye")); err != nil {
				t.Fatal(err)
			}
			if err := env.js.End(ctx, s.js); err != nil {
				t.Fatal(err)
			}
			if b, err := io.ReadAll(s.c); err != nil || string(b) != "bye" {
				t.Fatalf("Go read %q, %v", b, err)
			}
			if _, err := s.c.Write([]byte("late")); err != nil {
				t.Fatal(err)
			}
			if err := s.c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			end, err := env.js.WaitEnd(ctx, s.js)
			if err != nil {
				t.Fatal(err)
			}
			if want := sha256.Sum256([]byte("late")); end.Bytes != 4 || end.SHA256 != want {
				t.Errorf("JS read %d bytes (sha256 %v), want \"late\"", end.Bytes, end.SHA256)
			}
			env.wantJSClose(t, s.js, "")
			wantCleanGoClose(t, ctx, s)
		})

		t.Run("DestroyGo", func(t *testing.T) {
			s := env.session(t, goInitiator, secretstream.Options{}, interop.SecretOpts{})
			if _, err := env.js.WaitOpen(ctx, s.js); err != nil {
				t.Fatal(err)
			}
			if _, err := s.c.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			waitJSBytes(t, ctx, env, s.js, 1)
			s.c.Close()
			env.wantJSClose(t, s.js, "ECONNRESET")
		})

		t.Run("DestroyJS", func(t *testing.T) {
			s := env.session(t, goInitiator, secretstream.Options{}, interop.SecretOpts{})
			if err := env.js.Write(ctx, s.js, []byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(s.c, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			if err := env.js.Destroy(ctx, s.js, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(s.c); !errors.Is(err, udx.ErrReset) {
				t.Fatalf("Go Read after the JS destroy: %v, want udx.ErrReset", err)
			}
			if !errors.Is(s.c.Err(), udx.ErrReset) {
				t.Errorf("Go Err = %v", s.c.Err())
			}
			env.wantJSClose(t, s.js, "")
		})

		t.Run("KeepAlive", func(t *testing.T) {
			const every = 100 * time.Millisecond
			s := env.session(t, goInitiator, secretstream.Options{KeepAlive: every}, interop.SecretOpts{KeepAlive: every})
			if _, err := env.js.WaitOpen(ctx, s.js); err != nil {
				t.Fatal(err)
			}
			time.Sleep(8 * every)
			st, err := env.js.Stats(ctx, s.js)
			if err != nil {
				t.Fatal(err)
			}
			goKeepAlives := s.c.Stats().KeepAlives
			if goKeepAlives < 3 || st.RawBytesRead < 3*secretstream.Overhead || st.Frames != 0 || st.Error != "" {
				t.Errorf("Go sent %d keep-alives; JS read %d frame bytes, delivered %d frames, error %q",
					goKeepAlives, st.RawBytesRead, st.Frames, st.Error)
			}
			if got := s.c.Stats().FramesRead; got < 3 {
				t.Errorf("Go read %d frames from the JS keep-alives", got)
			}
			// Both directions are still in step after the keep-alives.
			if err := env.js.Write(ctx, s.js, []byte("after")); err != nil {
				t.Fatal(err)
			}
			f, err := s.c.ReadFrame()
			if err != nil || string(f) != "after" {
				t.Fatalf("Go ReadFrame = %q, %v", f, err)
			}
			if _, err := s.c.Write([]byte("back")); err != nil {
				t.Fatal(err)
			}
			waitJSBytes(t, ctx, env, s.js, 4)
		})
	})
}

// TestSecretStreamXX runs secret-stream's own Noise XX handshake over UDX
// between Go and JS, in both roles, then moves data both ways.
func TestSecretStreamXX(t *testing.T) {
	interop.Require(t)
	env := newSSEnv(t)
	ctx := env.ctx
	roles(t, func(t *testing.T, goInitiator bool) {
		var goSeed, jsSeed [32]byte
		rand.Read(goSeed[:])
		rand.Read(jsSeed[:])
		goKey := ed25519.NewKeyFromSeed(goSeed[:])
		jsPub := ed25519.NewKeyFromSeed(jsSeed[:]).Public().(ed25519.PublicKey)
		goOpts := secretstream.Options{}
		jsOpts := interop.SecretOpts{Seed: jsSeed, Echo: true}
		s := env.open(t, goInitiator, &goOpts, &jsOpts)
		type result struct {
			c   *secretstream.Conn
			err error
		}
		done := make(chan result, 1)
		handshake := func() {
			c, err := secretstream.Handshake(ctx, s.raw, goInitiator, goKey, goOpts)
			done <- result{c, err}
		}
		if !goInitiator {
			go handshake() // waits for message 1
		}
		if err := env.js.Open(ctx, jsOpts); err != nil {
			t.Fatal(err)
		}
		if goInitiator {
			go handshake()
		}
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		s.c = r.c
		defer s.c.Close()
		open, err := env.js.WaitOpen(ctx, s.js)
		if err != nil {
			t.Fatal(err)
		}
		hash, remote := s.c.HandshakeHash(), s.c.RemotePublicKey()
		if !bytes.Equal(open.HandshakeHash, hash[:]) || !bytes.Equal(remote[:], jsPub) ||
			!bytes.Equal(open.RemotePublicKey, goKey.Public().(ed25519.PublicKey)) {
			t.Fatalf("JS: hash %x, remote key %x; Go: hash %x, remote key %x, public key %x; JS public key %x",
				[]byte(open.HandshakeHash), []byte(open.RemotePublicKey), hash, remote, []byte(goKey.Public().(ed25519.PublicKey)), []byte(jsPub))
		}
		for i := range 3 {
			m := fmt.Appendf(nil, "frame %d over XX", i)
			if err := s.c.WriteFrame(m); err != nil {
				t.Fatal(err)
			}
			if f, err := s.c.ReadFrame(); err != nil || !bytes.Equal(f, m) {
				t.Fatalf("echo %q, %v", f, err)
			}
		}
	})
}

// TestSecretStreamBadHeader gives the two sides different handshake hashes:
// each rejects the other's stream id, as the reference does.
func TestSecretStreamBadHeader(t *testing.T) {
	interop.Require(t)
	env := newSSEnv(t)
	var goResult noise.Result
	rand.Read(goResult.Hash[:])
	goResult.Initiator = true
	goOpts := secretstream.Options{}
	jsOpts := interop.SecretOpts{Handshake: &interop.SecretHandshake{}}
	rand.Read(jsOpts.Handshake.Hash[:])
	s := env.open(t, true, &goOpts, &jsOpts)
	if err := env.js.Open(env.ctx, jsOpts); err != nil {
		t.Fatal(err)
	}
	c, err := secretstream.New(s.raw, &goResult, goOpts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	jsClose, err := env.js.WaitClose(env.ctx, s.js)
	if err != nil {
		t.Fatal(err)
	}
	if jsClose.Error != "Invalid header received" && jsClose.Code != "ECONNRESET" {
		t.Errorf("JS closed with %q (%s)", jsClose.Error, jsClose.Code)
	}
	if _, err := io.ReadAll(c); !errors.Is(err, secretstream.ErrStreamID) && !errors.Is(err, udx.ErrReset) {
		t.Errorf("Go Read = %v, want ErrStreamID or the JS reset", err)
	}
}

// waitJS repeats send until check finds its effect, for datagrams.
func waitJS(t *testing.T, ctx context.Context, send func() error, check func(context.Context) error) {
	t.Helper()
	for try := 0; ; try++ {
		if err := send(); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		err := check(cctx)
		cancel()
		if err == nil {
			return
		}
		if try == 10 || ctx.Err() != nil {
			t.Fatalf("not received after %d sends: %v", try+1, err)
		}
	}
}

// waitJSBytes waits until the JS stream has read n plaintext bytes.
func waitJSBytes(t *testing.T, ctx context.Context, env *ssEnv, stream uint32, n int64) {
	t.Helper()
	for {
		st, err := env.js.Stats(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if st.Received >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("JS read %d bytes, want %d", st.Received, n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
