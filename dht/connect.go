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
	// OnMessage receives the connection's unordered datagrams (what the server sends with
	// Send/TrySend), on a socket goroutine: b is valid only during the call and the function
	// must not block. nil drops them.
	OnMessage func(c *Conn, b []byte)
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
// connection was made.
func (n *Node) Connect(ctx context.Context, remotePublicKey [32]byte, opts *ConnectOptions) (*Conn, error) {
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
		return nil, ErrNodeDestroyed
	}
	c := &connector{n: n, opts: o, remote: remotePublicKey, target: records.Hash(remotePublicKey[:]), won: make(chan struct{})}
	c.hook = new(secretstream.MessageHook)
	raw, err := n.newRawStream(c.hook, c.onFirstPacket)
	if err != nil {
		return nil, err
	}
	c.raw = raw
	conn, err := c.run(ctx)
	if err != nil {
		raw.Destroy()
		return nil, err
	}
	return conn, nil
}

// connector is the client's state for one Connect.
type connector struct {
	n      *Node
	opts   ConnectOptions
	remote [32]byte
	target [32]byte
	raw    *udx.Stream
	hook   *secretstream.MessageHook

	mu       sync.Mutex
	hs       *noise.Handshake
	msg1     []byte
	firewall records.Firewall // ours, as told to the server
	result   noise.Result
	payload  records.NoisePayload
	reply    *handshakeReply // set once: the first handshake that completed
	early    *udx.Socket     // the server's packet arrived before the handshake completed
	earlyAt  netip.AddrPort
	tried    []netip.AddrPort
	won      chan struct{} // closed when reply is set
	connect  chan socketChoice
	attempts int
	puncher  *holepunch.Puncher // set once holepunching started
	punch    *punchRun
}

// handshakeReply is where a completed handshake went through.
type handshakeReply struct {
	relayed bool
	node    netip.AddrPort // the node the handshake was sent to
	server  netip.AddrPort // the server as that node saw it
	client  netip.AddrPort // us as that node saw us
	socket  *udx.Socket    // the socket the handshake left from
}

type socketChoice struct {
	sock *udx.Socket
	addr netip.AddrPort
	path Path
}

func (c *connector) run(ctx context.Context) (*Conn, error) {
	if err := c.prepare(); err != nil {
		return nil, err
	}
	c.connect = make(chan socketChoice, 1)
	if err := c.findAndConnect(ctx); err != nil {
		return nil, err
	}
	choice, err := c.pickPath(ctx)
	if err != nil {
		c.stopPuncher()
		return nil, err
	}
	if err := c.raw.Connect(choice.sock, udx.StreamID(c.payload.UDX.ID), choice.addr); err != nil && !errors.Is(err, udx.ErrAlreadyConnected) {
		c.stopPuncher()
		return nil, err
	}
	c.n.holdSocket(choice.sock, c.raw)
	info := c.info(choice)
	c.stopPuncher()
	c.n.cacheRelays(c.remote, c.payload.RelayAddresses, c.tried)
	conn, err := c.n.startSession(c.raw, &c.result, c.hook, c.opts.OnMessage)
	if err != nil {
		return nil, err
	}
	c.n.recordConn(conn, c.raw, info)
	// Open: the server's header arrived over the path chosen. A server that answered the
	// handshake but never connects its stream gives up after the same 10 s.
	octx, cancel := context.WithTimeout(ctx, handshakeInitialTimeout)
	defer cancel()
	if err := conn.WaitOpen(octx); err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, ErrPeerConnectionFailed.with("the session did not open", err)
	}
	return conn, nil
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
// once to an open client). Before the handshake completed the address is remembered.
func (c *connector) onFirstPacket(sock *udx.Socket, from netip.AddrPort) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
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
	select {
	case c.connect <- socketChoice{sock, from, path}:
	default:
	}
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
		return socketChoice{early, earlyAt, PathDirect}, nil
	}
	if !r.relayed {
		return socketChoice{r.socket, r.node, PathDirect}, nil
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
		return socketChoice{c.n.socket(), addr, PathDirect}, nil
	}
	if c.firewall == records.FirewallOpen {
		// The server connects to us: wait for its first packet.
		return c.waitPassive(ctx)
	}
	return c.holepunch(ctx, r)
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
	p, pr := c.puncher, c.punch
	if pr != nil {
		info.Rounds = pr.sent
	}
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
// onMessage, if set, receives the connection's datagrams.
func (n *Node) startSession(raw *udx.Stream, result *noise.Result, hook *secretstream.MessageHook, onMessage func(*Conn, []byte)) (*Conn, error) {
	keepAlive := n.opts.ConnectionKeepAlive
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
