// Package holepunch opens direct UDP paths through NATs the way HyperDHT does (hyperdht
// lib/nat.js, lib/holepuncher.js, lib/socket-pool.js; hyperdht.md §5).
//
// The pieces, from the bottom:
//
//   - [NAT] classifies the NAT in front of one socket from the addresses other nodes report
//     seeing it at: OPEN (the node is reachable), CONSISTENT (one public port for every
//     destination), RANDOM (a new port per destination) or UNKNOWN. It is a pure state
//     machine; [Puncher] feeds it by pinging DHT nodes from its socket.
//   - [Choose] picks the punch strategy for a pair of firewalls ([Strategy]).
//   - [Pool] owns the extra UDP sockets punching needs. They are sockets of the node's UDX
//     instance (a stream can connect through any of them) and attached to its RPC node (they
//     carry PEER_HOLEPUNCH traffic and NAT-sampling pings); a datagram of one byte is a punch.
//   - [Puncher] is one side of one connection attempt: its socket, its NAT, what the peer said
//     about itself, and the strategy once both sides agree to punch. The initiator (client)
//     connects on the first punch it receives; the responder (server) answers punches and
//     connects when the client's first stream packet reaches it.
//   - [Limiter] is the node-wide limit on punches that involve a randomizing NAT.
//
// A punch is the single byte 0x00. Punches that only need to open our own NAT's mapping go
// out with a low TTL (5), so that they expire before they reach the peer's NAT on a real
// network; the others use 64.
//
// The rounds that carry the two sides' state between them (PEER_HOLEPUNCH with sealed
// payloads) are driven by package dht, which owns the connection.
package holepunch
