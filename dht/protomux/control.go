package protomux

import (
	"fmt"
	"slices"
)

// handleFrame handles one frame from the peer; an error ends the Mux. It
// runs on the dispatch goroutine.
func (m *Mux) handleFrame(f []byte) error {
	if len(f) == 0 {
		return nil
	}
	channel, typ, p, err := frameHead(f)
	if err != nil {
		return err
	}
	return m.dispatch(channel, typ, p, 0)
}

// dispatch handles one message: control messages on channel 0, else a
// message for the local channel paired with the peer's channel. Messages for
// channels that are not open are dropped, as are types with no handler.
func (m *Mux) dispatch(channel, typ uint64, p []byte, depth int) error {
	if channel == 0 {
		return m.control(typ, p, depth)
	}
	m.mu.Lock()
	r := m.remoteLocked(channel)
	if r == nil {
		m.mu.Unlock()
		return nil
	}
	if r.buffering {
		r.pending = append(r.pending, pendingMsg{typ, p})
		m.buffered += pendingCost(p)
		m.mu.Unlock()
		return nil
	}
	h := r.ch.handlerLocked(typ)
	m.mu.Unlock()
	if h == nil {
		return nil
	}
	return h(p)
}

// remoteLocked returns the slot of the peer's channel id, or nil.
func (m *Mux) remoteLocked(id uint64) *remoteSlot {
	if id == 0 || id > uint64(len(m.remote)) {
		return nil
	}
	return m.remote[id-1]
}

func (m *Mux) control(typ uint64, p []byte, depth int) error {
	switch typ {
	case controlBatch:
		return m.onBatch(p, depth)
	case controlOpen:
		return m.onOpen(p)
	case controlReject:
		return m.onReject(p)
	case controlClose:
		return m.onClose(p)
	}
	return nil // unknown control messages are ignored
}

// onBatch handles each message of a batch. While it does, the Mux is
// corked, so that the answers go back as a batch too, as in the reference;
// channels that open meanwhile open before the answers go.
func (m *Mux) onBatch(p []byte, depth int) error {
	if depth >= maxBatchDepth {
		return fmt.Errorf("%w: batches nested %d deep", ErrProtocol, depth+1)
	}
	corked := false
	defer func() {
		if corked {
			m.runTasks()
			m.Uncork()
		}
	}()
	return parseBatch(p, func(channel uint64, body []byte, more bool) error {
		if more && !corked {
			corked = true
			m.Cork()
		}
		typ, n, err := ParseUint(body)
		if err != nil {
			return err
		}
		return m.dispatch(channel, typ, body[n:], depth+1)
	})
}

// onOpen handles the peer opening a channel: it pairs with the oldest local
// channel of that protocol and id waiting for the peer, else waits for a
// Pair handler to make one, else is rejected.
func (m *Mux) onOpen(p []byte) error {
	o, err := parseOpen(p)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if o.channel == 0 {
		// Channel 0 is the control channel: refuse, as the reference does.
		m.writeLocked(0, appendControlID(nil, controlReject, 0))
		m.mu.Unlock()
		return nil
	}
	// Ids come in order: a new one is one past the highest, or a free one.
	n := uint64(len(m.remote))
	if o.channel > n+1 || o.channel <= n && m.remote[o.channel-1] != nil {
		m.mu.Unlock()
		return fmt.Errorf("%w: open of channel %d, which is in use or out of sequence", ErrProtocol, o.channel)
	}
	if o.channel > maxChannels {
		m.mu.Unlock()
		return fmt.Errorf("%w: more than %d channels", ErrProtocol, maxChannels)
	}
	if o.channel == n+1 {
		m.remote = append(m.remote, nil)
	}
	in := m.infoLocked(o.protocol, o.id)
	if len(in.outgoing) > 0 {
		lid := in.outgoing[0]
		in.outgoing = in.outgoing[1:]
		ch := m.local[lid-1]
		if ch == nil {
			// Closed here before the peer answered; the peer gets our close.
			m.free = append(m.free, lid-1)
			m.gcLocked(in)
			m.mu.Unlock()
			return nil
		}
		m.remote[o.channel-1] = &remoteSlot{ch: ch}
		ch.remoteID = o.channel
		m.mu.Unlock()
		return m.openChannel(ch, o.handshake)
	}
	m.remote[o.channel-1] = &remoteSlot{handshake: o.handshake, buffering: true}
	in.incoming = append(in.incoming, o.channel)
	in.pairing++
	notify := m.notify[key{o.protocol, string(o.id)}]
	if notify == nil {
		notify = m.notify[key{o.protocol, ""}]
	}
	m.mu.Unlock()
	if notify != nil {
		notify(o.id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	in.pairing--
	if in.pairing == 0 {
		for _, id := range in.incoming {
			m.rejectLocked(id)
		}
		in.incoming = nil
		m.gcLocked(in)
	}
	return nil
}

// openChannel finishes opening ch once both sides have sent open: OnOpen,
// then the messages held for it. It runs on the dispatch goroutine.
func (m *Mux) openChannel(ch *Channel, handshake []byte) error {
	m.mu.Lock()
	if ch.opened || ch.isClosed {
		m.mu.Unlock()
		return nil
	}
	m.mu.Unlock()
	if ch.opts.OnOpen != nil {
		ch.opts.OnOpen(ch, handshake)
	}
	m.mu.Lock()
	if ch.isClosed {
		m.mu.Unlock()
		return nil
	}
	r := m.remote[ch.remoteID-1]
	pending := r.pending
	r.pending, r.handshake, r.buffering = nil, nil, false
	for _, p := range pending {
		m.buffered -= pendingCost(p.payload)
	}
	m.mu.Unlock()
	for _, p := range pending {
		m.mu.Lock()
		closed, h := ch.isClosed, ch.handlerLocked(p.typ)
		m.mu.Unlock()
		if closed {
			break
		}
		if h != nil {
			if err := h(p.payload); err != nil {
				return err
			}
		}
	}
	m.mu.Lock()
	if !ch.isClosed && !ch.opened {
		ch.opened = true
		close(ch.openedCh)
	}
	m.mu.Unlock()
	return nil
}

// onReject handles the peer refusing one of our channels.
func (m *Mux) onReject(p []byte) error {
	lid, err := parseControlID(p)
	if err != nil {
		return err
	}
	m.mu.Lock()
	for _, in := range m.infos {
		i := slices.Index(in.outgoing, lid)
		if i < 0 {
			continue
		}
		in.outgoing = slices.Delete(in.outgoing, i, i+1)
		m.free = append(m.free, lid-1)
		ch := m.local[lid-1]
		closed := ch != nil && m.closeLocked(ch, ErrRejected)
		m.gcLocked(in)
		m.mu.Unlock()
		if closed {
			ch.notifyClosed(true)
		}
		return nil
	}
	m.mu.Unlock()
	return fmt.Errorf("%w: reject of channel %d, which is not waiting for the peer", ErrProtocol, lid)
}

// onClose handles the peer closing a channel.
func (m *Mux) onClose(p []byte) error {
	rid, err := parseControlID(p)
	if err != nil {
		return err
	}
	m.mu.Lock()
	r := m.remoteLocked(rid)
	if r == nil || r.ch == nil {
		m.mu.Unlock()
		return nil
	}
	ch := r.ch
	closed := m.closeLocked(ch, ErrChannelClosed)
	m.mu.Unlock()
	if closed {
		ch.notifyClosed(true)
	}
	return nil
}
