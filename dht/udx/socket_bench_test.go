package udx

import (
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSendQueuePush is the producer's cost of one 1172-byte datagram on the send queue
// (a 20-byte header and a 1152-byte body, as Stream.Send queues a message), with a writer
// that discards the batches.
func BenchmarkSendQueuePush(b *testing.B) {
	q, head, body := benchQueue(b)
	for b.Loop() {
		if err := q.push(head, body, qAddrA, true, time.Time{}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// benchQueue returns a send queue whose writer discards the batches, and the header and
// body of a datagram as Stream.Send queues a message.
func benchQueue(b *testing.B) (q *sendQueue, head, body []byte) {
	q = newSendQueue(func(*sendBatch) {})
	go q.run()
	b.Cleanup(func() {
		q.close()
		<-q.exited
	})
	head, body = make([]byte, HeaderSize), make([]byte, 1152)
	b.SetBytes(int64(len(head) + len(body)))
	b.ReportAllocs()
	return q, head, body
}

// BenchmarkSendQueuePushCorked is BenchmarkSendQueuePush for a producer that corks the
// queue around bursts of 32 datagrams (as the VPN's device reader does around a batch of
// packets): the writer is not woken per datagram and the producer writes each burst at
// uncork.
func BenchmarkSendQueuePushCorked(b *testing.B) {
	q, head, body := benchQueue(b)
	i := 0
	q.cork()
	for b.Loop() {
		if err := q.push(head, body, qAddrA, true, time.Time{}, nil); err != nil {
			b.Fatal(err)
		}
		if i++; i%32 == 0 {
			q.uncork()
			q.cork()
		}
	}
	q.uncork()
}

// BenchmarkMessageRate sends 1152-byte messages with Stream.Send over real loopback UDP as
// fast as Send returns and reports what arrived: received/s (messages counted by the
// receiver's OnMessage over the time from the first Send to the last arrival) and the loss.
// It is the in-process counterpart of udxbench's message rate; allocs/op covers both ends.
func BenchmarkMessageRate(b *testing.B) {
	ia, ib := NewInstance(), NewInstance()
	pa, _ := ia.ListenPacket("udp4", "127.0.0.1:0")
	pb, _ := ib.ListenPacket("udp4", "127.0.0.1:0")
	sa, sb := pa.(*Socket), pb.(*Socket)
	sb.SetReadBuffer(1 << 20)
	defer sa.Close()
	defer sb.Close()
	var got atomic.Int64
	var last atomic.Int64 // UnixNano of the latest arrival
	a, _ := ia.NewStream(1, StreamOptions{})
	c, _ := ib.NewStream(2, StreamOptions{OnMessage: func([]byte) {
		got.Add(1)
		last.Store(time.Now().UnixNano())
	}})
	defer a.Destroy()
	defer c.Destroy()
	a.Connect(sa, 2, sb.LocalAddrPort())
	c.Connect(sb, 1, sa.LocalAddrPort())
	msg := make([]byte, 1152)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	start := time.Now()
	sent := 0
	for b.Loop() {
		if err := a.Send(msg); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	b.StopTimer()
	// Wait until nothing has arrived for a while: the rest was lost.
	for n := int64(-1); n != got.Load(); {
		n = got.Load()
		time.Sleep(50 * time.Millisecond)
	}
	if n := got.Load(); n > 0 {
		elapsed := time.Unix(0, last.Load()).Sub(start)
		b.ReportMetric(float64(n)/elapsed.Seconds(), "received/s")
		b.ReportMetric(100*(1-float64(n)/float64(sent)), "loss%")
	}
}
