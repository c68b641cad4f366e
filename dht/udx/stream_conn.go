package udx

import (
	"net/netip"
	"time"
)

// conn is the protocol engine of one stream, free of locks, goroutines,
// sockets and clocks: packets and the current time go in, datagrams go out
// through output, and deadline says when onTimer is due. [Stream] drives it
// under its mutex. The receive half is recvBuffer (stream_recv.go); the send
// half, with acks, loss detection and congestion control, is in
// stream_send.go.
type conn struct {
	// output sends one datagram to addr. b is valid only during the call.
	// It is called with the driver's lock held and must not call back.
	output func(b []byte, to netip.AddrPort)

	connected bool
	remoteID  StreamID
	remote    netip.AddrPort
	mss       int // payload bytes per new packet: MaxPayload of the confirmed MTU
	mtu       mtuProber

	rcv       recvBuffer
	ackNeeded bool   // data arrived before Connect: ack once connected
	lastWnd   uint32 // receive window in the last packet sent

	snd sender

	closed   bool  // the engine has ended; err says why
	err      error // nil (clean close or local destroy), ErrReset or ErrTimeout
	finished bool  // closed cleanly: both directions ended and all acked

	// Set when readers or writers should look again; the driver clears them.
	wakeRead, wakeWrite bool

	stats   StreamStats
	scratch []byte      // for acks and other one-off packets
	sacks   []SACKBlock // scratch for SACK blocks
}

func newConn(output func([]byte, netip.AddrPort)) *conn {
	c := &conn{output: output, mss: MaxPayload(MTUBase, false)}
	c.mtu.reset()
	c.snd.init()
	return c
}

// connect binds the stream to its peer. It sends nothing but the ack owed
// for data that arrived before (udx.md §2.2) and whatever was written.
func (c *conn) connect(remoteID StreamID, addr netip.AddrPort, now time.Time) {
	c.connected = true
	c.setRemote(remoteID, addr)
	if c.ackNeeded {
		c.sendAck()
	}
	c.pump(now)
}

// setRemote points new packets at a peer and starts the MTU search over
// (libudx reset_mtu_state_machine, on connect and on change_remote).
func (c *conn) setRemote(remoteID StreamID, addr netip.AddrPort) {
	c.remoteID, c.remote = remoteID, addr
	c.mtu.reset()
	c.mss = MaxPayload(c.mtu.mtu, addr.Addr().Is6())
}

// changeRemote points new packets at a new peer. Packets already sent keep
// their id and address when retransmitted (udx.md §2.8); the change is
// complete once they are all acked.
func (c *conn) changeRemote(remoteID StreamID, addr netip.AddrPort, move bool, now time.Time) {
	c.setRemote(remoteID, addr)
	c.snd.noteRemoteChange()
	if move {
		// The packets in flight go to the new remote too, at once (Stream.MoveRemote).
		s := &c.snd
		for i := range s.sent {
			p := &s.sent[i]
			if h, err := ParseHeader(p.buf); err == nil {
				h.ID = remoteID
				h.Put(p.buf)
			}
			p.to = addr
			if !p.acked && !p.lost {
				c.markLost(i)
			}
		}
	}
	c.pump(now)
}

// header returns a header for a packet to the current remote that consumes
// no seq.
func (c *conn) header(t Type) Header {
	c.lastWnd = c.rcv.window()
	return Header{Type: t, ID: c.remoteID, RWnd: c.lastWnd, Seq: c.snd.nxt, Ack: c.rcv.nxt}
}

// sendAck acks the packets received so far, with SACK blocks when some are
// held out of order. Before Connect it only notes that an ack is owed.
func (c *conn) sendAck() {
	if !c.connected {
		c.ackNeeded = true
		return
	}
	c.ackNeeded = false
	c.sacks = c.rcv.sack(c.sacks[:0])
	h := c.header(0)
	if len(c.sacks) > 0 {
		h.Type = TypeSACK
	}
	c.scratch = AppendSACK(h.Append(c.scratch[:0]), c.sacks)
	c.send(c.scratch, c.remote)
}

// sendControl sends a HEARTBEAT or DESTROY: a packet that consumes no seq.
func (c *conn) sendControl(t Type) {
	h := c.header(t)
	c.scratch = h.Append(c.scratch[:0])
	c.send(c.scratch, c.remote)
}

func (c *conn) send(b []byte, to netip.AddrPort) {
	c.stats.PacketsSent++
	c.output(b, to)
}

// onPacket handles one packet for this stream that got past the firewall
// (udx.md §3.2 then §3.3). It returns the payload of a MESSAGE, aliasing b,
// and whether there was one.
func (c *conn) onPacket(h Header, b []byte, now time.Time) (msg []byte, isMsg bool) {
	c.stats.PacketsReceived++
	isData := h.Type&(TypeData|TypeEnd) != 0
	if c.closed {
		// Closed cleanly but still lingering: re-ack a retransmitted END
		// whose ack was lost, so the peer does not time out.
		if c.finished && isData {
			c.sendAck()
		}
		return nil, false
	}
	if h.Type&TypeHeartbeat != 0 {
		c.sendAck() // a heartbeat's other fields are not looked at
		return nil, false
	}
	payload, err := Payload(h, b)
	if err != nil {
		return nil, false // dropped whole: no data, no ack
	}
	if !h.Seq.Less(c.rcv.nxt) {
		if isData && c.rcv.onPacket(h.Seq, h.Type&TypeEnd != 0, payload) {
			c.stats.BytesReceived += int64(len(payload))
			c.wakeRead = true
		}
		if h.Type&TypeDestroy != 0 {
			c.fail(ErrReset)
			return nil, false
		}
	}
	if h.Type&TypeMessage != 0 {
		msg, isMsg = payload, true
	}
	// An ack beyond anything sent makes libudx stop here: the data is kept
	// but not acked (udx.md §3.2).
	if c.onAck(h, b[HeaderSize:], now) && isData {
		c.sendAck()
	}
	c.checkFinished()
	return msg, isMsg
}

// checkFinished closes the stream cleanly once both directions are done:
// the peer's END was received in order and ours was acked.
func (c *conn) checkFinished() {
	if !c.closed && c.rcv.eof && c.snd.ended {
		c.finished = true
		c.close(nil)
	}
}

// fail ends the stream with err (ErrReset, ErrTimeout), dropping unread data.
func (c *conn) fail(err error) {
	c.rcv.release()
	c.close(err)
}

func (c *conn) close(err error) {
	c.closed, c.err = true, err
	c.snd.stop()
	c.wakeRead, c.wakeWrite = true, true
}

// destroy aborts the stream from this side: one DESTROY if connected, not
// retransmitted (udx.md §2.5).
func (c *conn) destroy() {
	if c.closed {
		return
	}
	if c.connected {
		c.sendControl(TypeDestroy)
		c.snd.nxt++
	}
	c.rcv.release()
	c.close(nil)
}

// afterRead is called after the application read from the buffer: if the
// window had nearly closed and has now reopened, tell the sender.
func (c *conn) afterRead() {
	if c.connected && !c.closed && c.lastWnd < recvWindow/4 && c.rcv.window() >= recvWindow/2 {
		c.sendAck()
	}
}

// deadline returns when onTimer is next due; zero means never.
func (c *conn) deadline() time.Time {
	if c.closed {
		return time.Time{}
	}
	return c.snd.deadline()
}
