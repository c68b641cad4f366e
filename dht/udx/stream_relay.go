package udx

import (
	"encoding/binary"
	"errors"
	"net"
	"slices"
)

// errRelaySelf is returned by RelayTo for a nil destination or the stream
// itself.
var errRelaySelf = errors.New("udx: relay: need another stream")

// RelayTo makes s a relay leg (libudx udx_stream_relay_to, udx.md §2.7):
// from now on every packet that reaches s, after the firewall, is forwarded
// unchanged to other's peer, except for bytes 4-7 rewritten to other's
// remote id. It leaves through other's socket to other's remote address.
// s does no stream processing: it never acks, retransmits or delivers
// data, and seq and ack run end to end. Packets that arrive while other is
// not connected are dropped. A DESTROY is forwarded, then s fails with
// ErrReset. When either leg ends, the streams relaying into it are
// destroyed too, and a relaying stream destroyed locally sends no DESTROY.
// blind-relay pairs two legs with a.RelayTo(b) and b.RelayTo(a).
//
// It returns ErrRelaying if s already relays and net.ErrClosed if s or
// other has ended. Do not read, write or Send on a relaying stream.
func (s *Stream) RelayTo(other *Stream) error {
	if other == nil || other == s {
		return errRelaySelf
	}
	s.mu.Lock()
	switch {
	case s.destroyed || s.c.closed:
		s.mu.Unlock()
		return net.ErrClosed
	case s.relayed:
		s.mu.Unlock()
		return ErrRelaying
	}
	s.relayed, s.relayTo = true, other
	s.mu.Unlock()

	// The two locks are never held together: two legs relaying into each
	// other take them in opposite orders.
	other.mu.Lock()
	ok := !other.destroyed && !other.c.closed
	if ok {
		other.relaying = append(other.relaying, s)
	}
	other.mu.Unlock()
	if !ok {
		s.mu.Lock()
		s.relayed, s.relayTo = false, nil
		s.mu.Unlock()
		return net.ErrClosed
	}
	return nil
}

// relayLocked forwards the packet b (header h) that reached the relaying
// stream s. It is called with s.mu held and releases it.
func (s *Stream) relayLocked(h Header, b []byte) {
	s.c.stats.PacketsReceived++
	dst := s.relayTo
	s.mu.Unlock()
	if dst != nil {
		dst.forward(b)
	}
	if h.Type&TypeDestroy == 0 {
		return
	}
	s.mu.Lock()
	if s.destroyed || s.c.closed {
		s.mu.Unlock()
		return
	}
	to, into := s.takeRelaysLocked()
	s.c.fail(ErrReset)
	s.afterLocked()
	s.mu.Unlock()
	unlinkRelays(s, to, into)
}

// forward sends a relayed packet to s's peer, rewritten to its id.
func (s *Stream) forward(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed || s.c.closed || !s.c.connected || s.sock == nil {
		return
	}
	// A copy: b is the socket's receive buffer.
	s.relayBuf = append(s.relayBuf[:0], b...)
	binary.LittleEndian.PutUint32(s.relayBuf[4:8], uint32(s.c.remoteID))
	s.c.stats.PacketsSent++
	if _, err := s.sock.WriteToUDPAddrPort(s.relayBuf, s.c.remote); err != nil {
		s.log.Debug("udx: relay send failed", "stream", s.id, "to", s.c.remote, "err", err)
	}
}

// takeRelaysLocked detaches s from the relay graph as it ends: it returns
// the stream s relays to and the streams relaying into s, for
// unlinkRelays to finish once s.mu is released.
func (s *Stream) takeRelaysLocked() (to *Stream, into []*Stream) {
	to, into = s.relayTo, s.relaying
	s.relayTo, s.relaying = nil, nil
	return to, into
}

// unlinkRelays removes the ended stream s from the streams relaying into
// to, and destroys the streams that relayed into s (libudx close_stream).
// It is called with no lock held.
func unlinkRelays(s, to *Stream, into []*Stream) {
	if to != nil {
		to.mu.Lock()
		to.relaying = slices.DeleteFunc(to.relaying, func(r *Stream) bool { return r == s })
		to.mu.Unlock()
	}
	for _, r := range into {
		r.mu.Lock()
		if r.relayTo == s {
			r.relayTo = nil
		}
		r.mu.Unlock()
		r.Destroy()
	}
}
