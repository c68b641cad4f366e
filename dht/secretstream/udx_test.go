package secretstream

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/noise"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// udxConns connects two Conns over UDX streams on 127.0.0.1, with their
// messages wired through hooks:
//
//	initiator: socket A, stream 1  <---- UDP ---->  responder: socket B, stream 2
func udxConns(t *testing.T, optsI, optsR Options) (ci, cr *Conn, si, sr *udx.Stream) {
	t.Helper()
	u := udx.NewInstance()
	var socks [2]*udx.Socket
	for i := range socks {
		pc, err := u.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		socks[i] = pc.(*udx.Socket)
		t.Cleanup(func() { socks[i].Close() })
	}
	var streams [2]*udx.Stream
	opts := []*Options{&optsI, &optsR}
	for i := range streams {
		if opts[i].Messages == nil {
			opts[i].Messages = new(MessageHook)
		}
		s, err := u.NewStream(udx.StreamID(i+1), udx.StreamOptions{OnMessage: opts[i].Messages.Deliver})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Destroy() })
		streams[i] = s
	}
	for i, s := range streams {
		if err := s.Connect(socks[i], udx.StreamID(2-i), socks[1-i].LocalAddrPort()); err != nil {
			t.Fatal(err)
		}
	}
	hi, hr := testResults()
	conns := make([]*Conn, 2)
	for i, hs := range []*noise.Result{&hi, &hr} {
		c, err := New(streams[i], hs, *opts[i])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns[0], conns[1], streams[0], streams[1]
}

// TestOverUDX runs a session over Go UDX streams: data both ways, messages,
// a graceful end that closes both UDX streams cleanly.
func TestOverUDX(t *testing.T) {
	var mu sync.Mutex
	var got []string
	ci, cr, si, sr := udxConns(t, Options{KeepAlive: 50 * time.Millisecond}, Options{
		KeepAlive: 50 * time.Millisecond,
		OnMessage: func(b []byte) {
			mu.Lock()
			got = append(got, string(b))
			mu.Unlock()
		},
	})
	if ci.LocalAddr() == nil || ci.RemoteAddr().String() != cr.LocalAddr().String() {
		t.Errorf("addresses %v -> %v, peer at %v", ci.LocalAddr(), ci.RemoteAddr(), cr.LocalAddr())
	}

	const n = 4 << 20
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i * 13)
	}
	want := sha256.Sum256(data)
	errc := make(chan error, 1)
	go func() {
		for rest := data; len(rest) > 0; {
			k := min(len(rest), 100000)
			if _, err := ci.Write(rest[:k]); err != nil {
				errc <- err
				return
			}
			rest = rest[k:]
		}
		errc <- ci.CloseWrite()
	}()
	h := sha256.New()
	if m, err := io.Copy(h, cr); err != nil || m != n {
		t.Fatalf("copied %d bytes, %v", m, err)
	}
	if [32]byte(h.Sum(nil)) != want {
		t.Fatal("data differs")
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	for _, m := range []string{"ping", "", "pong"} {
		if err := ci.Send([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 })
	if got[0] != "ping" || got[1] != "" || got[2] != "pong" {
		t.Errorf("messages %q", got)
	}
	if err := ci.Send(make([]byte, 2000)); !errors.Is(err, udx.ErrMessageTooLarge) {
		t.Errorf("Send of 2000 bytes: %v", err)
	}

	// The responder writes after the initiator's end, then ends too.
	if _, err := cr.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	if err := cr.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(ci); err != nil || string(b) != "late" {
		t.Fatalf("initiator read %q, %v", b, err)
	}
	for _, c := range []*Conn{ci, cr} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*udx.Stream{si, sr} {
		<-s.Done()
		if s.Err() != nil {
			t.Errorf("UDX stream %d ended with %v, want a clean close", s.ID(), s.Err())
		}
	}
}

// TestOverUDXReset: closing one side resets the other.
func TestOverUDXReset(t *testing.T) {
	ci, cr, _, _ := udxConns(t, Options{}, Options{})
	if _, err := ci.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, cr, 1); !bytes.Equal(got, []byte("x")) {
		t.Fatalf("read %q", got)
	}
	ci.Close()
	if _, err := io.ReadAll(cr); !errors.Is(err, udx.ErrReset) {
		t.Fatalf("Read after the peer's Close: %v", err)
	}
	if !errors.Is(cr.Err(), udx.ErrReset) {
		t.Fatalf("Err = %v", cr.Err())
	}
}
