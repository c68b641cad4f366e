package peers

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/dht"
)

// session is one connection with a member: the encrypted DHT connection, its handshake of
// our own (auth, then hello, on the reliable stream), then pings on the stream and packets
// as datagrams. routineSession owns it; routineKeep pings and watches it.
type session struct {
	e    *Engine
	conn *dht.Conn
	dg   sender // conn; benchmarks put a fake here

	key       configs.PublicKey // the remote
	initiator configs.PublicKey // the side that dialled
	epoch     time.Time         // zero point of ping stamps

	// Set by the handshake and install, before ready; read-only afterwards.
	proven bool  // the remote proved the network secret
	hello  hello // its first hello
	peer   *peer
	since  time.Time // when it came up

	ready    atomic.Bool   // datagrams are accepted: the handshake is done and the table knows the peer
	noWait   atomic.Int64  // unix nanoseconds until which sends do not wait for room (Engine.transmit)
	corked   bool          // used by the device reader only: corked for its batch (txBatch)
	probed   atomic.Bool   // the probe pings are over: the path MTU counts as found (maxMessage)
	rtt      atomic.Int64  // nanoseconds, of the last pong
	lastRecv atomic.Int64  // unix nanoseconds of the last frame read
	pongs    chan struct{} // capacity 1: a pong came (routineKeep's probe pings follow them)

	// Packets from the remote waiting for the end of the socket's read batch (endRxBatch).
	rxBatched bool // the connection reports its read batches: onDatagram collects packets
	rxMu      sync.Mutex
	rxHeld    []*buffer // guarded by rxMu
	rxBufs    [][]byte  // guarded by rxMu; the device write's argument

	closeOnce sync.Once
	mu        sync.Mutex
	err       error // guarded by mu; why the session ended
}

func newSession(e *Engine, c *dht.Conn) *session {
	s := &session{e: e, conn: c, dg: c, key: c.RemotePublicKey(), epoch: time.Now(), pongs: make(chan struct{}, 1)}
	s.initiator = s.key
	if c.IsInitiator() {
		s.initiator = e.self
	}
	s.rxBatched = c.SetMessageBatchEnd(s.endRxBatch)
	s.touch()
	return s
}

// maxMessage returns the largest packet the connection carries now and whether that is its
// path's MTU: the UDX stream's MTU search has ended, or the probe pings that drive it are
// over (routineKeep), whichever comes first.
func (s *session) maxMessage() (n int, final bool) {
	n, final = s.dg.MaxMessage()
	if n <= 0 {
		return s.e.floor, true
	}
	return n, final || s.probed.Load()
}

// close ends the session for reason (the first reason given wins).
func (s *session) close(reason error) {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.err = reason
		s.mu.Unlock()
		s.conn.Close()
	})
}

func (s *session) reason() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *session) closed() bool {
	select {
	case <-s.conn.Done():
		return true
	default:
		return false
	}
}

// touch notes that something arrived from the remote.
func (s *session) touch() {
	now := time.Now().UnixNano()
	s.lastRecv.Store(now)
	if p := s.peerIfReady(); p != nil {
		p.lastSeen.Store(now)
	}
}

func (s *session) peerIfReady() *peer {
	if s.ready.Load() {
		return s.peer
	}
	return nil
}

// handshake runs our part of the session's start: each side sends its auth (with its proof
// of the secret) at once, checks the other's, and only then sends its hello, so that a
// non-member learns nothing about the network.
func (s *session) handshake() error {
	e, c := s.e, s.conn
	c.SetReadDeadline(time.Now().Add(e.timing.handshake))
	hash := c.HandshakeHash()
	role, remoteRole := byte(roleResponder), byte(roleInitiator)
	if c.IsInitiator() {
		role, remoteRole = roleInitiator, roleResponder
	}
	a := auth{version: protocolVersion}
	if e.secret != nil {
		a.hasProof = true
		a.proof = sessionProof(e.secret, role, hash[:])
	}
	if err := c.WriteFrame(appendAuth(nil, &a)); err != nil {
		return err
	}
	f, err := c.ReadFrame()
	if err != nil {
		return err
	}
	ra, err := parseAuth(f)
	if err != nil {
		return err
	}
	s.proven = ra.hasProof && e.secret != nil && checkProof(e.secret, remoteRole, hash[:], ra.proof)
	if !s.proven && !e.isConfigured(s.key) {
		e.refuse(s.key)
		return ErrNotMember
	}
	if err := c.WriteFrame(appendHello(nil, e.ownHello())); err != nil {
		return err
	}
	if f, err = c.ReadFrame(); err != nil {
		return err
	}
	if s.hello, err = parseHello(f); err != nil {
		return err
	}
	c.SetReadDeadline(time.Time{})
	s.touch()
	return nil
}

// readLoop reads control frames until the session ends.
func (s *session) readLoop() error {
	c := s.conn
	var out []byte
	for {
		f, err := c.ReadFrame()
		if err != nil {
			return err
		}
		s.touch()
		if len(f) == 0 {
			continue // a keep-alive
		}
		switch f[0] {
		case msgPing:
			stamp, err := parseStamp(f)
			if err != nil {
				return err
			}
			out = appendPong(out[:0], stamp)
			if err := c.WriteFrame(out); err != nil {
				return err
			}
		case msgPong:
			stamp, err := parseStamp(f)
			if err != nil {
				return err
			}
			if rtt := time.Since(s.epoch) - time.Duration(stamp); rtt >= 0 {
				s.rtt.Store(int64(rtt))
			}
			select {
			case s.pongs <- struct{}{}:
			default:
			}
		case msgHello:
			h, err := parseHello(f)
			if err != nil {
				return err
			}
			s.e.updateHello(s, h)
		default:
			// A message of a later version.
		}
	}
}

// routineKeep pings the remote and ends the session when nothing has come back for
// timing.dead. The first pings are padded probe pings: each one makes the UDX stream send a
// full-size packet, which its MTU search turns into a probe of the next size, and the pong
// that comes back acks it. So the next probe ping goes out as soon as the pong of the last
// one arrives (or after timing.probePing if none does), and the path MTU is found in about
// one round trip per MTU step, before large packets need it: until then the data plane
// drops packets that are too big instead of telling the kernel a small MTU (see
// Engine.send). The probe pings end when the search has ended, or after timing.probePings
// of them; the path MTU then counts as found either way (maxMessage).
func (s *session) routineKeep() {
	e := s.e
	defer e.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	var buf []byte
	var rx uint64
	var pongs <-chan struct{} // s.pongs while probing
	for pings := 0; ; pings++ {
		select {
		case <-t.C:
		case <-pongs:
		case <-s.conn.Done():
			return
		}
		now := time.Now()
		if now.Sub(time.Unix(0, s.lastRecv.Load())) > e.timing.dead {
			s.close(ErrTimeout)
			return
		}
		if n := s.peer.rxPackets.Load(); n != rx {
			rx = n
			s.peer.lastSeen.Store(now.UnixNano())
		}
		probing := !s.probed.Load()
		if probing {
			if _, final := s.dg.MaxMessage(); final || pings >= e.timing.probePings {
				s.probed.Store(true)
				probing = false
			}
		}
		buf = appendPing(buf[:0], uint64(now.Sub(s.epoch)), maxPingPadding)
		c := s.conn
		c.SetWriteDeadline(now.Add(e.timing.dead))
		if err := c.WriteFrame(buf); err != nil {
			s.close(err)
			return
		}
		next := e.timing.ping
		pongs = nil
		if probing {
			next, pongs = e.timing.probePing, s.pongs
		}
		t.Reset(next)
	}
}

// remoteAddr returns the UDP address of c's stream.
func remoteAddr(c *dht.Conn) netip.AddrPort {
	if a, ok := c.RemoteAddr().(*net.UDPAddr); ok && a != nil {
		return a.AddrPort()
	}
	return netip.AddrPort{}
}
