package dht

import (
	"net"
	"net/netip"

	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// The router moves PEER_HANDSHAKE and PEER_HOLEPUNCH values between a client, the node a
// server announced through (its relay) and the server (hyperdht lib/router.js, hyperdht.md
// §4.3). Every node routes, persistent or not: a server's own node answers for the server,
// a node holding a server's announcement forwards to it, and a FROM_SERVER value is turned
// into the REPLY the client waits for.

// handshakeServer is what the router needs of a listening server.
type handshakeServer interface {
	// onHandshake answers Noise message 1 with message 2, or nil to stay silent (a firewall
	// refusal, a closing server, a bad message), and names the socket the answer leaves from
	// (nil: the one the request came in on; a server that punches answers from its puncher's
	// socket, which the relay then reports to the client). peer is the client as the first
	// relay saw it, invalid for a direct handshake. It may block (the firewall callback runs
	// in it).
	onHandshake(noise []byte, peer netip.AddrPort, req *rpc.Request) (reply []byte, from net.PacketConn)
	// onHolepunch answers a relayed holepunch value, or nil, with the socket to answer from
	// as onHandshake does. It may block.
	onHolepunch(id uint64, payload []byte, peer netip.AddrPort, req *rpc.Request) (reply []byte, from net.PacketConn)
}

// routeOf returns the listening server of this node for target, or the address the server
// of target announced from when this node stores its announcement.
func (n *Node) routeOf(target [32]byte) (handshakeServer, netip.AddrPort) {
	n.mu.Lock()
	srv := n.servers[target]
	store := n.store
	n.mu.Unlock()
	if srv != nil {
		return srv, netip.AddrPort{}
	}
	if store != nil {
		if relay, _, ok := store.Forward(target); ok {
			return nil, relay
		}
	}
	return nil, netip.AddrPort{}
}

func (n *Node) onPeerHandshake(req *rpc.Request) {
	if req.Value == nil || !req.HasTarget {
		return
	}
	hs, _, err := records.ParseHandshake(req.Value)
	if err != nil {
		return
	}
	srv, relay := n.routeOf(req.Target)
	if srv != nil {
		if hs.Noise == nil || (hs.Mode != records.ModeFromClient && hs.Mode != records.ModeFromRelay && hs.Mode != records.ModeFromSecondRelay) {
			return
		}
		go n.answerHandshake(srv, hs, req)
		return
	}
	switch hs.Mode {
	case records.ModeFromClient:
		if hs.Noise == nil {
			return
		}
		next := hs.RelayAddress
		if !next.IsValid() {
			next = relay
		}
		if !next.IsValid() {
			// Not a relay for this target: help the client route with closer nodes.
			req.Respond(rpc.ReplyOptions{CloserNodes: true})
			return
		}
		relayValue(req, &records.Handshake{Mode: records.ModeFromRelay, Noise: hs.Noise, PeerAddress: req.From}, next)
	case records.ModeFromRelay:
		if !relay.IsValid() || hs.Noise == nil {
			return
		}
		relayValue(req, &records.Handshake{Mode: records.ModeFromSecondRelay, Noise: hs.Noise, PeerAddress: hs.PeerAddress, RelayAddress: req.From}, relay)
	case records.ModeFromServer:
		if !hs.PeerAddress.IsValid() || hs.Noise == nil {
			return
		}
		respondValue(req, &records.Handshake{Mode: records.ModeReply, Noise: hs.Noise, PeerAddress: req.From}, hs.PeerAddress)
	}
}

// answerHandshake runs the server's side of a handshake and sends its answer the way the
// request came: straight back to a client, or back through the relay chain.
func (n *Node) answerHandshake(srv handshakeServer, hs records.Handshake, req *rpc.Request) {
	reply, sock := srv.onHandshake(hs.Noise, hs.PeerAddress, req)
	if reply == nil {
		return
	}
	switch hs.Mode {
	case records.ModeFromClient:
		if b, err := records.AppendHandshake(nil, &records.Handshake{Mode: records.ModeReply, Noise: reply}); err == nil {
			req.Respond(rpc.ReplyOptions{Value: b, To: req.From, Socket: sock})
		}
	case records.ModeFromRelay:
		relayValueFrom(req, sock, &records.Handshake{Mode: records.ModeFromServer, Noise: reply, PeerAddress: hs.PeerAddress}, req.From)
	case records.ModeFromSecondRelay:
		if hs.RelayAddress.IsValid() {
			relayValueFrom(req, sock, &records.Handshake{Mode: records.ModeFromServer, Noise: reply, PeerAddress: hs.PeerAddress}, hs.RelayAddress)
		}
	}
}

func (n *Node) onPeerHolepunch(req *rpc.Request) {
	if req.Value == nil || !req.HasTarget {
		return
	}
	hp, _, err := records.ParseHolepunch(req.Value)
	if err != nil {
		return
	}
	srv, relay := n.routeOf(req.Target)
	switch hp.Mode {
	case records.ModeFromClient:
		next := hp.PeerAddress
		if !next.IsValid() {
			next = relay
		}
		if !next.IsValid() {
			return
		}
		relayHolepunch(req, &records.Holepunch{Mode: records.ModeFromRelay, ID: hp.ID, Payload: hp.Payload, PeerAddress: req.From}, next)
	case records.ModeFromRelay:
		if srv == nil || !hp.PeerAddress.IsValid() {
			return
		}
		go func() {
			reply, sock := srv.onHolepunch(hp.ID, hp.Payload, hp.PeerAddress, req)
			if reply == nil {
				return
			}
			if b, err := records.AppendHolepunch(nil, &records.Holepunch{Mode: records.ModeFromServer, Payload: reply, PeerAddress: hp.PeerAddress}); err == nil {
				req.RelayFrom(sock, b, req.From)
			}
		}()
	case records.ModeFromServer:
		if !hp.PeerAddress.IsValid() {
			return
		}
		b, err := records.AppendHolepunch(nil, &records.Holepunch{Mode: records.ModeReply, ID: hp.ID, Payload: hp.Payload, PeerAddress: req.From})
		if err == nil {
			req.Respond(rpc.ReplyOptions{Value: b, To: hp.PeerAddress})
		}
	}
}

// relayValue forwards req with the handshake value v to to.
func relayValue(req *rpc.Request, v *records.Handshake, to netip.AddrPort) {
	relayValueFrom(req, nil, v, to)
}

// relayValueFrom is relayValue sent from sock (nil: the socket req came in on).
func relayValueFrom(req *rpc.Request, sock net.PacketConn, v *records.Handshake, to netip.AddrPort) {
	if b, err := records.AppendHandshake(nil, v); err == nil {
		req.RelayFrom(sock, b, to)
	}
}

// respondValue answers req with the handshake value v, sent to to, without token or nodes.
func respondValue(req *rpc.Request, v *records.Handshake, to netip.AddrPort) {
	if b, err := records.AppendHandshake(nil, v); err == nil {
		req.Respond(rpc.ReplyOptions{Value: b, To: to})
	}
}

func relayHolepunch(req *rpc.Request, v *records.Holepunch, to netip.AddrPort) {
	if b, err := records.AppendHolepunch(nil, v); err == nil {
		req.Relay(b, to)
	}
}
