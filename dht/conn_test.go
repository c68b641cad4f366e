package dht

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/dht/secretstream"
)

// Go-only connection tests on the in-memory network, in virtual time.

func TestConnectEchoInMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, 6)
		ctx := context.Background()
		kp, _ := NewKeyPair(seed(0x21))
		srv := tn.nodes[2].CreateServer(ServerOptions{})
		if err := srv.Listen(ctx, kp); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		defer wg.Wait()
		served := make(chan *Conn, 1)
		wg.Go(func() {
			c, err := srv.Accept(ctx)
			if err != nil {
				return
			}
			defer c.Close()
			io.Copy(c, c)
			c.CloseWrite()
			served <- c
		})
		client := tn.add(rpc.ModeEphemeral)
		ckp, _ := NewKeyPair(seed(0x22))
		c, err := client.Connect(ctx, kp.PublicKey, &ConnectOptions{KeyPair: ckp})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if c.RemotePublicKey() != kp.PublicKey || c.PublicKey() != ckp.PublicKey {
			t.Fatalf("keys: remote %x local %x", c.RemotePublicKey(), c.PublicKey())
		}
		msg := []byte("hello through the DHT")
		c.Write(msg)
		c.CloseWrite()
		got, err := io.ReadAll(c)
		if err != nil || string(got) != string(msg) {
			t.Fatalf("echo %q, %v", got, err)
		}
		<-served
		if err := srv.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Accept(ctx); !errors.Is(err, ErrServerClosed) || !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v", err)
		}
		if _, err := tn.nodes[4].FindPeer(ctx, kp.PublicKey); !errors.Is(err, ErrNotFound) {
			t.Fatalf("FindPeer after Close: %v", err)
		}
	})
}

func TestListenErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, 4)
		ctx := context.Background()
		kp, _ := NewKeyPair(seed(0x23))
		a := tn.nodes[1].CreateServer(ServerOptions{})
		if err := a.Listen(ctx, kp); err != nil {
			t.Fatal(err)
		}
		if err := a.Listen(ctx, kp); !errors.Is(err, ErrAlreadyListening) {
			t.Errorf("second Listen: %v", err)
		}
		b := tn.nodes[1].CreateServer(ServerOptions{})
		if err := b.Listen(ctx, kp); !errors.Is(err, ErrKeyPairAlreadyUsed) {
			t.Errorf("Listen on a used key pair: %v", err)
		}
		if got := a.PublicKey(); got != kp.PublicKey {
			t.Errorf("PublicKey %x", got)
		}
		if addr := a.Address(); addr.PublicKey != kp.PublicKey {
			t.Errorf("Address %+v", addr)
		}
		a.Close(ctx)
		if err := b.Listen(ctx, kp); err != nil {
			t.Errorf("Listen once the key is free: %v", err)
		}
		tn.nodes[1].Destroy(ctx, DestroyOptions{})
		if err := tn.nodes[1].CreateServer(ServerOptions{}).Listen(ctx, kp); !errors.Is(err, ErrServerClosed) {
			t.Errorf("Listen on a destroyed node: %v", err)
		}
		if _, err := tn.nodes[1].Connect(ctx, kp.PublicKey, nil); !errors.Is(err, ErrNodeDestroyed) {
			t.Errorf("Connect on a destroyed node: %v", err)
		}
	})
}

// TestHandshakeDeduplicated: the same message 1 through two relays gets one firewall call and
// one answer, byte for byte the same.
func TestHandshakeDeduplicated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, 4)
		ctx := context.Background()
		kp, _ := NewKeyPair(seed(0x24))
		var mu sync.Mutex
		calls := 0
		srv := tn.nodes[1].CreateServer(ServerOptions{Firewall: func([32]byte, *records.NoisePayload, netip.AddrPort) bool {
			mu.Lock()
			calls++
			mu.Unlock()
			return false
		}})
		if err := srv.Listen(ctx, kp); err != nil {
			t.Fatal(err)
		}
		client := tn.add(rpc.ModeEphemeral)
		c := &connector{n: client, opts: ConnectOptions{KeyPair: client.defaultKeyPair}, remote: kp.PublicKey,
			target: records.Hash(kp.PublicKey[:]), won: make(chan struct{}), hook: new(secretstream.MessageHook)}
		raw, err := client.newRawStream(c.hook, c.onFirstPacket)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Destroy()
		c.raw = raw
		if err := c.prepare(); err != nil {
			t.Fatal(err)
		}
		found, err := client.FindPeer(ctx, kp.PublicKey)
		if err != nil || len(found) < 2 {
			t.Fatalf("FindPeer: %d replies, %v", len(found), err)
		}
		value, _ := records.AppendHandshake(nil, &records.Handshake{Mode: records.ModeFromClient, Noise: c.msg1})
		target := ktable.ID(c.target)
		var answers [][]byte
		for _, f := range found[:2] {
			res, err := client.rpc.Request(ctx, f.From, rpc.Outgoing{Command: records.CmdPeerHandshake, Target: &target, Value: value}, nil)
			if err != nil {
				t.Fatalf("handshake through %v: %v", f.From, err)
			}
			hs, _, err := records.ParseHandshake(res.Value)
			if err != nil || hs.Mode != records.ModeReply || !hs.PeerAddress.IsValid() {
				t.Fatalf("answer through %v: %+v %v", f.From, hs, err)
			}
			answers = append(answers, hs.Noise)
		}
		if string(answers[0]) != string(answers[1]) {
			t.Error("two relays carried different answers to one message 1")
		}
		mu.Lock()
		defer mu.Unlock()
		if calls != 1 {
			t.Errorf("firewall asked %d times, want once", calls)
		}
	})
}

func TestMatchAddress(t *testing.T) {
	ap := netip.MustParseAddrPort
	ours := []netip.AddrPort{ap("192.168.122.238:1"), ap("10.0.0.5:1")}
	cases := []struct {
		theirs []netip.AddrPort
		want   string
	}{
		{[]netip.AddrPort{ap("192.168.0.23:5"), ap("192.168.122.1:6")}, "192.168.122.1:6"},
		{[]netip.AddrPort{ap("192.1.2.3:5"), ap("192.168.9.9:6")}, "192.168.9.9:6"},
		{[]netip.AddrPort{ap("10.9.9.9:5"), ap("172.16.0.1:6")}, "10.9.9.9:5"},
		{[]netip.AddrPort{ap("172.16.0.1:6")}, ""},
		{nil, ""},
	}
	for _, c := range cases {
		got, ok := matchAddress(ours, c.theirs)
		if (c.want == "" && ok) || (c.want != "" && got.String() != c.want) {
			t.Errorf("matchAddress(%v) = %v %v, want %q", c.theirs, got, ok, c.want)
		}
	}
}

func TestAddressClasses(t *testing.T) {
	for _, c := range []struct {
		addr                     string
		private, reserved, bogon bool
	}{
		{"10.1.2.3", true, false, true},
		{"100.64.0.1", true, false, true},
		{"100.128.0.1", false, false, false},
		{"127.0.0.1", true, false, true},
		{"169.254.1.1", true, false, true},
		{"172.31.0.1", true, false, true},
		{"172.32.0.1", false, false, false},
		{"192.168.1.1", true, false, true},
		{"0.1.2.3", false, true, true},
		{"192.0.2.1", false, true, true},
		{"198.18.0.1", false, true, true},
		{"198.51.100.1", false, true, true},
		{"203.0.113.1", false, true, true},
		{"224.0.0.1", false, true, true},
		{"255.255.255.255", false, true, true},
		{"8.8.8.8", false, false, false},
		{"::1", false, true, true},
		{"2001:db8::1", false, false, false},
	} {
		a := netip.MustParseAddr(c.addr)
		if isPrivate(a) != c.private || isReserved(a) != c.reserved || isBogon(a) != c.bogon {
			t.Errorf("%s: private %v reserved %v bogon %v, want %v %v %v", c.addr, isPrivate(a), isReserved(a), isBogon(a), c.private, c.reserved, c.bogon)
		}
	}
}

// TestListenAgainAfterFailedAnnounce: a Listen whose first announcement fails (the node is cut
// off) leaves the server open and not listening; Listen works again once the network is back
// (the reference's server stops listening and may listen again; a laptop that boots offline).
func TestListenAgainAfterFailedAnnounce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, 4)
		n := tn.nodes[1]
		self := n.LocalAddr().Addr()
		tn.net.SetFilter(func(from, to netip.AddrPort, _ []byte) bool { return from.Addr() != self && to.Addr() != self })
		kp, _ := NewKeyPair(seed(0x67))
		srv := n.CreateServer(ServerOptions{OnConnection: func(c *Conn) {
			defer c.Close()
			io.Copy(c, c)
			c.CloseWrite()
		}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := srv.Listen(ctx, kp)
		cancel()
		if err == nil || errors.Is(err, ErrServerClosed) {
			t.Fatalf("Listen while cut off: %v, want a failure that leaves the server open", err)
		}
		select {
		case <-srv.Done():
			t.Fatal("the server closed")
		default:
		}
		tn.net.SetFilter(nil)
		if err := srv.Listen(context.Background(), kp); err != nil {
			t.Fatalf("Listen again: %v", err)
		}
		c, err := tn.nodes[2].Connect(context.Background(), kp.PublicKey, nil)
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		echo(t, c)
		c.Close()
		srv.Close(context.Background())
	})
}
