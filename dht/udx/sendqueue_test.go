package udx

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeWire records the batches a send queue writes; while gate is non-nil each write waits
// for a value on it.
type fakeWire struct {
	mu      sync.Mutex
	got     [][]byte
	to      []netip.AddrPort
	batches []int // datagrams per write
	gate    chan struct{}
}

func (w *fakeWire) write(b *sendBatch) {
	if w.gate != nil {
		<-w.gate
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range b.n {
		p, to := b.datagram(i)
		w.got = append(w.got, append([]byte(nil), p...))
		w.to = append(w.to, to)
	}
	w.batches = append(w.batches, b.n)
}

func (w *fakeWire) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.got)
}

func startQueue(t *testing.T, w *fakeWire) *sendQueue {
	q := newSendQueue(w.write)
	go q.run()
	t.Cleanup(func() {
		q.close()
		<-q.exited
	})
	return q
}

var (
	qAddrA = netip.MustParseAddrPort("127.0.0.1:1000")
	qAddrB = netip.MustParseAddrPort("[::1]:2000")
)

// numbered returns a datagram of size bytes (at least 4) that starts with i.
func numbered(i, size int) []byte {
	b := make([]byte, size)
	binary.LittleEndian.PutUint32(b, uint32(i))
	return b
}

// Datagrams leave in the order they were pushed, whole, with their destinations, whatever
// their sizes (up to the largest UDP datagram) and however the batches fall.
func TestSendQueueOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &fakeWire{}
		q := startQueue(t, w)
		sizes := []int{4, 1172, 1172, 1172, 600, maxUDPPayload4, 20, 1500, 30000, 30000, 30000}
		const n = 1000
		for i := range n {
			size := sizes[i%len(sizes)]
			to := qAddrA
			if i%7 == 0 {
				to = qAddrB
			}
			p := numbered(i, size)
			// Header and body are joined: split the datagram at 3 (inside the number).
			if err := q.push(p[:3], p[3:], to, true, time.Time{}, nil); err != nil {
				t.Fatalf("push %d: %v", i, err)
			}
		}
		q.close()
		<-q.exited
		if len(w.got) != n {
			t.Fatalf("wrote %d datagrams, want %d", len(w.got), n)
		}
		for i, p := range w.got {
			size := sizes[i%len(sizes)]
			if len(p) != size || binary.LittleEndian.Uint32(p) != uint32(i) {
				t.Fatalf("datagram %d: %d bytes numbered %d, want %d bytes numbered %d", i, len(p), binary.LittleEndian.Uint32(p), size, i)
			}
			if want := map[bool]netip.AddrPort{true: qAddrB, false: qAddrA}[i%7 == 0]; w.to[i] != want {
				t.Fatalf("datagram %d to %v, want %v", i, w.to[i], want)
			}
		}
		for _, k := range w.batches {
			if k < 1 || k > queueDatagrams {
				t.Fatalf("a write of %d datagrams", k)
			}
		}
	})
}

// fillQueue blocks the writer on its first batch and fills the other: the queue is full.
func fillQueue(t *testing.T, q *sendQueue, w *fakeWire) {
	t.Helper()
	if err := q.push(nil, numbered(0, 100), qAddrA, true, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	synctest.Wait() // the writer took datagram 0 and waits on the gate
	for i := 1; i <= queueDatagrams; i++ {
		if err := q.push(nil, numbered(i, 100), qAddrA, false, time.Time{}, nil); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	if w.count() != 0 {
		t.Fatal("the gated writer wrote")
	}
}

// A full queue makes a non-waiting push drop the datagram, a waiting push wait until the
// writer frees a batch, its deadline passes or it is cancelled.
func TestSendQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &fakeWire{gate: make(chan struct{})}
		q := startQueue(t, w)
		fillQueue(t, q, w)

		if err := q.push(nil, numbered(99, 100), qAddrA, false, time.Time{}, nil); !errors.Is(err, ErrSendQueueFull) {
			t.Fatalf("push without wait on a full queue: %v, want ErrSendQueueFull", err)
		}
		if got := q.droppedCount(); got != 1 {
			t.Fatalf("dropped %d, want 1", got)
		}

		start := time.Now()
		err := q.push(nil, numbered(99, 100), qAddrA, true, start.Add(time.Second), nil)
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != time.Second {
			t.Fatalf("push with a deadline: %v after %v, want os.ErrDeadlineExceeded after 1s", err, time.Since(start))
		}
		if err := q.push(nil, numbered(99, 100), qAddrA, true, start, nil); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("push with a past deadline: %v", err)
		}
		cancel := make(chan struct{})
		close(cancel)
		if err := q.push(nil, numbered(99, 100), qAddrA, true, time.Time{}, cancel); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("cancelled push: %v, want net.ErrClosed", err)
		}

		// Two producers wait; letting the writer go lets both in, after the 65 before them.
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				if err := q.push(nil, numbered(100+i, 100), qAddrA, true, time.Time{}, nil); err != nil {
					t.Errorf("waiting push: %v", err)
				}
			})
		}
		synctest.Wait()
		close(w.gate)
		wg.Wait()
		q.close()
		<-q.exited
		if len(w.got) != queueDatagrams+3 {
			t.Fatalf("wrote %d datagrams, want %d", len(w.got), queueDatagrams+3)
		}
		for i := range queueDatagrams + 1 {
			if got := binary.LittleEndian.Uint32(w.got[i]); got != uint32(i) {
				t.Fatalf("datagram %d numbered %d", i, got)
			}
		}
	})
}

// While the read goroutine holds the queue, datagrams wait for its release, which writes
// them itself, unless the batch fills up first.
func TestSendQueueHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &fakeWire{}
		q := startQueue(t, w)
		q.cork()
		for i := range 3 {
			q.push(nil, numbered(i, 100), qAddrA, true, time.Time{}, nil)
		}
		synctest.Wait()
		if w.count() != 0 {
			t.Fatal("datagrams written during a hold")
		}
		q.release()
		if w.count() != 3 {
			t.Fatalf("release wrote %d datagrams, want 3", w.count())
		}

		q.cork()
		for i := range queueDatagrams {
			q.push(nil, numbered(i, 100), qAddrA, true, time.Time{}, nil)
		}
		synctest.Wait()
		if w.count() != 3+queueDatagrams {
			t.Fatalf("a full batch during a hold: %d written, want %d", w.count(), 3+queueDatagrams)
		}
		q.release()
	})
}

// A cork holds the fill batch as a hold does, nests with holds and other corks, and the
// last uncork writes the batch on the caller's goroutine, in one write.
func TestSendQueueCork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &fakeWire{}
		q := startQueue(t, w)
		q.cork()
		q.cork()
		for i := range 5 {
			q.push(nil, numbered(i, 100), qAddrA, true, time.Time{}, nil)
		}
		synctest.Wait()
		if w.count() != 0 {
			t.Fatal("datagrams written while corked")
		}
		q.uncork()
		synctest.Wait()
		if w.count() != 0 {
			t.Fatal("datagrams written while corked once more")
		}
		q.cork()
		q.uncork()
		synctest.Wait()
		if w.count() != 0 {
			t.Fatal("datagrams written during a hold after the uncork")
		}
		q.release()
		if w.count() != 5 || len(w.batches) != 1 {
			t.Fatalf("release wrote %d datagrams in %v, want 5 in one batch", w.count(), w.batches)
		}

		q.cork()
		for i := range uncorkInline {
			q.push(nil, numbered(i, 100), qAddrA, true, time.Time{}, nil)
		}
		q.uncork() // written before uncork returns: by this goroutine
		if w.count() != 5+uncorkInline || w.batches[1] != uncorkInline {
			t.Fatalf("uncork: %d written in %v, want %d, the last batch %d", w.count(), w.batches, 5+uncorkInline, uncorkInline)
		}
		n := w.count()

		// Fewer are left to the writer goroutine.
		q.cork()
		q.push(nil, numbered(0, 100), qAddrA, true, time.Time{}, nil)
		q.uncork()
		synctest.Wait()
		if w.count() != n+1 {
			t.Fatalf("a single datagram after uncork: %d written, want %d", w.count(), n+1)
		}
		n++

		// A producer waiting for room gets it while corked: the full batch is written.
		q.cork()
		for i := range queueDatagrams + 1 {
			if err := q.push(nil, numbered(i, 100), qAddrA, true, time.Time{}, nil); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if w.count() != n+queueDatagrams {
			t.Fatalf("a full batch while corked: %d written, want %d", w.count(), n+queueDatagrams)
		}
		q.uncork()
		synctest.Wait()
		if w.count() != n+queueDatagrams+1 {
			t.Fatalf("after uncork: %d written, want %d", w.count(), n+queueDatagrams+1)
		}
	})
}

// Close refuses new datagrams, releases waiting producers and writes what was queued.
func TestSendQueueClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &fakeWire{gate: make(chan struct{})}
		q := newSendQueue(w.write)
		go q.run()
		fillQueue(t, q, w)
		waitErr := make(chan error)
		go func() { waitErr <- q.push(nil, numbered(99, 100), qAddrA, true, time.Time{}, nil) }()
		synctest.Wait()
		q.close()
		if err := <-waitErr; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("push waiting at close: %v, want net.ErrClosed", err)
		}
		if err := q.push(nil, numbered(99, 100), qAddrA, true, time.Time{}, nil); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("push after close: %v, want net.ErrClosed", err)
		}
		close(w.gate)
		<-q.exited
		if len(w.got) != queueDatagrams+1 {
			t.Fatalf("wrote %d datagrams after close, want the %d queued", len(w.got), queueDatagrams+1)
		}
		q.close() // idempotent
	})
}

// A socket that sends little keeps small batches: they grow only when datagrams pile up.
func TestSendQueueGrowsOnDemand(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := &fakeWire{}
		q := startQueue(t, w)
		for i := range 10 {
			q.push(nil, numbered(i, 300), qAddrA, true, time.Time{}, nil)
			synctest.Wait()
		}
		q.mu.Lock()
		size := len(q.fill.buf) + len(q.spare.buf)
		q.mu.Unlock()
		if size > 2*queueBytesMin {
			t.Fatalf("batches of %d bytes after 10 datagrams sent one at a time, want at most %d", size, 2*queueBytesMin)
		}
	})
}
