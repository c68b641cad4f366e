package rpc

import (
	mrand "math/rand/v2"
	"net/netip"
	"time"
)

func randIntN(n int) int { return mrand.IntN(n) }

// onTick is the 5 s housekeeping (dht-rpc index.js _ontick): sleep detection, the adaptive
// persistence check, the ping sweep every 8 ticks, refreshes, the DOWN_HINT budget and the
// health window.
func (n *Node) onTick() {
	now := time.Now()
	n.mu.Lock()
	if now.Round(0).Sub(n.lastTick.Round(0)) > sleepingGap {
		n.wakeupLocked()
	} else {
		n.tick++
	}
	n.lastTick = now
	if !n.bootstrapped || n.destroyed {
		n.mu.Unlock()
		return
	}
	checkNetwork := false
	if n.adaptive && n.ephemeral {
		if n.stableTicks--; n.stableTicks <= 0 {
			if n.lastHost == n.nat.host {
				n.stableTicks = moreStableTicks
			} else {
				checkNetwork = true
				n.stableTicks = moreStableTicks // updateNetworkState sets it too
			}
		}
	}
	refresh := false
	if n.tick&7 == 0 {
		refresh = n.pingSomeLocked()
	}
	if n.tick&63 == 0 && n.nodes.n < n.table.K() {
		refresh = true
	}
	if n.refreshTicks--; n.refreshTicks <= 0 {
		refresh = true
	}
	n.downHintsSent = 0
	n.updateHealthLocked()
	n.mu.Unlock()

	if refresh {
		n.Refresh()
	}
	if checkNetwork {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.updateNetworkState(false)
		}()
	}
}

// pingSomeLocked checks a few of the least recently seen nodes; with no nodes at all it asks
// for a refresh instead.
func (n *Node) pingSomeLocked() (refresh bool) {
	cnt := 5
	if len(n.inflight) > 2 {
		cnt = 3
	}
	oldest := n.nodes.oldest
	if oldest == nil {
		return true
	}
	if n.tick-oldest.pinged < recentNode {
		cnt = 2
	}
	var batch []*peer
	for ; cnt > 0; cnt-- {
		if oldest == nil || n.tick == oldest.pinged {
			continue
		}
		batch = append(batch, oldest)
		oldest = oldest.next
	}
	for _, p := range batch {
		n.checkLocked(p)
	}
	return false
}

// wakeupLocked handles a detected sleep: every node looks old, a ping sweep runs two ticks
// later, a refresh on the next tick, and an adaptive node goes back to ephemeral.
func (n *Node) wakeupLocked() {
	n.tick += 2 * oldNode
	n.tick += 8 - (n.tick & 7) - 2
	n.stableTicks = moreStableTicks
	n.refreshTicks = 1
	n.lastHost = netip.Addr{}
	n.health = health{}
	n.setHealthLocked(true, false)
	if n.adaptive && !n.ephemeral {
		n.ephemeral = true
		n.events.emit(Event{Kind: EventEphemeral})
	}
	n.events.emit(Event{Kind: EventWakeup})
}
