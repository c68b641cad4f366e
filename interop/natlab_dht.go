package interop

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// CodeHolepunchAborted is the code the reference's connect fails with when it
// will not holepunch and has no relay to fall back on: both NATs random (it has
// HOLEPUNCH_DOUBLE_RANDOMIZED_NATS for that, but this is the code that
// surfaces), or a second random punch within 20 s on one node.
const CodeHolepunchAborted = "HOLEPUNCH_ABORTED"

const (
	// JSDHTPort is the port of every node of a [JSDHT], hyperdht's default.
	JSDHTPort  = 49737
	jsDHTReady = 30 * time.Second // until every node of a JSDHT is persistent
)

// JSDHT is a small public HyperDHT of reference nodes on one public host of a
// [NATLab]: a bootstrapper and persistent nodes (dht-rpc ephemeral: false),
// each on an address of its own and port 49737, like the public network the
// lab's LAN hosts join. Its nodes are stopped in t.Cleanup.
type JSDHT struct {
	Host         *Host
	Bootstrapper *HyperNode
	Nodes        []*HyperNode
}

// StartJSDHT creates the public host name and starts on it a bootstrapper
// (on the host's first address) and nodes persistent nodes (on addresses it
// adds), and returns once every node has become persistent, that is once the
// others reached it unsolicited (dht-rpc's PING_NAT check). NAT sampling in
// hyperdht asks up to four nodes, so use at least four. It must be called from
// the test goroutine; it skips the test without Node.js and the reference, as
// [Require] does.
func (n *NATLab) StartJSDHT(t testing.TB, name string, nodes int) *JSDHT {
	t.Helper()
	requireHyperDHT(t)
	h := n.PublicHost(name)
	d := &JSDHT{
		Host:         h,
		Bootstrapper: StartHyperDHTBootstrapperAt(t, netip.AddrPortFrom(h.Addr(), JSDHTPort), h.Name()),
	}
	for range nodes {
		addr := h.ExtraAddr()
		d.Nodes = append(d.Nodes, StartHyperDHTNode(t, d.Bootstrap(), NodeOptions{Netns: h.Name(), Host: addr, Port: JSDHTPort}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), jsDHTReady)
	defer cancel()
	for _, node := range d.Nodes {
		if _, err := node.WaitEvent(ctx, "persistent", nil); err != nil {
			t.Fatalf("interop: JS DHT on %s: %v", h.Name(), err)
		}
	}
	return d
}

// Bootstrap returns the bootstrapper's address, for NodeOptions and dht.Options.
func (d *JSDHT) Bootstrap() []netip.AddrPort {
	return []netip.AddrPort{d.Bootstrapper.Addr()}
}
