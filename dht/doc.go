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
// net.ErrClosed.
//
// # Connections
//
// A server listens on a key pair; a client connects to the public key from anywhere and both
// get a [Conn]: a secret-stream session (package secretstream) over a UDX stream (package udx),
// keyed by a Noise IK handshake (package noise) that travels through the DHT:
//
//	srv := n.CreateServer(dht.ServerOptions{OnConnection: handle}) // or srv.Accept(ctx)
//	srv.Listen(ctx, kp)                 // announce at the nodes closest to hash(kp.PublicKey)
//	c, err := n.Connect(ctx, kp.PublicKey, nil)
//	c.Write(b); c.CloseWrite()          // a net.Conn with half-close
//	c.Send(datagram)                    // unordered encrypted datagrams (ConnectOptions.OnMessage)
//	srv.Close(ctx)                      // unannounce
//
// The client finds the nodes the server announced to (FIND_PEER), sends Noise message 1 to
// them in a PEER_HANDSHAKE request, and they relay it to the server, whose answer comes back
// the same way (the router, hyperdht lib/router.js). Both payloads carry each side's UDX
// stream id and addresses; the client then connects its stream to the server's address and
// the secret-stream header exchange starts the session. A server behind a NAT is reached by
// holepunching as the reference does it (package holepunch): both sides classify their NATs
// (open, consistent, random) from what DHT nodes report, exchange sealed PEER_HOLEPUNCH rounds
// through the relays, and punch: at once when both NATs are consistent, with the birthday
// strategy (256 sockets) when one is random; two random NATs cannot be punched
// ([ErrHolepunchAborted], caused by [ErrHolepunchDoubleRandomizedNATs]) and connect only when
// either side names a blind relay (ConnectOptions.RelayThrough, ServerOptions.RelayThrough),
// which any pair may use: both sides then pair
// their streams at the relay while they punch, the first path found carries the connection,
// and a relayed connection moves to the direct path when a punch succeeds later
// ([Node.ServeBlindRelay] makes a node a relay). The reference's punching options are there
// too: a server that never punches (ServerOptions.NoHolepunch), vetoes on either side
// (ServerOptions.Holepunch, ConnectOptions.Holepunch, a [HolepunchFunc]) and a client without
// fast open (ConnectOptions.NoFastOpen). Peers behind one NAT connect on their LAN. A
// server stays reachable when its network changes: it announces again when the host's
// interfaces change (rpc.EventNetworkChange, as the reference does), when the sampled public
// address changes, and when a relay sees it at a new address (its router's public address
// changed). [Node.ConnInfo] tells how a connection was made. Errors carry the
// reference's codes ([ConnError]): [ErrPeerNotFound], [ErrPeerConnectionFailed] (also a
// firewall refusal, which the reference answers with silence), [ErrServerError] and others.
package dht
