package interop_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/interop"
)

const echoCommand = 42 // answered by dhtrpc.js with the request's value

// TestReferenceNetwork proves the harness against the JS reference alone:
// a bootstrapper and three persistent JS nodes on 127.0.0.1.
//
//	      bootstrapper (127.0.0.1:P)
//	     /        |         \
//	nodes[0]   nodes[1]   nodes[2] (--log-requests)
func TestReferenceNetwork(t *testing.T) {
	interop.Require(t)
	t.Cleanup(func() { checkNoReaders(t) }) // registered first, so it runs after the nodes' cleanups
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	port := interop.FreeUDPPort(t)
	boot := interop.StartBootstrapper(t, port)
	if got, want := boot.Addr(), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)); got != want {
		t.Fatalf("bootstrapper Addr() = %v, want %v", got, want)
	}

	nodes := make([]*interop.Node, 3)
	started := make([]time.Time, len(nodes))
	for i := range nodes {
		started[i] = time.Now()
		nodes[i] = interop.StartNode(t, []netip.AddrPort{boot.Addr()}, interop.NodeOptions{LogRequests: i == 2})
	}

	infos := make([]interop.Info, len(nodes))
	for i, n := range nodes {
		persistent, err := n.WaitEvent(ctx, "persistent", nil)
		if err != nil {
			t.Fatal(err)
		}
		boot, err := n.WaitEvent(ctx, "bootstrapped", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%v: persistent after %v, bootstrapped after %v", n,
			persistent.At.Sub(started[i]).Round(time.Millisecond), boot.At.Sub(started[i]).Round(time.Millisecond))

		info, err := n.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Ephemeral || info.Firewalled {
			t.Errorf("%v: ephemeral=%v firewalled=%v after bootstrap, want both false", n, info.Ephemeral, info.Firewalled)
		}
		if len(info.ID) != 64 || info.ID != info.TableID {
			t.Errorf("%v: id %q, table id %q: want the same 32-byte id", n, info.ID, info.TableID)
		}
		if info.Host != "127.0.0.1" || info.Port != info.ServerPort || info.ServerPort != int(n.Addr().Port()) {
			t.Errorf("%v: address %s:%d, server port %d, Addr() %v: want 127.0.0.1 and the server port",
				n, info.Host, info.Port, info.ServerPort, n.Addr())
		}
		infos[i] = info
	}
	if t.Failed() {
		t.FailNow()
	}

	bootInfo, err := boot.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bootInfo.Ephemeral || bootInfo.Port != port {
		t.Errorf("bootstrapper: ephemeral=%v port=%d, want persistent on %d", bootInfo.Ephemeral, bootInfo.Port, port)
	}
	// A node that became persistent talks to the bootstrapper from its server
	// socket with its id, so the bootstrapper adds it.
	for i := range nodes {
		_, err := boot.WaitEvent(ctx, "add-node", func(e interop.Event) bool {
			return e.Peer != nil && e.Peer.ID == infos[i].ID && e.Peer.Port == infos[i].ServerPort
		})
		if err != nil {
			t.Fatalf("bootstrapper never added %v: %v", nodes[i], err)
		}
	}

	t.Run("FindNode", func(t *testing.T) {
		target := decodeID(t, infos[1].ID)
		res, err := nodes[0].FindNode(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		fromTarget := slices.IndexFunc(res.Replies, func(m interop.Msg) bool {
			return m.From.ID == infos[1].ID && m.From.AddrPort() == nodes[1].Addr()
		})
		if fromTarget < 0 {
			t.Errorf("no reply from the target %v among %d replies", nodes[1].Addr(), len(res.Replies))
		}
		if len(res.Closest) == 0 || res.Closest[0] != nodes[1].Addr().String() {
			t.Errorf("closest = %v, want %v first", res.Closest, nodes[1].Addr())
		}
	})

	t.Run("Ping", func(t *testing.T) {
		m, err := nodes[0].Ping(ctx, nodes[1].Addr())
		if err != nil {
			t.Fatal(err)
		}
		if m.Error != 0 || m.From.ID != infos[1].ID {
			t.Errorf("ping reply error=%d from.id=%q, want 0 and %q", m.Error, m.From.ID, infos[1].ID)
		}
		// A persistent node sends from its server socket.
		if got, want := m.To.AddrPort(), nodes[0].Addr(); got != want {
			t.Errorf("ping reply to = %v, want %v", got, want)
		}
		if m.Token != nil || m.Value != nil {
			t.Errorf("internal reply carries token %v value %v, want neither", m.Token, m.Value)
		}
	})

	t.Run("Request", func(t *testing.T) {
		value := []byte("hello")
		m, err := nodes[0].Request(ctx, nodes[2].Addr(), interop.RequestArgs{Command: echoCommand, Value: value})
		if err != nil {
			t.Fatal(err)
		}
		if m.Error != 0 || !bytes.Equal(m.Value, value) || len(m.Token) != 32 {
			t.Fatalf("echo reply error=%d value=%q token=%v, want 0, %q and a token", m.Error, m.Value, m.Token, value)
		}
		token := m.Token

		forged := bytes.Repeat([]byte{0xff}, 32)
		m, err = nodes[0].Request(ctx, nodes[2].Addr(), interop.RequestArgs{Command: echoCommand, Value: value, Token: forged})
		if err != nil {
			t.Fatal(err)
		}
		if m.Error != 2 || len(m.Token) != 32 || m.Value != nil {
			t.Errorf("forged token: error=%d token=%v value=%v, want 2 (INVALID_TOKEN) with a fresh token", m.Error, m.Token, m.Value)
		}

		m, err = nodes[0].Request(ctx, nodes[2].Addr(), interop.RequestArgs{Command: echoCommand, Value: value, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		if m.Error != 0 || !bytes.Equal(m.Value, value) {
			t.Errorf("valid token: error=%d value=%q, want 0 and %q", m.Error, m.Value, value)
		}

		m, err = nodes[0].Request(ctx, nodes[2].Addr(), interop.RequestArgs{Command: echoCommand + 1})
		if err != nil {
			t.Fatal(err)
		}
		if m.Error != 1 {
			t.Errorf("unhandled command: error=%d, want 1 (UNKNOWN_COMMAND)", m.Error)
		}

		// nodes[2] logs requests; the echo request shows up with its token.
		_, err = nodes[2].WaitEvent(ctx, "request", func(e interop.Event) bool {
			var r struct {
				Command int         `json:"command"`
				Token   interop.Hex `json:"token"`
				Value   interop.Hex `json:"value"`
			}
			return json.Unmarshal(e.Raw, &r) == nil && r.Command == echoCommand &&
				bytes.Equal(r.Token, token) && bytes.Equal(r.Value, value)
		})
		if err != nil {
			t.Error(err)
		}
	})

	t.Run("QueryCommit", func(t *testing.T) {
		var target [32]byte
		rand.Read(target[:])
		value := []byte("commit me")
		res, err := nodes[0].Query(ctx, target, echoCommand, value, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Replies) < len(nodes) || len(res.Closest) == 0 {
			t.Errorf("%d replies, %d closest; want at least %d and 1", len(res.Replies), len(res.Closest), len(nodes))
		}
		for _, m := range res.Replies {
			if m.Error != 0 || !bytes.Equal(m.Value, value) || len(m.Token) != 32 {
				t.Errorf("reply from %v: error=%d value=%q token=%v", m.From.AddrPort(), m.Error, m.Value, m.Token)
			}
		}
		if len(res.Commits) != len(res.Closest) {
			t.Errorf("%d commits for %d closest nodes", len(res.Commits), len(res.Closest))
		}
		for _, m := range res.Commits {
			if m.Error != 0 || !bytes.Equal(m.Value, value) {
				t.Errorf("commit answered by %v: error=%d value=%q, want 0 and %q", m.From.AddrPort(), m.Error, m.Value, value)
			}
		}
	})

	t.Run("AddNode", func(t *testing.T) {
		dead := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(interop.FreeUDPPort(t)))
		if err := nodes[1].AddNode(ctx, dead); err != nil {
			t.Fatal(err)
		}
		table, err := nodes[1].Table(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(table, func(p interop.Peer) bool { return p.AddrPort() == dead }) {
			t.Errorf("table %v lacks the added %v", table, dead)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		var ce *interop.CallError
		if err := nodes[0].Call(ctx, "no-such-op", nil, nil); !errors.As(err, &ce) {
			t.Errorf("unknown op: err = %v, want a *CallError", err)
		}
		// A silent port: four sends, one second apart, then REQUEST_TIMEOUT.
		silent := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(interop.FreeUDPPort(t)))
		_, err := nodes[0].Ping(ctx, silent)
		if !errors.As(err, &ce) || ce.Code != "REQUEST_TIMEOUT" {
			t.Errorf("ping to a silent port: err = %v, want a CallError with code REQUEST_TIMEOUT", err)
		}
	})

	t.Run("Exit", func(t *testing.T) {
		n := nodes[2]
		if err := n.Call(ctx, "exit", nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := n.Stop(); err != nil {
			t.Errorf("Stop after exit: %v", err)
		}
		if _, err := n.Info(ctx); !errors.Is(err, interop.ErrExited) {
			t.Errorf("Info after exit: err = %v, want ErrExited", err)
		}
		if _, err := n.WaitEvent(ctx, "never", nil); !errors.Is(err, interop.ErrExited) {
			t.Errorf("WaitEvent after exit: err = %v, want ErrExited", err)
		}
	})

	for _, n := range append(nodes, boot) {
		if err := n.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}
}

// TestStartFailure checks that a driver that cannot bind fails the start with
// its stderr: a second bootstrapper on a port already in use.
func TestStartFailure(t *testing.T) {
	interop.Require(t)
	port := interop.FreeUDPPort(t)
	interop.StartBootstrapper(t, port)

	ft := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ft.runCleanups()
		interop.StartBootstrapper(ft, port)
	}()
	<-done
	if !ft.fataled {
		t.Fatal("second bootstrapper on the same port started")
	}
	t.Logf("start failure reported as: %s", ft.msg)
	if !strings.Contains(ft.msg, "address already in use") {
		t.Errorf("failure message does not explain itself: %s", ft.msg)
	}
}

func TestHexJSON(t *testing.T) {
	tests := []struct {
		name string
		in   interop.Hex
		want string
	}{
		{"nil", nil, "null"},
		{"empty", interop.Hex{}, `""`},
		{"bytes", interop.Hex{0x00, 0xab, 0xff}, `"00abff"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.in)
			if err != nil || string(b) != tt.want {
				t.Fatalf("Marshal = %s, %v; want %s", b, err, tt.want)
			}
			var back interop.Hex
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if (back == nil) != (tt.in == nil) || !bytes.Equal(back, tt.in) {
				t.Errorf("round trip = %#v, want %#v", back, tt.in)
			}
		})
	}
	var h interop.Hex
	if err := json.Unmarshal([]byte(`"zz"`), &h); err == nil {
		t.Error(`Unmarshal("zz") succeeded`)
	}
}

// checkNoReaders fails the test if any driver's reader goroutine is still
// running. Stop returns only after the reader closed its done channel, so at
// most a few scheduler yields are needed. Tests in this package are not
// parallel, so another test's nodes cannot be mistaken for leaks.
func checkNoReaders(t *testing.T) {
	t.Helper()
	const frame = "interop.(*Node).readLoop"
	deadline := time.Now().Add(2 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, frame) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("driver reader goroutines still running after Stop:\n%s", stacks)
			return
		}
		runtime.Gosched()
	}
}

func decodeID(t *testing.T, s string) [32]byte {
	t.Helper()
	var id [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		t.Fatalf("bad id %q", s)
	}
	copy(id[:], b)
	return id
}

// fatalRecorder stands in for the test in a goroutine, turning Fatal into a
// recorded message and running cleanups itself.
type fatalRecorder struct {
	testing.TB
	fataled  bool
	msg      string
	cleanups []func()
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.fataled = true
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalRecorder) Fatal(args ...any) {
	f.fataled = true
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fatalRecorder) Errorf(format string, args ...any) {
	f.msg += "\n" + fmt.Sprintf(format, args...)
}

func (f *fatalRecorder) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}
