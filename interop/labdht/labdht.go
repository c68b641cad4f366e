// Package labdht starts a private Go DHT inside a network namespace of a test lab
// (interop.Netns, interop.NATLab), for the tests of the packages built on dht: the VPN
// engine and the command. dht's own lab tests mix our nodes with the reference's and start
// them with helpers of their own.
package labdht

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// joinTimeout bounds the wait for each persistent node to join.
const joinTimeout = 30 * time.Second

// Start starts a bootstrapper at nodes[0] and a persistent node at each of the others, all
// with sockets from listen (a namespace's ListenPacket) and each seeing only its own address
// as an interface address; it waits until every persistent node has joined and returns the
// bootstrapper's address. The nodes are destroyed when the test ends. It fails the test on
// any error.
func Start(t testing.TB, listen func(network, address string) (net.PacketConn, error), nodes ...netip.AddrPort) rpc.BootstrapNode {
	t.Helper()
	if len(nodes) == 0 {
		t.Fatal("labdht.Start: no nodes")
	}
	boot := rpc.BootstrapNode{Host: nodes[0].Addr().String(), Port: nodes[0].Port()}
	for i, at := range nodes {
		opts := dht.Options{
			Host: at.Addr().String(), Port: int(at.Port()), FixedPort: true, Mode: rpc.ModePersistent,
			Bootstrap: []rpc.BootstrapNode{boot}, ListenPacket: listen,
			InterfaceAddrs: func() []netip.Addr { return []netip.Addr{at.Addr()} },
		}
		var n *dht.Node
		var err error
		if i == 0 {
			opts.Bootstrap = []rpc.BootstrapNode{}
			n, err = dht.Bootstrapper(opts.Port, opts.Host, opts)
		} else {
			n, err = dht.New(opts)
		}
		if err != nil {
			t.Fatalf("labdht: node at %v: %v", at, err)
		}
		t.Cleanup(func() { n.Destroy(context.Background(), dht.DestroyOptions{Force: true}) })
		if i == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
		err = n.Ready(ctx)
		cancel()
		if err != nil {
			t.Fatalf("labdht: node at %v: %v", at, err)
		}
	}
	return boot
}
