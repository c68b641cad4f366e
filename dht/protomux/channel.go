package protomux

import (
	"context"
	"slices"
)

// ChannelOptions configure a channel made with [Mux.CreateChannel].
type ChannelOptions struct {
	// Protocol and ID name the channel. A channel pairs with the peer's
	// channel of the same protocol and id (nil and empty are the same id).
	Protocol string
	ID       []byte

	// Multiple allows more than one open channel of this protocol and id
	// (the reference's unique: false); they pair with the peer's in the
	// order both sides open them.
	Multiple bool

	// OnOpen is called once both sides have opened the channel, with the
	// handshake the peer sent in its open message (the bytes after its
	// protocol and id, empty if it sent none). It runs before any message
	// of the channel is handled.
	OnOpen func(ch *Channel, handshake []byte)

	// OnClose is called once when the channel closes: remote is false when
	// it closed by [Channel.Close], true when the peer closed or rejected it
	// or the Mux ended.
	OnClose func(ch *Channel, remote bool)
}

// Channel is one protocol session on a [Mux]. Make it with
// [Mux.CreateChannel], add its message types with [AddMessage], then
// [Channel.Open] it. Its methods are safe for concurrent use.
type Channel struct {
	m        *Mux
	opts     ChannelOptions
	id       []byte // nil or non-empty
	openedCh chan struct{}
	done     chan struct{}

	// Guarded by m.mu.
	info     *info
	localID  uint64                 // our id for it; 0 before Open
	remoteID uint64                 // the peer's id for it; 0 before pairing
	handlers []func(p []byte) error // by message type
	opened   bool                   // OnOpen ran
	isClosed bool
	err      error // why it closed
}

// CreateChannel makes a channel. When the peer has opened a channel of
// this protocol and id that nothing here has taken (from a Pair handler),
// the new channel pairs with it. It fails with ErrDuplicateChannel when a
// channel of this protocol and id is open and opts.Multiple is not set, and
// with ErrClosed when the Mux has ended.
func (m *Mux) CreateChannel(opts ChannelOptions) (*Channel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dead {
		return nil, ErrClosed
	}
	in := m.infoLocked(opts.Protocol, opts.ID)
	if !opts.Multiple && in.opened > 0 {
		return nil, ErrDuplicateChannel
	}
	ch := &Channel{m: m, opts: opts, info: in, openedCh: make(chan struct{}), done: make(chan struct{})}
	if len(opts.ID) > 0 {
		ch.id = slices.Clone(opts.ID)
	}
	m.channels[ch] = struct{}{}
	for len(in.incoming) > 0 {
		rid := in.incoming[0]
		in.incoming = in.incoming[1:]
		if r := m.remote[rid-1]; r != nil {
			ch.remoteID, r.ch = rid, ch
			break
		}
	}
	return ch, nil
}

// Pair has notify called when the peer opens a channel of protocol and id
// that no channel here is waiting for; a nil id catches every id of the
// protocol not paired by its own handler. notify runs on the dispatch
// goroutine with the peer's id; to accept, it calls CreateChannel, which
// pairs with the peer's channel, and Open. If it returns without doing so
// the peer's channel is rejected, as it is when there is no handler.
func (m *Mux) Pair(protocol string, id []byte, notify func(id []byte)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notify[key{protocol, string(id)}] = notify
}

// Unpair removes the handler Pair set for protocol and id.
func (m *Mux) Unpair(protocol string, id []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.notify, key{protocol, string(id)})
}

// Opened reports whether a channel of protocol and id is open here (opened,
// not necessarily paired yet).
func (m *Mux) Opened(protocol string, id []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	in := m.infos[key{protocol, string(id)}]
	return in != nil && in.opened > 0
}

// Protocol returns the channel's protocol name.
func (ch *Channel) Protocol() string { return ch.opts.Protocol }

// ID returns the channel's id, nil if it has none. Do not modify it.
func (ch *Channel) ID() []byte { return ch.id }

// Mux returns the Mux the channel belongs to.
func (ch *Channel) Mux() *Mux { return ch.m }

// Opened is closed once both sides have opened the channel and OnOpen has
// returned.
func (ch *Channel) Opened() <-chan struct{} { return ch.openedCh }

// Done is closed when the channel closes. OnClose may run a moment later.
func (ch *Channel) Done() <-chan struct{} { return ch.done }

// Err returns why the channel closed: nil while it is not closed,
// ErrChannelClosed when either side closed it, ErrRejected when the peer
// refused it, or the Mux's error (ErrClosed when it was closed or ended
// cleanly).
func (ch *Channel) Err() error {
	ch.m.mu.Lock()
	defer ch.m.mu.Unlock()
	return ch.err
}

// WaitOpen waits until the channel is open on both sides (nil), it closes
// (its Err), or ctx is done.
func (ch *Channel) WaitOpen(ctx context.Context) error {
	select {
	case <-ch.openedCh:
		return nil
	case <-ch.done:
		select {
		case <-ch.openedCh:
			return nil
		default:
			return ch.Err()
		}
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Open opens the channel: it sends the open message with handshake (raw
// bytes in the protocol's handshake encoding; nil for none). Messages can
// be sent from now on; the peer holds them until its side is open. Add the
// message types before Open: messages of a type not added yet are dropped.
func (ch *Channel) Open(handshake []byte) error {
	m := ch.m
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.dead:
		return ErrClosed
	case ch.isClosed:
		return ch.err
	case ch.localID != 0:
		return ErrAlreadyOpen
	}
	var idx uint64
	if n := len(m.free); n > 0 {
		idx = m.free[n-1]
		m.free = m.free[:n-1]
	} else {
		idx = uint64(len(m.local))
		m.local = append(m.local, nil)
	}
	body := appendOpen(nil, openMsg{channel: idx + 1, protocol: ch.opts.Protocol, id: ch.id, handshake: handshake})
	if err := m.writeLocked(0, body); err != nil {
		m.free = append(m.free, idx)
		return err
	}
	// The record may have been dropped since CreateChannel when it was idle.
	in := m.infoLocked(ch.opts.Protocol, ch.id)
	ch.info = in
	in.opened++
	ch.localID = idx + 1
	m.local[idx] = ch
	if ch.remoteID == 0 {
		in.outgoing = append(in.outgoing, ch.localID)
		return nil
	}
	// Paired with the peer's open already: open on the dispatch goroutine,
	// after what it is doing, as the reference opens on its next tick.
	hs := m.remote[ch.remoteID-1].handshake
	m.addTaskLocked(func() {
		if err := m.openChannel(ch, hs); err != nil {
			m.fail(err)
		}
	})
	return nil
}

// Close closes the channel and tells the peer. OnClose runs on the dispatch
// goroutine. It is idempotent and returns nil.
func (ch *Channel) Close() error {
	m := ch.m
	m.mu.Lock()
	defer m.mu.Unlock()
	lid := ch.localID
	if !m.closeLocked(ch, ErrChannelClosed) {
		return nil
	}
	if lid != 0 {
		m.writeLocked(0, appendControlID(nil, controlClose, lid))
	}
	m.addTaskLocked(func() { ch.notifyClosed(false) })
	return nil
}

// notifyClosed calls OnClose; on the dispatch goroutine.
func (ch *Channel) notifyClosed(remote bool) {
	if ch.opts.OnClose != nil {
		ch.opts.OnClose(ch, remote)
	}
}

// addHandler adds a message type whose payloads go to h and returns its
// number.
func (ch *Channel) addHandler(h func(p []byte) error) uint64 {
	ch.m.mu.Lock()
	defer ch.m.mu.Unlock()
	ch.handlers = append(ch.handlers, h)
	return uint64(len(ch.handlers) - 1)
}

// handlerLocked returns the handler of message type typ, or nil.
func (ch *Channel) handlerLocked(typ uint64) func([]byte) error {
	if typ < uint64(len(ch.handlers)) {
		return ch.handlers[typ]
	}
	return nil
}

// send sends one message body (type and payload) on the channel.
func (ch *Channel) send(body []byte) error {
	m := ch.m
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case ch.isClosed:
		return ch.err
	case ch.localID == 0:
		return ErrNotOpen
	}
	return m.writeLocked(ch.localID, body)
}

// infoLocked returns the record of protocol and id, made if there is none.
func (m *Mux) infoLocked(protocol string, id []byte) *info {
	k := key{protocol, string(id)}
	in := m.infos[k]
	if in == nil {
		in = &info{key: k}
		m.infos[k] = in
	}
	return in
}

// gcLocked drops the record in when nothing refers to it any more.
func (m *Mux) gcLocked(in *info) {
	if in.opened > 0 || in.pairing > 0 || len(in.incoming) > 0 || len(in.outgoing) > 0 {
		return
	}
	if m.infos[in.key] == in {
		delete(m.infos, in.key)
	}
}

// closeLocked marks ch closed with err and frees what it held; it reports
// false if ch was closed already. The caller sends what the close needs
// and calls notifyClosed.
func (m *Mux) closeLocked(ch *Channel, err error) bool {
	if ch.isClosed {
		return false
	}
	ch.isClosed, ch.err = true, err
	delete(m.channels, ch)
	in := ch.info
	switch {
	case ch.localID != 0:
		in.opened--
		if ch.remoteID != 0 {
			// The peer's open came: its slot and our id are free now. Until
			// it comes, the id stays taken, or a reuse could pair wrongly.
			m.dropRemoteLocked(ch.remoteID)
			m.free = append(m.free, ch.localID-1)
		}
		m.local[ch.localID-1] = nil
	case ch.remoteID != 0:
		// Paired with the peer's open but never opened here: refuse it so
		// the peer's side closes too (the reference leaves it hanging).
		m.rejectLocked(ch.remoteID)
	}
	m.gcLocked(in)
	close(ch.done)
	return true
}

// dropRemoteLocked frees the peer's channel id and what it held.
func (m *Mux) dropRemoteLocked(id uint64) {
	r := m.remote[id-1]
	if r == nil {
		return
	}
	for _, p := range r.pending {
		m.buffered -= pendingCost(p.payload)
	}
	m.remote[id-1] = nil
}

// rejectLocked refuses the peer's channel id.
func (m *Mux) rejectLocked(id uint64) {
	m.dropRemoteLocked(id)
	m.writeLocked(0, appendControlID(nil, controlReject, id))
}
