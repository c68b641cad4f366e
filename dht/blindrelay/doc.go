// Package blindrelay implements the blind-relay protocol of npm blind-relay
// 1.6 (index.js), which hyperdht falls back to when two peers cannot reach
// each other directly: both connect to a relay they agree on, and the relay
// forwards their UDX packets between two streams of its own without being
// able to read them.
//
// The protocol is one protomux channel, "blind-relay", on each client's
// connection to the relay, with two message types:
//
//	0 pair     flags (bit 0 isInitiator) | token (32) | stream id (uint) | seq (uint)
//	1 unpair   flags (0) | token (32)
//
// Each client sends pair with a token the two peers share (in hyperdht, the
// one that configured the relay puts it in its handshake payload), its role
// and the id of the UDX stream it wants relayed. When the relay holds both
// roles of a token it makes a stream for each client, joins them with
// [udx.Stream.RelayTo] and answers each client with pair carrying its
// stream's id. The client connects its stream to that id at the relay's
// address, through the socket its connection to the relay uses; the relay's
// stream connects back to whoever sends its first packet. From then on the
// two clients' streams talk through the relay, end to end.
//
// [Server] is the relay, [Client] the peers' side; both run on a
// [protomux.Mux] over the connection to the relay.
package blindrelay
