package peers

import (
	"context"
	"errors"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/dht"
)

// Blind relays. Members that cannot punch through to each other (both behind NATs that give
// a new port to every destination) reach each other through a blind relay named in
// dht.relay_through: both the VPN's server and every dial name one (dht.Relays picks one of
// the list at random per connection), and dht pairs the two sides at the relay while they
// punch; the first path found carries the session, and a relayed connection moves to a
// direct path when a later punch succeeds (onUpgrade). The relay forwards the session's
// ciphertext and cannot read it. A member with node.relay serves as one itself, on a key
// pair of its own (configs.RelaySeed), beside its VPN server.

// routineRelay serves the node's blind relay: it retries until the relay's first
// announcement succeeds, like the VPN server's Listen.
func (e *Engine) routineRelay() {
	defer e.wg.Done()
	key := configs.PublicKey(e.relayKP.PublicKey)
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		ctx, cancel := context.WithTimeout(e.ctx, e.timing.dialTimeout)
		r, err := e.node.ServeBlindRelay(ctx, *e.relayKP)
		cancel()
		if err == nil {
			e.mu.Lock()
			closing := e.closing
			if !closing {
				e.relay = r
			}
			e.mu.Unlock()
			if closing {
				ctx, cancel := context.WithTimeout(context.Background(), e.timing.shutdownGrace)
				r.Close(ctx)
				cancel()
				return
			}
			e.log.Info("serving as a blind relay", "relay_key", key)
			return
		}
		if e.ctx.Err() != nil {
			return
		}
		if errors.Is(err, dht.ErrKeyPairAlreadyUsed) {
			// Another server of the node has the relay's key: nothing a retry changes.
			e.log.Error("blind relay", "relay_key", key, "err", err)
			return
		}
		e.log.Warn("blind relay", "relay_key", key, "err", err, "retry", wait)
		if !e.sleep(wait) {
			return
		}
	}
}

// onUpgrade is the DHT's OnUpgrade, of dials and accepted connections alike: a connection
// that started through a relay moved to a direct path.
func (e *Engine) onUpgrade(c *dht.Conn, info dht.ConnInfo) {
	name := shortKey(configs.PublicKey(c.RemotePublicKey()))
	if v, ok := e.conns.Load(c); ok {
		s := v.(*session)
		e.mu.Lock()
		if p := s.peer; p != nil {
			name = p.name
		}
		e.mu.Unlock()
	}
	e.log.Info("peer moved from the relay to a direct path", "peer", name, "key", configs.PublicKey(c.RemotePublicKey()),
		"path", info.String())
}

// RelayStatus is the blind relay this node serves (node.relay).
type RelayStatus struct {
	PublicKey configs.PublicKey `json:"public_key"` // what the others name in dht.relay_through
	Serving   bool              `json:"serving"`    // announced on the DHT
	Sessions  int               `json:"sessions"`   // connections of members to it, since it started
	Pairings  int               `json:"pairings"`   // pairs of streams it joined
	Active    int               `json:"active"`     // pairs relayed now
}

// relayStatusLocked returns the status of the relay this node serves, nil when it serves
// none.
func (e *Engine) relayStatusLocked() *RelayStatus {
	if e.relayKP == nil {
		return nil
	}
	rs := &RelayStatus{PublicKey: configs.PublicKey(e.relayKP.PublicKey)}
	if e.relay != nil {
		st := e.relay.Stats()
		rs.Serving, rs.Sessions, rs.Pairings, rs.Active = true, st.SessionsAccepted, st.PairingsMatched, st.PairingsActive
	}
	return rs
}
