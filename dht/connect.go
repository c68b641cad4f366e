package dht

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperlan/hyperlan/dht/blindrelay"
	"github.com/hyperlan/hyperlan/dht/holepunch"
	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/noise"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/dht/secretstream"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// ConnectOptions tune [Node.Connect]. The zero value is the reference's default.
type ConnectOptions struct {
	// KeyPair identifies us to the server; the zero value means the node's default key pair.
	KeyPair KeyPair
	// Nodes are relays to try first: nodes the server announced to (the reference's
	// relayAddresses, and the nodes of a hyperdht address). Without them the node looks the
	// server up.
	Nodes []netip.AddrPort
	// NoLocalConnection keeps our interface addresses out of the handshake and skips the
	// same-LAN shortcut (the reference's localConnection: false).
	NoLocalConnection bool
	// NoFastOpen leaves the server's address out of the probe round: we open no NAT
	// session towards it beforehand, and the server sends no punch back at once (the
	// reference's fastOpen: false). A consistent pair then connects by the punch round.
	NoFastOpen bool
	// Holepunch, when set, is asked once both NATs are known, before we punch; false aborts
	// the attempt with ErrHolepunchAborted (the reference's holepunch option). It gets both
	// sides' NAT types and addresses as the probe round found them.
	Holepunch HolepunchFunc
	// OnMessage receives the connection's unordered datagrams (what the server sends with
	// Send/TrySend), on a socket goroutine: b is valid only during the call and the function
	// must not block. nil drops them.
	OnMessage func(c *Conn, b []byte)

	// RelayThrough picks a blind relay (a node running [Node.ServeBlindRelay], or the
	// reference's blind-relay server) for a connection that may not find a direct path: its
	// key and a pairing token go to the server in the handshake (the reference's
	// relayThrough; see [Relays]). A relay the server names wins over ours. nil means none.
	RelayThrough RelaySelector
	// RelayKeepAlive is the keep-alive of the connection to the relay; 0 means 5 s (the
	// reference's relayKeepAlive), negative means none.
	RelayKeepAlive time.Duration
	// RepunchInterval is how long a connection that runs through a relay, and whose
	// holepunch failed, waits before it punches again; the wait doubles after each failure,
	// up to 16 times the first. 0 means 1 minute, negative never (the reference punches only
	// once). Only our own servers take part in a repeated punch: the reference's ignores it.
	RepunchInterval time.Duration
	// OnUpgrade, when set, is called on a goroutine of its own when a connection that started
	// through a relay moves to a direct path; info is the new [ConnInfo].
	OnUpgrade func(c *Conn, info ConnInfo)

	// noWaitOpen returns the connection once its stream is connected, before the server's
	// secret-stream header arrived: the relay leg writes its pairing request at once, as the
	// reference does.
	noWaitOpen bool
}

// Connect opens an encrypted connection to the server listening on remotePublicKey
// (hyperdht's connect): it finds the nodes the server announced to, sends a Noise IK handshake
// through one of them, then connects a UDX stream straight to the server and starts a
// secret-stream session on it. It returns once the session is open (the server's
// secret-stream header arrived), or fails with an error
// matching ErrPeerNotFound (nobody announced the key), ErrPeerConnectionFailed (no handshake
// completed, which is also how a server's firewall refusal shows), ErrServerError,
// ErrServerIncompatible, one of the holepunch errors when no direct path opened
// (ErrCannotHolepunch, ErrHolepunchAborted, ErrHolepunchProbeTimeout,
// ErrHolepunchDoubleRandomizedNATs, ErrRemoteAborted, ErrRemoteNotHolepunchable,
// ErrRemoteNotHolepunching, ErrHolepunchInvalid, ErrBadHolepunchReply), or ctx's error.
//
// A server behind a NAT is reached by holepunching, as the reference does it: both sides
// classify their NATs and punch (see package holepunch); [Node.ConnInfo] tells how a
// connection was made. When either side named a blind relay (RelayThrough) and no direct
// path is known at once, both sides also pair at the relay while they punch, and the first
// path found carries the connection; a relayed connection moves to the direct path when a
// punch succeeds later. Connect then fails only when both failed (ErrRelayAborted, or the
// holepunch error, whichever came last).
func (n *Node) Connect(ctx context.Context, remotePublicKey [32]byte, opts *ConnectOptions) (*Conn, error) {
	conn, _, err := n.dial(ctx, remotePublicKey, opts, 0)
	return conn, err
}

// dial is Connect; it also returns the path the stream took. keepAlive, when not 0, replaces
// the node's connection keep-alive (negative: none).
func (n *Node) dial(ctx context.Context, remotePublicKey [32]byte, opts *ConnectOptions, keepAlive time.Duration) (*Conn, socketChoice, error) {
	var o ConnectOptions
	if opts != nil {
		o = *opts
	}
	if o.KeyPair.SecretKey == nil {
		o.KeyPair = n.defaultKeyPair
	}
	n.mu.Lock()
	destroyed := n.destroyed
	n.mu.Unlock()
	if destroyed {
		return nil, socketChoice{}, ErrNodeDestroyed
	}
	c := &connector{n: n, opts: o, remote: remotePublicKey, target: records.Hash(remotePublicKey[:]),
		won: make(chan struct{}), keepAlive: keepAlive}
	c.hook = new(secretstream.MessageHook)
	raw, err := n.newRawStream(c.hook, c.onFirstPacket)
	if err != nil {
		return nil, socketChoice{}, err
	}
	c.raw = raw
	conn, choice, err := c.run(ctx)
	if err != nil {
		raw.Destroy()
		return nil, socketChoice{}, err
	}
	return conn, choice, nil
}

// connector is the client's state for one Connect.
type connector struct {
	n      *Node
	opts   ConnectOptions
	remote [32]byte
	target [32]byte
	raw    *udx.Stream
	hook   *secretstream.MessageHook

	mu            sync.Mutex
	hs            *noise.Handshake
	msg1          []byte
	firewall      records.Firewall // ours, as told to the server
	result        noise.Result
	payload       records.NoisePayload
	reply         *handshakeReply // set once: the first handshake that completed
	early         *udx.Socket     // the server's packet arrived before the handshake completed
	earlyAt       netip.AddrPort
	tried         []netip.AddrPort
	won           chan struct{} // closed when reply is set
	connect       chan socketChoice
	attempts      int
	puncher       *holepunch.Puncher // set once holepunching started; the latest attempt's
	rounds        int                // holepunch messages sent, over every attempt
	directRunning bool               // a direct attempt (holepunch, LAN ping) runs
	found         atomic.Bool        // a direct path was offered

	keepAlive time.Duration // the session's keep-alive; 0: the node's

	// The blind relay (connect_relay.go).
	relay    *records.RelayThroughInfo // ours, as told to the server; nil: none
	leg      *relayLeg                 // guarded by mu; the pairing, once started
	failed   chan error                // a path attempt (the direct one, the relay) ended without a path
	bg       context.Context           // the attempts' life: it may go on after Connect when relayed
	bgCancel context.CancelFunc
	wg       sync.WaitGroup // the attempts' goroutines
}

// handshakeReply is where a completed handshake went through.
type handshakeReply struct {
	relayed bool
	node    netip.AddrPort // the node the handshake was sent to
	server  netip.AddrPort // the server as that node saw it
	client  netip.AddrPort // us as that node saw us
	socket  *udx.Socket    // the socket the handshake left from
}

// socketChoice is a path to the server: the stream is connected to addr through sock.
type socketChoice struct {
	sock *udx.Socket
	addr netip.AddrPort
	path Path
	id   udx.StreamID // the relay's stream for us, on PathRelay; else the server's is used
}

func (c *connector) run(ctx context.Context) (*Conn, socketChoice, error) {
	if err := c.prepare(); err != nil {
		return nil, socketChoice{}, err
	}
	c.connect = make(chan socketChoice, 1)
	c.failed = make(chan error, 4)
	if err := c.findAndConnect(ctx); err != nil {
		return nil, socketChoice{}, err
	}
	// The path attempts run on their own context: when the relay wins, holepunching goes on
	// after Connect returns, for an upgrade.
	c.bg, c.bgCancel = context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, c.bgCancel)
	choice, err := c.pickPath(ctx)
	stop()
	if err != nil {
		c.abandon()
		return nil, socketChoice{}, err
	}
	if choice.path == PathRelay {
		conn, err := c.startRelayed(ctx, choice)
		return conn, choice, err
	}
	// A direct path: the rounds stop at once (the puncher stays until its socket is held).
	c.bgCancel()
	if err := c.raw.Connect(choice.sock, udx.StreamID(c.payload.UDX.ID), choice.addr); err != nil && !errors.Is(err, udx.ErrAlreadyConnected) {
		c.abandon()
		// The server may have connected, opened and destroyed its end before we got here.
		return nil, socketChoice{}, ErrPeerConnectionFailed.with("the stream closed before it connected", err)
	}
	// The socket is held before the puncher that may own it goes.
	c.n.holdSocket(choice.sock, c.raw)
	info := c.info(choice)
	c.abandon()
	c.n.cacheRelays(c.remote, c.payload.RelayAddresses, c.tried)
	conn, err := c.n.startSession(c.raw, &c.result, c.hook, c.opts.OnMessage, c.keepAlive)
	if err != nil {
		return nil, socketChoice{}, err
	}
	c.n.recordConn(conn, c.raw, info)
	if c.opts.noWaitOpen {
		return conn, choice, nil
	}
	if err := c.waitOpen(ctx, conn); err != nil {
		return nil, socketChoice{}, err
	}
	return conn, choice, nil
}

// waitOpen waits for the server's secret-stream header over the path chosen. A server that
// answered the handshake but never connects its stream gives up after the same 10 s.
func (c *connector) waitOpen(ctx context.Context, conn *Conn) error {
	octx, cancel := context.WithTimeout(ctx, handshakeInitialTimeout)
	defer cancel()
	if err := conn.WaitOpen(octx); err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ErrPeerConnectionFailed.with("the session did not open", err)
	}
	return nil
}

// abandon stops the path attempts that lost, holepunching and the relay, and waits for
// their goroutines.
func (c *connector) abandon() {
	if c.bgCancel != nil {
		c.bgCancel()
	}
	c.mu.Lock()
	leg := c.leg
	c.mu.Unlock()
	leg.close()
	c.stopPuncher()
	c.wg.Wait()
}

// prepare builds Noise message 1, sent unchanged to every node tried.
func (c *connector) prepare() error {
	hs, err := noise.NewInitiator(noise.IK, c.opts.KeyPair.SecretKey, c.remote[:], noise.PeerHandshakePrologue[:])
	if err != nil {
		return err
	}
	p := records.NoisePayload{
		Firewall:     records.FirewallUnknown,
		UDX:          &records.UDXInfo{ID: uint64(c.raw.ID())},
		SecretStream: &records.SecretStreamInfo{},
	}
	if public, ok := c.n.rpc.RemoteAddr(); ok {
		p.Firewall = records.FirewallOpen
		p.Addresses4 = append(p.Addresses4, public)
	}
	if !c.opts.NoLocalConnection {
		p.Addresses4 = append(p.Addresses4, c.n.localAddresses()...)
	}
	if c.opts.RelayThrough != nil {
		if key, ok := c.opts.RelayThrough(); ok {
			c.relay = &records.RelayThroughInfo{PublicKey: key, Token: blindrelay.NewToken()}
			p.RelayThrough = c.relay
		}
	}
	plain, err := records.AppendNoisePayload(nil, &p)
	if err != nil {
		return err
	}
	msg, err := hs.Send(plain)
	if err != nil {
		return err
	}
	c.hs, c.msg1, c.firewall = hs, msg, p.Firewall
	return nil
}

// onFirstPacket is the raw stream's firewall: the server reached us first (it connects at
// once to an open client), or, once the stream runs through a relay, by a direct path.
// Before the handshake completed the address is remembered. Traffic from the relay is
// accepted as it is.
func (c *connector) onFirstPacket(sock *udx.Socket, from netip.AddrPort) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leg.isRelay(sock, from) {
		return true
	}
	c.found.Store(true)
	if c.reply == nil {
		if c.early == nil {
			c.early, c.earlyAt = sock, from
		}
		return true
	}
	path := PathDirect
	if c.puncher != nil {
		path = PathHolepunch
	}
	c.offer(socketChoice{sock: sock, addr: from, path: path})
	return true
}

// findAndConnect sends the handshake through the given nodes, cached relays or our own
// knowledge first, then through every node a FIND_PEER query finds holding the server's
// announcement, two at a time, until one handshake completes.
func (c *connector) findAndConnect(ctx context.Context) error {
	hints := c.opts.Nodes
	if len(hints) == 0 {
		hints = c.n.cachedRelays(c.remote)
	}
	if _, relay := c.n.routeOf(c.target); relay.IsValid() {
		hints = []netip.AddrPort{relay}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slots := 2
	if len(hints) > 0 {
		slots = 3
	}
	sem := make(chan struct{}, slots)
	var wg sync.WaitGroup
	try := func(addr netip.AddrPort) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		case <-c.won:
			return
		}
		c.mu.Lock()
		c.attempts++
		c.tried = append(c.tried, addr)
		c.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if c.handshakeThrough(ctx, addr) {
				cancel()
			}
		}()
	}
	if len(hints) > 0 {
		wg.Add(1)
		preConnect := hints // the query loop below clears hints
		go func() {
			defer wg.Done()
			for _, h := range preConnect {
				if c.done() || ctx.Err() != nil {
					return
				}
				c.mu.Lock()
				c.attempts++
				c.tried = append(c.tried, h)
				c.mu.Unlock()
				if c.handshakeThrough(ctx, h) {
					cancel()
					return
				}
			}
		}()
	}
	rounds := 1
	if len(hints) > 0 {
		rounds = 2
	}
	var queryErr error
	for i := 0; i < rounds && !c.done() && ctx.Err() == nil; i++ {
		seen := map[netip.AddrPort]bool{}
		for _, h := range hints {
			seen[h] = true
		}
		_, err := c.n.rpc.Query(ctx, ktable.ID(c.target), records.CmdFindPeer, nil, &rpc.QueryOptions{
			Nodes: hints, Retries: 3,
			OnReply: func(r *rpc.Response) {
				if r.Value == nil || seen[r.From] || c.done() {
					return
				}
				if _, _, err := records.ParsePeer(r.Value); err != nil {
					return
				}
				seen[r.From] = true
				try(r.From)
			},
		})
		if err != nil && !c.done() {
			queryErr = err
		}
		hints = nil
	}
	wg.Wait()
	if c.done() {
		return nil
	}
	if err := ctxErr(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	c.mu.Lock()
	attempts := c.attempts
	c.mu.Unlock()
	if attempts > 0 {
		return ErrPeerConnectionFailed
	}
	if queryErr != nil && !errors.Is(queryErr, rpc.ErrTooFewNodes) {
		return ErrPeerNotFound.with("", queryErr)
	}
	return ErrPeerNotFound
}

func ctxErr(ctx context.Context) error { return context.Cause(ctx) }

func (c *connector) done() bool {
	select {
	case <-c.won:
		return true
	default:
		return false
	}
}

// handshakeThrough sends message 1 to the node at addr and processes the answer; it reports
// whether this was the handshake that completed.
func (c *connector) handshakeThrough(ctx context.Context, addr netip.AddrPort) bool {
	value, err := records.AppendHandshake(nil, &records.Handshake{Mode: records.ModeFromClient, Noise: c.msg1})
	if err != nil {
		return false
	}
	target := ktable.ID(c.target)
	res, err := c.n.rpc.Request(ctx, addr, rpc.Outgoing{Command: records.CmdPeerHandshake, Target: &target, Value: value}, nil)
	if err != nil || res.Value == nil || res.From != addr {
		return false
	}
	hs, _, err := records.ParseHandshake(res.Value)
	if err != nil || hs.Mode != records.ModeReply || hs.Noise == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reply != nil {
		return false
	}
	plain, err := c.hs.Recv(hs.Noise)
	if err != nil {
		return false
	}
	payload, _, err := records.ParseNoisePayload(plain)
	if err != nil {
		return false
	}
	result, err := c.hs.Result()
	if err != nil {
		return false
	}
	reply := &handshakeReply{relayed: hs.PeerAddress.IsValid(), node: addr, server: addr, client: res.To, socket: c.n.socket()}
	if reply.relayed {
		reply.server = hs.PeerAddress
	}
	c.result, c.payload, c.reply = result, payload, reply
	close(c.won)
	return true
}

// pickPath decides how the raw stream reaches the server once the handshake completed
// (hyperdht connect.js after connectThroughNode, and the open and same-LAN cases of its
// holepunch step).
func (c *connector) pickPath(ctx context.Context) (socketChoice, error) {
	p := &c.payload
	switch {
	case p.Version != records.NoisePayloadVersion:
		return socketChoice{}, ErrServerIncompatible
	case p.Error != records.ConnErrorNone:
		return socketChoice{}, ErrServerError.with("server returned "+p.Error.String(), nil)
	case p.UDX == nil:
		return socketChoice{}, ErrServerError.with("server did not send UDX data", nil)
	}
	c.mu.Lock()
	r := c.reply
	early, earlyAt := c.early, c.earlyAt
	c.mu.Unlock()
	if early != nil {
		return socketChoice{sock: early, addr: earlyAt, path: PathDirect}, nil
	}
	if !r.relayed {
		return socketChoice{sock: r.socket, addr: r.node, path: PathDirect}, nil
	}
	holepunchable := p.Holepunch != nil && len(p.Holepunch.Relays) > 0
	if p.Firewall == records.FirewallOpen || !holepunchable {
		addr := r.server
		for _, a := range p.Addresses4 {
			if !isBogon(a.Addr()) {
				addr = a
				break
			}
		}
		return socketChoice{sock: c.n.socket(), addr: addr, path: PathDirect}, nil
	}
	if c.firewall == records.FirewallOpen {
		// The server connects to us: wait for its first packet. (The server pairs at no
		// relay for an open client, so none is tried.)
		return c.waitPassive(ctx)
	}
	pending := 1
	if c.startRelay() {
		pending++
	}
	c.startDirect(r, true)
	return c.waitPath(ctx, pending)
}

// waitPath waits for the first path while pending attempts run; once they all failed, a path
// found meanwhile still wins, else the last failure is returned.
func (c *connector) waitPath(ctx context.Context, pending int) (socketChoice, error) {
	var last error
	for pending > 0 {
		select {
		case ch := <-c.connect:
			return ch, nil
		case err := <-c.failed:
			last = err
			pending--
		case <-ctx.Done():
			return socketChoice{}, ctx.Err()
		}
	}
	select {
	case ch := <-c.connect:
		return ch, nil
	default:
	}
	return socketChoice{}, last
}

// fail reports that a path attempt ended without a path.
func (c *connector) fail(err error) {
	select {
	case c.failed <- err:
	default: // nobody waits any more
	}
}

// stopPuncher ends holepunching once a path is chosen or the attempt failed; a puncher's
// socket the stream uses stays open for it.
func (c *connector) stopPuncher() {
	c.mu.Lock()
	p := c.puncher
	c.mu.Unlock()
	if p != nil {
		p.Destroy()
	}
}

// info describes the connection made through choice.
func (c *connector) info(choice socketChoice) ConnInfo {
	info := ConnInfo{Path: choice.path, Remote: choice.addr, LocalFirewall: c.firewall, RemoteFirewall: c.payload.Firewall}
	c.mu.Lock()
	p := c.puncher
	info.Rounds = c.rounds
	c.mu.Unlock()
	infoFromPuncher(&info, p)
	return info
}

// waitPassive waits up to 10 s for the server's first packet.
func (c *connector) waitPassive(ctx context.Context) (socketChoice, error) {
	t := time.NewTimer(handshakeInitialTimeout)
	defer t.Stop()
	select {
	case ch := <-c.connect:
		return ch, nil
	case <-t.C:
		return socketChoice{}, ErrHolepunchAborted
	case <-ctx.Done():
		return socketChoice{}, ctx.Err()
	}
}

// newRawStream creates a UDX stream with a random free id whose first packet from anyone is
// passed to onFirst, which may connect it. The node destroys it when it is destroyed.
func (n *Node) newRawStream(hook *secretstream.MessageHook, onFirst func(*udx.Socket, netip.AddrPort) bool) (*udx.Stream, error) {
	opts := udx.StreamOptions{
		OnMessage: hook.Deliver,
		Logger:    n.opts.Logger,
		Firewall: func(s *udx.Stream, sock *udx.Socket, from netip.AddrPort) bool {
			if from.Port() == 0 {
				return false
			}
			return onFirst(sock, from)
		},
	}
	for {
		var b [4]byte
		rand.Read(b[:])
		s, err := n.udx.NewStream(udx.StreamID(binary.LittleEndian.Uint32(b[:])), opts)
		if errors.Is(err, udx.ErrStreamIDTaken) {
			continue
		}
		if err != nil {
			return nil, err
		}
		n.mu.Lock()
		if n.destroyed {
			n.mu.Unlock()
			s.Destroy()
			return nil, ErrNodeDestroyed
		}
		n.streams[s] = struct{}{}
		n.mu.Unlock()
		go func() {
			<-s.Done()
			n.mu.Lock()
			delete(n.streams, s)
			n.mu.Unlock()
		}()
		return s, nil
	}
}

// startSession starts the encrypted session of a connection on its connected raw stream;
// onMessage, if set, receives the connection's datagrams. keepAlive, when not 0, replaces
// the node's ConnectionKeepAlive.
func (n *Node) startSession(raw *udx.Stream, result *noise.Result, hook *secretstream.MessageHook, onMessage func(*Conn, []byte), keepAlive time.Duration) (*Conn, error) {
	if keepAlive == 0 {
		keepAlive = n.opts.ConnectionKeepAlive
	}
	switch {
	case keepAlive == 0:
		keepAlive = 5 * time.Second
	case keepAlive < 0:
		keepAlive = 0
	}
	opts := secretstream.Options{KeepAlive: keepAlive, Messages: hook}
	var self atomic.Pointer[Conn]
	if onMessage != nil {
		opts.OnMessage = func(b []byte) {
			if c := self.Load(); c != nil {
				onMessage(c, b)
			}
		}
	}
	c, err := secretstream.New(raw, result, opts)
	if err != nil {
		return nil, err
	}
	self.Store(c)
	return c, nil
}

// cacheRelays remembers where a server can be reached for the next Connect: the relays it
// named, or else the nodes we tried.
func (n *Node) cacheRelays(pk [32]byte, named, tried []netip.AddrPort) {
	list := named
	if len(list) == 0 {
		list = tried
	}
	if len(list) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.relayCache) >= 1024 {
		clear(n.relayCache)
	}
	n.relayCache[pk] = append([]netip.AddrPort(nil), list...)
}

func (n *Node) cachedRelays(pk [32]byte) []netip.AddrPort {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.relayCache[pk]
}
