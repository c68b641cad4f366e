package udx

import (
	"io"
	"testing"
)

// BenchmarkStreamLoopback moves 64 MiB per iteration over a real loopback UDP path between two
// instances (so the kernel's cost is included, as in interop/bench/udxbench).
func BenchmarkStreamLoopback(b *testing.B) {
	ia, ib := NewInstance(), NewInstance()
	pa, _ := ia.ListenPacket("udp4", "127.0.0.1:0")
	pb, _ := ib.ListenPacket("udp4", "127.0.0.1:0")
	sa, sb := pa.(*Socket), pb.(*Socket)
	sa.SetReadBuffer(1 << 20)
	sb.SetReadBuffer(1 << 20)
	defer sa.Close()
	defer sb.Close()
	a, _ := ia.NewStream(1, StreamOptions{})
	c, _ := ib.NewStream(2, StreamOptions{})
	a.Connect(sa, 2, sb.LocalAddrPort())
	c.Connect(sb, 1, sa.LocalAddrPort())
	const total = 64 << 20
	buf := make([]byte, 64<<10)
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		done := make(chan int64)
		go func() {
			n, _ := io.CopyN(io.Discard, c, total)
			done <- n
		}()
		for w := 0; w < total; w += len(buf) {
			a.Write(buf)
		}
		<-done
	}
	a.Destroy()
	c.Destroy()
}

// BenchmarkStreamMessages sends 1152-byte messages over real loopback UDP and receives them
// in OnMessage; allocs/op is the per-message allocation count of both ends.
func BenchmarkStreamMessages(b *testing.B) {
	ia, ib := NewInstance(), NewInstance()
	pa, _ := ia.ListenPacket("udp4", "127.0.0.1:0")
	pb, _ := ib.ListenPacket("udp4", "127.0.0.1:0")
	sa, sb := pa.(*Socket), pb.(*Socket)
	defer sa.Close()
	defer sb.Close()
	got := make(chan struct{}, 1<<16)
	a, _ := ia.NewStream(1, StreamOptions{})
	c, _ := ib.NewStream(2, StreamOptions{OnMessage: func([]byte) {
		select {
		case got <- struct{}{}:
		default:
		}
	}})
	a.Connect(sa, 2, sb.LocalAddrPort())
	c.Connect(sb, 1, sa.LocalAddrPort())
	msg := make([]byte, 1152)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Send(msg); err != nil {
			b.Fatal(err)
		}
	}
	a.Destroy()
	c.Destroy()
}
