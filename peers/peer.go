package peers

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/hyperlan/hyperlan/configs"
)

// peer is one member of the network other than this node: a configured [[peer]], or a key
// admitted by the network secret (found on the topic or dialled in). The data plane reads
// its active session and counters without locks; everything else is guarded by Engine.mu.
type peer struct {
	key configs.PublicKey

	active atomic.Pointer[session] // the session packets go through; nil when not connected

	txBytes, rxBytes     atomic.Uint64
	txPackets, rxPackets atomic.Uint64
	lastSeen             atomic.Int64 // unix nanoseconds of the last packet or frame from it

	// Guarded by Engine.mu.
	name       string
	configured bool
	cfg        configs.Peer   // when configured
	hello      *hello         // the last hello of the active session, nil before one
	joined     time.Time      // when a secret member first came up; orders address claims
	allowed    []netip.Prefix // what the table gives it (addresses and routes), set by rebuild
	found      time.Time      // last seen in a topic lookup
	relays     []netip.AddrPort
	dialing    context.CancelFunc // non-nil while a dial runs
	nextDial   time.Time
	failures   int // dial failures and short sessions in a row
	sessions   int // sessions that came up
	lastErr    string
	refused    time.Time // refused as a non-member until then
}

// timing holds the engine's intervals. Tests shorten none of them: scenario tests run in
// virtual time.
type timing struct {
	handshake     time.Duration // for the auth and hello exchange
	ping          time.Duration // between pings on an idle session
	probePings    int           // pings at probePing when a session starts
	probePing     time.Duration // (they drive the UDX MTU search)
	dead          time.Duration // a session with nothing read for this long is dead
	dialTimeout   time.Duration
	backoffMin    time.Duration
	backoffMax    time.Duration
	punchRetry    time.Duration // the back-off after an aborted holepunch, at most
	tieDelay      time.Duration // how long the higher key waits before dialling
	tieWindow     time.Duration // sessions that came up within this of each other are a dual dial
	stable        time.Duration // a session that lasted this long resets the back-off
	lookup        time.Duration // between topic lookups
	announce      time.Duration // between topic announcements
	memberTTL     time.Duration // a secret member not found for this long and not connected is forgotten
	refuse        time.Duration // a key that failed to prove membership is refused this long
	maxPending    int           // sessions in their handshake at once
	shutdownGrace time.Duration // for unannouncing at Close
	noJitter      bool          // back-offs without jitter (tests that need dials to coincide)
}

var defaultTiming = timing{
	handshake:     10 * time.Second,
	ping:          5 * time.Second,
	probePings:    12,
	probePing:     250 * time.Millisecond,
	dead:          20 * time.Second,
	dialTimeout:   30 * time.Second,
	backoffMin:    time.Second,
	backoffMax:    time.Minute,
	punchRetry:    5 * time.Second,
	tieDelay:      2 * time.Second,
	tieWindow:     10 * time.Second,
	stable:        30 * time.Second,
	lookup:        30 * time.Second,
	announce:      5 * time.Minute,
	memberTTL:     10 * time.Minute,
	refuse:        10 * time.Minute,
	maxPending:    64,
	shutdownGrace: 2 * time.Second,
}

// wantedLocked reports whether the engine should keep a connection to p.
func (p *peer) wantedLocked(now time.Time, t timing) bool {
	if p.configured {
		return true
	}
	if now.Before(p.refused) {
		return false
	}
	return !p.found.IsZero() && now.Sub(p.found) < t.memberTTL
}

// backoffLocked schedules the next dial after a failure (or a session that ended): the
// delay doubles with each failure in a row, from backoffMin to backoffMax, with up to 25%
// of jitter so that members that lost each other do not dial in lockstep.
func (p *peer) backoffLocked(now time.Time, t timing) {
	d := t.backoffMin
	for i := 1; i < p.failures && d < t.backoffMax; i++ {
		d *= 2
	}
	d = min(d, t.backoffMax)
	if !t.noJitter {
		d += rand.N(d/4 + 1)
	}
	p.nextDial = now.Add(d)
}
