package udx

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// Sizes of a socket's send queue.
const (
	// queueDatagrams is how many datagrams one batch of the send queue holds: at most one
	// sendmmsg call's worth.
	queueDatagrams = 64

	// queueBytes is the room for datagram bytes in one batch; any UDP datagram fits an
	// empty batch. A batch starts with queueBytesMin and grows to this as needed, so a
	// socket that sends little (a DHT node's many holepunch sockets) stays small.
	queueBytes    = 96 << 10
	queueBytesMin = 4 << 10
)

// uncorkInline is the fewest datagrams that uncork writes on the caller's goroutine.
const uncorkInline = 8

// Largest UDP payloads: 65535 bytes of IPv4 packet, or of IPv6 payload, less the headers.
const (
	maxUDPPayload4 = 65507
	maxUDPPayload6 = 65527
)

// sendQueue is the outgoing datagrams of a socket on the batched path: two batches, one
// that producers append to (fill) while the other is being written (or waits empty as the
// spare). Whoever holds the writer role takes the fill batch, puts the spare in its place
// and writes the batch without the lock, so producers are not held up by the system call.
// The writer role is held by the socket's writer goroutine (run), or briefly by the read
// goroutine at the end of a read batch when nobody else is writing (release). Datagrams
// leave in the order they were pushed.
//
// Under load a batch holds everything produced during the previous write, so one system
// call carries many datagrams; an idle socket writes each datagram at once (the writer
// goroutine wakes for it).
//
// While the read goroutine dispatches a read batch (cork .. release) the fill batch is not
// written unless it is full or a producer waits for room: the acks and data caused by one
// read batch leave together. A producer that sends many datagrams at once (the VPN's device
// reader with a batch of packets) corks the queue likewise (cork .. uncork): what it queues
// meanwhile leaves in one system call, written by the producer itself at uncork when nobody
// else is writing, instead of waking the writer goroutine for the first datagram.
type sendQueue struct {
	write func(b *sendBatch) // writes a batch; called by the writer-role holder without mu

	mu       sync.Mutex
	fill     *sendBatch // guarded by mu; producers append here
	spare    *sendBatch // guarded by mu; the empty other batch; nil while one is being written
	corks    int        // guarded by mu; producers between cork and uncork (or release)
	closed   bool       // guarded by mu
	sleeping bool       // guarded by mu; the writer goroutine waits on wake
	waiters  int        // guarded by mu; producers waiting for room
	dropped  uint64     // guarded by mu; datagrams dropped by non-waiting pushes

	wake   chan struct{} // capacity 1: wakes the writer goroutine
	room   chan struct{} // capacity 1: wakes one producer waiting for room
	done   chan struct{} // closed by close
	exited chan struct{} // closed when the writer goroutine has written everything and returned
}

// sendBatch is datagrams back to back in one buffer, with their destinations.
type sendBatch struct {
	buf []byte                         // datagram i is buf[end[i-1]:end[i]]; grows up to queueBytes
	end [queueDatagrams]int            // end offsets
	to  [queueDatagrams]netip.AddrPort // destinations
	n   int                            // datagrams held
}

func newSendBatch() *sendBatch { return &sendBatch{} }

// used returns the bytes of buf in use.
func (b *sendBatch) used() int {
	if b.n == 0 {
		return 0
	}
	return b.end[b.n-1]
}

// fits reports whether a datagram of size bytes can be added, growing buf if that makes
// room.
func (b *sendBatch) fits(size int) bool {
	need := b.used() + size
	if b.n == len(b.end) || need > queueBytes {
		return false
	}
	if need > len(b.buf) {
		buf := make([]byte, min(max(need, 2*len(b.buf), queueBytesMin), queueBytes))
		copy(buf, b.buf[:b.used()])
		b.buf = buf
	}
	return true
}

func (b *sendBatch) full() bool { return b.n == len(b.end) }

func (b *sendBatch) add(head, body []byte, to netip.AddrPort) {
	off := b.used()
	off += copy(b.buf[off:], head)
	off += copy(b.buf[off:], body)
	b.end[b.n], b.to[b.n] = off, to
	b.n++
}

// datagram returns datagram i and its destination.
func (b *sendBatch) datagram(i int) ([]byte, netip.AddrPort) {
	start := 0
	if i > 0 {
		start = b.end[i-1]
	}
	return b.buf[start:b.end[i]], b.to[i]
}

// newSendQueue returns a queue whose batches are written by write. The caller starts run on
// a goroutine of its own.
func newSendQueue(write func(*sendBatch)) *sendQueue {
	return &sendQueue{
		write: write, fill: newSendBatch(), spare: newSendBatch(),
		wake: make(chan struct{}, 1), room: make(chan struct{}, 1),
		done: make(chan struct{}), exited: make(chan struct{}),
	}
}

// tooLarge reports whether a datagram of n bytes cannot be sent to to by UDP at all.
func tooLarge(n int, to netip.AddrPort) bool {
	if to.Addr().Unmap().Is4() {
		return n > maxUDPPayload4
	}
	return n > maxUDPPayload6
}

// push queues the datagram head followed by body for to; both are copied. When the queue is
// full, push waits for room if wait is set: until deadline (zero: none), the close of cancel
// (nil: never) or of the queue; without wait it drops the datagram and returns
// ErrSendQueueFull. It returns net.ErrClosed after close, and nil once the datagram is
// queued: as with UDP, that does not mean it was delivered, nor even sent.
func (q *sendQueue) push(head, body []byte, to netip.AddrPort, wait bool, deadline time.Time, cancel <-chan struct{}) error {
	size := len(head) + len(body)
	q.mu.Lock()
	for {
		if q.closed {
			q.mu.Unlock()
			return net.ErrClosed
		}
		if q.fill.fits(size) {
			break
		}
		if !wait {
			q.dropped++
			q.mu.Unlock()
			return ErrSendQueueFull
		}
		if err := q.waitRoomLocked(deadline, cancel); err != nil {
			q.mu.Unlock()
			return err
		}
	}
	q.fill.add(head, body, to)
	q.kickLocked()
	if q.waiters > 0 && q.fill.fits(0) {
		q.signalRoom() // pass the wake-up on: there is room for the next one too
	}
	q.mu.Unlock()
	return nil
}

// waitRoomLocked waits, with mu released, until a batch was taken for writing (and so the
// fill batch has room), or fails with the reason push gives up.
func (q *sendQueue) waitRoomLocked(deadline time.Time, cancel <-chan struct{}) error {
	var expired <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		expired = t.C
	}
	q.waiters++
	q.kickLocked() // a waiting producer makes the fill batch due even during a read batch
	q.mu.Unlock()
	var err error
	select {
	case <-q.room:
	case <-q.done:
		err = net.ErrClosed
	case <-cancel:
		err = net.ErrClosed
	case <-expired:
		err = os.ErrDeadlineExceeded
	}
	q.mu.Lock()
	q.waiters--
	return err
}

func (q *sendQueue) signalRoom() {
	select {
	case q.room <- struct{}{}:
	default:
	}
}

// dueLocked reports whether the fill batch should be written now.
func (q *sendQueue) dueLocked() bool {
	return q.fill.n > 0 && (q.corks == 0 || q.closed || q.waiters > 0 || q.fill.full())
}

// kickLocked wakes the writer goroutine when the fill batch is due and nobody is writing.
func (q *sendQueue) kickLocked() {
	if q.sleeping && (q.closed || (q.spare != nil && q.dueLocked())) {
		q.sleeping = false
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// takeLocked takes the writer role and the fill batch if it is due and nobody is writing;
// the spare becomes the fill batch. It returns nil otherwise. The caller writes the batch
// without mu, then gives it back with putLocked.
func (q *sendQueue) takeLocked() *sendBatch {
	if q.spare == nil || !q.dueLocked() {
		return nil
	}
	b := q.fill
	q.fill, q.spare = q.spare, nil
	if q.waiters > 0 {
		q.signalRoom()
	}
	return b
}

// putLocked ends a write: the batch, emptied, is the spare again and the role is free.
func (q *sendQueue) putLocked(b *sendBatch) {
	b.n = 0
	q.spare = b
	q.kickLocked()
}

// run is the writer goroutine: it writes due batches until the queue is closed and empty.
func (q *sendQueue) run() {
	defer close(q.exited)
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if b := q.takeLocked(); b != nil {
			q.mu.Unlock()
			q.write(b)
			q.mu.Lock()
			q.putLocked(b)
			continue
		}
		if q.closed && q.spare != nil && q.fill.n == 0 {
			return
		}
		q.sleeping = true
		q.mu.Unlock()
		<-q.wake
		q.mu.Lock()
	}
}

// release is called by the read goroutine after a read batch, which it corked: it ends the
// cork, and what the batch caused is written at once, by the read goroutine itself when
// nobody else is writing.
func (q *sendQueue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.corks--
	q.flushLocked()
}

// cork holds the fill batch for a producer about to push several datagrams, or for the read
// goroutine about to dispatch a read batch; corks nest and every cork needs its uncork (or,
// for the read goroutine, its release).
func (q *sendQueue) cork() {
	q.mu.Lock()
	q.corks++
	q.mu.Unlock()
}

// uncork ends a cork: when no other holds the queue, what was pushed meanwhile is written at
// once, by the caller itself when nobody else is writing and there are at least
// uncorkInline datagrams, else by the writer goroutine. A producer whose bursts are single
// datagrams (a device read of one UDP packet) so keeps the writer goroutine's batching of
// what accumulates while it writes, rather than one system call of its own per datagram.
func (q *sendQueue) uncork() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.corks--
	if q.fill.n >= uncorkInline {
		q.flushLocked()
		return
	}
	q.kickLocked()
}

// flushLocked writes the fill batch, with mu released, if it is due and nobody is writing.
func (q *sendQueue) flushLocked() {
	if b := q.takeLocked(); b != nil {
		q.mu.Unlock()
		q.write(b)
		q.mu.Lock()
		q.putLocked(b) // more pushed meanwhile goes to the writer goroutine
	}
}

// close stops taking datagrams: push returns net.ErrClosed, waiting pushes give up, and the
// writer goroutine writes what is queued, then exits. Wait for that on exited.
func (q *sendQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	close(q.done)
	q.kickLocked()
}

// droppedCount returns how many datagrams non-waiting pushes dropped.
func (q *sendQueue) droppedCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
