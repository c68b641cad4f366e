package udx

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// lingerTime is how long a stream that closed cleanly keeps its id to re-ack
// a retransmitted END whose ack was lost. libudx has no such TIME_WAIT, so
// its peer would time out 13 s later (udx.md §10, item 6); lingering is
// harmless to it.
const lingerTime = 15 * time.Second

// StreamOptions configure a [Stream].
type StreamOptions struct {
	// Firewall is called for every packet that arrives on a socket other
	// than the stream's, which includes every packet before Connect. It
	// returns false to drop the packet without an ack. It may call Connect
	// (the hyperdht server pattern: connect to whoever sends first). When it
	// accepts without connecting, data is delivered and its ack deferred
	// until Connect. nil rejects everything, as udx-native's default does.
	// It runs on the socket's read goroutine with no lock held.
	Firewall func(s *Stream, sock *Socket, from netip.AddrPort) bool

	// OnMessage is called for every MESSAGE received (unreliable datagrams,
	// udx.md §6), on the socket's read goroutine. b is valid only during the
	// call: copy it to keep it. It may call Send. nil drops messages.
	OnMessage func(b []byte)

	// Logger receives debug logs of the stream's life. nil discards them.
	Logger *slog.Logger
}

// StreamStats is a snapshot of a stream's counters and congestion state.
type StreamStats struct {
	SRTT            time.Duration // smoothed round-trip time; 0 before the first sample
	RTO             time.Duration // current retransmission timeout
	CWnd            int           // congestion window, packets
	Inflight        int           // packets sent and neither acked nor declared lost
	Retransmits     int           // packets retransmitted
	FastRecoveries  int           // loss-recovery episodes started by SACK/RACK
	RTOCount        int           // retransmission-timeout expiries
	PacketsSent     int64         // datagrams sent, acks and retransmissions included
	PacketsReceived int64         // packets handled by the stream
	BytesSent       int64         // stream bytes sent for the first time
	BytesReceived   int64         // stream bytes received in new packets
	MTU             int           // confirmed path MTU, IP packet bytes (MTUBase up to MTUMax)

	// The sender's BBR model (udx-native bbrState, bbrBandwidth).
	BBRState   BBRState      // STARTUP before the first data packet
	Bandwidth  int64         // bottleneck bandwidth estimate, payload bytes per second
	MinRTT     time.Duration // BBR's min RTT (10 s window, at least 1 ms); 0 before a sample
	PacingRate int64         // bytes per second
}

// Stream is one UDX stream: a reliable, ordered byte stream with half-close
// to a peer stream, plus unreliable messages, over a [Socket]. It is a
// [net.Conn] and safe for concurrent use.
//
// UDX has no handshake: both sides create a stream, learn each other's id
// out of band and call Connect. The peer may send first; its packets then
// go through StreamOptions.Firewall.
//
// Ending follows udx-native. CloseWrite sends END (a half-close); the peer
// reads io.EOF after all data and may keep writing. When both sides have
// ended and everything is acked the stream closes cleanly: Done is closed,
// Err is nil, and Read still returns the buffered data, then io.EOF. Close
// is Destroy, an abort: it sends one DESTROY, discards what is queued and
// unread, and the peer gets ErrReset. For a graceful close call CloseWrite,
// read to io.EOF, then Close (which after a clean close sends nothing).
//
// The sender searches the path MTU with padded probes from MTUBase up to
// MTUMax or the route MTU the kernel reports (udx.md §5), and
// [Stream.RelayTo] makes a stream a blind-relay leg. Loss is detected with
// SACK, RACK, tail-loss probes and RTO, and congestion is controlled by BBR
// v1 with pacing, as libudx does (udx.md §3-4; see congestion.go).
// [Stream.SetKeepAlive] sends heartbeats while the stream is idle.
type Stream struct {
	u    *Instance
	id   StreamID
	opts StreamOptions
	log  *slog.Logger

	mu        sync.Mutex
	c         *conn   // guarded by mu
	sock      *Socket // guarded by mu; nil until Connect
	corks     int     // guarded by mu; Cork calls not yet uncorked
	corked    *Socket // guarded by mu; the socket Cork held, while corks > 0
	batchEnd  func()  // guarded by mu; see SetMessageBatchEnd
	inBatch   bool    // guarded by mu; on a socket's list of streams to call batchEnd for
	timer     *time.Timer
	timerAt   time.Time     // guarded by mu; when timer fires; zero = stopped
	readSig   chan struct{} // closed (and replaced) to wake blocked readers
	writeSig  chan struct{} // likewise for writers
	readWait  bool          // a reader holds readSig: replace it on the next wake
	writeWait bool
	readDL    time.Time // guarded by mu
	writeDL   time.Time // guarded by mu
	destroyed bool      // guarded by mu; Close or Destroy was called
	lingerAt  time.Time // guarded by mu; set while a cleanly closed stream keeps its id
	relayed   bool      // guarded by mu; RelayTo was called: packets are forwarded, not processed
	relayTo   *Stream   // guarded by mu; where packets are forwarded; nil once it ended
	relaying  []*Stream // guarded by mu; the streams relaying into this one
	relayBuf  []byte    // guarded by mu; a packet forwarded to this stream's peer
	done      chan struct{}
	doneOnce  sync.Once

	keepAlive     time.Duration // guarded by mu; HEARTBEAT interval while idle; 0 = off
	keepAliveAt   time.Time     // guarded by mu; when the next one is due; zero = not armed
	remoteChanged chan struct{} // guarded by mu; closed when a pending ChangeRemote completes; nil: none pending
}

// NewStream creates a stream with local id and registers it in the
// instance's stream table, so packets for id reach it on any of the
// instance's sockets. It returns ErrStreamIDTaken if the id is in use.
func (u *Instance) NewStream(id StreamID, opts StreamOptions) (*Stream, error) {
	s := &Stream{
		u: u, id: id, opts: opts, log: opts.Logger,
		readSig: make(chan struct{}), writeSig: make(chan struct{}),
		done: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.c = newConn(s.output)
	s.timer = time.AfterFunc(time.Hour, s.onTimer)
	s.timer.Stop()
	if !u.register(id, s) {
		return nil, ErrStreamIDTaken
	}
	return s, nil
}

// output sends a datagram through the stream's current socket; called by
// the engine with mu held. Send errors are not reported, as with UDP.
func (s *Stream) output(b []byte, to netip.AddrPort) {
	if s.sock == nil {
		return
	}
	if err := s.sock.send(nil, b, to, true, time.Time{}, nil); err != nil {
		s.log.Debug("udx: send failed", "stream", s.id, "to", to, "err", err)
	}
}

// Connect connects the stream to the peer stream remoteID at addr, through
// sock. It sends nothing unless data is waiting: UDX has no handshake. It
// reads the MTU of the route to addr from the kernel, which caps the MTU
// search (udx.md §5.1). It fails with ErrAlreadyConnected on a connected
// stream and net.ErrClosed on a closed one.
func (s *Stream) Connect(sock *Socket, remoteID StreamID, addr netip.AddrPort) error {
	if sock == nil || !addr.IsValid() || addr.Port() == 0 {
		return errors.New("udx: connect: need a socket and an address with a port")
	}
	route := sock.pathMTU(unmap(addr))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed || s.c.closed {
		return net.ErrClosed
	}
	if s.c.connected {
		return ErrAlreadyConnected
	}
	s.sock = sock
	s.c.connect(remoteID, unmap(addr), time.Now())
	s.c.mtu.limitToRoute(route) // no probe can have been sent yet: none before the first ack
	s.afterLocked()
	return nil
}

// ChangeRemote moves a connected stream to the peer stream remoteID at addr
// through sock (udx.md §2.8): packets built from now on go there, while
// retransmissions of packets already sent keep their old id and address
// (they leave through sock). [Stream.RemoteChanged] tells when they are all
// acked. The MTU search starts over, capped by the route MTU to addr
// (libudx forgets the cap here and probes up to MTUMax).
func (s *Stream) ChangeRemote(sock *Socket, remoteID StreamID, addr netip.AddrPort) error {
	return s.changeRemote(sock, remoteID, addr, false)
}

// MoveRemote is ChangeRemote for a move away from a path that delivers nothing, such as a
// blind relay the peer never sent through (a relay's stream towards a client connects on the
// client's first packet and drops what it would forward before). The packets in flight move
// too: they are sent again at once, to the new remote with its id, instead of being
// retransmitted on the old path. [Stream.RemoteChanged] works as after ChangeRemote.
func (s *Stream) MoveRemote(sock *Socket, remoteID StreamID, addr netip.AddrPort) error {
	return s.changeRemote(sock, remoteID, addr, true)
}

func (s *Stream) changeRemote(sock *Socket, remoteID StreamID, addr netip.AddrPort, move bool) error {
	if sock == nil || !addr.IsValid() || addr.Port() == 0 {
		return errors.New("udx: change remote: need a socket and an address with a port")
	}
	route := sock.pathMTU(unmap(addr))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed || s.c.closed {
		return net.ErrClosed
	}
	if !s.c.connected {
		return ErrNotConnected
	}
	s.sock = sock
	s.c.changeRemote(remoteID, unmap(addr), move, time.Now())
	s.c.mtu.limitToRoute(route)
	s.remoteChangingLocked()
	s.afterLocked()
	return nil
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// onPacket implements streamHandler: it runs on the read goroutine of sock.
func (s *Stream) onPacket(sock *Socket, h Header, b []byte, from netip.AddrPort) {
	s.mu.Lock()
	if s.destroyed || (s.c.closed && s.lingerAt.IsZero()) {
		s.mu.Unlock()
		return
	}
	if sock != s.sock {
		if s.c.closed {
			s.mu.Unlock()
			return
		}
		fw := s.opts.Firewall
		s.mu.Unlock()
		if fw == nil || !fw(s, sock, from) {
			return
		}
		s.mu.Lock()
		if s.destroyed || s.c.closed {
			s.mu.Unlock()
			return
		}
	}
	if s.relayed {
		s.relayLocked(h, b)
		return
	}
	msg, isMsg := s.c.onPacket(h, b, time.Now())
	s.afterLocked()
	var end func()
	if isMsg && s.batchEnd != nil {
		if sock.batch == nil {
			end = s.batchEnd // the portable path: one datagram per read
		} else if !s.inBatch {
			s.inBatch = true
			sock.ended = append(sock.ended, s)
		}
	}
	s.mu.Unlock()
	if isMsg && s.opts.OnMessage != nil {
		s.opts.OnMessage(msg)
	}
	if end != nil {
		end()
	}
}

// SetMessageBatchEnd sets fn to be called on the read goroutine of the stream's socket
// after the datagrams of one read (up to 64 on the batched path, one on the portable path)
// have been dispatched, when one or more of them were messages of this stream (passed to
// OnMessage); nil removes it. A receiver that hands messages on (a VPN writing packets to
// its device) can collect them in OnMessage and pass a read's worth on at once, in one
// system call, without a goroutine of its own to wake.
func (s *Stream) SetMessageBatchEnd(fn func()) {
	s.mu.Lock()
	s.batchEnd = fn
	s.mu.Unlock()
}

// endBatch calls the batch-end function of a stream that received messages in the read
// batch that was just dispatched.
func (s *Stream) endBatch() {
	s.mu.Lock()
	s.inBatch = false
	fn := s.batchEnd
	s.mu.Unlock()
	if fn != nil {
		fn()
	}
}

// onTimer runs on the timer's goroutine.
func (s *Stream) onTimer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timerAt = time.Time{}
	if s.destroyed {
		return
	}
	now := time.Now()
	if !s.lingerAt.IsZero() && !now.Before(s.lingerAt) {
		s.lingerAt = time.Time{}
		s.u.unregister(s.id, s)
		return
	}
	s.keepAliveLocked(now)
	s.c.onTimer(now)
	s.afterLocked()
}

// afterLocked acts on what the engine did: wakes blocked calls, finishes a
// closed stream and re-arms the timer.
func (s *Stream) afterLocked() {
	if s.c.wakeRead {
		s.c.wakeRead = false
		s.wakeReadersLocked()
	}
	if s.c.wakeWrite {
		s.c.wakeWrite = false
		s.wakeWritersLocked()
	}
	if s.c.closed && !s.isDone() {
		s.finishLocked()
	}
	s.remoteChangedLocked()
	at := s.c.deadline()
	if ka := s.keepAliveDueLocked(); !ka.IsZero() && (at.IsZero() || ka.Before(at)) {
		at = ka
	}
	if !s.lingerAt.IsZero() {
		at = s.lingerAt
	}
	if at.IsZero() {
		if !s.timerAt.IsZero() {
			s.timer.Stop()
			s.timerAt = time.Time{}
		}
		return
	}
	if !at.Equal(s.timerAt) {
		s.timer.Reset(time.Until(at))
		s.timerAt = at
	}
}

// finishLocked ends a stream whose engine closed. A clean close lingers
// with its id registered; every other end releases the id at once.
func (s *Stream) finishLocked() {
	switch {
	case s.c.finished && !s.destroyed:
		s.lingerAt = time.Now().Add(lingerTime)
		s.log.Debug("udx: stream closed", "stream", s.id)
	default:
		s.u.unregister(s.id, s)
		if s.c.err != nil {
			s.log.Debug("udx: stream failed", "stream", s.id, "err", s.c.err)
		}
	}
	s.doneOnce.Do(func() { close(s.done) })
	if to, into := s.takeRelaysLocked(); to != nil || len(into) > 0 {
		go unlinkRelays(s, to, into) // it takes other streams' locks
	}
}

func (s *Stream) isDone() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Read reads stream data. It returns io.EOF once the peer's END has been
// read, ErrReset or ErrTimeout when the stream failed, and net.ErrClosed
// after Close. It honours the read deadline.
func (s *Stream) Read(b []byte) (int, error) {
	for {
		s.mu.Lock()
		switch {
		case s.destroyed:
			s.mu.Unlock()
			return 0, net.ErrClosed
		case s.c.rcv.buffered() > 0:
			if len(b) == 0 {
				s.mu.Unlock()
				return 0, nil
			}
			n := s.c.rcv.read(b)
			s.c.afterRead()
			s.afterLocked()
			s.mu.Unlock()
			return n, nil
		case s.c.rcv.eof:
			s.mu.Unlock()
			return 0, io.EOF
		case s.c.err != nil:
			err := s.c.err
			s.mu.Unlock()
			return 0, err
		}
		sig, dl := s.readSig, s.readDL
		s.readWait = true
		s.mu.Unlock()
		if err := wait(sig, dl); err != nil {
			return 0, err
		}
	}
}

// Write queues b for sending and returns once all of it is queued. It
// blocks while more than 256 KiB plus a congestion window is waiting to be
// sent. Data written before Connect is sent on Connect. It returns
// ErrWriteAfterEnd after CloseWrite, ErrReset or ErrTimeout when the stream
// failed, and net.ErrClosed after Close.
func (s *Stream) Write(b []byte) (int, error) {
	n := 0
	for {
		s.mu.Lock()
		switch {
		case s.destroyed:
			s.mu.Unlock()
			return n, net.ErrClosed
		case s.c.err != nil:
			err := s.c.err
			s.mu.Unlock()
			return n, err
		case s.c.snd.endQueued:
			s.mu.Unlock()
			return n, ErrWriteAfterEnd
		}
		if room := s.c.writeRoom(); room > 0 && n < len(b) {
			k := min(room, len(b)-n)
			s.c.write(b[n:n+k], time.Now())
			n += k
			s.afterLocked()
		}
		if n == len(b) {
			s.mu.Unlock()
			return n, nil
		}
		sig, dl := s.writeSig, s.writeDL
		s.writeWait = true
		s.mu.Unlock()
		if err := wait(sig, dl); err != nil {
			return n, err
		}
	}
}

// wakeReadersLocked wakes readers blocked on readSig. Without a waiter it does nothing, so the
// data path does not allocate a channel per packet.
func (s *Stream) wakeReadersLocked() {
	if s.readWait {
		s.readWait = false
		close(s.readSig)
		s.readSig = make(chan struct{})
	}
}

// wakeWritersLocked wakes writers blocked on writeSig (see wakeReadersLocked).
func (s *Stream) wakeWritersLocked() {
	if s.writeWait {
		s.writeWait = false
		close(s.writeSig)
		s.writeSig = make(chan struct{})
	}
}

// wait blocks until sig is closed or the deadline passes.
func wait(sig <-chan struct{}, deadline time.Time) error {
	if deadline.IsZero() {
		<-sig
		return nil
	}
	d := time.Until(deadline)
	if d <= 0 {
		return os.ErrDeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-sig:
		return nil
	case <-t.C:
		return os.ErrDeadlineExceeded
	}
}

// CloseWrite ends the sending direction (udx-native end()): an END follows
// the data already written. Reading goes on. It is idempotent.
func (s *Stream) CloseWrite() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return net.ErrClosed
	}
	if s.c.err != nil {
		return s.c.err
	}
	if !s.c.snd.endQueued && !s.c.closed {
		s.c.end(time.Now())
		s.afterLocked()
	}
	return nil
}

// Close is Destroy: UDX's close is an abort. See [Stream] for a graceful
// close.
func (s *Stream) Close() error { return s.Destroy() }

// Destroy aborts the stream: a connected stream that has not closed sends
// one DESTROY (the peer gets ErrReset if it arrives), then queued and unread
// data are discarded and the id is released. Blocked and later calls return
// net.ErrClosed. Err stays nil unless the stream had already failed. It is
// idempotent. A relaying stream (RelayTo) sends nothing, and the streams
// relaying into s are destroyed as well.
func (s *Stream) Destroy() error {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return nil
	}
	s.destroyed = true
	to, into := s.takeRelaysLocked()
	if s.relayed {
		if !s.c.closed {
			s.c.close(nil)
		}
	} else {
		s.c.destroy()
	}
	s.lingerAt = time.Time{}
	s.u.unregister(s.id, s)
	s.afterLocked()
	s.doneOnce.Do(func() { close(s.done) })
	s.wakeReadersLocked()
	s.wakeWritersLocked()
	s.mu.Unlock()
	unlinkRelays(s, to, into)
	return nil
}

// Done returns a channel closed when the stream has ended: closed cleanly,
// failed (see Err) or destroyed locally.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err returns why the stream failed: ErrReset or ErrTimeout. It is nil
// while the stream is open and after a clean close or a local Destroy.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.err
}

// Send sends b as one unreliable MESSAGE (udx.md §6): not acked, not
// retransmitted, not ordered with the stream data. b is not used after Send
// returns. It returns ErrNotConnected before Connect and ErrMessageTooLarge
// when b is longer than the stream's maximum payload. When the socket's send
// queue is full (see [Socket]) Send waits for room, up to the write
// deadline (os.ErrDeadlineExceeded), and returns net.ErrClosed if the stream
// or the socket is closed meanwhile. As with UDP, success does not mean
// delivery.
func (s *Stream) Send(b []byte) error { return s.send(b, true, time.Time{}) }

// TrySend is Send without waiting: when the socket's send queue is full the
// message is dropped and TrySend returns ErrSendQueueFull (udx-native's
// trySend likewise does not wait for the datagram to leave). On the portable
// path, which has no queue, it is Send.
func (s *Stream) TrySend(b []byte) error { return s.send(b, false, time.Time{}) }

// SendBefore is Send waiting for room in the socket's send queue until deadline at
// the latest (and the write deadline, if earlier): when no room came in time the
// message is dropped and SendBefore returns os.ErrDeadlineExceeded, at once if
// deadline has passed. A sender that must not be held up for long (a VPN's
// device reader) gets back-pressure from a busy socket this way without a
// stuck one blocking it.
func (s *Stream) SendBefore(b []byte, deadline time.Time) error { return s.send(b, true, deadline) }

// Cork holds the send queue of the stream's socket until the matching Uncork: the
// messages (and any other datagrams of the socket) queued meanwhile are written together,
// in one system call where they fit, when the last cork of the socket is released, rather
// than the first one waking the socket's writer and leaving alone. A queue that fills
// while corked is written as usual. A sender of a burst of messages (a VPN's device reader
// with a batch of packets) corks around it; the held datagrams wait only that long. Corks
// nest; every Cork needs an Uncork. On the portable path, which has no queue, both do
// nothing.
func (s *Stream) Cork() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.corks == 0 {
		if s.corked = s.sock; s.corked != nil {
			s.corked.cork()
		}
	}
	s.corks++
}

// Uncork releases a Cork; the last one writes what was held, on the caller's goroutine
// when the socket's writer is idle.
func (s *Stream) Uncork() {
	s.mu.Lock()
	var sock *Socket
	if s.corks > 0 {
		s.corks--
		if s.corks == 0 {
			sock, s.corked = s.corked, nil
		}
	}
	s.mu.Unlock()
	if sock != nil {
		sock.uncork()
	}
}

// MaxMessage returns the longest message Send takes now (the payload of a
// packet of the confirmed path MTU), and whether the MTU search has ended:
// until then the path may carry more and the limit grows as probes are acked.
// It starts again at MTUBase when the stream connects or changes remote.
func (s *Stream) MaxMessage() (n int, final bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.mss, s.c.mtu.state == mtuComplete
}

func (s *Stream) send(b []byte, wait bool, before time.Time) error {
	s.mu.Lock()
	switch {
	case s.destroyed || s.c.closed:
		s.mu.Unlock()
		return net.ErrClosed
	case !s.c.connected:
		s.mu.Unlock()
		return ErrNotConnected
	case len(b) > s.c.mss:
		s.mu.Unlock()
		return ErrMessageTooLarge
	}
	var head [HeaderSize]byte
	h := s.c.header(TypeMessage)
	h.Put(head[:])
	s.c.stats.PacketsSent++
	sock, to, deadline := s.sock, s.c.remote, s.writeDL
	s.mu.Unlock()
	if !before.IsZero() && (deadline.IsZero() || before.Before(deadline)) {
		deadline = before
	}
	// The datagram is queued without the stream's lock: a wait for room holds up
	// nothing else of the stream.
	return sock.send(head[:], b, to, wait, deadline, s.done)
}

// Nudge resends at once what the stream sent and the peer has not acknowledged, as long as
// the peer has acknowledged nothing yet. It is for a stream whose first packets a relay may
// have dropped because it did not know the peer's address yet: once a packet of the peer
// arrived, proving the way open, Nudge saves waiting for the 1 s initial retransmission
// timeout. Otherwise it does nothing.
func (s *Stream) Nudge() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return
	}
	s.c.nudge(time.Now())
	s.afterLocked()
}

// SetDeadline sets the read and write deadlines.
func (s *Stream) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for Read; a blocked Read sees the change.
func (s *Stream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readDL = t
	s.wakeReadersLocked()
	return nil
}

// SetWriteDeadline sets the deadline for Write; a blocked Write sees the
// change.
func (s *Stream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeDL = t
	s.wakeWritersLocked()
	return nil
}

// ID returns the stream's local id.
func (s *Stream) ID() StreamID { return s.id }

// RemoteID returns the peer's stream id (0 before Connect).
func (s *Stream) RemoteID() StreamID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.remoteID
}

// LocalAddr returns the address of the stream's socket (nil before Connect).
func (s *Stream) LocalAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock == nil {
		return nil
	}
	return s.sock.LocalAddr()
}

// RemoteAddr returns the peer's address (nil before Connect).
func (s *Stream) RemoteAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.c.connected {
		return nil
	}
	return net.UDPAddrFromAddrPort(s.c.remote)
}

// Stats returns a snapshot of the stream's counters.
func (s *Stream) Stats() StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.c.stats
	st.SRTT = s.c.snd.rtt.srtt
	st.RTO = s.c.snd.rtt.timeout()
	st.Inflight = s.c.snd.inflight
	st.MTU = s.c.mtu.mtu
	s.c.snd.cc.stats(&st, s.c.mss)
	return st
}
