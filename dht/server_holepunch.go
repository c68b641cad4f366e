package dht

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/hyperlan/hyperlan/dht/holepunch"
	"github.com/hyperlan/hyperlan/dht/noise"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// The server's side of holepunching (hyperdht lib/server.js _addHandshake's puncher setup and
// _onpeerholepunch, hyperdht.md §4.4 and §5.4). A server behind a NAT offers its holepunch
// slot and the relays it announced to in its handshake answer, starts a responder puncher and
// answers from the puncher's socket; the client then sends rounds of sealed holepunch
// payloads through a relay, each answered here.

// sameLAN reports whether the client is behind our own NAT with a private address close to
// one of ours (the same-LAN pre-punch: client is the client as the relay saw it, to is us as
// the relay saw us).
func (h *serverHandshake) sameLAN(client, to netip.AddrPort, remote *records.NoisePayload) bool {
	s, n := h.s, h.s.n
	if s.opts.NoLocalAddresses || !to.IsValid() || client.Addr() != to.Addr() {
		return false
	}
	var private []netip.AddrPort
	for _, a := range remote.Addresses4 {
		if isPrivate(a.Addr()) {
			private = append(private, a)
		}
	}
	if len(private) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, ok := matchAddress(n.addrs.filter(ctx, n.opts.ListenPacket, n.localAddresses()), private)
	return ok
}

// setupPuncher makes the handshake punchable: the sealed payloads' keys and a responder
// puncher. It returns nil when no socket could be opened; rounds are then refused.
func (h *serverHandshake) setupPuncher(result noise.Result, remote records.Firewall, path Path) *holepunch.Puncher {
	h.mu.Lock()
	h.initSecureLocked(result)
	h.path = path
	h.mu.Unlock()
	p, err := h.s.n.newPuncher(false, remote, nil, h.giveUp)
	if err != nil {
		return nil
	}
	h.mu.Lock()
	if h.raw == nil { // closed meanwhile
		h.mu.Unlock()
		p.Destroy()
		return nil
	}
	h.puncher = p
	direct := h.direct
	h.mu.Unlock()
	if direct != nil {
		// A relayed connection: the client may go direct to this socket even after our
		// strategy ended.
		h.s.n.punch.pool.Hold(p.Socket(), direct)
	}
	return p
}

// initSecureLocked makes the sealer of the handshake's holepunch rounds; a second puncher
// keeps the first one's, and the tokens given out with it.
func (h *serverHandshake) initSecureLocked(result noise.Result) {
	if h.secure == nil {
		h.secure = records.NewSecurePayload(records.HolepunchSecret(result.Hash))
	}
}

// stopPuncher destroys the handshake's puncher, if any; a socket the stream uses stays open.
func (h *serverHandshake) stopPuncher() {
	h.mu.Lock()
	p := h.puncher
	h.mu.Unlock()
	if p != nil {
		p.Destroy()
	}
}

// handshakeAt returns the handshake holding holepunch slot id.
func (s *Server) handshakeAt(id uint64) *serverHandshake {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.handshakes {
		if uint64(h.slot) == id {
			return h
		}
	}
	return nil
}

// onHolepunch implements handshakeServer: it answers one round of a client's holepunch.
func (s *Server) onHolepunch(id uint64, sealed []byte, peer netip.AddrPort, req *rpc.Request) ([]byte, net.PacketConn) {
	h := s.handshakeAt(id)
	if h == nil || !peer.IsValid() || s.isClosed() {
		return nil, nil
	}
	select {
	case <-h.ready:
	default:
		return nil, nil // still answering the handshake
	}
	h.mu.Lock()
	secure, p := h.secure, h.puncher
	relayed := h.relayed && h.raw != nil
	h.mu.Unlock()
	if secure == nil {
		h.giveUp()
		return nil, nil
	}
	remote, err := secure.Open(sealed)
	if err != nil {
		return nil, nil
	}
	if relayed && remote.Error == records.ConnErrorNone && (p == nil || destroyed(p)) && !s.opts.NoHolepunch {
		// The client of a relayed connection punches again (our clients do; the reference's
		// never do): punch with a new puncher.
		p = h.setupPuncher(h.result, h.remote.Firewall, PathHolepunch)
	}
	if p == nil {
		return h.abortRound(records.ConnErrorAborted)
	}
	fromRelay := s.ann.isRelay(req.From)
	if remote.Error != records.ConnErrorNone {
		h.mu.Lock()
		h.round = max(h.round, remote.Round)
		h.mu.Unlock()
		return h.abortRound(records.ConnErrorAborted)
	}
	token := secure.Token(peer.Addr())
	echoed := fromRelay && remote.RemoteToken != nil && *remote.RemoteToken == token
	if req.Socket() == net.PacketConn(p.Socket()) {
		p.NAT().Add(req.To, req.From)
	}
	h.mu.Lock()
	newer := remote.Round >= h.round
	if newer {
		h.round = remote.Round
	}
	round := h.round
	h.mu.Unlock()
	if newer {
		var verified netip.Addr
		if echoed {
			verified = peer.Addr()
		}
		p.UpdateRemote(remote.Punching, holepunch.Firewall(remote.Firewall), remote.Addresses, verified)
	}

	ctx := context.Background() // the waits below end when the puncher is destroyed
	stable := p.Analyze(ctx, false)
	if destroyed(p) {
		return nil, nil
	}
	remoteFirewall, _, remotePunching := p.Remote()
	// A client whose punch already reached the puncher's socket has a path, whatever our NAT
	// analysis says (too few DHT nodes to sample from, say, on a LAN with one bootstrap
	// node): reopening the socket or aborting would take the path away from under it.
	if !remotePunching && !stable && !p.Reached() {
		stable = p.Analyze(ctx, true)
		if destroyed(p) {
			return nil, nil
		}
		if !stable && !p.Reached() {
			return h.abortRound(records.ConnErrorAborted)
		}
	}
	nat := p.NAT()
	// Fast open: the client opened its NAT towards one of our addresses; a punch back may
	// get through at once.
	if fw := nat.Firewall(); (fw == holepunch.Consistent || fw == holepunch.Open) &&
		remote.RemoteAddress.IsValid() && slices.Contains(nat.Addresses(), remote.RemoteAddress) {
		p.Ping(peer)
	}
	if remotePunching {
		h.mu.Lock()
		if h.timeout != nil {
			h.timeout.Stop()
		}
		h.mu.Unlock()
		if !s.opts.Holepunch.allows(p) {
			return h.abortRound(records.ConnErrorAborted)
		}
		// A round the client sent again (its reply lost or late) finds this handshake's own
		// punch running: answer it as the first, where the reference answers TRY_LATER and
		// aborts the punch it has just started.
		if (remoteFirewall >= holepunch.Random || nat.Firewall() >= holepunch.Random) && !p.Started() && s.n.punch.limiter.Blocked() {
			if !h.relaying() {
				return h.abortRound(records.ConnErrorTryLater) // no blind relay to carry the connection meanwhile
			}
			// The relay carries the connection meanwhile: the client punches later.
			return h.sealRound(secure, p, records.ConnErrorTryLater, round, remote.Token, fromRelay, token)
		}
		if !p.Punch() {
			if destroyed(p) {
				return nil, nil
			}
			return h.abortRound(records.ConnErrorAborted)
		}
	}
	if nat.Firewall() != holepunch.Unknown {
		nat.Freeze()
	}
	return h.sealRound(secure, p, records.ConnErrorNone, round, remote.Token, fromRelay, token)
}

// sealRound answers a round with the puncher's state, from its socket; the token for the
// client's host goes only through the relays we announced to.
func (h *serverHandshake) sealRound(secure *records.SecurePayload, p *holepunch.Puncher, code records.ConnError, round uint64, remoteToken *[32]byte, fromRelay bool, token [32]byte) ([]byte, net.PacketConn) {
	nat := p.NAT()
	punching, connected, _, _ := p.State()
	out := records.HolepunchPayload{
		Error:       code,
		Firewall:    records.Firewall(nat.Firewall()),
		Round:       round,
		Connected:   connected,
		Punching:    punching,
		Addresses:   nat.Addresses(),
		RemoteToken: remoteToken,
	}
	if fromRelay {
		out.Token = &token
	}
	b, err := secure.Seal(nil, &out)
	if err != nil {
		return nil, nil
	}
	return b, p.Socket()
}

func destroyed(p *holepunch.Puncher) bool {
	_, _, d, _ := p.State()
	return d
}

// abortRound ends the handshake's holepunch and answers the round with the error code, from
// the node's own socket.
func (h *serverHandshake) abortRound(code records.ConnError) ([]byte, net.PacketConn) {
	h.mu.Lock()
	secure, round := h.secure, h.round
	h.mu.Unlock()
	h.giveUp()
	if secure == nil {
		return nil, nil
	}
	b, err := secure.Seal(nil, &records.HolepunchPayload{Error: code, Firewall: records.FirewallUnknown, Round: round})
	if err != nil {
		return nil, nil
	}
	return b, h.s.n.socket()
}

// holepunchRelays returns the relays the server announced to, with its address as each saw
// it: where clients send their holepunch rounds.
func (a *announcer) holepunchRelays() []records.RelayInfo {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.relays)
}

// isRelay reports whether addr is a node the server announced to in this announcement cycle
// or the previous one; only rounds through those get the server's token.
func (a *announcer) isRelay(addr netip.AddrPort) bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// Like the reference, a relay of the last three updates still counts: a client may
	// have found it in a lookup made before we moved on.
	return a.current[addr] || a.previous[addr] || a.older[addr]
}
