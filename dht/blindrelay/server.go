package blindrelay

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"net/netip"
	"sync"

	"github.com/hyperlan/hyperlan/dht/protomux"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// Options configure the blind-relay channel of a [Server.Accept] or
// [NewClient].
type Options struct {
	// ID is the channel id. hyperdht uses the client's public key: the
	// client passes its own, the relay the connection's remote key.
	ID []byte

	// Handshake, if not nil, is sent in the channel's open message (the
	// reference's raw handshake option).
	Handshake []byte
}

// ServerOptions configure a [Server].
type ServerOptions struct {
	// NewStream makes the relay's UDX stream for one side of a pairing, with
	// opts (the Server fills in Firewall). The stream must be on the UDX
	// instance the clients' connections arrive on, so that their packets
	// reach it. nil: a free random id on Instance.
	NewStream func(opts udx.StreamOptions) (*udx.Stream, error)

	// Instance is where NewStream makes streams when it is nil.
	Instance *udx.Instance

	// Logger gets debug logs of pairings. nil discards them.
	Logger *slog.Logger
}

// Stats are a relay's counters (the reference's server.stats). Counts are
// cumulative; Pending and Active are current.
type Stats struct {
	SessionsAccepted, SessionsOpened, SessionsClosed int
	PairingsRequested, PairingsMatched               int
	PairingsCancelled                                int
	PairingsPending                                  int // requests waiting for their other side
	PairingsActive                                   int // tokens with a relayed stream up
	StreamsOpened, StreamsClosed, StreamsErrors      int
}

// Server is a blind relay (the reference's Server): it takes the
// blind-relay channel of each connection given to Accept, pairs the two
// pair requests that carry the same token and opposite roles, makes a UDX
// stream for each side and joins the two with [udx.Stream.RelayTo]. Each
// stream connects to its client when the client's first packet arrives,
// to the stream id the client named, through the socket and from the
// address the packet came by. The relay sees only the clients' ciphertext.
// It is safe for concurrent use.
type Server struct {
	opts ServerOptions
	log  *slog.Logger

	mu       sync.Mutex
	pairing  map[Token]*pairing    // guarded by mu; requests waiting for their other side
	active   map[Token]int         // guarded by mu; relayed streams up, by token
	sessions map[*Session]struct{} // guarded by mu
	stats    Stats                 // guarded by mu
	closed   bool                  // guarded by mu

	wg sync.WaitGroup // one watch goroutine per relayed stream
}

// pairing is a token's two sides, by role: links[1] is the initiator.
type pairing struct {
	links [2]*link
}

// link is one side of a pairing: a client's request, then the relay's
// stream for it.
type link struct {
	s           *Session
	isInitiator bool
	remoteID    udx.StreamID // the client's stream
	token       Token
	stream      *udx.Stream // the relay's stream; nil once it ended
	peer        *link       // the other side, while both are up
}

func role(isInitiator bool) int {
	if isInitiator {
		return 1
	}
	return 0
}

// NewServer returns a relay with no sessions.
func NewServer(opts ServerOptions) *Server {
	s := &Server{
		opts: opts, log: opts.Logger,
		pairing: map[Token]*pairing{}, active: map[Token]int{}, sessions: map[*Session]struct{}{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Session is a client's blind-relay channel on a [Server].
type Session struct {
	srv  *Server
	ch   *protomux.Channel
	pair *protomux.Message[Pair]

	pairing map[Token]struct{} // guarded by srv.mu; its requests waiting for their other side
	links   map[Token]*link    // guarded by srv.mu; its relayed streams
	closed  bool               // guarded by srv.mu
}

// Accept serves the blind-relay channel of mux, a client's connection. Call
// it before mux.Start, so that the client's open finds the channel. The
// session ends when its channel or mux does; its relayed streams are
// destroyed then.
func (srv *Server) Accept(mux *protomux.Mux, opts Options) (*Session, error) {
	s := &Session{srv: srv, pairing: map[Token]struct{}{}, links: map[Token]*link{}}
	ch, err := mux.CreateChannel(protomux.ChannelOptions{
		Protocol: Protocol, ID: opts.ID,
		OnOpen: func(*protomux.Channel, []byte) {
			srv.mu.Lock()
			srv.stats.SessionsOpened++
			srv.mu.Unlock()
		},
		OnClose: func(*protomux.Channel, bool) { srv.endSession(s) },
	})
	if err != nil {
		return nil, err
	}
	s.ch = ch
	s.pair = protomux.AddMessage(ch, pairCodec{}, func(p Pair) { srv.onPair(s, p) })
	protomux.AddMessage(ch, unpairCodec{}, func(u Unpair) { srv.onUnpair(s, u.Token) })
	srv.mu.Lock()
	if srv.closed {
		srv.mu.Unlock()
		ch.Close()
		return nil, ErrServerClosed
	}
	srv.sessions[s] = struct{}{}
	srv.stats.SessionsAccepted++
	srv.mu.Unlock()
	if err := ch.Open(opts.Handshake); err != nil {
		srv.endSession(s)
		return nil, err
	}
	return s, nil
}

// Close closes the session's channel and destroys its relayed streams.
func (s *Session) Close() error {
	s.srv.endSession(s)
	return s.ch.Close()
}

// Done is closed when the session's channel has closed.
func (s *Session) Done() <-chan struct{} { return s.ch.Done() }

// Stats returns a snapshot of the counters.
func (srv *Server) Stats() Stats {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.stats
}

// Close ends every session now: channels close, relayed streams are
// destroyed and requests waiting for their other side are dropped. (The
// reference waits for those requests to pair first.) It returns when the
// streams are gone.
func (srv *Server) Close() error {
	srv.mu.Lock()
	srv.closed = true
	sessions := make([]*Session, 0, len(srv.sessions))
	for s := range srv.sessions {
		sessions = append(sessions, s)
	}
	srv.mu.Unlock()
	for _, s := range sessions {
		s.Close()
	}
	srv.wg.Wait()
	return nil
}

// onPair handles a client's pair request: it waits for the other side of
// the token, then both sides get a relayed stream.
func (srv *Server) onPair(s *Session, p Pair) {
	if p.ID > math.MaxUint32 {
		srv.log.Debug("blind-relay: pair request with an invalid stream id", "id", p.ID)
		return
	}
	srv.mu.Lock()
	if s.closed {
		srv.mu.Unlock()
		return
	}
	pr := srv.pairing[p.Token]
	if pr == nil {
		pr = &pairing{}
		srv.pairing[p.Token] = pr
		srv.stats.PairingsPending++
	} else if pr.links[role(p.IsInitiator)] != nil {
		srv.mu.Unlock()
		return // that side asked already
	}
	s.pairing[p.Token] = struct{}{}
	srv.stats.PairingsRequested++
	pr.links[role(p.IsInitiator)] = &link{s: s, isInitiator: p.IsInitiator, remoteID: udx.StreamID(p.ID), token: p.Token}
	if pr.links[0] == nil || pr.links[1] == nil {
		srv.mu.Unlock()
		return
	}
	delete(srv.pairing, p.Token)
	srv.stats.PairingsPending--
	srv.stats.PairingsMatched++
	for _, l := range pr.links {
		delete(l.s.pairing, p.Token)
	}
	if err := srv.linkLocked(pr); err != nil {
		srv.stats.PairingsCancelled++
		srv.mu.Unlock()
		srv.log.Debug("blind-relay: cannot make the relayed streams", "err", err)
		return
	}
	replies := [2]Pair{}
	for i, l := range pr.links {
		replies[i] = Pair{IsInitiator: l.isInitiator, Token: p.Token, ID: uint64(l.stream.ID())}
	}
	srv.mu.Unlock()
	srv.log.Debug("blind-relay: paired", "initiator", pr.links[1].stream.ID(), "responder", pr.links[0].stream.ID())
	for i, l := range pr.links {
		l.s.pair.Send(replies[i])
	}
}

// linkLocked makes the relayed streams of a complete pairing and joins them.
func (srv *Server) linkLocked(pr *pairing) error {
	for i, l := range pr.links {
		st, err := srv.newStream(l.remoteID)
		if err != nil {
			for _, made := range pr.links[:i] {
				made.stream.Destroy()
				made.stream = nil
			}
			return err
		}
		l.stream = st
	}
	a, b := pr.links[0], pr.links[1]
	a.peer, b.peer = b, a
	for _, l := range pr.links {
		if err := l.stream.RelayTo(l.peer.stream); err != nil {
			a.stream.Destroy()
			b.stream.Destroy()
			a.stream, b.stream, a.peer, b.peer = nil, nil, nil, nil
			return err
		}
	}
	for _, l := range pr.links {
		l.s.links[l.token] = l
		if srv.active[l.token] == 0 {
			srv.stats.PairingsActive++
		}
		srv.active[l.token]++
		srv.stats.StreamsOpened++
		srv.wg.Add(1)
		go srv.watch(l, l.stream)
	}
	return nil
}

// newStream makes a relayed stream that connects to the client's stream
// remoteID when the client's first packet arrives.
func (srv *Server) newStream(remoteID udx.StreamID) (*udx.Stream, error) {
	opts := udx.StreamOptions{
		Logger: srv.opts.Logger,
		Firewall: func(st *udx.Stream, sock *udx.Socket, from netip.AddrPort) bool {
			// Later packets from another socket fail to connect: dropped.
			return st.Connect(sock, remoteID, from) == nil
		},
	}
	if srv.opts.NewStream != nil {
		return srv.opts.NewStream(opts)
	}
	if srv.opts.Instance == nil {
		return nil, errors.New("blind-relay: server has neither NewStream nor Instance")
	}
	for {
		var b [4]byte
		rand.Read(b[:])
		st, err := srv.opts.Instance.NewStream(udx.StreamID(binary.LittleEndian.Uint32(b[:])), opts)
		if !errors.Is(err, udx.ErrStreamIDTaken) {
			return st, err
		}
	}
}

// watch accounts for a relayed stream that ends by itself (the client
// destroyed it, or its other side ended).
func (srv *Server) watch(l *link, st *udx.Stream) {
	defer srv.wg.Done()
	<-st.Done()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if l.stream != st {
		return // dropped by dropLocked, which counted it
	}
	if st.Err() != nil {
		srv.stats.StreamsErrors++
	}
	srv.dropLocked(l)
}

// dropLocked forgets l's stream and returns it for the caller to destroy
// (nil if it had ended already).
func (srv *Server) dropLocked(l *link) *udx.Stream {
	st := l.stream
	if st == nil {
		return nil
	}
	l.stream = nil
	if p := l.peer; p != nil && p.peer == l {
		p.peer = nil
	}
	l.peer = nil
	if l.s.links[l.token] == l {
		delete(l.s.links, l.token)
	}
	if srv.active[l.token]--; srv.active[l.token] <= 0 {
		delete(srv.active, l.token)
		srv.stats.PairingsActive--
	}
	srv.stats.StreamsClosed++
	return st
}

// onUnpair cancels the token's pairing: the requests if they wait, else
// the relayed streams of this session's link and its other side.
func (srv *Server) onUnpair(s *Session, token Token) {
	srv.mu.Lock()
	if pr := srv.pairing[token]; pr != nil {
		for _, l := range pr.links {
			if l != nil {
				delete(l.s.pairing, token)
			}
		}
		delete(srv.pairing, token)
		srv.stats.PairingsPending--
		srv.stats.PairingsCancelled++
		srv.mu.Unlock()
		return
	}
	var ended []*udx.Stream
	if l := s.links[token]; l != nil {
		peer := l.peer
		ended = append(ended, srv.dropLocked(l))
		if peer != nil {
			ended = append(ended, srv.dropLocked(peer))
		}
		srv.stats.PairingsCancelled++
	}
	srv.mu.Unlock()
	destroy(ended)
}

// endSession drops what a session holds once its channel closes: its
// requests (the other side may still pair with a new request) and its
// relayed streams, whose other sides end with them.
func (srv *Server) endSession(s *Session) {
	srv.mu.Lock()
	if s.closed {
		srv.mu.Unlock()
		return
	}
	s.closed = true
	for token := range s.pairing {
		srv.stats.PairingsCancelled++
		pr := srv.pairing[token]
		if pr == nil {
			continue
		}
		for i, l := range pr.links {
			if l != nil && l.s == s {
				pr.links[i] = nil
			}
		}
		if pr.links[0] == nil && pr.links[1] == nil {
			delete(srv.pairing, token)
			srv.stats.PairingsPending--
		}
	}
	clear(s.pairing)
	var ended []*udx.Stream
	for _, l := range s.links {
		ended = append(ended, srv.dropLocked(l))
	}
	delete(srv.sessions, s)
	srv.stats.SessionsClosed++
	srv.mu.Unlock()
	destroy(ended)
}

func destroy(streams []*udx.Stream) {
	for _, st := range streams {
		if st != nil {
			st.Destroy()
		}
	}
}
