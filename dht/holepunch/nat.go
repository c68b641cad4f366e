package holepunch

import (
	"net/netip"
	"sync"
)

// minSamples is how many samples a NAT's analysis waits for (hyperdht lib/nat.js).
const minSamples = 4

// NAT classifies the NAT in front of one socket from samples: the address another node saw
// the socket at, and that node's address (hyperdht lib/nat.js, hyperdht.md §5.1). Each node
// counts once. Samples are tallied by host and by host:port, most hits first; from the third
// sample on (unless frozen) the tallies decide:
//
//	top host:port hits >= 3                                  CONSISTENT
//	top host:port hits == 1                                  RANDOM
//	top hits == 2, one host, more than 3 samples             RANDOM
//	top hits == 2, several hosts, second host:port hits > 1  CONSISTENT
//	top hits == 2, more than 4 samples                       RANDOM
//
// A node that is not firewalled is OPEN whatever the samples say. The analysis is done
// ([NAT.Analyzed]) once the firewall is CONSISTENT or OPEN, once 4 samples arrived, or when
// sampling gives up.
//
// It is safe for concurrent use.
type NAT struct {
	firewalled func() bool // whether the DHT node is firewalled

	mu       sync.Mutex
	hosts    []tally                  // guarded by mu; hits by host (port 0)
	full     []tally                  // guarded by mu; hits by host:port
	visited  map[netip.AddrPort]uint8 // guarded by mu; nodes: 1 asked, 2 sampled
	sampled  int                      // guarded by mu
	want     int                      // guarded by mu; samples the analysis waits for
	firewall Firewall                 // guarded by mu
	addrs    []netip.AddrPort         // guarded by mu
	frozen   bool                     // guarded by mu
	done     chan struct{}            // closed when the analysis is done
	isDone   bool                     // guarded by mu
}

// tally is one address with its hits.
type tally struct {
	addr netip.AddrPort
	hits int
}

// NewNAT returns a NAT with no samples. firewalled reports whether the DHT node is
// firewalled (dht-rpc's view of its server socket); nil means always.
func NewNAT(firewalled func() bool) *NAT {
	if firewalled == nil {
		firewalled = func() bool { return true }
	}
	x := &NAT{firewalled: firewalled, visited: make(map[netip.AddrPort]uint8), want: minSamples, done: make(chan struct{})}
	if !firewalled() {
		x.firewall = Open
	}
	return x
}

// Add records that the node at from saw the socket at addr. A node counts once.
func (x *NAT) Add(addr, from netip.AddrPort) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.visited[from] == 2 {
		return
	}
	x.visited[from] = 2
	x.hosts = bump(x.hosts, netip.AddrPortFrom(addr.Addr(), 0))
	x.full = bump(x.full, addr)
	x.sampled++
	if (x.sampled >= 3 || !x.firewalled()) && !x.frozen {
		x.updateLocked()
	}
	if x.firewall == Consistent || x.firewall == Open || x.sampled >= x.want {
		x.finishLocked()
	}
}

// bump adds a hit to addr's tally, keeping the list ordered by hits (ties keep their
// arrival order).
func bump(list []tally, addr netip.AddrPort) []tally {
	for i := range list {
		if list[i].addr != addr {
			continue
		}
		list[i].hits++
		for ; i > 0 && list[i-1].hits < list[i].hits; i-- {
			list[i-1], list[i] = list[i], list[i-1]
		}
		return list
	}
	return append(list, tally{addr: addr, hits: 1})
}

func (x *NAT) updateLocked() {
	if x.firewalled() && x.firewall == Open {
		x.firewall = Unknown
	}
	x.classifyLocked()
	x.addressesLocked()
}

func (x *NAT) classifyLocked() {
	if !x.firewalled() {
		x.firewall = Open
		return
	}
	if x.sampled < 3 {
		return
	}
	switch top := x.full[0].hits; {
	case top >= 3:
		x.firewall = Consistent
	case top == 1:
		x.firewall = Random
	case len(x.hosts) == 1 && x.sampled > 3:
		x.firewall = Random // one host, two ports seen twice at most: the port moves
	case len(x.hosts) > 1 && x.full[1].hits > 1:
		x.firewall = Consistent // two hosts, each port seen twice: a consistent multi-homed NAT
	case x.sampled > 4:
		x.firewall = Random // every sample we hoped for, and no decision
	}
}

func (x *NAT) addressesLocked() {
	switch x.firewall {
	case Unknown:
		x.addrs = nil
	case Random:
		x.addrs = []netip.AddrPort{x.hosts[0].addr}
	case Consistent:
		x.addrs = x.addrs[:0:0]
		for _, t := range x.full {
			if t.hits >= 2 || len(x.addrs) < 2 {
				x.addrs = append(x.addrs, t.addr)
			}
		}
	}
}

func (x *NAT) finishLocked() {
	if !x.isDone {
		x.isDone = true
		close(x.done)
	}
}

// Firewall returns the classification so far.
func (x *NAT) Firewall() Firewall {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.firewall
}

// Addresses returns the addresses the socket is reachable at, as the peer should be told:
// nil while UNKNOWN (and while OPEN: the node's own address is shared elsewhere); the host
// with port 0 when RANDOM; when CONSISTENT every host:port seen at least twice, and at least
// the two most seen.
func (x *NAT) Addresses() []netip.AddrPort {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.addrs == nil {
		return nil
	}
	return append([]netip.AddrPort{}, x.addrs...)
}

// Sampled returns how many nodes have contributed a sample.
func (x *NAT) Sampled() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.sampled
}

// Analyzed is closed once the analysis is done (see [NAT]).
func (x *NAT) Analyzed() <-chan struct{} { return x.done }

// Freeze stops reclassification: what the peer was told stays true.
func (x *NAT) Freeze() {
	x.mu.Lock()
	x.frozen = true
	x.mu.Unlock()
}

// Unfreeze allows reclassification again and reclassifies.
func (x *NAT) Unfreeze() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.frozen = false
	x.classifyLocked()
	x.addressesLocked()
}

// Stop ends the analysis: it is done, and no further sampling is expected.
func (x *NAT) Stop() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.want = 0
	x.finishLocked()
}

// pick chooses up to the nodes a sampling round asks, from nodes (most recently seen first):
// while the samples and the asks in flight are fewer than 4, the next node not asked before,
// skipping the 5 most recent when there are at least 8. The chosen nodes are marked asked.
func (x *NAT) pick(nodes []netip.AddrPort) []netip.AddrPort {
	x.mu.Lock()
	defer x.mu.Unlock()
	skip := 0
	if len(nodes) >= 8 {
		skip = 5
	}
	var out []netip.AddrPort
	for _, a := range nodes {
		if x.sampled+len(out) >= x.want {
			break
		}
		if skip > 0 {
			skip--
			continue
		}
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		if x.visited[a] != 0 {
			continue
		}
		x.visited[a] = 1
		out = append(out, a)
	}
	return out
}

// short reports whether fewer samples than the analysis waits for have arrived.
func (x *NAT) short() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.sampled < x.want
}
