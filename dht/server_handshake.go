package dht

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hyperlan/hyperlan/dht/blindrelay"
	"github.com/hyperlan/hyperlan/dht/holepunch"
	"github.com/hyperlan/hyperlan/dht/noise"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/dht/secretstream"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// handshakeInitialTimeout is how long a server waits for a client it answered to make contact
// over UDX before it gives the handshake up (the reference's HANDSHAKE_INITIAL_TIMEOUT).
const handshakeInitialTimeout = 10 * time.Second

// serverHandshake is the server's side of one client handshake, from Noise message 1 until
// the raw stream connects or the wait ends. The same message 1 arriving again (a retry, a
// second relay) shares it and gets the same answer: a second responder would answer with other
// keys.
type serverHandshake struct {
	s     *Server
	key   string // message 1
	slot  int    // holepunch id
	ready chan struct{}

	reply     []byte      // set before ready closes; nil: stay silent
	replySock *udx.Socket // set before ready closes: the puncher's socket the reply leaves from, or nil

	mu      sync.Mutex
	raw     *udx.Stream // nil once connected or given up
	hook    *secretstream.MessageHook
	result  noise.Result
	remote  records.NoisePayload
	timeout *time.Timer
	cleared bool
	path    Path // how the client is expected to arrive

	// Holepunching (set up when neither side is open; server_holepunch.go).
	secure  *records.SecurePayload // nil: the handshake offers no punching
	puncher *holepunch.Puncher
	round   uint64 // the highest round the client sent

	// The blind relay (server_relay.go).
	leg      *relayLeg     // the pairing, when either side named a relay
	relayed  bool          // the session runs through the relay; raw stays set until it moves
	greeting bool          // raw is connected to the relay, the session not started yet (greet)
	conn     *Conn         // the relayed session
	aborted  bool          // holepunching gave up; a relay may still carry the connection
	direct   chan struct{} // closed once the relayed stream moved or ended
}

// onHandshake implements handshakeServer.
func (s *Server) onHandshake(msg []byte, peer netip.AddrPort, req *rpc.Request) ([]byte, net.PacketConn) {
	key := string(msg)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil
	}
	h := s.handshakes[key]
	if h == nil {
		h = &serverHandshake{s: s, key: key, slot: s.takeSlotLocked(), ready: make(chan struct{})}
		s.handshakes[key] = h
		kp := s.kp
		s.mu.Unlock()
		h.reply, h.replySock = h.run(kp, msg, peer, req)
		close(h.ready)
	} else {
		s.mu.Unlock()
		<-h.ready
	}
	if h.replySock == nil || s.isClosed() {
		return h.reply, nil
	}
	return h.reply, h.replySock
}

func (s *Server) takeSlotLocked() int {
	for i, used := range s.slots {
		if !used {
			s.slots[i] = true
			return i
		}
	}
	s.slots = append(s.slots, true)
	return len(s.slots) - 1
}

// run answers message 1; it returns message 2 or nil, and the socket to send it from (nil:
// the one the request came in on).
func (h *serverHandshake) run(kp KeyPair, msg []byte, peer netip.AddrPort, req *rpc.Request) ([]byte, *udx.Socket) {
	s, n := h.s, h.s.n
	hs, err := noise.NewResponder(noise.IK, kp.SecretKey, nil, noise.PeerHandshakePrologue[:])
	if err != nil {
		h.clearLater()
		return nil, nil
	}
	plain, err := hs.Recv(msg)
	if err != nil {
		h.clearLater()
		return nil, nil
	}
	remote, _, err := records.ParseNoisePayload(plain)
	if err != nil {
		h.clearLater()
		return nil, nil
	}
	remoteKey, _ := hs.RemotePublicKey()
	direct := !peer.IsValid()
	client := peer
	if direct {
		client = req.From
	}
	if s.isClosed() || (s.opts.Firewall != nil && s.opts.Firewall(remoteKey, &remote, client)) {
		h.clearLater()
		return nil, nil
	}

	code := records.ConnErrorNone
	switch {
	case remote.Version != records.NoisePayloadVersion:
		code = records.ConnErrorVersionMismatch
	case remote.UDX == nil:
		code = records.ConnErrorAborted
	}
	var addrs []netip.AddrPort
	public, open := n.rpc.RemoteAddr()
	if open {
		addrs = append(addrs, public)
	}
	if !s.opts.NoLocalAddresses {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		addrs = append(addrs, n.addrs.filter(ctx, n.opts.ListenPacket, n.localAddresses())...)
		cancel()
	}

	var raw *udx.Stream
	if code == records.ConnErrorNone {
		h.hook = new(secretstream.MessageHook)
		raw, err = n.newRawStream(h.hook, func(sock *udx.Socket, from netip.AddrPort) bool {
			// Traffic from the relay is accepted as it is; anything else is a way to the
			// client.
			if !h.fromRelay(sock, from) {
				h.onSocket(sock, from)
			}
			return true
		})
		if err != nil {
			h.clearLater()
			return nil, nil
		}
	}
	reply := records.NoisePayload{
		Error:        code,
		Firewall:     records.FirewallUnknown,
		Addresses4:   addrs,
		UDX:          &records.UDXInfo{},
		SecretStream: &records.SecretStreamInfo{},
	}
	if open {
		reply.Firewall = records.FirewallOpen
	} else {
		// Behind a NAT: the client may punch, through the relays we announced to.
		reply.Holepunch = &records.HolepunchInfo{ID: uint64(h.slot), Relays: s.ann.holepunchRelays()}
	}
	if raw != nil {
		reply.UDX.ID = uint64(raw.ID())
		if !open && s.opts.RelayThrough != nil {
			if key, ok := s.opts.RelayThrough(); ok {
				reply.RelayThrough = &records.RelayThroughInfo{PublicKey: key, Token: blindrelay.NewToken()}
			}
		}
	}
	if ra := s.ann.relayAddrs(); len(ra) > 0 {
		reply.RelayAddresses = ra
	}
	plain2, err := records.AppendNoisePayload(nil, &reply)
	if err == nil {
		msg, err = hs.Send(plain2)
	}
	var result noise.Result
	if err == nil {
		result, err = hs.Result()
	}
	if err != nil || s.isClosed() {
		if raw != nil {
			raw.Destroy()
		}
		h.clearLater()
		return nil, nil
	}
	if raw == nil {
		h.clearLater()
		return msg, nil
	}

	h.mu.Lock()
	h.raw, h.result, h.remote = raw, result, remote
	h.mu.Unlock()
	if remote.Firewall == records.FirewallOpen || direct {
		sock := n.socket()
		if direct {
			if rs, ok := req.Socket().(*udx.Socket); ok {
				sock = rs
			}
		}
		h.onSocket(sock, client)
		return msg, nil
	}
	// Either side's relay is paired while we wait, unless we are open: the client then comes
	// straight here (the reference pairs anyway).
	if !open {
		h.startRelay(reply.RelayThrough, remote.RelayThrough)
	}
	// Wait for the client to reach us: its first packet runs onSocket through the raw
	// stream's firewall. Unless we are open, we punch: answering from the puncher's socket
	// tells the client where to punch to. A client behind our own NAT with a private address
	// near ours connects on the LAN; the puncher is then only there for the rounds.
	switch {
	case open: // the client comes straight here, by the direct path, on a LAN or not
		h.startTimeout()
		return msg, nil
	case h.sameLAN(client, req.To, &remote):
		h.setupPuncher(result, remote.Firewall, PathLAN)
		h.startTimeout()
		return msg, nil
	case s.opts.NoHolepunch:
		// No puncher: the client's rounds are answered with an abort.
		h.mu.Lock()
		h.initSecureLocked(result)
		h.mu.Unlock()
		h.startTimeout()
		return msg, nil
	}
	if p := h.setupPuncher(result, remote.Firewall, PathHolepunch); p != nil {
		h.startTimeout()
		return msg, p.Socket()
	}
	h.startTimeout()
	return msg, nil
}

// startTimeout gives the client handshakeInitialTimeout to make contact (or to start
// punching), then gives the direct path up.
func (h *serverHandshake) startTimeout() {
	h.mu.Lock()
	if h.raw != nil && !h.relayed {
		h.timeout = time.AfterFunc(handshakeInitialTimeout, h.giveUp)
	}
	h.mu.Unlock()
}

// onSocket connects the raw stream to the client at from through sock, starts the encrypted
// session and hands it to the server; a relayed stream moves there instead. Later calls do
// nothing.
func (h *serverHandshake) onSocket(sock *udx.Socket, from netip.AddrPort) {
	h.mu.Lock()
	if h.greeting {
		// The stream was just connected to the relay and the session is about to start:
		// the client's next direct packet moves it.
		h.mu.Unlock()
		return
	}
	raw := h.raw
	h.raw = nil
	if h.timeout != nil {
		h.timeout.Stop()
	}
	p, path, leg, relayed, conn := h.puncher, h.path, h.leg, h.relayed, h.conn
	if raw != nil && !relayed {
		// Held before the lock goes: an abort that runs meanwhile finds raw taken and
		// destroys the puncher, which must not close the socket the stream is to use.
		h.s.n.holdSocket(sock, raw)
	}
	h.mu.Unlock()
	if raw == nil {
		return
	}
	if relayed {
		h.upgrade(raw, conn, sock, from)
		return
	}
	h.clearLater()
	leg.close() // the relay lost
	if !from.IsValid() || from.Port() == 0 {
		raw.Destroy()
		h.stopPuncher()
		return
	}
	if err := raw.Connect(sock, udx.StreamID(h.remote.UDX.ID), from); err != nil {
		raw.Destroy()
		h.stopPuncher()
		return
	}
	n := h.s.n
	info := h.connInfo(path, from, p)
	h.stopPuncher()
	c, err := n.startSession(raw, &h.result, h.hook, h.s.opts.OnMessage, 0)
	if err != nil {
		raw.Destroy()
		return
	}
	n.recordConn(c, raw, info)
	h.s.deliver(c)
}

// connInfo describes the handshake's connection on path to remote: the two NATs as the
// puncher p classified them, or, without one, ours as open if the DHT sees a public address
// and the client's as its payload gave it.
func (h *serverHandshake) connInfo(path Path, remote netip.AddrPort, p *holepunch.Puncher) ConnInfo {
	info := ConnInfo{Path: path, Remote: remote, LocalFirewall: records.FirewallUnknown, RemoteFirewall: h.remote.Firewall}
	if public, ok := h.s.n.rpc.RemoteAddr(); ok && public.IsValid() {
		info.LocalFirewall = records.FirewallOpen
	}
	infoFromPuncher(&info, p)
	return info
}

// abort gives the handshake up: the client never made contact, or the server closed. A
// session that runs through a relay stays, without holepunching.
func (h *serverHandshake) abort() {
	h.mu.Lock()
	if h.relayed {
		h.mu.Unlock()
		h.stopPuncher()
		return
	}
	raw, leg := h.raw, h.leg
	h.raw = nil
	h.mu.Unlock()
	if raw != nil {
		raw.Destroy()
	}
	leg.close()
	h.stopPuncher()
	h.clearLater()
}

// giveUp ends the wait for a direct path (the client made no contact in time, or the
// holepunch ended without a path): the handshake is given up unless a relay carries the
// connection or may still (the reference keeps the raw stream while it has a relay token).
func (h *serverHandshake) giveUp() {
	h.mu.Lock()
	h.aborted = true
	keep := h.relayed || h.leg.active()
	h.mu.Unlock()
	if !keep {
		h.abort()
		return
	}
	h.stopPuncher()
}

// clearLater forgets the handshake after HandshakeClearWait and frees its holepunch slot.
func (h *serverHandshake) clearLater() {
	h.mu.Lock()
	if h.cleared {
		h.mu.Unlock()
		return
	}
	h.cleared = true
	h.mu.Unlock()
	s := h.s
	time.AfterFunc(s.opts.HandshakeClearWait, func() {
		s.mu.Lock()
		if s.handshakes[h.key] == h {
			delete(s.handshakes, h.key)
		}
		if h.slot < len(s.slots) {
			s.slots[h.slot] = false
		}
		s.mu.Unlock()
	})
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
