package peers

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/udx"
	"github.com/hyperlan/hyperlan/tun"
)

// The data plane, after wireguard-go's device/send.go and receive.go: one goroutine reads
// batches from the device and sends each packet as one encrypted datagram on its member's
// connection (never the reliable stream); datagrams from members are checked, on the socket
// goroutines that deliver them, and written to the device in batches. Buffers come from
// fixed pools: nothing is allocated per packet.
//
// Batches, not wake-ups. The device reader corks each connection it sends on for the rest
// of a batch (txBatch), so a socket writes the batch's datagrams in one sendmmsg (equal
// sizes as one UDP GSO message) on the reader's goroutine at the end, rather than waking its
// writer goroutine for the first packet. A socket goroutine holds the packets of one read
// (up to 64 datagrams) in their session until the read's batch ends (udx's
// SetMessageBatchEnd) and writes them to the device itself, in one call that coalesces each
// TCP flow (GRO). Connections without batch ends, and packets that find no free buffer,
// are queued for routineWriteTUN instead, as are the engine's own ICMP answers.
//
// Back-pressure. When a connection's socket send queue is full, the device reader waits for
// room (up to sendWait), and when the device's queue is full, a socket goroutine waits for it
// (up to rxWait; one that writes its batches to the device itself waits in that write): the
// reader stops reading and bursts wait in the kernel's queues (the TUN
// queue, the UDP receive buffer), where the sender's TCP sees them as local congestion,
// rather than being dropped here as loss, which TCP retransmits. This is what wireguard-go
// does (its queues block). The waits are bounded so that one stuck connection or device
// cannot stall the others: after a wait for a session timed out, that session's packets are
// dropped at once when its queue is full (and counted as SendDropped) for sendBackoff or
// until its queue takes a packet again (a slow connection, not a stuck one), and likewise
// packets from members after a wait for the device timed out.

// Sizes of the data plane's buffers.
const (
	// rxBufSize holds any datagram a connection can deliver: a UDX message of the largest
	// MTU (udx.MTUMax) is smaller.
	rxBufSize = 2048
	// rxQueue is how many packets from members may wait for the device.
	rxQueue = 256
)

// Bounds of the data plane's waits (see Back-pressure above).
const (
	// sendWait is how long the device reader waits for room in a connection's send queue:
	// many times the few hundred microseconds the socket's writer needs for a batch, so that
	// a busy machine does not make it drop, and short enough that a stuck connection costs
	// the other members little.
	sendWait = 5 * time.Millisecond
	// sendBackoff is how long a session's packets are not waited for after a wait timed out.
	sendBackoff = 100 * time.Millisecond
	// rxWait and rxBackoff are the same for a socket goroutine waiting for the device.
	rxWait    = 5 * time.Millisecond
	rxBackoff = 100 * time.Millisecond
)

// rxPoolSize returns the size and number of the buffers of packets for dev. A device that
// takes batches (Linux with offloads) coalesces the packets of a flow into the first one's
// buffer when it has room, so those buffers take a whole super-packet; they are allocated
// as the load needs them, up to two batches' worth.
func rxPoolSize(dev tun.Device) (size, count int) {
	if b := dev.BatchSize(); b > 1 {
		return tun.Headroom + tun.MaxPacketSize, max(2*b, rxQueue)
	}
	return tun.Headroom + rxBufSize, rxQueue
}

// buffer is one packet on its way to the device, at data[tun.Headroom:][:n].
type buffer struct {
	data []byte
	n    int
}

// bufferPool hands out up to max buffers, allocating them on first use.
type bufferPool struct {
	free chan *buffer
	made atomic.Int32
	max  int32
	size int

	noWait atomic.Int64 // unix nanoseconds until which receive does not wait (rxBackoff)
}

func newBufferPool(max, size int) *bufferPool {
	return &bufferPool{free: make(chan *buffer, max), max: int32(max), size: size}
}

// get returns a buffer, or nil when all of them are in use.
func (p *bufferPool) get() *buffer {
	select {
	case b := <-p.free:
		return b
	default:
	}
	if p.made.Add(1) > p.max {
		p.made.Add(-1)
		return nil
	}
	return &buffer{data: make([]byte, p.size)}
}

func (p *bufferPool) put(b *buffer) {
	b.n = 0
	select {
	case p.free <- b:
	default:
		p.made.Add(-1)
	}
}

// counters are the data plane's drop counts (see [Counters]).
type counters struct {
	noRoute, noSession, sendDropped, tooBig, mtuPending, fragmented atomic.Uint64
	spoofed, malformed, recvDropped, deviceErrors                   atomic.Uint64
}

func (c *counters) snapshot() Counters {
	return Counters{
		NoRoute: c.noRoute.Load(), NoSession: c.noSession.Load(), SendDropped: c.sendDropped.Load(),
		TooBig: c.tooBig.Load(), MTUPending: c.mtuPending.Load(), Fragmented: c.fragmented.Load(),
		Spoofed: c.spoofed.Load(), Malformed: c.malformed.Load(), RecvDropped: c.recvDropped.Load(),
		DeviceErrors: c.deviceErrors.Load(),
	}
}

// sender is what the data plane sends datagrams with: a *dht.Conn (secret-stream messages on
// a UDX stream).
type sender interface {
	// TrySend sends b, dropping it with udx.ErrSendQueueFull when the socket's send queue
	// is full.
	TrySend(b []byte) error
	// SendBefore sends b, waiting for room in the send queue until deadline; then it drops
	// b with os.ErrDeadlineExceeded.
	SendBefore(b []byte, deadline time.Time) error
	// MaxMessage returns the largest datagram the connection takes now (the payload of the
	// path MTU confirmed so far) and whether the path MTU search has ended.
	MaxMessage() (n int, final bool)
	// Cork holds the connection's socket's sending until Uncork, so that the datagrams of
	// one batch from the device leave together (udx.Stream.Cork).
	Cork()
	Uncork()
}

// txBatch is the device reader's state for one batch of packets: the sessions it corked
// (each once, the first time it sends on one), uncorked at the end of the batch so that
// each socket writes the batch's datagrams in one system call, on the reader's goroutine,
// instead of its writer goroutine waking for each packet; and the buffer for IPv4
// fragments.
type txBatch struct {
	scratch []byte
	corked  []*session
}

func newTxBatch(batch, size int) *txBatch {
	return &txBatch{scratch: make([]byte, size), corked: make([]*session, 0, batch)}
}

// cork corks s for the rest of the batch.
func (t *txBatch) cork(s *session) {
	if s.corked {
		return
	}
	s.corked = true
	s.dg.Cork()
	t.corked = append(t.corked, s)
}

// uncork ends the batch: the corked sessions' datagrams are written.
func (t *txBatch) uncork() {
	for i, s := range t.corked {
		s.corked = false
		s.dg.Uncork()
		t.corked[i] = nil
	}
	t.corked = t.corked[:0]
}

// routineReadTUN reads packets from the device until it is closed; any other read error
// is counted and reading goes on. It reports a device that fails every read for a second
// as fatal.
func (e *Engine) routineReadTUN() {
	defer e.wg.Done()
	batch := e.dev.BatchSize()
	size := tun.Headroom + max(e.dev.MTU(), rxBufSize)
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	sizes := make([]int, batch)
	tx := newTxBatch(batch, size)
	var failing time.Time
	for {
		n, err := e.dev.Read(bufs, sizes, tun.Headroom)
		for i := range n {
			e.route(bufs[i][tun.Headroom:tun.Headroom+sizes[i]], tx)
		}
		tx.uncork()
		if err == nil {
			failing = time.Time{}
			continue
		}
		if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
			return
		}
		e.counters.deviceErrors.Add(1)
		if n > 0 {
			continue
		}
		if failing.IsZero() {
			failing = time.Now()
		} else if time.Since(failing) > time.Second {
			e.fail(err)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// route sends one packet from the device to the member its destination belongs to, as part
// of the reader's batch tx.
func (e *Engine) route(pkt []byte, tx *txBatch) {
	_, dst, ok := packetAddrs(pkt)
	if !ok {
		e.counters.malformed.Add(1)
		return
	}
	p := e.table.Load().lookup(dst)
	if p == nil {
		e.counters.noRoute.Add(1)
		return
	}
	s := p.active.Load()
	if s == nil {
		e.counters.noSession.Add(1)
		return
	}
	tx.cork(s)
	e.send(p, s, pkt, tx.scratch)
}

// send sends pkt on s. A packet larger than the connection takes is sent in fragments when
// it is IPv4 without DF. Otherwise the sender is told the path's MTU with ICMP
// "fragmentation needed" or ICMPv6 "packet too big", but only once the connection's path
// MTU search has ended: before that (the first tens of milliseconds to a few seconds of a
// session) the limit is the UDX base size, which the path almost always exceeds, and the
// kernel would keep that small MTU for the destination for 10 minutes (TCP connections
// opened meanwhile would keep their small segments for their whole life). Such packets are
// dropped without an answer and counted as MTUPending; TCP sends them again after its
// retransmission timeout, when the search is usually over. For IPv6 no other choice is
// correct either: a "packet too big" below 1280 bytes is not taken as an MTU (RFC 8200
// section 5), so the sender would keep sending and losing the same packets.
func (e *Engine) send(p *peer, s *session, pkt, scratch []byte) {
	err := e.transmit(s, pkt)
	var limit int
	var final bool
	if errors.Is(err, udx.ErrMessageTooLarge) {
		if limit, final = s.maxMessage(); limit >= len(pkt) {
			err = e.transmit(s, pkt) // the search raised the limit since: send it after all
		}
	}
	switch {
	case err == nil:
		p.txBytes.Add(uint64(len(pkt)))
		p.txPackets.Add(1)
		return
	case !errors.Is(err, udx.ErrMessageTooLarge) || limit >= len(pkt):
		e.counters.sendDropped.Add(1)
		return
	}
	if pkt[0]>>4 == 4 && binary.BigEndian.Uint16(pkt[6:])&ipv4DF == 0 {
		e.counters.fragmented.Add(1)
		sent := fragmentIPv4(pkt, limit, scratch, func(b []byte) error { return e.transmit(s, b) })
		p.txPackets.Add(uint64(sent))
		p.txBytes.Add(uint64(len(pkt)))
		return
	}
	if !final {
		e.counters.mtuPending.Add(1)
		return
	}
	e.counters.tooBig.Add(1)
	b := e.rx.get()
	if b == nil {
		return
	}
	out := appendTooBig(b.data[:tun.Headroom], pkt, limit)
	b.n = len(out) - tun.Headroom
	if b.n == 0 {
		e.rx.put(b)
		return
	}
	e.queue(b)
}

// transmit sends one datagram on s, waiting up to sendWait for room in the socket's send
// queue unless a wait for s timed out within sendBackoff (see Back-pressure).
func (e *Engine) transmit(s *session, b []byte) error {
	now := time.Now()
	if now.UnixNano() < s.noWait.Load() {
		err := s.dg.TrySend(b)
		if err == nil {
			s.noWait.Store(0) // the queue drains again: the connection is slow, not stuck
		}
		return err
	}
	err := s.dg.SendBefore(b, now.Add(sendWait))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		s.noWait.Store(now.Add(sendBackoff).UnixNano())
	}
	return err
}

// onDatagram is the DHT's datagram callback of every connection: it runs on a socket
// goroutine and b is valid only during the call.
func (e *Engine) onDatagram(c *dht.Conn, b []byte) {
	v, ok := e.conns.Load(c)
	if !ok {
		return
	}
	s := v.(*session)
	if !s.ready.Load() {
		return
	}
	if s.rxBatched {
		e.receiveBatched(s, b)
		return
	}
	e.receive(s.peer, b)
}

// acceptPacket checks one packet from p: its source must be one of p's addresses or subnets (the
// table's lookup of the source is p), or it is dropped and counted.
func (e *Engine) acceptPacket(p *peer, pkt []byte) bool {
	src, _, ok := packetAddrs(pkt)
	if !ok || len(pkt) > rxBufSize {
		e.counters.malformed.Add(1)
		return false
	}
	if e.table.Load().lookup(src) != p {
		e.counters.spoofed.Add(1)
		return false
	}
	p.rxBytes.Add(uint64(len(pkt)))
	p.rxPackets.Add(1)
	return true
}

// receiveBatched is receive for a connection that reports the end of its socket's read
// batches: the packet is held in s until then (endRxBatch), and the socket goroutine writes
// the batch's packets to the device itself, in one call that coalesces each flow's
// segments (GRO), instead of waking routineWriteTUN for them. Writing is the back-pressure:
// the socket is not read meanwhile. When no buffer is free the packet takes receive's way.
func (e *Engine) receiveBatched(s *session, pkt []byte) {
	if !e.acceptPacket(s.peer, pkt) {
		return
	}
	b := e.rx.get()
	if b == nil {
		e.receiveWait(nil, pkt)
		return
	}
	b.n = copy(b.data[tun.Headroom:], pkt)
	s.rxMu.Lock()
	if s.rxHeld == nil {
		batch := max(e.dev.BatchSize(), 1)
		s.rxHeld, s.rxBufs = make([]*buffer, 0, batch), make([][]byte, 0, batch)
	}
	s.rxHeld = append(s.rxHeld, b)
	if len(s.rxHeld) == cap(s.rxHeld) {
		e.writeHeldLocked(s)
	}
	s.rxMu.Unlock()
}

// endRxBatch is s's connection's batch-end function: it writes the packets held.
func (s *session) endRxBatch() {
	s.rxMu.Lock()
	s.e.writeHeldLocked(s)
	s.rxMu.Unlock()
}

// writeHeldLocked writes the packets held in s to the device and frees their buffers.
func (e *Engine) writeHeldLocked(s *session) {
	if len(s.rxHeld) == 0 {
		return
	}
	e.writeBuffers(s.rxHeld, s.rxBufs)
	s.rxHeld = s.rxHeld[:0]
}

// writeBuffers writes the packets of held to the device in one call, with bufs (empty, with
// room for them) for their slices, and frees the buffers; held's slots are cleared. It
// reports whether the device is closed.
func (e *Engine) writeBuffers(held []*buffer, bufs [][]byte) bool {
	bufs = bufs[:0]
	for _, h := range held {
		bufs = append(bufs, h.data[:tun.Headroom+h.n])
	}
	closed := e.writeAll(bufs)
	clear(bufs)
	for i, h := range held {
		e.rx.put(h)
		held[i] = nil
	}
	return closed
}

// receive checks one packet from p and queues it for the device: its source must be one
// of p's addresses or subnets (the table's lookup of the source is p), or it is dropped.
func (e *Engine) receive(p *peer, pkt []byte) {
	if !e.acceptPacket(p, pkt) {
		return
	}
	b := e.rx.get()
	if b != nil {
		b.n = copy(b.data[tun.Headroom:], pkt)
		select {
		case e.toTUN <- b:
			if e.rx.noWait.Load() != 0 {
				e.rx.noWait.Store(0) // the device takes packets again
			}
			return
		default:
		}
	}
	e.receiveWait(b, pkt)
}

// receiveWait queues pkt for the device when it is behind: it waits for a buffer (b is nil)
// and for room in the queue, up to rxWait in all unless a wait timed out within rxBackoff
// (see Back-pressure), and drops pkt otherwise. b holds pkt already when not nil.
func (e *Engine) receiveWait(b *buffer, pkt []byte) {
	now := time.Now()
	if now.UnixNano() < e.rx.noWait.Load() {
		e.counters.recvDropped.Add(1)
		if b != nil {
			e.rx.put(b)
		}
		return
	}
	t := time.NewTimer(rxWait)
	defer t.Stop()
	if b == nil {
		select {
		case b = <-e.rx.free:
			b.n = copy(b.data[tun.Headroom:], pkt)
		case <-t.C:
			e.rx.noWait.Store(now.Add(rxBackoff).UnixNano())
			e.counters.recvDropped.Add(1)
			return
		case <-e.ctx.Done():
			e.counters.recvDropped.Add(1)
			return
		}
	}
	select {
	case e.toTUN <- b:
		return
	case <-t.C:
		e.rx.noWait.Store(now.Add(rxBackoff).UnixNano())
	case <-e.ctx.Done():
	}
	e.counters.recvDropped.Add(1)
	e.rx.put(b)
}

// queue hands b to routineWriteTUN, or drops it when the queue is full (for the engine's
// own ICMP answers, which the device reader writes: it does not wait for itself).
func (e *Engine) queue(b *buffer) {
	select {
	case e.toTUN <- b:
	default:
		e.counters.recvDropped.Add(1)
		e.rx.put(b)
	}
}

// routineWriteTUN writes the queued packets to the device, as many per call as have
// queued up to a batch, until the engine stops.
func (e *Engine) routineWriteTUN() {
	defer e.wg.Done()
	batch := e.dev.BatchSize()
	held := make([]*buffer, 0, batch)
	bufs := make([][]byte, 0, batch)
	for {
		var b *buffer
		select {
		case b = <-e.toTUN:
		case <-e.ctx.Done():
			return
		}
		held = append(held[:0], b)
	drain:
		for len(held) < batch {
			select {
			case b = <-e.toTUN:
				held = append(held, b)
			default:
				break drain
			}
		}
		if e.writeBuffers(held, bufs) {
			return
		}
	}
}

// writeAll writes bufs to the device, skipping over packets it refuses. It reports whether
// the device is closed.
func (e *Engine) writeAll(bufs [][]byte) bool {
	for len(bufs) > 0 {
		n, err := e.dev.Write(bufs, tun.Headroom)
		if err == nil {
			return false
		}
		if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
			return true
		}
		e.counters.deviceErrors.Add(1)
		if n >= len(bufs) {
			return false
		}
		bufs = bufs[n+1:]
	}
	return false
}
