package dht

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"sync"
	"time"

	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// Announcer schedule (hyperdht lib/announcer.js): every 3 s the relays are pinged; after 100
// rounds (about 5 minutes), or as soon as fewer than minActiveRelays of them answer, the
// server announces itself again. [Server.Refresh] (which the node calls on a network change)
// announces at once.
//
// Two triggers are ours, not the reference's, and change nothing on the wire. A relay
// forwards handshakes to the address our ANNOUNCE came from, so when a ping's answer shows
// that a relay now sees us at another address (the router's public address changed, or its
// mapping was renewed with another port), the relays are stale and the server announces
// again at once; the reference keeps them until its next scheduled announce. And an announce
// that reached no relay is retried after 3 s, doubling to the 5 minutes, where the reference
// waits the full 5 minutes.
const (
	relayPingInterval = 3 * time.Second
	relayPingRounds   = 100
	minActiveRelays   = 3
	announceRelays    = 3 // nodes a server announces to: the first of the closest replies
)

// announcer keeps a server's announcement alive at the nodes closest to its key: the relays,
// which forward handshakes to it.
type announcer struct {
	n      *Node
	kp     KeyPair
	target [32]byte

	mu       sync.Mutex
	relays   []records.RelayInfo               // guarded by mu; relay and our address as it sees us
	addrs    []netip.AddrPort                  // guarded by mu; shared in handshakes (at most 3)
	closest  []netip.AddrPort                  // guarded by mu; seeds the next query
	current  map[netip.AddrPort]bool           // guarded by mu; the relays announced to
	previous map[netip.AddrPort]bool           // guarded by mu; the relays of the update before
	older    map[netip.AddrPort]bool           // guarded by mu; and of the one before that
	seen     map[netip.AddrPort]netip.AddrPort // guarded by mu; current relay -> our address as it saw us
	updates  int                               // guarded by mu; updates done, for tests
	stopped  bool
	wake     chan struct{} // refresh
	loopDone chan struct{}
	// ctx ends at stop: it cancels the loop's announce round under way.
	ctx    context.Context
	cancel context.CancelFunc
}

func newAnnouncer(n *Node, kp KeyPair, target [32]byte) *announcer {
	a := &announcer{
		n: n, kp: kp, target: target,
		current: map[netip.AddrPort]bool{}, previous: map[netip.AddrPort]bool{}, older: map[netip.AddrPort]bool{},
		wake: make(chan struct{}, 1), loopDone: make(chan struct{}),
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a
}

// start runs the first announcement, then the background loop.
func (a *announcer) start(ctx context.Context) error {
	err := a.update(ctx)
	go a.loop()
	return err
}

// relayAddrs returns the addresses a server shares in handshake answers.
func (a *announcer) relayAddrs() []netip.AddrPort {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]netip.AddrPort(nil), a.addrs...)
}

func (a *announcer) refresh() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// update finds the nodes closest to the target and announces to the first three.
func (a *announcer) update(ctx context.Context) error {
	a.mu.Lock()
	seeds := a.closest
	a.mu.Unlock()
	res, err := a.n.rpc.Query(ctx, ktable.ID(a.target), records.CmdFindPeer, nil, &rpc.QueryOptions{Nodes: seeds})
	if err != nil {
		return err
	}
	picked := res.Closest
	if len(picked) > announceRelays {
		picked = picked[:announceRelays]
	}
	var addrs []netip.AddrPort
	if public, ok := a.n.rpc.RemoteAddr(); ok {
		addrs = append(addrs, public)
	}
	var relays []records.RelayInfo
	current := map[netip.AddrPort]bool{}
	seen := map[netip.AddrPort]netip.AddrPort{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	peer := records.Peer{PublicKey: a.kp.PublicKey}
	for _, r := range picked {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a.n.requestAnnounce(ctx, records.CmdAnnounce, a.target, a.kp, peer, 0, r) != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if len(addrs) < announceRelays {
				addrs = append(addrs, r.From)
			}
			if r.To.Addr().Unmap().Is4() {
				relays = append(relays, records.RelayInfo{RelayAddress: r.From, PeerAddress: r.To})
			}
			current[r.From] = true
			seen[r.From] = r.To
		}()
	}
	wg.Wait()

	a.mu.Lock()
	gone := a.cycleLocked(current)
	a.relays, a.addrs, a.closest, a.seen = relays, addrs, res.ClosestNodes(), seen
	a.updates++
	a.mu.Unlock()
	a.unannounceAt(ctx, gone)
	return nil
}

// cycleLocked makes current the relays announced to and returns those of the last update
// that are not among them, to unannounce at.
func (a *announcer) cycleLocked(current map[netip.AddrPort]bool) (gone map[netip.AddrPort]bool) {
	gone = map[netip.AddrPort]bool{}
	for addr := range a.current {
		if !current[addr] {
			gone[addr] = true
		}
	}
	a.older, a.previous, a.current = a.previous, a.current, current
	return gone
}

// unannounceAt removes the announcement from the given nodes: each is asked for a fresh
// token with FIND_PEER, then sent a signed UNANNOUNCE.
func (a *announcer) unannounceAt(ctx context.Context, nodes map[netip.AddrPort]bool) {
	var wg sync.WaitGroup
	target := ktable.ID(a.target)
	peer := records.Peer{PublicKey: a.kp.PublicKey}
	for addr := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := a.n.rpc.Request(ctx, addr, rpc.Outgoing{Command: records.CmdFindPeer, Target: &target}, nil)
			if err != nil || r.Value == nil || !r.HasToken || !r.HasID {
				return
			}
			a.n.requestAnnounce(ctx, records.CmdUnannounce, a.target, a.kp, peer, 0, r)
		}()
	}
	wg.Wait()
}

// loop pings the relays and re-announces on schedule until stop: after relayPingRounds pings,
// when too few relays answer, when one sees us at a new address, on refresh, and (backing off)
// while the last announce reached no relay.
func (a *announcer) loop() {
	defer close(a.loopDone)
	ctx := a.ctx
	retry := relayPingInterval
	for {
		rounds := relayPingRounds
		if !a.announced() {
			// The last announce reached no relay (offline, or the network was still
			// changing): try again sooner than the schedule.
			rounds = int(retry / relayPingInterval)
			retry = min(2*retry, relayPingRounds*relayPingInterval)
		} else {
			retry = relayPingInterval
		}
		for i := 0; i < rounds; i++ {
			select {
			case <-ctx.Done():
				return
			case <-a.wake:
				i = rounds
				continue
			case <-time.After(relayPingInterval):
			}
			if !a.relaysCurrent(ctx) {
				break
			}
		}
		if ctx.Err() != nil {
			return
		}
		uctx, ucancel := context.WithTimeout(ctx, time.Minute)
		a.update(uctx)
		ucancel()
	}
}

// announced reports whether the last update announced to at least one relay.
func (a *announcer) announced() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.current) > 0
}

// relaysCurrent pings the current relays; it reports false when fewer than
// min(relays, minActiveRelays) answer, or when one of them now sees us at another address
// than the one our announce came from (where it forwards handshakes to).
func (a *announcer) relaysCurrent(ctx context.Context) bool {
	a.mu.Lock()
	seen := maps.Clone(a.seen)
	a.mu.Unlock()
	var alive int
	var moved bool
	var mu sync.Mutex
	var wg sync.WaitGroup
	for relay, us := range seen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := a.n.rpc.Ping(ctx, relay)
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			alive++
			if to := res.To; to.IsValid() && us.IsValid() && unmap(to) != unmap(us) {
				moved = true
			}
		}()
	}
	wg.Wait()
	if moved {
		a.n.log.Debug("dht: a relay sees this node at a new address; announcing again", "target", fmt.Sprintf("%x", a.target[:4]))
	}
	return !moved && alive >= min(len(seen), minActiveRelays)
}

// unmap returns a with an IPv4-mapped IPv6 host turned into IPv4.
func unmap(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// stop ends the loop and, when unannounce is set, removes the announcement from the current
// relays, bounded by ctx.
func (a *announcer) stop(ctx context.Context, unannounce bool) {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return
	}
	a.stopped = true
	a.cancel()
	nodes := a.current
	a.current = map[netip.AddrPort]bool{}
	a.mu.Unlock()
	<-a.loopDone
	if unannounce {
		a.unannounceAt(ctx, nodes)
	}
}
