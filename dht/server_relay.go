package dht

import (
	"net/netip"

	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// The server's side of the blind-relay fallback (hyperdht lib/server.js _relayConnection and
// the relayed branch of its onsocket; relay.go has the shared parts).

// startRelay starts pairing at the blind relay when either side named one: ours wins, and
// makes us the initiator.
func (h *serverHandshake) startRelay(ours, theirs *records.RelayThroughInfo) {
	leg := h.s.n.newRelayLeg(ours, theirs, true, h.s.opts.RelayKeepAlive)
	if leg == nil {
		return
	}
	h.mu.Lock()
	raw := h.raw
	if raw == nil {
		h.mu.Unlock()
		return
	}
	h.leg = leg
	h.mu.Unlock()
	leg.start(raw, func(p relayPath) { h.onRelayPaired(leg, raw, p) }, func(error) { h.onRelayFailed() })
}

// relaying reports whether a blind relay may carry the connection: it is pairing or paired.
func (h *serverHandshake) relaying() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.leg.active()
}

// fromRelay reports whether a packet that reached the raw stream's firewall came from the
// relay.
func (h *serverHandshake) fromRelay(sock *udx.Socket, from netip.AddrPort) bool {
	h.mu.Lock()
	leg := h.leg
	h.mu.Unlock()
	return leg.isRelay(sock, from)
}

// onRelayPaired connects the raw stream to the relay's stream for it, unless the client came
// straight here first, then starts the session and hands it to the server. While relayed the
// puncher's socket stays open, so that a client that punches through later still reaches us.
func (h *serverHandshake) onRelayPaired(leg *relayLeg, raw *udx.Stream, p relayPath) {
	n := h.s.n
	h.mu.Lock()
	if h.raw != raw || h.relayed {
		h.mu.Unlock()
		leg.close()
		return
	}
	if h.timeout != nil {
		h.timeout.Stop()
	}
	if err := raw.Connect(p.sock, p.id, p.addr); err != nil {
		h.mu.Unlock()
		h.abort()
		return
	}
	h.greeting = true
	h.mu.Unlock()
	greet(raw)
	h.mu.Lock()
	h.greeting = false
	if h.raw != raw { // given up meanwhile
		h.mu.Unlock()
		leg.close()
		return
	}
	info := h.connInfo(PathRelay, p.addr, h.puncher)
	info.Relay = leg.key
	conn, err := n.startSession(raw, &h.result, h.hook, h.s.opts.OnMessage, 0)
	if err != nil {
		h.mu.Unlock()
		h.abort()
		return
	}
	h.relayed, h.conn, h.direct = true, conn, make(chan struct{})
	puncher, direct := h.puncher, h.direct
	h.mu.Unlock()
	if puncher != nil {
		n.punch.pool.Hold(puncher.Socket(), direct)
	}
	n.recordConn(conn, raw, info)
	go h.whileRelayed(raw, direct)
	h.s.deliver(conn)
}

// whileRelayed cleans up after a relayed connection that ends without moving to a direct
// path; it returns once it ended or moved.
func (h *serverHandshake) whileRelayed(raw *udx.Stream, direct chan struct{}) {
	select {
	case <-direct:
		return
	case <-raw.Done():
	}
	h.mu.Lock()
	leg := h.leg
	moved := h.raw == nil
	h.raw = nil
	h.mu.Unlock()
	if moved {
		return // upgrade closed direct meanwhile
	}
	close(direct)
	leg.close()
	h.stopPuncher()
	h.clearLater()
}

// onRelayFailed ends a handshake whose relay failed after its holepunch did (the reference
// destroys the raw stream then).
func (h *serverHandshake) onRelayFailed() {
	h.mu.Lock()
	aborted, relayed := h.aborted, h.relayed
	h.mu.Unlock()
	if aborted && !relayed {
		h.abort()
	}
}

// upgrade moves the relayed stream raw to the client at from through sock (the reference's
// changeRemote, then confirmDirectUpgrade): holepunching stops, and the connection to the
// relay is closed once a packet arrived on the new path.
func (h *serverHandshake) upgrade(raw *udx.Stream, conn *Conn, sock *udx.Socket, from netip.AddrPort) {
	n := h.s.n
	h.mu.Lock()
	leg, p, path, direct := h.leg, h.puncher, h.path, h.direct
	h.mu.Unlock()
	defer h.clearLater()
	// What is in flight moves along (see relay.go: the peer may never have sent through the
	// relay, which then drops it).
	if err := raw.MoveRemote(sock, udx.StreamID(h.remote.UDX.ID), from); err != nil {
		close(direct)
		leg.close()
		h.stopPuncher()
		return
	}
	n.holdSocket(sock, raw)
	if path == PathDirect {
		path = PathHolepunch
	}
	info := h.connInfo(path, from, p)
	info.Relay, info.Upgraded = leg.key, true
	n.updateConnInfo(conn, info)
	close(direct)
	h.stopPuncher()
	if f := h.s.opts.OnUpgrade; f != nil {
		go f(conn, info)
	}
	go leg.confirmDirect(raw)
}
