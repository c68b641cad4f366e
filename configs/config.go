package configs

import (
	"log/slog"
	"net/netip"
	"strconv"
	"time"
)

// MTU bounds of the TUN device. A packet of P bytes read from the device travels as one
// secret-stream message in one UDX datagram, so on the wire it takes
//
//	P + 24 (secret-stream envelope: counter 8 + XSalsa20-Poly1305 MAC 16, secretstream.MessageOverhead)
//	  + 20 (UDX header, udx.HeaderSize)
//	  + 8  (UDP header)
//	  + 20 (IPv4 header; dht-rpc, and so every connection, runs over IPv4)
//	= P + 72 bytes.
//
// A UDX stream starts at an IP packet size of 1200 (udx.MTUBase), where P can be at most
// 1128, and probes upward in 32-byte steps to 1500 (udx.MTUMax), where P can be 1428. (Were
// the underlay IPv6, the IP header would take 20 bytes more: 1408.) The default, 1280, is
// the smallest MTU a link carrying IPv6 may have (RFC 8200 section 5), which the interface
// needs for its ULA address; it fits any path of at least 1352 bytes (Ethernet, PPPoE at
// 1492, most tunnels and mobile networks) once the fifth probe step (1360) is confirmed.
// Until then, and on narrower paths, the data plane answers larger packets with "packet too
// big". On clean 1500-byte paths MaxMTU saves about 10% of the packets of a bulk transfer.
const (
	MinMTU     = 1280 // IPv6's minimum link MTU
	DefaultMTU = 1280
	MaxMTU     = 1500 - 72 // 1428: what a 1500-byte UDX datagram carries
)

// Defaults of the other settings.
const (
	DefaultInterface = "hyperlan0"
	DefaultKeepAlive = 5 * time.Second // hyperdht's connectionKeepAlive
	MaxKeepAlive     = time.Hour
)

// DefaultIPv4Prefix is the network's IPv4 prefix when the config sets none.
var DefaultIPv4Prefix = netip.MustParsePrefix("10.77.0.0/16")

// Config is a loaded and validated config file. Everything in it has been checked: the
// files it names were read, addresses are inside the network's prefixes, and no two members
// share a name, key or address. Paths are resolved relative to the config file.
type Config struct {
	File    string // the name the config was parsed under
	Node    Node
	Network Network
	DHT     DHT
	Peers   []Peer
	Log     Log

	// Warnings are problems that do not stop the node, such as a key file other users can
	// read. hyperlan config check prints them.
	Warnings []*Error
}

// Node is the [node] table: this machine.
type Node struct {
	Name      string    // node.name; default the host name up to its first dot
	KeyFile   string    // node.key_file, resolved
	Seed      [32]byte  // the Ed25519 seed read from KeyFile
	PublicKey PublicKey // derived from Seed

	Interface  string        // node.interface; default DefaultInterface
	MTU        int           // node.mtu; default DefaultMTU, MinMTU..MaxMTU
	ListenPort int           // node.listen_port; 0 (default) lets the DHT choose, preferring 49737
	KeepAlive  time.Duration // node.keep_alive; default DefaultKeepAlive, 0 means never

	Address  netip.Addr     // node.address, or derived with DeriveIPv4
	Address6 netip.Addr     // node.address6, or derived with DeriveIPv6
	Routes   []netip.Prefix // node.routes: subnets this node serves to the network

	// Relay is node.relay: the node also serves as a blind relay, on the key pair of
	// RelaySeed(Seed), for members that cannot punch through their NATs to each other.
	Relay bool
	// RelayPublicKey is the public key of that key pair ([RelayPublicKey] of Seed), the
	// key other members name in dht.relay_through; derived whether Relay is set or not.
	RelayPublicKey PublicKey
}

// Network is the [network] table: what all members share.
type Network struct {
	SecretFile string       // network.secret_file, resolved; "" when the network has no secret
	Secret     []byte       // SecretSize bytes read from SecretFile; nil without one
	IPv4       netip.Prefix // network.ipv4; default DefaultIPv4Prefix
	IPv6       netip.Prefix // network.ipv6; default DefaultIPv6Prefix(Secret, IPv4)
}

// Topic returns the network's DHT topic ([Topic] of the secret) and true, or false when the
// network has no secret and members find each other by public key only.
func (n *Network) Topic() ([32]byte, bool) {
	if n.Secret == nil {
		return [32]byte{}, false
	}
	return Topic(n.Secret), true
}

// DHT is the [dht] table.
type DHT struct {
	// Bootstrap lists dht.bootstrap. nil (the key is absent) means the public HyperDHT
	// bootstrap nodes (dht.DefaultBootstrap); an empty list means none, for the first node
	// of a private DHT. This mirrors dht.Options.Bootstrap, so the list of public nodes
	// lives in one place, package dht.
	Bootstrap []Bootstrap

	// RelayThrough lists dht.relay_through: the public keys of blind relays (members with
	// node.relay, or 'hyperlan dht relay' nodes) that carry a connection to another member
	// when no direct path opens, as between two random NATs. nil: none. It never holds this
	// node's own RelayPublicKey: a serving node leaves its own relay out.
	RelayThrough []PublicKey
}

// Bootstrap is one DHT bootstrap node, written "host:port" or "suggested-ip@host:port" as
// the reference does ("88.99.3.86@node1.hyperdht.org:49737"): the suggested IPv4 address
// is tried first and the host name resolved only when it does not answer.
type Bootstrap struct {
	Suggested netip.Addr // optional
	Host      string     // an IPv4 address or a DNS name
	Port      uint16
}

// String returns the node in the form it was written in.
func (b Bootstrap) String() string {
	s := b.Host + ":" + strconv.Itoa(int(b.Port))
	if b.Suggested.IsValid() {
		s = b.Suggested.String() + "@" + s
	}
	return s
}

// Peer is one [[peer]] table: a member this node admits by public key.
type Peer struct {
	Name      string         // peer.name
	PublicKey PublicKey      // peer.public_key
	Address   netip.Addr     // peer.address, or derived with DeriveIPv4
	Address6  netip.Addr     // peer.address6, or derived with DeriveIPv6
	Routes    []netip.Prefix // peer.routes: subnets the peer serves, accepted from it
}

// Log is the [log] table.
type Log struct {
	Level  slog.Level // log.level: "debug", "info" (default), "warn" or "error"
	Format string     // log.format: "text" (default) or "json"
}

// Members returns the node followed by its peers, for [Collisions] and the peer table.
func (c *Config) Members() []Member {
	out := make([]Member, 0, 1+len(c.Peers))
	out = append(out, Member{Name: c.Node.Name, PublicKey: c.Node.PublicKey, IPv4: c.Node.Address, IPv6: c.Node.Address6})
	for _, p := range c.Peers {
		out = append(out, Member{Name: p.Name, PublicKey: p.PublicKey, IPv4: p.Address, IPv6: p.Address6})
	}
	return out
}
