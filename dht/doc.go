// Package dht is hyperlan's HyperDHT: the public API of a DHT node that speaks the wire
// protocol of the JavaScript reference (npm hyperdht 6.x), so Go and JS nodes share one
// network.
//
// A [Node] is a dht-rpc node ([rpc.Node]) plus the HyperDHT commands. Once persistent it keeps
// records for others (package records): announcements under topics, a server's own record
// (what [Node.FindPeer] finds), and signed mutable and hash-addressed immutable values. The
// client side:
//
//	kp, _ := dht.NewKeyPair(seed)                       // Ed25519, same bytes as the reference
//	n.Announce(ctx, topic, kp, relays, nil)             // store {kp.PublicKey, relays} under topic
//	replies, _ := n.Lookup(ctx, topic, nil)             // who announced on topic
//	n.Unannounce(ctx, topic, kp)
//	put, _ := n.ImmutablePut(ctx, value)                // under BLAKE2b-256(value)
//	got, _ := n.ImmutableGet(ctx, put.Hash)
//	n.MutablePut(ctx, kp, value, &dht.MutablePutOptions{Seq: 2})
//	m, _ := n.MutableGet(ctx, kp.PublicKey, nil)        // highest seq, signature checked
//
// Every call that touches the network takes a context. Errors users act on are [ErrNotFound],
// [ErrSeqTooLow], [ErrSeqReused] and [ErrValueTooLarge]; after [Node.Destroy] calls return
// net.ErrClosed. Encrypted connections to a public key (CreateServer, Connect) build on this.
package dht
