package rpc

import (
	"net/netip"

	"github.com/hyperlan/hyperlan/dht/ktable"
)

// peer is a routing-table entry. Ticks count the node's 5 s ticks. Guarded by Node.mu.
type peer struct {
	id        ktable.ID
	addr      netip.AddrPort
	to        netip.AddrPort // our address as this node last reported it
	sampled   int            // tick of the last NAT sample taken from it, 0 = never
	added     int
	pinged    int // last time we interacted with it
	seen      int // last time we heard from it
	downHints int

	prev, next *peer // membership in Node.nodes
	listed     bool
}

// tos is a time-ordered set: a doubly linked list from oldest to latest contact
// (npm time-ordered-set).
type tos struct {
	oldest, latest *peer
	n              int
}

// touch moves p to the latest end, adding it if absent.
func (t *tos) touch(p *peer) {
	t.remove(p)
	p.prev, p.next = t.latest, nil
	if t.latest != nil {
		t.latest.next = p
	} else {
		t.oldest = p
	}
	t.latest = p
	p.listed = true
	t.n++
}

func (t *tos) remove(p *peer) {
	if !p.listed {
		return
	}
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		t.oldest = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	} else {
		t.latest = p.prev
	}
	p.prev, p.next, p.listed = nil, nil, false
	t.n--
}

// NodeInfo describes a routing-table entry.
type NodeInfo struct {
	ID   ktable.ID
	Addr netip.AddrPort
}

// Nodes returns the routing table's nodes, most recently seen first (the reference's
// toArray). limit <= 0 means all.
func (n *Node) Nodes(limit int) []NodeInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []NodeInfo
	for p := n.nodes.latest; p != nil && (limit <= 0 || len(out) < limit); p = p.prev {
		out = append(out, NodeInfo{ID: p.id, Addr: p.addr})
	}
	return out
}

// TableSize returns how many nodes the routing table holds.
func (n *Node) TableSize() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.table.Len()
}

// AddNode adds addr to the routing table without contacting it.
func (n *Node) AddNode(addr netip.AddrPort) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if !addr.Addr().Is4() {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addNodeLocked(&peer{id: NodeID(addr), addr: addr})
}

// addNodeFromNetworkLocked learns from a message: a sender with a validated id enters the
// table or is refreshed; the address it saw us at becomes a NAT sample. A message without a
// valid id feeds the bootstrap sample path instead. sample is false for datagrams that arrived
// on the socket we did not expect (they do not refresh samples of known nodes). The caller
// has asked [Options.FilterNode] about from, without the lock: nothing is learnt from a node
// it vetoed.
func (n *Node) addNodeFromNetworkLocked(sample bool, from netip.AddrPort, id ktable.ID, hasID bool, to netip.AddrPort) {
	if !hasID {
		n.sampleBootstrapLocked(from, to)
		return
	}
	if p, ok := n.table.Get(id); ok {
		if sample && (p.sampled == 0 || n.tick-p.sampled >= oldNode) {
			p.to = to
			p.sampled = n.tick
			n.natAddLocked(to)
		}
		p.pinged, p.seen = n.tick, n.tick
		n.nodes.touch(p)
		return
	}
	n.addNodeLocked(&peer{id: id, addr: from, to: to})
}

// sampleBootstrapLocked takes our address from id-less (ephemeral) responders, such as a
// bootstrap node that is itself ephemeral, but from at most as many distinct responders as
// there are bootstrap nodes (at least one).
// filterAllows asks [Options.FilterNode] about addr. It calls user code, so it must not be
// called with n.mu held.
func (n *Node) filterAllows(addr netip.AddrPort) bool {
	return n.opts.FilterNode == nil || n.opts.FilterNode(addr)
}

func (n *Node) sampleBootstrapLocked(from, to netip.AddrPort) {
	if len(n.bootSamples) >= max(1, len(n.opts.Bootstrap)) {
		return
	}
	for _, a := range n.bootSamples {
		if a == from {
			return
		}
	}
	n.bootSamples = append(n.bootSamples, from)
	n.natAddLocked(to)
}

func (n *Node) natAddLocked(to netip.AddrPort) {
	if !to.IsValid() {
		return
	}
	before := n.nat.addr()
	n.nat.add(to.Addr(), to.Port())
	if after := n.nat.addr(); after != before {
		n.events.emit(Event{Kind: EventNATUpdate, Addr: after})
	}
}

func (n *Node) addNodeLocked(p *peer) {
	if p.listed || p.id == n.table.ID() {
		return
	}
	if n.table.Has(p.id) {
		// Already known under another record (AddNode, or a swap racing a re-add): keep the
		// listed one, so the table and the time-ordered list stay in step.
		return
	}
	p.added, p.pinged, p.seen = n.tick, n.tick, n.tick
	if !n.table.Add(p.id, p) {
		n.onFullRowLocked(p)
		return
	}
	n.nodes.touch(p)
	if p.to.IsValid() && p.sampled == 0 {
		p.sampled = n.tick
		n.natAddLocked(p.to)
	}
	n.events.emit(Event{Kind: EventAddNode, Addr: p.addr, ID: p.id})
}

func (n *Node) removeNodeLocked(p *peer) {
	if !p.listed {
		return
	}
	n.table.Remove(p.id)
	n.nodes.remove(p)
	n.events.emit(Event{Kind: EventRemoveNode, Addr: p.addr, ID: p.id})
}

// onFullRowLocked decides whether a newcomer to a full bucket may replace its oldest member:
// the oldest (least recently pinged, then least recently added) is pinged, and replaced if it
// does not answer. A recently pinged member that has been around long is kept.
func (n *Node) onFullRowLocked(newcomer *peer) {
	if !n.bootstrapped || n.repinging >= 3 {
		return
	}
	var oldest *peer
	for _, p := range n.table.Bucket(newcomer.id) {
		if p.pinged == n.tick {
			continue
		}
		if oldest == nil || oldest.pinged > p.pinged || (oldest.pinged == p.pinged && oldest.added > p.added) {
			oldest = p
		}
	}
	if oldest == nil {
		return
	}
	if n.tick-oldest.pinged < recentNode && n.tick-oldest.added > oldNode {
		return
	}
	lastSeen := oldest.seen
	oldest.pinged = n.tick
	n.repinging++
	swap := func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.repinging--
		if oldest.seen > lastSeen {
			return // it answered with its id: keep it
		}
		n.removeNodeLocked(oldest)
		n.addNodeLocked(newcomer)
	}
	n.pingLocked(oldest.addr, func(*Response, error) { swap() })
}

// checkLocked pings p and removes it if it does not answer with its id.
func (n *Node) checkLocked(p *peer) {
	p.pinged = n.tick
	lastSeen := p.seen
	n.checks++
	n.pingLocked(p.addr, func(_ *Response, err error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.checks--
		if err != nil || p.seen <= lastSeen {
			n.removeNodeLocked(p)
		}
	})
}

// pingLocked sends an internal PING; done runs later without the lock. On a destroyed node
// nothing is sent and done is not called.
func (n *Node) pingLocked(addr netip.AddrPort, done func(*Response, error)) {
	r, force := newRequest(n, addr, nil, Outgoing{Command: CmdPing, Internal: true}, nil, done, nil)
	n.enqueueLocked(r, force)
}

// startAsync starts a request whose completion is handled by done; a destroyed node calls
// done with net.ErrClosed at once.
func (n *Node) startAsync(addr netip.AddrPort, toID *ktable.ID, out Outgoing, opts *RequestOptions, done func(*Response, error), cycle func()) *request {
	r, err := n.startRequest(addr, toID, out, opts, done, cycle)
	if err != nil {
		done(nil, err)
		return nil
	}
	return r
}
