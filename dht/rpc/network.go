package rpc

import (
	"encoding/binary"
	"net/netip"
	"sync"

	"github.com/hyperlan/hyperlan/dht/ktable"
)

// checkFirewalled asks up to five recently seen nodes (topped up with the bootstrap nodes) to
// PING_NAT our server socket and reports whether we look firewalled: fewer than three answers
// that really arrived on the server socket (one if fewer than five nodes were asked), answers
// that see us at another host than the main sampler, or a public port that differs from the
// server socket's local port. probe collects the addresses the answers report
// (dht-rpc index.js _checkIfFirewalled). The PING_NATs carry the asked nodes' ids, so a
// timeout removes a node from the table, as the reference's do.
func (n *Node) checkFirewalled(probe *natSampler) bool {
	n.mu.Lock()
	var nodes []qnode
	for p := n.nodes.latest; p != nil && len(nodes) < 5; p = p.prev {
		nodes = append(nodes, qnode{p.id, p.addr})
	}
	n.mu.Unlock()
	if len(nodes) < 5 {
		boot, err := n.resolveBootstrap(n.ctx)
		if err != nil {
			return true
		}
		for _, a := range boot {
			nodes = append(nodes, qnode{NodeID(a), a})
		}
	}
	if len(nodes) == 0 {
		return true
	}

	watch := &hostWatch{hosts: make(map[netip.Addr]bool)}
	n.mu.Lock()
	n.watchers = append(n.watchers, watch)
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		for i, w := range n.watchers {
			if w == watch {
				n.watchers = append(n.watchers[:i], n.watchers[i+1:]...)
				break
			}
		}
		n.mu.Unlock()
	}()

	val := binary.LittleEndian.AppendUint16(nil, n.server.port)
	var wg sync.WaitGroup
	replies := make([]*Response, len(nodes))
	for i, a := range nodes {
		wg.Add(1)
		n.startAsync(a.addr, &a.id, Outgoing{Command: CmdPingNAT, Internal: true, Value: val}, nil,
			func(res *Response, err error) {
				if err == nil {
					replies[i] = res
				}
				wg.Done()
			}, nil)
	}
	wg.Wait()

	n.mu.Lock()
	defer n.mu.Unlock()
	count := 0
	for _, r := range replies {
		if r != nil && watch.hosts[r.From.Addr()] {
			count++
			probe.add(r.To.Addr(), r.To.Port())
		}
	}
	need := 1
	if len(nodes) >= 5 {
		need = 3
	}
	if count < need {
		return true
	}
	if !probe.host.IsValid() || probe.host != n.nat.host {
		return true
	}
	return probe.port == 0 || probe.port != n.server.port
}

// hostWatch records the source hosts of datagrams that reach the server socket while a
// firewall check runs. Its map is guarded by Node.mu.
type hostWatch struct {
	hosts map[netip.Addr]bool
}

// updateNetworkState is the switch from ephemeral to persistent (dht-rpc index.js
// _updateNetworkState). With onlyFirewall it only clears the firewalled flag (and adopts the
// id of the public address); otherwise it also makes the node persistent. It reports whether
// the node's state advanced.
func (n *Node) updateNetworkState(onlyFirewall bool) bool {
	n.mu.Lock()
	if !n.ephemeral || (onlyFirewall && !n.firewalled) {
		n.mu.Unlock()
		return false
	}
	host, port := n.nat.host, n.nat.port
	if !onlyFirewall {
		n.stableTicks = moreStableTicks
		n.lastHost = host
	}
	if !host.IsValid() || port == 0 {
		n.mu.Unlock()
		return false
	}
	probe := n.nat
	firewalled := n.firewalled
	if firewalled {
		probe = &natSampler{}
	}
	n.mu.Unlock()

	if firewalled && n.checkFirewalled(probe) {
		return false
	}

	n.mu.Lock()
	n.firewalled = false
	if !n.ephemeral || host != n.nat.host || port != n.nat.port {
		n.mu.Unlock()
		return false
	}
	if probe.host != host || probe.port == 0 {
		n.mu.Unlock()
		return false
	}
	id := NodeID(netip.AddrPortFrom(probe.host, probe.port))
	if !onlyFirewall {
		n.ephemeral = false
	}
	if probe != n.nat {
		before := n.nat.addr()
		n.bootSamples = nil
		n.nat = probe
		if after := n.nat.addr(); after != before {
			n.events.emit(Event{Kind: EventNATUpdate, Addr: after})
		}
	}
	refresh := false
	if id != n.table.ID() {
		n.rebuildTableLocked(id)
		refresh = n.bootstrapped
	}
	persistent := !n.ephemeral
	if persistent {
		n.events.emit(Event{Kind: EventPersistent, Addr: n.nat.addr(), ID: id})
	}
	n.mu.Unlock()
	if refresh {
		n.Refresh()
	}
	if persistent {
		n.log.Debug("rpc: persistent", "addr", netip.AddrPortFrom(host, port))
	}
	return true
}

// rebuildTableLocked reorganises the routing table around a new id, keeping the nodes that fit.
func (n *Node) rebuildTableLocked(id ktable.ID) {
	old := n.table.All()
	n.table = ktable.New[*peer](id, ktable.K)
	for _, p := range old {
		if p.id == id {
			n.nodes.remove(p)
			continue
		}
		if !n.table.Add(p.id, p) {
			n.nodes.remove(p)
		}
	}
}
