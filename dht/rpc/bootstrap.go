package rpc

import (
	"context"
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/hyperlan/hyperlan/dht/ktable"
)

// bootstrap joins the network (dht-rpc index.js _bootstrap): a background FIND_NODE for the
// table id; an adaptive node sends a quick PING_NAT to the first responder; a node that wants
// persistence (or passed the quick test) runs the network-state switch and, if its id changed,
// a second round. Then the node is ready.
func (n *Node) bootstrap() {
	defer n.wg.Done()
	n.events.emit(Event{Kind: EventListening})
	n.log.Debug("rpc: listening", "server", n.server.local, "client", n.client.local)

	n.mu.Lock()
	quick := n.firewalled && !n.opts.NoQuickFirewall && !n.forcePersist
	onlyFirewall := !n.forcePersist
	n.mu.Unlock()

	var testNAT atomic.Bool
	first := quick
	onReply := func(m *Response) {
		if !first {
			return
		}
		first = false
		val := binary.LittleEndian.AppendUint16(nil, n.server.port)
		var toID *ktable.ID // a timeout removes the responder from the table, as in the reference
		if m.HasID {
			id := ktable.ID(m.ID)
			toID = &id
		}
		n.startAsync(m.From, toID, Outgoing{Command: CmdPingNAT, Internal: true, Value: val}, nil,
			func(_ *Response, err error) {
				if err == nil {
					testNAT.Store(true)
				}
			}, nil)
	}
	for range 2 {
		n.mu.Lock()
		id := n.table.ID()
		n.mu.Unlock()
		_, err := n.query(n.ctx, id, true, CmdFindNode, nil, &QueryOptions{background: true, OnReply: onReply})
		if n.closed() {
			return
		}
		if err != nil {
			n.log.Debug("rpc: bootstrap query", "err", err)
		}
		if n.Bootstrapped() || (!testNAT.Load() && !n.forcePersist) {
			break
		}
		if !n.updateNetworkState(onlyFirewall) {
			break
		}
	}
	n.mu.Lock()
	if n.bootstrapped || n.destroyed {
		n.mu.Unlock()
		return
	}
	n.bootstrapped = true
	n.mu.Unlock()
	close(n.ready)
	n.events.emit(Event{Kind: EventReady})
	n.log.Debug("rpc: ready", "persistent", !n.Ephemeral(), "firewalled", n.Firewalled())
}

// Refresh runs a background FIND_NODE for a random table node's id (or our own), keeping the
// table fresh. It returns at once; the query runs until done or the node is destroyed.
func (n *Node) Refresh() {
	n.mu.Lock()
	target := n.table.ID()
	if p, ok := n.table.Random(randIntN); ok {
		target = p.id
	}
	n.refreshTicks = refreshTicks
	destroyed := n.destroyed
	if !destroyed {
		n.wg.Add(1)
	}
	n.mu.Unlock()
	if destroyed {
		return
	}
	go func() {
		defer n.wg.Done()
		n.query(n.ctx, target, true, CmdFindNode, nil, &QueryOptions{background: true})
	}()
}

// resolveBootstrap returns the bootstrap nodes' addresses, pinging a suggested IP first and
// resolving host names (IPv4 only) otherwise; entries that do not resolve are skipped.
func (n *Node) resolveBootstrap(ctx context.Context) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, b := range n.opts.Bootstrap {
		if b.Suggested.IsValid() {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := n.Ping(pctx, netip.AddrPortFrom(b.Suggested, b.Port))
			cancel()
			if err == nil {
				out = append(out, netip.AddrPortFrom(b.Suggested, b.Port))
				continue
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
		if ip, err := netip.ParseAddr(b.Host); err == nil {
			if ip = ip.Unmap(); ip.Is4() {
				out = append(out, netip.AddrPortFrom(ip, b.Port))
			}
			continue
		}
		ips, err := n.opts.Resolver.LookupNetIP(ctx, "ip4", b.Host)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			n.log.Debug("rpc: resolve bootstrap", "host", b.Host, "err", err)
			continue
		}
		if len(ips) > 0 {
			out = append(out, netip.AddrPortFrom(ips[0].Unmap(), b.Port))
		}
	}
	return out, nil
}

// BootstrapAddrs resolves the configured bootstrap nodes as a query would.
func (n *Node) BootstrapAddrs(ctx context.Context) ([]netip.AddrPort, error) {
	return n.resolveBootstrap(ctx)
}
