// Package configs loads and validates hyperlan's TOML config file (github.com/BurntSushi/toml)
// into a [Config], and holds the derivations every member of a network must agree on.
//
// # Schema
//
//	[node]                  this machine
//	name        = "laptop"      member name; default the host name up to its first dot
//	key_file    = "node.key"    required; the Ed25519 seed as 64 hex digits ('hyperlan keygen')
//	interface   = "hyperlan0"   TUN device name
//	mtu         = 1280          MinMTU..MaxMTU; see MinMTU for the arithmetic
//	listen_port = 0             UDP port of the DHT node; 0 lets the DHT choose (49737 first)
//	keep_alive  = "5s"          encrypted keep-alive of idle connections; "0s" never
//	address     = "10.77.0.1"   optional: this node's IPv4 address; derived when absent
//	address6    = "fd..::1"     optional: its IPv6 address; derived when absent
//	routes      = []            subnets this node serves to the others (a subnet router)
//	relay       = false         also serve as a blind relay for members that cannot punch
//	                            (both behind random NATs); on a key pair derived from the
//	                            key file (see Derivations), which 'hyperlan config check'
//	                            prints as the relay key. Meant for a member with a public address.
//
//	[network]               shared by all members
//	secret_file = "lan.secret"  the network secret, 32 bytes as 64 hex digits ('hyperlan secret'); optional
//	ipv4        = "10.77.0.0/16"
//	ipv6        = "fd..::/64"   default DefaultIPv6Prefix
//
//	[dht]
//	bootstrap = ["88.99.3.86@node1.hyperdht.org:49737"]   absent: the public HyperDHT; []: none
//	relay_through = ["..."]     blind relays for connections no punch opens: relay keys of
//	                            members with relay = true, or of 'hyperlan dht relay' nodes;
//	                            64 hex digits or 52 z-base-32 characters each. Absent: none
//
//	[[peer]]                one per other member admitted by public key
//	name       = "nas"          required
//	public_key = "..."          required; 64 hex digits or 52 z-base-32 characters
//	address    = "10.77.0.2"    optional, as in [node]
//	address6   = "fd..::2"      optional
//	routes     = ["192.168.1.0/24"]   subnets the peer serves; packets from them are accepted
//
//	[log]
//	level  = "info"             debug, info, warn, error
//	format = "text"             text, json
//
// A network needs a secret_file, at least one [[peer]], or both: members find each other on
// the secret's topic and by the listed keys. Relative file names are relative to the config
// file's directory. configs/examples holds commented configs.
//
// # Errors
//
// [Parse] and [Load] report every problem of a file at once, as an [ErrorList] of [Error]s
// with file, line, column, key path, a [Class] and a hint, so that "hyperlan config check"
// can print them all before any device is touched. Unknown keys are errors.
//
// # Derivations
//
// These are a compatibility contract between hyperlan versions: members running different
// versions must compute the same values. With
//
//	H(label, data) = BLAKE2b-256(label || 0x00 || data)    (unkeyed, 32 bytes)
//	n(label, key)  = the first 8 bytes of H(label, key), as a big-endian uint64
//
// where key is a member's 32-byte Ed25519 public key and secret the 32 bytes of the network
// secret (the hex in the secret file, decoded):
//
//	topic    = H("hyperlan/v1/topic", secret)
//	IPv4     = P4 + 1 + n("hyperlan/v1/ipv4", key) mod (2^(32-len(P4)) - 2)
//	IPv6     = P6 + 1 + n("hyperlan/v1/ipv6", key) mod (2^min(128-len(P6), 64) - 1)
//	P6 (default) = fd || first 5 bytes of g || 0000 :: /64, where
//	               g = H("hyperlan/v1/ula", secret) with a secret,
//	               g = H("hyperlan/v1/ula", the text of P4, such as "10.77.0.0/16") without one
//
// P4 and P6 are the network's prefixes, masked, as integers; "+" adds to the host part,
// which the sum never leaves. So an IPv4 address is never the network or broadcast address
// and an IPv6 one never the all-zeros host. Derived addresses can collide; [Collisions]
// finds the members that share one, and a config resolves a collision by giving one of them
// an explicit address. See [Topic], [DeriveIPv4], [DeriveIPv6] and [DefaultIPv6Prefix].
//
// A node serving as a blind relay (node.relay) does so on its own key pair, whose seed is
// derived from the node's 32-byte Ed25519 seed (the hex in the key file, decoded):
//
//	relay seed = H("hyperlan/v1/relay", seed)
//	relay key  = the Ed25519 public key of the relay seed
//
// The relay key is what other members name in dht.relay_through, so it must stay the same
// across versions as long as the key file does. See [RelaySeed] and [RelayPublicKey].
package configs
