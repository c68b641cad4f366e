package rpc

import (
	"encoding/binary"
	"net"
	"net/netip"
	"time"

	"github.com/hyperlan/hyperlan/dht/compact"
	"github.com/hyperlan/hyperlan/dht/ktable"
)

// Request is an incoming request handed to a [Handler]. Its fields are a decoded [Message];
// HasID is true only when the sender's id matched its UDP source address, and Value is owned
// by the Request. The reply methods are safe to call from any goroutine, once.
type Request struct {
	Message
	// From is the sender's UDP source address.
	From netip.AddrPort

	n    *Node
	sock *socket
}

// ReplyOptions control the optional fields of a reply. The zero value sends no token and no
// closer nodes to the requester's source address.
type ReplyOptions struct {
	// Error is the wire error code; 0 means success.
	Error uint64
	// Value is the reply value; nil sends none.
	Value []byte
	// Token includes a round-trip token for the reply's destination.
	Token bool
	// CloserNodes includes the nodes closest to the request's target (if it had one).
	CloserNodes bool
	// To overrides the destination (the requester's source address by default).
	To netip.AddrPort
	// Socket sends the reply from this socket of the node (its own or one attached with
	// [Node.Attach]) instead of the one the request arrived on.
	Socket net.PacketConn
}

// Socket returns the socket the request arrived on.
func (r *Request) Socket() net.PacketConn { return r.sock.pc }

// Reply answers with value, a token and closer nodes, as the reference's req.reply does.
func (r *Request) Reply(value []byte) {
	r.Respond(ReplyOptions{Value: value, Token: true, CloserNodes: true})
}

// Error answers with an error code and closer nodes but no token, as the reference's
// req.error does.
func (r *Request) Error(code uint64) {
	r.Respond(ReplyOptions{Error: code, CloserNodes: true})
}

// Respond sends a reply with full control of its fields.
func (r *Request) Respond(o ReplyOptions) {
	to := r.From
	if o.To.IsValid() {
		to = o.To
	}
	var target *[32]byte
	if r.HasTarget && o.CloserNodes {
		target = &r.Target
	}
	n := r.n
	n.mu.Lock()
	if n.destroyed {
		n.mu.Unlock()
		return
	}
	s := r.sock
	if o.Socket != nil {
		if other := n.socketLocked(o.Socket); other != nil {
			s = other
		}
	}
	b, err := n.appendReplyLocked(nil, s, r.TID, to, target, o.Error, o.Value, o.Token)
	n.mu.Unlock()
	if err == nil {
		s.send(b, to)
	}
}

// Relay forwards the request unchanged but for a new value and no token to another node,
// from the socket it arrived on; the final hop answers the original requester directly
// (dht-rpc's req.relay). The forwarded request keeps the original tid.
func (r *Request) Relay(value []byte, to netip.AddrPort) { r.relay(nil, value, to) }

func (r *Request) relay(pc net.PacketConn, value []byte, to netip.AddrPort) {
	n := r.n
	n.mu.Lock()
	if n.destroyed {
		n.mu.Unlock()
		return
	}
	s := r.sock
	if other := n.socketLocked(pc); other != nil {
		s = other
	}
	m := Message{
		Kind: KindRequest, TID: r.TID, To: to, Internal: r.Internal, Command: r.Command,
		Target: r.Target, HasTarget: r.HasTarget, Value: value,
	}
	if !n.ephemeral && s == n.server {
		m.ID, m.HasID = n.table.ID(), true
	}
	n.mu.Unlock()
	b, err := AppendMessage(nil, &m)
	if err == nil {
		s.send(b, to)
	}
}

// appendReplyLocked encodes a response. The id goes in only when the node is persistent and
// the reply leaves from the server socket; closer nodes only when target is non-nil.
func (n *Node) appendReplyLocked(b []byte, s *socket, tid uint16, to netip.AddrPort, target *[32]byte, code uint64, value []byte, token bool) ([]byte, error) {
	m := Message{Kind: KindResponse, TID: tid, To: to, Error: code, Value: value}
	if !n.ephemeral && s == n.server {
		m.ID, m.HasID = n.table.ID(), true
	}
	if token {
		m.Token, m.HasToken = n.tok.issue(to.Addr()), true
	}
	if target != nil {
		n.closerScratch = n.table.AppendClosest(n.closerScratch[:0], ktable.ID(*target), 0)
		n.addrScratch = n.addrScratch[:0]
		for _, p := range n.closerScratch {
			n.addrScratch = append(n.addrScratch, p.addr)
		}
		m.CloserNodes = n.addrScratch
	}
	return AppendMessage(b, &m)
}

// onDatagram processes one datagram read from s. out is a reusable encode buffer owned by the
// read loop; the returned slice is to be passed back next time.
func (n *Node) onDatagram(s *socket, b []byte, from netip.AddrPort, m *Message, out []byte) []byte {
	if len(b) < 2 || from.Port() == 0 || !from.Addr().Is4() {
		return out
	}
	if s.server {
		n.noteServerDatagram(from.Addr())
	}
	if b[0] != typeReq && b[0] != typeResp {
		return out // not ours (UDX streams share the socket later)
	}
	if err := ParseMessage(b, m); err != nil {
		n.malformed.Add(1)
		return out
	}
	var fromID ktable.ID
	hasID := false
	if m.HasID {
		if id := NodeID(from); id == ktable.ID(m.ID) {
			fromID, hasID = id, true
		}
	}
	m.HasID = hasID
	m.ID = fromID
	if m.Kind == KindResponse {
		n.onResponse(s, m, from)
		return out
	}
	return n.onRequest(s, m, from, out)
}

// noteServerDatagram records the source host for running firewall checks.
func (n *Node) noteServerDatagram(host netip.Addr) {
	n.mu.Lock()
	for _, w := range n.watchers {
		w.hosts[host] = true
	}
	n.mu.Unlock()
}

func (n *Node) onRequest(s *socket, m *Message, from netip.AddrPort, out []byte) []byte {
	learn := m.HasID && n.filterAllows(from)
	n.mu.Lock()
	if n.destroyed {
		n.mu.Unlock()
		return out
	}
	if m.HasToken && !n.tok.valid(from.Addr(), &m.Token) {
		var target *[32]byte
		if m.HasTarget {
			target = &m.Target
		}
		out, err := n.appendReplyLocked(out, s, m.TID, from, target, CodeInvalidToken, nil, true)
		n.mu.Unlock()
		if err == nil {
			s.send(out, from)
		}
		return out
	}
	external := s != n.expectedSocketLocked()
	if learn {
		n.addNodeFromNetworkLocked(!external, from, ktable.ID(m.ID), true, m.To)
	}
	if !m.Internal {
		n.mu.Unlock()
		n.handlersMu.RLock()
		h := n.handlers[m.Command]
		n.handlersMu.RUnlock()
		req := &Request{Message: *m, From: from, n: n, sock: s}
		req.CloserNodes = nil
		if m.Value != nil {
			req.Value = append([]byte{}, m.Value...)
		}
		if h == nil {
			req.Error(CodeUnknownCommand)
			return out
		}
		h(req)
		return out
	}
	to := from
	var target *[32]byte
	switch m.Command {
	case CmdPing:
	case CmdPingNAT:
		if len(m.Value) < 2 {
			n.mu.Unlock()
			return out
		}
		port := binary.LittleEndian.Uint16(m.Value)
		if port == 0 {
			n.mu.Unlock()
			return out
		}
		to = netip.AddrPortFrom(from.Addr(), port)
	case CmdFindNode:
		if !m.HasTarget {
			n.mu.Unlock()
			return out
		}
		target = &m.Target
	case CmdDownHint:
		if len(m.Value) < compact.IPv4AddrLen {
			n.mu.Unlock()
			return out
		}
		n.onDownHintLocked(m.Value[:compact.IPv4AddrLen])
	case CmdDelayedPing:
		if len(m.Value) < 4 {
			n.mu.Unlock()
			return out
		}
		delay := time.Duration(binary.LittleEndian.Uint32(m.Value)) * time.Millisecond
		if delay > n.opts.MaxPingDelay || n.delayedPings >= maxDelayedPings {
			n.mu.Unlock()
			return out
		}
		n.delayedPings++
		n.mu.Unlock()
		n.delayedReply(s, m.TID, from, delay)
		return out
	default:
		if m.HasTarget {
			target = &m.Target
		}
		out, err := n.appendReplyLocked(out, s, m.TID, from, target, CodeUnknownCommand, nil, false)
		n.mu.Unlock()
		if err == nil {
			s.send(out, from)
		}
		return out
	}
	out, err := n.appendReplyLocked(out, s, m.TID, to, target, CodeOK, nil, false)
	n.mu.Unlock()
	if err == nil {
		s.send(out, to)
	}
	return out
}

// maxDelayedPings bounds the DELAYED_PING replies waiting at once. The reference keeps no
// bound; here each waits on a goroutine, which a remote peer must not be able to multiply
// without limit. Requests over the bound get no reply, like a delay over MaxPingDelay.
const maxDelayedPings = 1024

// delayedReply answers a DELAYED_PING after delay unless the node is destroyed first. The
// caller has counted it in n.delayedPings.
func (n *Node) delayedReply(s *socket, tid uint16, to netip.AddrPort, delay time.Duration) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-n.ctx.Done():
			return
		}
		n.mu.Lock()
		n.delayedPings--
		if n.destroyed {
			n.mu.Unlock()
			return
		}
		b, err := n.appendReplyLocked(nil, s, tid, to, nil, CodeOK, nil, false)
		n.mu.Unlock()
		if err == nil {
			s.send(b, to)
		}
	}()
}

func (n *Node) expectedSocketLocked() *socket {
	if n.firewalled {
		return n.client
	}
	return n.server
}

// onDownHintLocked checks a node another node reported as down, at most 10 checks at a time.
func (n *Node) onDownHintLocked(addr []byte) {
	if n.checks >= 10 {
		return
	}
	ap, _, err := compact.ParseIPv4Addr(addr)
	if err != nil {
		return
	}
	p, ok := n.table.Get(NodeID(ap))
	if !ok || !(p.pinged < n.tick || p.downHints == 0) {
		return
	}
	p.downHints++
	n.checkLocked(p)
}

func (n *Node) onResponse(s *socket, m *Message, from netip.AddrPort) {
	learn := n.filterAllows(from)
	n.mu.Lock()
	r := n.inflight[m.TID]
	if r == nil || n.destroyed {
		n.mu.Unlock()
		return
	}
	n.removeInflightLocked(r)
	n.cwnd.recv()
	if r.internal && r.command < uint64(len(n.stats.Commands)) {
		n.stats.Commands[r.command].Rx++
	}
	n.stats.Requests.Active--
	n.stats.Requests.Responses++
	external := s != n.expectedSocketLocked()
	if learn {
		n.addNodeFromNetworkLocked(!external, from, ktable.ID(m.ID), m.HasID, m.To)
	}
	hasID := m.HasID
	n.mu.Unlock()

	res := &Response{Message: *m, From: from, RTT: time.Since(r.started)}
	res.HasID = hasID
	if m.Value != nil {
		res.Value = append([]byte{}, m.Value...)
	}
	if len(m.CloserNodes) > 0 {
		res.CloserNodes = append([]netip.AddrPort(nil), m.CloserNodes...)
	} else {
		res.CloserNodes = nil
	}
	r.finish(res, nil)
}
