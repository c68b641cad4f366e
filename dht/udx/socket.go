package udx

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Instance is one UDX instance: the stream table shared by all its sockets, as in libudx,
// where a packet for stream X is found whichever of the instance's sockets it arrives on.
// It is safe for concurrent use.
type Instance struct {
	mu      sync.RWMutex
	streams map[StreamID]streamHandler // guarded by mu
}

// streamHandler is what the stream table holds: the receive side of a stream.
type streamHandler interface {
	// onPacket handles a UDX packet for this stream, arrived on s from addr. b is only valid
	// for the duration of the call.
	onPacket(s *Socket, h Header, b []byte, from netip.AddrPort)
}

// NewInstance returns an instance with an empty stream table.
func NewInstance() *Instance {
	return &Instance{streams: make(map[StreamID]streamHandler)}
}

// register adds a stream to the table; it reports false if the id is taken.
func (u *Instance) register(id StreamID, h streamHandler) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, taken := u.streams[id]; taken {
		return false
	}
	u.streams[id] = h
	return true
}

// unregister removes the stream id from the table if it still maps to h.
func (u *Instance) unregister(id StreamID, h streamHandler) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.streams[id] == h {
		delete(u.streams, id)
	}
}

func (u *Instance) lookup(id StreamID) streamHandler {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return u.streams[id]
}

// plainQueueLen bounds the datagrams that wait for ReadFrom; more are dropped, as a kernel
// drops UDP on a full buffer.
const plainQueueLen = 512

// Socket is one UDP socket of an [Instance]. UDX packets for known streams go to their
// stream; every other datagram (dht-rpc messages, holepunch probes, packets for unknown
// streams) is returned by ReadFrom, so a Socket is a [net.PacketConn] that the DHT's RPC layer
// can run on while streams share the port (libudx's socket 'message' event, udx.md §1.6).
//
// Plain datagrams are copied once into a bounded queue; when nobody reads fast enough the
// newest are dropped, as a kernel drops UDP on a full buffer.
//
// Sending. On a real UDP socket on Linux (the batched path) every datagram the socket sends,
// stream packets and WriteTo alike, goes through one bounded send queue, in order, and a
// writer goroutine writes it with sendmmsg, runs of equal-size datagrams to one address as
// one UDP GSO message: under load one system call carries up to 64 datagrams. A write
// returns once its datagram is queued (copied); kernel errors are not reported, as UDP does
// not report loss. When the queue is full WriteTo and [Stream.Send] wait for room, up to the
// write deadline, while [Stream.TrySend] drops the message and returns ErrSendQueueFull.
// Elsewhere (other systems, or a PacketConn that is not a *net.UDPConn, such as an in-memory
// test network) each write is one write call on the underlying conn, made before it returns.
//
// Close writes what is queued, closes the UDP socket and waits for the socket's goroutines;
// ReadFrom then returns net.ErrClosed, and so do writes.
type Socket struct {
	u     *Instance
	pc    net.PacketConn
	fast  addrPortConn
	batch *batchConn // batched I/O on a real UDP socket (Linux); nil: the portable path
	q     *sendQueue // the send queue of the batched path; nil on the portable path
	local netip.AddrPort

	// routeMTU returns the MTU of the route to an address, 0 if unknown: the kernel's for a
	// real UDP socket (routeMTU), nil (unknown) for other conns. Tests may replace it
	// before streams connect through the socket.
	routeMTU func(netip.AddrPort) int

	plain     chan datagram
	ended     []*Stream     // read goroutine only: streams that got messages in this read batch
	done      chan struct{} // closed by Close or when the UDP socket fails for good
	closeOnce sync.Once
	wg        sync.WaitGroup
	dropped   atomic.Uint64

	mu       sync.Mutex
	deadline time.Time     // guarded by mu; read deadline
	writeDL  time.Time     // guarded by mu; write deadline (waits for send-queue room)
	moved    chan struct{} // signalled when the read deadline changes

	wmu  sync.Mutex // portable path: guards wbuf
	wbuf []byte     // portable path: a datagram assembled from parts
}

// ErrSendQueueFull is returned by [Stream.TrySend] when the socket's send queue is full:
// the message was dropped.
var ErrSendQueueFull = errors.New("udx: socket send queue full")

type datagram struct {
	b    []byte
	from netip.AddrPort
}

// addrPortConn is implemented by *net.UDPConn (and test networks): the allocation-free path.
type addrPortConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// Listen makes pc a socket of the instance and starts reading it. The Socket owns pc.
func (u *Instance) Listen(pc net.PacketConn) *Socket {
	s := &Socket{
		u: u, pc: pc, plain: make(chan datagram, plainQueueLen),
		done: make(chan struct{}), moved: make(chan struct{}, 1),
	}
	s.fast, _ = pc.(addrPortConn)
	if _, ok := pc.(*net.UDPConn); ok {
		s.routeMTU = routeMTU
	}
	s.batch = newBatchConn(pc)
	if s.batch != nil {
		s.q = newSendQueue(s.batch.writeBatch)
		go s.q.run()
	}
	if ua, ok := pc.LocalAddr().(*net.UDPAddr); ok {
		ap := ua.AddrPort()
		s.local = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	s.wg.Add(1)
	go s.readLoop()
	return s
}

// ListenPacket binds a UDP socket with net.ListenPacket and makes it a socket of the
// instance; it has the signature the RPC layer's Options.ListenPacket expects.
func (u *Instance) ListenPacket(network, address string) (net.PacketConn, error) {
	pc, err := net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	return u.Listen(pc), nil
}

func (s *Socket) readLoop() {
	defer s.wg.Done()
	if s.batch != nil {
		s.readLoopBatch()
		return
	}
	buf := make([]byte, MaxDatagram)
	for {
		n, from, err := s.read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				s.shutdown()
				return
			}
			continue // transient (ICMP errors, timeouts): libudx only logs them
		}
		s.dispatch(buf[:n], from)
	}
}

// readLoopBatch is readLoop on the batched path: the datagrams of one read are dispatched
// while the send queue holds what they cause (acks, data released by acks), which then goes
// out together.
func (s *Socket) readLoopBatch() {
	for {
		n, err := s.batch.readBatch()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				s.shutdown()
				return
			}
			continue // transient (ICMP errors): libudx only logs them
		}
		s.q.cork()
		for i := range n {
			s.dispatch(s.batch.datagram(i))
		}
		for i, st := range s.ended {
			st.endBatch()
			s.ended[i] = nil
		}
		s.ended = s.ended[:0]
		s.q.release()
	}
}

// dispatch hands a datagram to its stream or queues it for ReadFrom. b is only valid for the
// duration of the call.
func (s *Socket) dispatch(b []byte, from netip.AddrPort) {
	if IsUDX(b) {
		if id, ok := PeekID(b); ok {
			if st := s.u.lookup(id); st != nil {
				if h, err := ParseHeader(b); err == nil {
					st.onPacket(s, h, b, from)
					return
				}
			}
		}
	}
	select {
	case s.plain <- datagram{b: append([]byte(nil), b...), from: from}:
	default:
		s.dropped.Add(1)
	}
}

func (s *Socket) read(b []byte) (int, netip.AddrPort, error) {
	if s.fast != nil {
		n, from, err := s.fast.ReadFromUDPAddrPort(b)
		return n, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), err
	}
	n, addr, err := s.pc.ReadFrom(b)
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	ua, _ := addr.(*net.UDPAddr)
	if ua == nil {
		return 0, netip.AddrPort{}, nil
	}
	ap := ua.AddrPort()
	return n, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

func (s *Socket) shutdown() {
	s.closeOnce.Do(func() { close(s.done) })
	if s.q != nil {
		s.q.close()
	}
}

func (s *Socket) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "udp", Addr: s.LocalAddr(), Err: err}
}

// ReadFromUDPAddrPort returns the next plain (non-stream) datagram. A datagram longer than b
// is truncated.
func (s *Socket) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		s.mu.Lock()
		deadline := s.deadline
		s.mu.Unlock()
		var timer *time.Timer
		var expired <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, netip.AddrPort{}, s.opError("read", os.ErrDeadlineExceeded)
			}
			timer = time.NewTimer(d)
			expired = timer.C
		}
		n, from, again, err := s.wait(b, expired)
		if timer != nil {
			timer.Stop()
		}
		if !again {
			return n, from, err
		}
	}
}

// wait blocks for one plain datagram, the close, the deadline or a deadline change (again).
func (s *Socket) wait(b []byte, expired <-chan time.Time) (n int, from netip.AddrPort, again bool, err error) {
	select {
	case d := <-s.plain:
		return copy(b, d.b), d.from, false, nil
	case <-s.done:
		select { // deliver what was queued before the close
		case d := <-s.plain:
			return copy(b, d.b), d.from, false, nil
		default:
		}
		return 0, netip.AddrPort{}, false, s.opError("read", net.ErrClosed)
	case <-expired:
		return 0, netip.AddrPort{}, true, nil
	case <-s.moved:
		return 0, netip.AddrPort{}, true, nil
	}
}

// ReadFrom implements net.PacketConn for plain datagrams.
func (s *Socket) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := s.ReadFromUDPAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// WriteToUDPAddrPort sends one datagram; b is not used after it returns. On the batched
// path it queues a copy and waits while the send queue is full, up to the write deadline.
func (s *Socket) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	if err := s.send(nil, b, to, true, s.writeDeadline(), nil); err != nil {
		return 0, s.opError("write", err)
	}
	return len(b), nil
}

// send sends the datagram head followed by body to to. On the batched path it is queued,
// waiting for room as sendQueue.push does (wait, deadline, cancel); on the portable path it
// is written at once and a full kernel buffer blocks as the conn's write does.
func (s *Socket) send(head, body []byte, to netip.AddrPort, wait bool, deadline time.Time, cancel <-chan struct{}) error {
	if tooLarge(len(head)+len(body), to) {
		return errDatagramTooLarge
	}
	if s.q != nil {
		return s.q.push(head, body, to, wait, deadline, cancel)
	}
	if len(head) == 0 {
		return s.writeDirect(body, to)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.wbuf = append(append(s.wbuf[:0], head...), body...)
	return s.writeDirect(s.wbuf, to)
}

var errDatagramTooLarge = errors.New("udx: datagram larger than UDP allows")

func (s *Socket) writeDirect(b []byte, to netip.AddrPort) error {
	var err error
	if s.fast != nil {
		_, err = s.fast.WriteToUDPAddrPort(b, to)
	} else {
		_, err = s.pc.WriteTo(b, net.UDPAddrFromAddrPort(to))
	}
	return err
}

func (s *Socket) writeDeadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeDL
}

// WriteTo implements net.PacketConn; see WriteToUDPAddrPort.
func (s *Socket) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, s.opError("write", errors.New("udx: not a UDP address"))
	}
	return s.WriteToUDPAddrPort(b, ua.AddrPort())
}

// Close writes what is queued for sending, closes the UDP socket and waits for the socket's
// goroutines. It is idempotent.
func (s *Socket) Close() error {
	s.shutdown()
	if s.q != nil {
		<-s.q.exited
	}
	err := s.pc.Close()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// LocalAddr returns the socket's local address.
func (s *Socket) LocalAddr() net.Addr { return s.pc.LocalAddr() }

// LocalAddrPort returns the socket's local address as a netip.AddrPort.
func (s *Socket) LocalAddrPort() netip.AddrPort { return s.local }

// SetDeadline sets the read and write deadlines.
func (s *Socket) SetDeadline(t time.Time) error {
	s.SetWriteDeadline(t)
	return s.SetReadDeadline(t)
}

// SetReadDeadline sets the deadline for ReadFrom; a blocked ReadFrom sees the change.
func (s *Socket) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.deadline = t
	s.mu.Unlock()
	select {
	case s.moved <- struct{}{}:
	default:
	}
	return nil
}

// SetWriteDeadline sets how long a write may wait for room in the send queue (the batched
// path); a write waiting already keeps the deadline it started with. On the portable path
// writes do not wait for a queue and the deadline is not used.
func (s *Socket) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	s.writeDL = t
	s.mu.Unlock()
	return nil
}

// SetReadBuffer sets the underlying socket's receive buffer when it supports it (the RPC
// layer sets libudx's sizes through it).
func (s *Socket) SetReadBuffer(n int) error {
	if b, ok := s.pc.(interface{ SetReadBuffer(int) error }); ok {
		return b.SetReadBuffer(n)
	}
	return nil
}

// SetWriteBuffer sets the underlying socket's send buffer when it supports it.
func (s *Socket) SetWriteBuffer(n int) error {
	if b, ok := s.pc.(interface{ SetWriteBuffer(int) error }); ok {
		return b.SetWriteBuffer(n)
	}
	return nil
}

// Dropped counts plain datagrams dropped because nobody read them fast enough.
func (s *Socket) Dropped() uint64 { return s.dropped.Load() }

// pathMTU returns the MTU of the route to to, 0 if unknown.
func (s *Socket) pathMTU(to netip.AddrPort) int {
	if s.routeMTU == nil {
		return 0
	}
	return s.routeMTU(to)
}

// cork and uncork hold the send queue (see [Stream.Cork]); on the portable path they do
// nothing.
func (s *Socket) cork() {
	if s.q != nil {
		s.q.cork()
	}
}

func (s *Socket) uncork() {
	if s.q != nil {
		s.q.uncork()
	}
}

// SendDropped counts datagrams dropped because the send queue was full: messages sent
// with [Stream.TrySend]. It is 0 on the portable path.
func (s *Socket) SendDropped() uint64 {
	if s.q == nil {
		return 0
	}
	return s.q.droppedCount()
}
