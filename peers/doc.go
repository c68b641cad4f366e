// Package peers is hyperlan's VPN engine: it makes this machine one member of a private
// network of machines that reach each other by public key over HyperDHT (package dht),
// and moves IP packets between the TUN device (package tun) and the other members.
//
// # Use
//
//	cfg, err := configs.Load(file)                  // validated: keys, addresses, secret
//	e, err := peers.New(cfg, peers.Deps{Logger: log}) // opens the TUN, the router, a DHT node
//	go e.Run(ctx)                                    // until ctx ends or e.Close
//	e.Reload(next.Peers)                             // on SIGHUP, after configs.Load succeeded
//	st := e.Status()                                 // for `hyperlan status` and `hyperlan peers`
//
// Tests and `hyperlan demo` pass their own DHT node, device and router in [Deps].
//
// # Members
//
// A member is a key pair. The members of a network are the keys listed as [[peer]] in the
// config ("configured peers") and, when the network has a secret, every key that proves it
// knows the secret. Each member runs a DHT server on its key; a network with a secret also
// announces every member on the secret's topic (configs.Topic) and looks the topic up
// periodically, so members find each other without being listed. The engine keeps one
// connection to every member it knows: it dials configured peers and keys found on the
// topic, with exponential back-off after failures, and accepts their dials. When both sides
// of a pair dialled and both connections came up, both keep the one dialled by the lower
// key and close the other; a connection that comes up long after an existing one replaces
// it (the member restarted or moved). A connection that stops answering pings ends, and the
// member is dialled again.
//
// # Admission
//
// The DHT server's firewall refuses, before any session exists, every key that is not a
// configured peer when the network has no secret, and keys that recently failed to prove
// it. Everything else happens inside the encrypted session, on its reliable stream: each
// side first sends an auth message with its proof of the secret,
//
//	proof = BLAKE2b-256(key = secret, "hyperlan/v1/session-proof" || 0x00 || role || handshake hash)
//
// where role is 'i' for the side that dialled and 'r' for the other, and the handshake hash
// is the session's Noise handshake hash, so a proof is bound to its session and direction
// and cannot be replayed or reflected. A side that is not a configured peer of the other and
// whose proof is missing or wrong is refused (the session closes, the key is refused for a
// while). Only then does each side send its hello.
//
// # Control messages
//
// One secret-stream frame each; the first byte is the type. Decoders ignore bytes after the
// fields they know, so later versions may append fields; unknown types are ignored.
//
//	auth  (1): version u8 (1) | flags u8 (bit 0: proof present) | [proof 32 bytes]
//	hello (2): name length u8 (≤ 64) | name (UTF-8) | IPv4 4 bytes | IPv6 16 bytes
//	           | route count u8 (≤ 64) | count × (family u8 (4 or 6) | bits u8 | address 4 or 16 bytes)
//	ping  (3): stamp u64 | padding
//	pong  (4): stamp u64 (the ping's)
//
// An all-zero address means none. Routes are masked prefixes. Pings every few seconds keep
// the session alive and measure its round-trip time; the first ones are padded so that the
// UDX stream's MTU search runs before large packets need it.
//
// # Addresses
//
// A configured peer owns the addresses and routes of its [[peer]] table (explicit or derived
// from its key by package configs). A member admitted by the secret owns, while connected,
// the addresses of its hello that lie in the network's prefixes, and the subnets of its
// hello that are private (RFC 1918, 100.64.0.0/10, fc00::/7) and outside the network's
// prefixes: knowing the secret lets nobody draw other traffic into the VPN. A prefix
// claimed twice goes to a configured peer first, then to the member whose key it is derived
// from, then to the member that joined first; none goes to this node's own addresses or
// into its own subnets.
//
// # Data plane
//
// Packets read from the device go to the member whose addresses or subnets hold their
// destination (longest prefix), each as one encrypted unordered datagram on its connection
// (never on the reliable stream); without a connection they are dropped. A datagram from a
// member is written to the device only if its source address looks up to that member
// (WireGuard's rule); spoofed ones are dropped and counted. A full send queue on the
// connection's socket makes the device reader wait (a few milliseconds at most per member),
// and a full device queue the socket's reader, so bursts wait in the kernel's queues
// instead of being dropped. A packet too large for the connection's current path is
// fragmented when it is IPv4 without DF, and otherwise answered with ICMP "fragmentation
// needed" or ICMPv6 "packet too big" written back to the device, once the connection's path
// MTU search has ended; until then it is dropped silently, so that the kernel does not keep
// the search's starting size as the path MTU. Nothing is allocated per packet.
package peers
