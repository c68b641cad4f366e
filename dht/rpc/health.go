package rpc

// health tracks whether the node is online and whether too many requests time out, over a
// window of the last four ticks (dht-rpc lib/health.js). Guarded by Node.mu.
type health struct {
	window   [healthWindow]healthSample
	filled   int
	head     int
	offline  int // consecutive offline ticks
	degraded int // degraded ticks in the window
	healthy  int // healthy ticks in the window
}

type healthSample struct {
	responses, timeouts int
	judged              bool // the tick had enough events to be judged
	offline, degraded   bool
}

const (
	healthWindow      = 4
	offlineThreshold  = 2
	idleThreshold     = 4
	degradedRateLimit = 0.5
)

// updateHealthLocked takes this tick's sample and updates online/degraded, emitting
// network-update on a change.
func (n *Node) updateHealthLocked() {
	h := &n.health
	next := (h.head + 1) % healthWindow
	if h.filled == healthWindow {
		if old := h.window[next]; old.judged {
			if old.degraded {
				h.degraded--
			} else if !old.offline {
				h.healthy--
			}
		}
	}
	prev := h.window[h.head]
	h.head = next
	cur := healthSample{responses: n.stats.Requests.Responses, timeouts: n.stats.Requests.Timeouts}
	if h.filled < healthWindow {
		h.filled++
	}
	if h.filled < healthWindow {
		h.window[h.head] = cur
		return
	}
	responses := cur.responses - prev.responses
	timeouts := cur.timeouts - prev.timeouts
	if responses+timeouts < idleThreshold {
		h.window[h.head] = cur
		return
	}
	cur.judged = true
	cur.offline = responses == 0
	rate := 0.0
	if timeouts > 0 {
		rate = float64(timeouts) / float64(responses+timeouts)
	}
	cur.degraded = !cur.offline && rate > degradedRateLimit
	h.window[h.head] = cur
	if cur.offline {
		h.offline++
	} else {
		h.offline = 0
		if cur.degraded {
			h.degraded++
		} else {
			h.healthy++
		}
	}
	online, degraded := n.online, n.degraded
	if !cur.offline {
		online = true
	} else if h.offline >= offlineThreshold {
		online = false
	}
	if !online || h.healthy == healthWindow {
		degraded = false
	} else if h.degraded == healthWindow {
		degraded = true
	}
	n.setHealthLocked(online, degraded)
}

func (n *Node) setHealthLocked(online, degraded bool) {
	if n.online == online && n.degraded == degraded {
		return
	}
	n.online, n.degraded = online, degraded
	n.events.emit(Event{Kind: EventNetworkUpdate})
}
