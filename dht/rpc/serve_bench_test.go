package rpc

import (
	mrand "math/rand/v2"
	"net/netip"
	"testing"

	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/netsim"
)

// newServeBenchNode returns a bootstrapper at 10.0.0.1:49737 on a network that drops every
// packet before netsim copies it, so a benchmark measures the node's handling of a request
// and not the simulated network.
func newServeBenchNode(b *testing.B) (*Node, *netsim.Network) {
	b.Helper()
	nw := netsim.New(netsim.Options{Filter: dropAll})
	n, err := Bootstrapper(49737, "10.0.0.1", Options{Host: "10.0.0.1", ListenPacket: nw.ListenPacket})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		n.Destroy()
		nw.Close()
	})
	return n, nw
}

func dropAll(_, _ netip.AddrPort, _ []byte) bool { return false }

var benchClient = netip.MustParseAddrPort("10.0.0.2:40000")

// serveOnce hands req to the node once and returns the decoded reply it sent, to check that a
// benchmark measures what it says.
func serveOnce(b *testing.B, n *Node, nw *netsim.Network, req []byte) *Message {
	b.Helper()
	var reply []byte
	nw.SetFilter(func(_, to netip.AddrPort, p []byte) bool {
		if to == benchClient {
			reply = append([]byte(nil), p...)
		}
		return false
	})
	defer nw.SetFilter(dropAll)
	var scratch Message
	n.onDatagram(n.server, req, benchClient, &scratch, nil)
	var m Message
	if err := ParseMessage(reply, &m); err != nil || m.Kind != KindResponse || m.Error != CodeOK {
		b.Fatalf("reply %x: kind %d, error code %d, decode error %v", reply, m.Kind, m.Error, err)
	}
	return &m
}

// benchServe feeds the encoded requests reqs, in turn, to the server socket's datagram handler
// as the read loop would, from an ephemeral client (no id), and reports the cost of one.
func benchServe(b *testing.B, n *Node, reqs [][]byte) {
	var scratch Message
	out := make([]byte, 0, 2048)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		out = n.onDatagram(n.server, reqs[i], benchClient, &scratch, out[:0])
		if i++; i == len(reqs) {
			i = 0
		}
	}
	b.StopTimer()
	if got := n.Stats().Malformed; got != 0 {
		b.Fatalf("%d requests were dropped as malformed", got)
	}
}

func encodeRequest(b *testing.B, m *Message) []byte {
	b.Helper()
	buf, err := AppendMessage(nil, m)
	if err != nil {
		b.Fatal(err)
	}
	return buf
}

func BenchmarkServePing(b *testing.B) {
	n, nw := newServeBenchNode(b)
	req := encodeRequest(b, &Message{
		Kind: KindRequest, TID: 7, To: n.LocalAddr(), Internal: true, Command: CmdPing,
	})
	if m := serveOnce(b, n, nw, req); m.TID != 7 || len(m.CloserNodes) != 0 {
		b.Fatalf("ping reply: tid %d with %d closer nodes, want tid 7 and none", m.TID, len(m.CloserNodes))
	}
	benchServe(b, n, [][]byte{req})
}

// BenchmarkServeFindNode answers FIND_NODE for random targets from a table of 300 nodes
// (15 full rows), so every reply carries k closer nodes.
func BenchmarkServeFindNode(b *testing.B) {
	n, nw := newServeBenchNode(b)
	fillRows(b, n, 15, ktable.K)
	rng := mrand.NewChaCha8([32]byte{2})
	reqs := make([][]byte, 256)
	for i := range reqs {
		var target [32]byte
		rng.Read(target[:])
		reqs[i] = encodeRequest(b, &Message{
			Kind: KindRequest, TID: uint16(i), To: n.LocalAddr(), Internal: true,
			Command: CmdFindNode, Target: target, HasTarget: true,
		})
	}
	if m := serveOnce(b, n, nw, reqs[0]); len(m.CloserNodes) != ktable.K {
		b.Fatalf("find_node reply carries %d closer nodes, want %d", len(m.CloserNodes), ktable.K)
	}
	benchServe(b, n, reqs)
}
