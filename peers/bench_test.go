package peers

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/tun/tuntest"
)

// BenchmarkEngineLoopback sends 1100-byte UDP packets (they fit before the MTU search) from one member's device to the
// other's through two whole engines over real UDP on 127.0.0.1 (a private DHT of a
// bootstrapper and two persistent nodes): the data plane, secret-stream's sealing and UDX.
// Packets the sender's socket queue refuses are dropped, as on a real link; delivered/s
// counts what arrived. allocs/op are per packet sent.
func BenchmarkEngineLoopback(b *testing.B) {
	ctx := context.Background()
	var nodes []*dht.Node
	b.Cleanup(func() {
		for _, n := range nodes {
			n.Destroy(ctx, dht.DestroyOptions{Force: true})
		}
	})
	bs, err := dht.Bootstrapper(0, "127.0.0.1", dht.Options{Host: "127.0.0.1", Bootstrap: []rpc.BootstrapNode{}})
	if err != nil {
		b.Fatal(err)
	}
	nodes = append(nodes, bs)
	boot := []rpc.BootstrapNode{{Host: "127.0.0.1", Port: bs.LocalAddr().Port()}}
	for range 2 {
		n, err := dht.New(dht.Options{Host: "127.0.0.1", Mode: rpc.ModePersistent, Bootstrap: boot})
		if err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, n)
		if err := n.Ready(ctx); err != nil {
			b.Fatal(err)
		}
	}

	l := &testlab{t: b, net4: netip.MustParsePrefix("10.77.0.0/16")}
	l.net6 = configs.DefaultIPv6Prefix(nil, l.net4)
	a, c := l.newMember("a", 0xa1), l.newMember("c", 0xc1)
	ea, osA := benchStart(b, a, c, boot)
	_, osC := benchStart(b, c, a, boot)

	pkt := tuntest.UDP(netip.AddrPortFrom(a.ip4, 9), netip.AddrPortFrom(c.ip4, 9), make([]byte, 1100-28))
	buf := make([]byte, 16+len(pkt))
	copy(buf[16:], pkt)
	bufs := [][]byte{buf}
	// Wait for the connection.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if st, _ := peerStatusOf(ea, c.key); st.Connected {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("no connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := make(chan int, 1)
	stop := make(chan struct{})
	go func() {
		rb := make([][]byte, 32)
		for i := range rb {
			rb[i] = make([]byte, 2048)
		}
		sizes := make([]int, 32)
		n := 0
		for {
			k, err := osC.Read(rb, sizes, 0)
			n += k
			if err != nil {
				got <- n
				return
			}
			select {
			case <-stop:
				got <- n
				return
			default:
			}
		}
	}()
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if _, err := osA.Write(bufs, 16); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	time.Sleep(100 * time.Millisecond)
	close(stop)
	osA.Write(bufs, 16) // wakes nobody; the reader leaves on its next packet or at Close
	osC.Close()
	n := <-got
	b.ReportMetric(float64(n)/el.Seconds(), "delivered/s")
}

func benchStart(b *testing.B, m, peer *member, boot []rpc.BootstrapNode) (*Engine, *tuntest.Device) {
	node, err := dht.New(dht.Options{Host: "127.0.0.1", KeyPair: m.kp, Bootstrap: boot,
		InterfaceAddrs: func() []netip.Addr { return []netip.Addr{netip.MustParseAddr("127.0.0.1")} }})
	if err != nil {
		b.Fatal(err)
	}
	dev, osEnd := tuntest.NewPair(tuntest.Options{Name: "hl-" + m.name, BatchSize: 32})
	e, err := New(m.config(peer), Deps{Node: node, TUN: dev, Router: &fakeRouter{}})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Run(context.Background()) }()
	b.Cleanup(func() {
		e.Close()
		if err := <-done; err != nil {
			b.Error(err)
		}
		osEnd.Close()
	})
	return e, osEnd
}
