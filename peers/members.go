package peers

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/routing"
)

// Membership: who the members are (configured peers, and keys found on the topic that then
// prove the secret), when to dial them, and who may dial us.

// maxRefused bounds the memory of refused keys.
const maxRefused = 4096

// routineManage dials the members that need it when they are due and brings the router up
// to date, each time something changes (poke) or a dial falls due.
func (e *Engine) routineManage() {
	defer e.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.wake:
		case <-t.C:
		}
		next := e.step(time.Now())
		t.Reset(time.Until(next))
	}
}

// step starts the dials that are due, forgets members that are gone and applies a changed
// router config. It returns when it wants to run next.
func (e *Engine) step(now time.Time) time.Time {
	next := now.Add(time.Minute)
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		return next
	}
	for key, p := range e.peers {
		if p.active.Load() != nil || p.dialing != nil {
			continue
		}
		if !e.wantedLocked(p, now) {
			if !p.configured {
				delete(e.peers, key)
			}
			continue
		}
		if p.nextDial.IsZero() {
			p.nextDial = now
			if bytes.Compare(e.self[:], key[:]) > 0 {
				// Both sides may dial; the higher key gives the lower one a head start, so that
				// one connection usually comes up and the tie-break rarely has to choose.
				p.nextDial = now.Add(e.timing.tieDelay)
			}
		}
		if now.Before(p.nextDial) {
			next = minTime(next, p.nextDial)
			continue
		}
		ctx, cancel := context.WithTimeout(e.ctx, e.timing.dialTimeout)
		p.dialing = cancel
		e.wg.Add(1)
		go e.routineDial(ctx, p, p.relays)
	}
	var apply *routing.Config
	if e.dirty {
		e.dirty = false
		c := e.routerConfigLocked()
		if e.routes == nil || !sameConfig(*e.routes, c) {
			e.routes, apply = &c, &c
		}
	}
	e.mu.Unlock()
	if apply != nil {
		if err := e.router.Set(*apply); err != nil {
			e.log.Error("router", "err", err)
		}
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// wantedLocked reports whether the engine should keep a connection to p.
func (e *Engine) wantedLocked(p *peer, now time.Time) bool {
	if p.configured {
		return true
	}
	if until, ok := e.refused[p.key]; ok && now.Before(until) {
		return false
	}
	return !p.found.IsZero() && now.Sub(p.found) < e.timing.memberTTL
}

// routineDial connects to p. The session it opens installs itself; a failure schedules the
// next attempt.
func (e *Engine) routineDial(ctx context.Context, p *peer, relays []netip.AddrPort) {
	defer e.wg.Done()
	c, err := e.node.Connect(ctx, p.key, &dht.ConnectOptions{KeyPair: e.kp, Nodes: relays, OnMessage: e.onDatagram,
		RelayThrough: e.relayThrough, OnUpgrade: e.onUpgrade})
	e.mu.Lock()
	if cancel := p.dialing; cancel != nil {
		cancel()
		p.dialing = nil
	}
	if err != nil {
		if p.active.Load() == nil && e.ctx.Err() == nil {
			p.failures++
			p.lastErr = "dial: " + err.Error()
			p.backoffLocked(time.Now(), e.timing)
			if errors.Is(err, dht.ErrHolepunchAborted) && !errors.Is(err, dht.ErrHolepunchDoubleRandomizedNATs) {
				// Mostly the random-punch limit of one side (dht.Options.RandomPunchInterval),
				// which lifts within seconds: a long back-off would only delay the next try.
				p.nextDial = minTime(p.nextDial, time.Now().Add(e.timing.punchRetry))
			}
			e.log.Debug("dial failed", "peer", p.name, "err", err, "retry", time.Until(p.nextDial).Round(time.Millisecond))
		}
		e.mu.Unlock()
		e.poke()
		return
	}
	e.mu.Unlock()
	if !e.startSession(c) {
		c.Close()
	}
}

// routineDiscover listens (retrying until the DHT answers), then, on a network with a secret,
// announces the node on the topic and looks the topic up, again and again.
func (e *Engine) routineDiscover() {
	defer e.wg.Done()
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		e.mu.Lock()
		srv := e.server
		e.mu.Unlock()
		err := srv.Listen(e.ctx, e.kp)
		if err == nil {
			e.mu.Lock()
			e.listened = true
			e.mu.Unlock()
			e.log.Info("listening", "key", e.self)
			break
		}
		if e.ctx.Err() != nil {
			return
		}
		if errors.Is(err, dht.ErrKeyPairAlreadyUsed) || errors.Is(err, dht.ErrAlreadyListening) {
			e.fail(err)
			return
		}
		e.log.Warn("listen", "err", err, "retry", wait)
		if !e.sleep(wait) {
			return
		}
		// A failed Listen (its first announcement failed) has closed the server: listen
		// again on a new one.
		e.mu.Lock()
		if e.closing {
			e.mu.Unlock()
			return
		}
		e.server = e.newServer()
		e.mu.Unlock()
		srv.Close(e.ctx)
	}
	if e.secret == nil {
		return
	}
	var nextAnnounce time.Time
	for {
		if now := time.Now(); !now.Before(nextAnnounce) {
			ctx, cancel := context.WithTimeout(e.ctx, e.timing.dialTimeout)
			_, err := e.node.Announce(ctx, e.topic, e.kp, nil, nil)
			cancel()
			if err == nil {
				e.mu.Lock()
				e.announced = now
				e.mu.Unlock()
				nextAnnounce = now.Add(e.timing.announce)
			} else {
				if e.ctx.Err() != nil {
					return
				}
				e.log.Warn("announce", "err", err)
				nextAnnounce = now.Add(e.timing.lookup)
			}
		}
		ctx, cancel := context.WithTimeout(e.ctx, e.timing.dialTimeout)
		replies, err := e.node.Lookup(ctx, e.topic, nil)
		cancel()
		if err == nil {
			e.found(replies)
		} else if e.ctx.Err() == nil {
			e.log.Debug("lookup", "err", err)
		}
		d := e.timing.lookup
		if !e.sleep(d - d/4 + rand.N(d/2+1)) {
			return
		}
	}
}

// sleep waits for d, or returns false when the engine stops first.
func (e *Engine) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.ctx.Done():
		return false
	}
}

// found takes the members a topic lookup returned.
func (e *Engine) found(replies []dht.LookupReply) {
	now := time.Now()
	e.mu.Lock()
	changed := false
	for _, r := range replies {
		for _, rp := range r.Peers {
			key := configs.PublicKey(rp.PublicKey)
			if key == e.self {
				continue
			}
			p := e.peers[key]
			if p == nil {
				if until, ok := e.refused[key]; ok && now.Before(until) {
					continue
				}
				p = &peer{key: key, name: shortKey(key)}
				e.peers[key] = p
				changed = true
				e.log.Debug("found on the topic", "key", key)
			}
			p.found = now
			if len(rp.RelayAddresses) > 0 {
				p.relays = rp.RelayAddresses
			}
		}
	}
	e.mu.Unlock()
	if changed {
		e.poke()
	}
}

// shortKey names a member before its hello: the first 8 hex digits of its key.
func shortKey(k configs.PublicKey) string { return k.String()[:8] }

// firewall is the DHT server's: it returns true to refuse a key before any session is set
// up. Configured peers are let in; with a network secret, so is any other key (it must
// then prove the secret in the session) unless it failed to recently or too many
// handshakes are under way.
func (e *Engine) firewall(remote [32]byte, _ *records.NoisePayload, _ netip.AddrPort) bool {
	key := configs.PublicKey(remote)
	if key == e.self {
		return true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch p := e.peers[key]; {
	case e.closing:
		return true
	case p != nil && p.configured:
		return false
	case e.secret == nil:
		return true
	case e.pending >= e.timing.maxPending:
		return true
	}
	if until, ok := e.refused[key]; ok && time.Now().Before(until) {
		return true
	}
	return false
}

// isConfigured reports whether key is a configured peer.
func (e *Engine) isConfigured(key configs.PublicKey) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.peers[key]
	return p != nil && p.configured
}

// refuse remembers that key failed to prove membership: it is neither dialled nor let in
// for timing.refuse.
func (e *Engine) refuse(key configs.PublicKey) {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.refused) >= maxRefused {
		for k, until := range e.refused {
			if !now.Before(until) {
				delete(e.refused, k)
			}
		}
		if len(e.refused) >= maxRefused {
			clear(e.refused)
		}
	}
	e.refused[key] = now.Add(e.timing.refuse)
	if p := e.peers[key]; p != nil && !p.configured {
		p.lastErr = ErrNotMember.Error()
	}
	e.log.Warn("refused a key that is not a member", "key", key)
}

// reloadLocked makes list the configured peers and returns the sessions to close: those of
// members no longer configured that did not prove the secret.
func (e *Engine) reloadLocked(list []configs.Peer) []*session {
	want := make(map[configs.PublicKey]configs.Peer, len(list))
	for _, pc := range list {
		want[pc.PublicKey] = pc
	}
	var closing []*session
	for key, p := range e.peers {
		if pc, ok := want[key]; ok {
			p.configured, p.cfg, p.name = true, pc, pc.Name
			continue
		}
		if !p.configured {
			continue
		}
		p.configured, p.cfg = false, configs.Peer{}
		if s := p.active.Load(); s != nil {
			if s.proven {
				p.name = s.hello.name
			} else {
				closing = append(closing, s)
			}
		}
	}
	for key, pc := range want {
		delete(e.refused, key)
		if e.peers[key] == nil {
			e.peers[key] = &peer{key: key, name: pc.Name, configured: true, cfg: pc}
		}
	}
	e.rebuildLocked()
	return closing
}
