package peers

import (
	"bytes"
	"errors"
	"io"
	"net"
	"time"

	"github.com/hyperlan/hyperlan/dht"
)

// Sessions from connection to end: start, handshake, install (one per pair), end.

// accept is the DHT server's OnConnection.
func (e *Engine) accept(c *dht.Conn) {
	if !e.startSession(c) {
		c.Close()
	}
}

// startSession starts the session of a new connection, dialled or accepted; false when the
// engine is closing.
func (e *Engine) startSession(c *dht.Conn) bool {
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		return false
	}
	e.pending++
	e.wg.Add(1)
	e.mu.Unlock()
	s := newSession(e, c)
	e.conns.Store(c, s)
	go e.routineSession(s)
	return true
}

// routineSession owns a session: handshake, install, then its control stream until it ends.
func (e *Engine) routineSession(s *session) {
	defer e.wg.Done()
	err := s.handshake()
	e.mu.Lock()
	e.pending--
	e.mu.Unlock()
	if err == nil {
		err = e.install(s)
	}
	if err == nil {
		e.wg.Add(1)
		go s.routineKeep()
		err = s.readLoop()
	}
	s.close(err)
	e.sessionEnded(s)
}

// install makes s its member's active session, unless the member has one that wins the
// tie-break (see prefer), and updates the table. It returns why s is not installed.
func (e *Engine) install(s *session) error {
	now := time.Now()
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		return net.ErrClosed
	}
	p := e.peers[s.key]
	if p == nil || !p.configured {
		if !s.proven {
			// A configured peer that a reload removed during the handshake.
			e.mu.Unlock()
			return ErrNotMember
		}
		if p == nil {
			p = &peer{key: s.key}
			e.peers[s.key] = p
		}
	}
	s.peer, s.since = p, now
	old := p.active.Load()
	if old != nil && !prefer(old, s, e.timing.tieWindow) {
		e.mu.Unlock()
		return ErrReplaced
	}
	p.active.Store(s)
	if p.dialing != nil {
		p.dialing() // its connection would lose the tie-break or be a third
	}
	if !p.configured {
		p.name = s.hello.name
		if p.joined.IsZero() {
			p.joined = now
		}
	}
	p.hello = &s.hello
	p.sessions++
	p.lastErr = ""
	p.nextDial = time.Time{}
	e.rebuildLocked()
	s.ready.Store(true)
	p.lastSeen.Store(now.UnixNano())
	name := p.name
	e.mu.Unlock()
	if old != nil {
		old.close(ErrReplaced)
	}
	path, relayed := "direct", false
	if info, ok := e.node.ConnInfo(s.conn); ok {
		path, relayed = info.String(), info.Relayed()
	}
	e.log.Info("peer up", "peer", name, "key", s.key, "initiator", s.conn.IsInitiator(), "relayed", relayed, "path", path)
	e.poke()
	return nil
}

// prefer reports whether the new session replaces old; both sides of a pair decide alike.
// A dead old session loses, and so does one that came up long before (the member lost it
// and dialled again: restart, new address). Two sessions that came up together are a dual
// dial: the one dialled by the lower key wins, on both sides.
func prefer(old, s *session, window time.Duration) bool {
	switch {
	case old.closed():
		return true
	case s.since.Sub(old.since) > window:
		return true
	case old.initiator == s.initiator:
		return true
	}
	return bytes.Compare(s.initiator[:], old.initiator[:]) < 0
}

// sessionEnded cleans up after s: if it was its member's active session, the member is
// down and the next dial is scheduled.
func (e *Engine) sessionEnded(s *session) {
	e.conns.Delete(s.conn)
	err := s.reason()
	if err == nil {
		err = s.conn.Err()
	}
	now := time.Now()
	e.mu.Lock()
	p := e.peers[s.key]
	if p == nil {
		e.mu.Unlock()
		return
	}
	switch {
	case p.active.Load() == s:
		p.active.Store(nil)
		if now.Sub(s.since) >= e.timing.stable {
			p.failures = 0
		} else {
			p.failures++
		}
		p.lastErr = errText(err)
		p.backoffLocked(now, e.timing)
		p.hello = nil
		e.rebuildLocked()
		e.log.Info("peer down", "peer", p.name, "key", p.key, "err", p.lastErr)
	case s.peer == nil && p.active.Load() == nil && s.conn.IsInitiator():
		// Our dial connected but the session did not come up.
		p.failures++
		p.lastErr = "handshake: " + errText(err)
		p.backoffLocked(now, e.timing)
	}
	e.mu.Unlock()
	e.poke()
}

// errText describes why a session ended.
func errText(err error) string {
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return "closed by the remote"
	}
	return err.Error()
}

// ownHello is what this node tells members about itself.
func (e *Engine) ownHello() *hello {
	n := &e.cfg.Node
	return &hello{name: n.Name, ipv4: n.Address, ipv6: n.Address6, routes: n.Routes}
}

// updateHello takes a later hello of an active session.
func (e *Engine) updateHello(s *session, h hello) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := s.peer
	if p == nil || p.active.Load() != s {
		return
	}
	p.hello = &h
	if !p.configured {
		p.name = h.name
	}
	e.rebuildLocked()
}
