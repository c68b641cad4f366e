package udx

import (
	"net"
	"time"
)

// SetKeepAlive makes the stream send a HEARTBEAT every d while none of its
// packets is in flight, which the peer answers with an ack (udx-native
// setKeepalive, udx.md §3.8): traffic both ways that keeps NAT bindings and
// relays along the path open while the stream is idle. The interval starts
// over at Connect, at the call, and whenever the last packet in flight is
// acked; while packets are in flight their acks do the same job and no
// heartbeat is sent. d <= 0 turns keepalive off (the default); a d below a
// millisecond counts as one, libudx's resolution. Heartbeats are not
// retransmitted and their acks are not awaited, so keepalive does not make a
// vanished peer time out. It returns net.ErrClosed after Close.
func (s *Stream) SetKeepAlive(d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return net.ErrClosed
	}
	s.keepAlive = max(d, time.Millisecond)
	if d <= 0 {
		s.keepAlive = 0
	}
	s.keepAliveAt = time.Time{}
	s.afterLocked()
	return nil
}

// keepAliveDueLocked returns when the next keepalive HEARTBEAT is due, zero
// when none is: keepalive is off, the stream is not connected or has ended,
// a packet is in flight, or the zero-window probe is running (it sends
// heartbeats of its own; libudx runs one or the other on the stream's one
// timer). A disarmed keepalive is armed afresh, d from now, once it is due
// again.
func (s *Stream) keepAliveDueLocked() time.Time {
	c := s.c
	if s.keepAlive == 0 || s.relayed || !c.connected || c.closed || c.snd.una != c.snd.nxt || !c.snd.zwpAt.IsZero() {
		s.keepAliveAt = time.Time{}
		return time.Time{}
	}
	if s.keepAliveAt.IsZero() {
		s.keepAliveAt = time.Now().Add(s.keepAlive)
	}
	return s.keepAliveAt
}

// keepAliveLocked sends the keepalive HEARTBEAT if it is due at now (libudx
// udx_keepalive_timeout), and schedules the next.
func (s *Stream) keepAliveLocked(now time.Time) {
	if at := s.keepAliveDueLocked(); at.IsZero() || now.Before(at) {
		return
	}
	s.c.sendControl(TypeHeartbeat)
	s.keepAliveAt = now.Add(s.keepAlive)
}
