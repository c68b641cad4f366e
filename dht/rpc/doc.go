// Package rpc implements dht-rpc, the Kademlia routing layer under HyperDHT, wire-compatible
// with npm dht-rpc 6.x (the pinned reference is in interop/node_modules/dht-rpc).
//
// A [Node] owns two UDP sockets: the server socket, whose port is the node's public port once
// it is persistent, and the client socket that carries its requests while it is firewalled.
// Each datagram is one message:
//
//	request:  0x03 flags tid:u16 to:ipv4addr [id:32] [token:32] command:uint [target:32] [value]
//	response: 0x13 flags tid:u16 to:ipv4addr [id:32] [token:32] [closer:ipv4addr[]] [error:uint] [value]
//
// "to" is the address the sender sent the datagram to, which is how nodes learn their public
// address ([natSampler]). A node id is BLAKE2b-256 of its 6-byte public address ([NodeID]); an
// id on the wire that does not match the sender's source address is ignored. Responses are
// matched to requests by tid alone, from any source. Tokens ([Request.Reply] includes one) bind
// the requester's IP and live 7.5 to 15 s.
//
// Lifecycle: [New] binds the sockets and joins in the background through the bootstrap nodes;
// [Node.Ready] waits for that. A node starts ephemeral (it queries but does not serve others and
// carries no id). [ModePersistent] asks it to become persistent during the bootstrap if other
// nodes can reach its server socket at the same port ([Bootstrapper] is persistent from the
// start); [ModeAdaptive] decides after about 20 minutes of stable uptime. Every 5 s a tick
// pings old nodes, refreshes the table and tracks health. [Node.Destroy] stops everything.
//
// Requests ([Node.Request], [Node.Ping]) retry after 1 s, three times, and go through a
// congestion window of 80 per 750 ms. Iterative queries ([Node.FindNode], [Node.Query]) walk
// towards a target with concurrency 10 and can commit to the closest nodes with the tokens they
// returned. User commands are served by handlers registered with [Node.Handle].
//
// Concurrency: all methods of Node are safe for concurrent use. Handlers run on a socket's read
// goroutine and must not block; event callbacks ([Options.OnEvent]) run on one goroutine of
// their own. Blocking calls take a context and return net.ErrClosed after Destroy.
package rpc
