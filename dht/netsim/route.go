package netsim

import "net/netip"

// routeLocked decides where a packet written by the endpoint bound to from,
// addressed to to, goes: it returns the source address the receiver sees,
// the endpoint address the packet is delivered to, and false if the packet
// is dropped on the way. n.mu is held.
//
// This is the extension point for NAT boxes and firewalls: a NAT in front of
// from rewrites src to its mapped public address and creates the mapping; a
// NAT in front of to translates dst back to the private endpoint, or refuses
// (ok false) when its mapping and filtering rules (RFC 4787) say so.
//
// Today the internet is flat: every bound address is public and nothing is
// rewritten.
func (n *Network) routeLocked(from, to netip.AddrPort) (src, dst netip.AddrPort, ok bool) {
	return from, to, true
}
