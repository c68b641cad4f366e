package netsim

import "net/netip"

// routeLocked decides where a packet written by the endpoint bound to from,
// addressed to to, goes: it returns the source address the receiver sees,
// the endpoint address the packet is delivered to, and false if the packet
// is dropped on the way. n.mu is held.
//
// Without NATs every bound address is public and nothing is rewritten. With
// them ([Network.AddNAT]): a private destination is reachable only from its
// own LAN; a packet leaving a LAN gets its router's public address and a
// mapped port; a packet to a router's public address is translated back to
// the private endpoint or refused by the router's filter.
func (n *Network) routeLocked(from, to netip.AddrPort) (src, dst netip.AddrPort, ok bool) {
	if len(n.nats) == 0 {
		return from, to, true
	}
	inner := n.natInsideLocked(from.Addr())
	if x := n.natInsideLocked(to.Addr()); x != nil {
		return from, to, x == inner
	}
	src = from
	if inner != nil {
		if to.Addr() == inner.opts.Public {
			return netip.AddrPort{}, netip.AddrPort{}, false // no hairpinning
		}
		src = inner.outboundLocked(from, to)
	}
	if x := n.natPublicLocked(to.Addr()); x != nil {
		dst, ok = x.inboundLocked(src, to.Port())
		return src, dst, ok
	}
	return src, to, true
}
