package rpc

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

// A firewall check whose PING_NATs time out drops the asked nodes from the routing table, as
// the reference does: it sends them to the table's node objects (and to bootstrap nodes with
// their derived ids), so its timeout hook removes them (index.js _checkIfFirewalled,
// requestAll, _ontimeout).
func TestFirewallCheckTimeoutsRemoveNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{Delay: time.Millisecond})
		for range 3 {
			tn.add(ModePersistent)
		}
		server := netip.MustParseAddrPort("10.0.6.1:49737")
		tn.net.SetFilter(func(_, to netip.AddrPort, _ []byte) bool { return to != server })
		n, err := New(Options{
			Host: "10.0.6.1", Port: 49737, FixedPort: true, Mode: ModePersistent,
			Bootstrap: tn.bootstrapList(), ListenPacket: tn.net.ListenPacket,
		})
		if err != nil {
			t.Fatal(err)
		}
		tn.nodes = append(tn.nodes, n)
		if err := n.Ready(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !n.Firewalled() || !n.Ephemeral() {
			t.Fatalf("firewalled %v ephemeral %v, want both", n.Firewalled(), n.Ephemeral())
		}
		if got := n.Nodes(0); len(got) != 0 {
			t.Fatalf("table after a failed firewall check %v, want the asked nodes removed", got)
		}
	})
}
