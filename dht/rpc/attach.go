package rpc

import (
	"errors"
	"net"
	"net/netip"
)

// Extra sockets. HyperDHT's holepuncher talks from sockets of its own (hyperdht
// lib/socket-pool.js): it pings nodes from them to learn how its NAT maps them, sends
// PEER_HOLEPUNCH requests from them, and a server's relays reach it on them. Such a socket is
// attached to the node: the node reads it like its own two, answers from it, and sends the
// requests that name it.

// attached is an extra socket and the receiver of its non-message datagrams.
type attached struct {
	s     *socket
	other func(b []byte, from netip.AddrPort)
}

// Attach makes pc an extra socket of the node until pc is closed. The node reads pc from then
// on: messages are handled as on the node's own sockets (an incoming request's
// [Request.Socket] is pc, and its replies and relays leave from pc), and requests whose
// [RequestOptions] name pc are sent and resent from it. A datagram of one byte or less, which
// is never a message, goes to other (nil drops it) on the read goroutine: other must not
// block, and b is valid only during the call. Closing pc detaches it; Destroy closes the
// sockets still attached. Attach fails with net.ErrClosed after Destroy, and when pc is
// already attached.
func (n *Node) Attach(pc net.PacketConn, other func(b []byte, from netip.AddrPort)) error {
	a := &attached{s: newSocket(pc, false), other: other}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.destroyed {
		return net.ErrClosed
	}
	if n.extra == nil {
		n.extra = make(map[net.PacketConn]*attached)
	}
	if n.extra[pc] != nil || pc == n.server.pc || pc == n.client.pc {
		return errors.New("rpc: attach: socket already belongs to the node")
	}
	n.extra[pc] = a
	n.wg.Add(1)
	go n.attachedLoop(a)
	return nil
}

// socketLocked returns the node's socket whose conn is pc (its own two or an attached one),
// or nil.
func (n *Node) socketLocked(pc net.PacketConn) *socket {
	switch {
	case pc == nil:
		return nil
	case pc == n.server.pc:
		return n.server
	case pc == n.client.pc:
		return n.client
	}
	if a := n.extra[pc]; a != nil {
		return a.s
	}
	return nil
}

// attachedLoop reads an attached socket until it closes, then detaches it.
func (n *Node) attachedLoop(a *attached) {
	defer n.wg.Done()
	defer func() {
		n.mu.Lock()
		if n.extra[a.s.pc] == a {
			delete(n.extra, a.s.pc)
		}
		n.mu.Unlock()
	}()
	buf := make([]byte, maxDatagram)
	var scratch Message
	var out []byte
	for {
		k, from, err := a.s.read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || n.closed() {
				return
			}
			continue // transient: timeouts, ICMP errors
		}
		if k <= 1 {
			if a.other != nil && from.Port() != 0 {
				a.other(buf[:k], from)
			}
			continue
		}
		out = n.onDatagram(a.s, buf[:k], from, &scratch, out[:0])
	}
}

// attachedLocked returns the attached sockets, for Destroy to close without the lock.
func (n *Node) attachedLocked() []net.PacketConn {
	var out []net.PacketConn
	for pc := range n.extra {
		out = append(out, pc)
	}
	return out
}

// RelayFrom is [Request.Relay] sent from pc, a socket of the node (its own or an attached
// one); an unknown pc means the socket the request arrived on.
func (r *Request) RelayFrom(pc net.PacketConn, value []byte, to netip.AddrPort) {
	r.relay(pc, value, to)
}
