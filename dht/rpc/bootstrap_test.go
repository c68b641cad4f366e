package rpc

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

// Every query resets the refresh countdown, the bootstrap's background query included
// (dht-rpc index.js _backgroundQuery).
func TestBootstrapQueryResetsRefreshTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{Delay: time.Millisecond})
		for range 10 {
			n := tn.add(ModePersistent)
			n.mu.Lock()
			got, tick := n.refreshTicks, n.tick
			n.mu.Unlock()
			if got < refreshTicks-1 {
				t.Fatalf("refresh countdown %d after bootstrap (tick %d), want about %d", got, tick, refreshTicks)
			}
		}
	})
}

// The quick PING_NAT of an adaptive bootstrap goes to the first responder's node object in
// the reference, so its timeout removes that node from the table too.
func TestQuickFirewallTimeoutRemovesResponder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{Delay: time.Millisecond})
		server := netip.MustParseAddrPort("10.0.6.1:49737")
		tn.net.SetFilter(func(_, to netip.AddrPort, _ []byte) bool { return to != server })
		n, err := New(Options{
			Host: "10.0.6.1", Port: 49737, FixedPort: true, Mode: ModeAdaptive,
			Bootstrap: tn.bootstrapList(), ListenPacket: tn.net.ListenPacket,
		})
		if err != nil {
			t.Fatal(err)
		}
		tn.nodes = append(tn.nodes, n)
		if err := n.Ready(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := n.Nodes(0); len(got) != 1 || got[0].Addr != tn.boot.LocalAddr() {
			t.Fatalf("table after bootstrap %v, want the bootstrapper", got)
		}
		time.Sleep(4500 * time.Millisecond) // the PING_NAT's four sends, before the first tick
		if got := n.Nodes(0); len(got) != 0 {
			t.Fatalf("table after the quick PING_NAT timed out %v, want it empty", got)
		}
	})
}

// Blocking calls return net.ErrClosed after Destroy; Ready must not pick at random between
// its closed ready channel and the closed lifetime context.
func TestReadyAfterDestroy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{})
		n := tn.add(ModePersistent)
		n.Destroy()
		for range 50 {
			if err := n.Ready(context.Background()); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Ready after Destroy: %v, want net.ErrClosed", err)
			}
		}
	})
}
