package dht

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/secretstream"
)

// Conn is an end-to-end encrypted connection between two key pairs: a secret-stream session
// over a UDX stream. It is a net.Conn (Read, Write, CloseWrite for a half-close, Close to
// abort, deadlines) with RemotePublicKey, PublicKey, HandshakeHash, and Send/TrySend for
// unordered encrypted datagrams.
type Conn = secretstream.Conn

// ServerOptions configure a [Server]. The zero value is the reference's default: every client
// is accepted and local addresses are shared.
type ServerOptions struct {
	// Firewall is asked about every client once its handshake message is authentic; it
	// returns true to reject the client, which then gets no answer at all (the reference's
	// behaviour: the client ends with ErrPeerConnectionFailed). payload is what the client
	// sent; client is its address as this node or the relay saw it. It runs on its own
	// goroutine and may block briefly.
	Firewall func(remotePublicKey [32]byte, payload *records.NoisePayload, client netip.AddrPort) bool

	// OnConnection, when set, receives each new connection on its own goroutine; otherwise
	// connections queue for [Server.Accept].
	OnConnection func(*Conn)

	// OnMessage receives the unordered datagrams of every connection (what clients send with
	// Send/TrySend), on a socket goroutine: b is valid only during the call and the function
	// must not block. nil drops them.
	OnMessage func(c *Conn, b []byte)

	// NoLocalAddresses keeps this host's interface addresses out of handshake answers
	// (the reference's shareLocalAddress: false); same-LAN clients then use the public path.
	NoLocalAddresses bool
	// NoHolepunch: the server never punches (the reference's holepunch: false). Clients
	// reach it only where they can directly: it is open, on their LAN, or through a blind
	// relay; a client's holepunch round is answered with an abort.
	NoHolepunch bool
	// Holepunch, when set, is asked when a client asks to punch, with both sides' NAT types
	// and addresses; false aborts that client's holepunch (the reference's holepunch
	// callback).
	Holepunch HolepunchFunc

	// HandshakeClearWait is how long an answered handshake is remembered, so that the same
	// client message arriving again (a retry, a second relay) gets the same answer; 0 means
	// 10 s.
	HandshakeClearWait time.Duration

	// RelayThrough picks a blind relay for clients that may not find a direct path (the
	// reference's relayThrough server option; see [Relays]): while behind a NAT the server
	// names it in its handshake answer, and it wins over the client's. nil means none.
	RelayThrough RelaySelector
	// RelayKeepAlive is the keep-alive of connections to relays; 0 means 5 s, negative none.
	RelayKeepAlive time.Duration
	// OnUpgrade, when set, is called on a goroutine of its own when a connection that started
	// through a relay moves to a direct path; info is the new [ConnInfo].
	OnUpgrade func(c *Conn, info ConnInfo)
}

// ServerAddress is where a server can be reached: its key, and the node's public address when
// known (the port is 0 behind a NAT that randomizes ports).
type ServerAddress struct {
	PublicKey [32]byte
	Host      netip.Addr
	Port      uint16
}

// Server accepts encrypted connections to a key pair (hyperdht's createServer). Create it
// with [Node.CreateServer], then [Server.Listen]; it announces itself at the nodes closest to
// its key and keeps doing so until [Server.Close]. It is safe for concurrent use.
type Server struct {
	n    *Node
	opts ServerOptions

	mu         sync.Mutex
	kp         KeyPair
	target     [32]byte
	listening  bool
	closed     bool
	ann        *announcer                  // guarded by mu; nil until Listen
	handshakes map[string]*serverHandshake // guarded by mu; by client message 1
	slots      []bool                      // guarded by mu; holepunch ids in use
	queue      []*Conn                     // guarded by mu; connections for Accept
	queued     chan struct{}               // closed and replaced when queue grows
	done       chan struct{}
}

// CreateServer returns a server of this node; it accepts nothing until Listen.
func (n *Node) CreateServer(opts ServerOptions) *Server {
	if opts.HandshakeClearWait <= 0 {
		opts.HandshakeClearWait = 10 * time.Second
	}
	s := &Server{
		n: n, opts: opts,
		handshakes: make(map[string]*serverHandshake),
		queued:     make(chan struct{}),
		done:       make(chan struct{}),
	}
	n.mu.Lock()
	if !n.destroyed {
		n.allServers[s] = struct{}{}
	} else {
		s.closed = true
		close(s.done)
	}
	n.mu.Unlock()
	return s
}

// Listen starts accepting connections to kp (the node's default key pair when kp is the zero
// value) and announces the server; it returns once the first announcement is done, which is
// the reference's 'listening' event. It fails with ErrAlreadyListening, ErrKeyPairAlreadyUsed
// when another server of the node has kp, ErrServerClosed or ErrNodeDestroyed. When the first
// announcement fails (no node answered, or ctx ended) the server is left as before the call:
// not listening, not closed, and Listen may be called again.
func (s *Server) Listen(ctx context.Context, kp KeyPair) error {
	if kp.SecretKey == nil {
		kp = s.n.defaultKeyPair
	}
	target := records.Hash(kp.PublicKey[:])
	record, err := records.AppendPeer(nil, &records.Peer{PublicKey: kp.PublicKey})
	if err != nil {
		return err
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrServerClosed.with("", net.ErrClosed)
	case s.listening:
		s.mu.Unlock()
		return ErrAlreadyListening
	}
	n := s.n
	n.mu.Lock()
	switch {
	case n.destroyed:
		n.mu.Unlock()
		s.mu.Unlock()
		return ErrNodeDestroyed
	case n.servers[target] != nil:
		n.mu.Unlock()
		s.mu.Unlock()
		return ErrKeyPairAlreadyUsed
	}
	n.servers[target] = s
	store := n.store
	n.mu.Unlock()
	s.kp, s.target, s.listening = kp, target, true
	s.ann = newAnnouncer(n, kp, target)
	ann := s.ann
	s.mu.Unlock()

	if store != nil {
		store.RetainForward(target, record)
	}
	if err := ann.start(ctx); err != nil {
		s.unlisten(ann, target)
		return fmt.Errorf("dht: listen: %w", err)
	}
	return nil
}

// unlisten undoes a Listen whose first announcement failed: the server stops answering for
// the key and may Listen again, as the reference's server does (its _stopListening); it is not
// closed.
func (s *Server) unlisten(ann *announcer, target [32]byte) {
	ann.stop(context.Background(), false)
	s.mu.Lock()
	if s.ann != ann {
		s.mu.Unlock()
		return // closed meanwhile
	}
	s.ann, s.listening, s.kp, s.target = nil, false, KeyPair{}, [32]byte{}
	pending := s.pendingLocked()
	s.mu.Unlock()
	s.releaseKey(target)
	for _, h := range pending {
		h.abort()
	}
}

// pendingLocked returns the handshakes under way.
func (s *Server) pendingLocked() []*serverHandshake {
	var pending []*serverHandshake
	for _, h := range s.handshakes {
		pending = append(pending, h)
	}
	return pending
}

// releaseKey stops the node routing target's handshakes to s, if it still does, and
// releases the record the node's store keeps for it.
func (s *Server) releaseKey(target [32]byte) {
	n := s.n
	n.mu.Lock()
	mine := n.servers[target] == s
	if mine {
		delete(n.servers, target)
	}
	store := n.store
	n.mu.Unlock()
	if mine && store != nil {
		store.ReleaseForward(target)
	}
}

// Refresh announces the server again now instead of at the next scheduled time (useful after
// a network change).
func (s *Server) Refresh() {
	s.mu.Lock()
	ann := s.ann
	s.mu.Unlock()
	if ann != nil {
		ann.refresh()
	}
}

// Address returns the server's key and the node's public address.
func (s *Server) Address() ServerAddress {
	s.mu.Lock()
	kp := s.kp
	s.mu.Unlock()
	a := s.n.rpc.PublicAddr()
	return ServerAddress{PublicKey: kp.PublicKey, Host: a.Addr(), Port: a.Port()}
}

// PublicKey returns the key the server listens on (zero before Listen).
func (s *Server) PublicKey() [32]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kp.PublicKey
}

// Accept waits for the next connection (when ServerOptions.OnConnection is not set). It
// returns an error matching ErrServerClosed and net.ErrClosed once the server is closed, or
// ctx's error.
func (s *Server) Accept(ctx context.Context) (*Conn, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			c := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return c, nil
		}
		if s.closed {
			s.mu.Unlock()
			return nil, ErrServerClosed.with("", net.ErrClosed)
		}
		wait := s.queued
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Done is closed when the server has closed (the reference's 'close' event).
func (s *Server) Done() <-chan struct{} { return s.done }

// Close stops accepting connections and unannounces the server, bounded by ctx (when ctx ends
// first the announcements expire on their own). Established connections stay open. It is
// idempotent.
func (s *Server) Close(ctx context.Context) error {
	ann := s.shutdown()
	if ann != nil {
		ann.stop(ctx, true)
	}
	return nil
}

// closeNow is Close without unannouncing.
func (s *Server) closeNow() {
	if ann := s.shutdown(); ann != nil {
		ann.stop(context.Background(), false)
	}
}

// shutdown marks the server closed, detaches it from the node and ends pending handshakes;
// it returns the announcer to stop, or nil when already closed.
func (s *Server) shutdown() *announcer {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ann, target, listening := s.ann, s.target, s.listening
	queue := s.queue
	s.queue = nil
	pending := s.pendingLocked()
	close(s.queued)
	s.mu.Unlock()

	if listening {
		s.releaseKey(target)
	}
	n := s.n
	n.mu.Lock()
	delete(n.allServers, s)
	n.mu.Unlock()
	for _, h := range pending {
		h.abort()
	}
	for _, c := range queue {
		c.Close()
	}
	close(s.done)
	if ann == nil {
		return nil
	}
	return ann
}

// deliver hands a new connection to OnConnection or the Accept queue.
func (s *Server) deliver(c *Conn) {
	if s.opts.OnConnection != nil {
		go s.opts.OnConnection(c)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.queue = append(s.queue, c)
	close(s.queued)
	s.queued = make(chan struct{})
	s.mu.Unlock()
}
