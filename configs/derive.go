package configs

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"

	"golang.org/x/crypto/blake2b"
)

// Labels that separate the derivations of the package doc's "Derivations" section. They,
// and the formulas that use them, are a compatibility contract: members running different
// hyperlan versions must derive the same topic and addresses, so a change needs a new label
// ("hyperlan/v2/...") and a migration, never an edit.
const (
	labelTopic = "hyperlan/v1/topic"
	labelIPv4  = "hyperlan/v1/ipv4"
	labelIPv6  = "hyperlan/v1/ipv6"
	labelULA   = "hyperlan/v1/ula"
	labelRelay = "hyperlan/v1/relay"
)

// SecretSize is the size of a network secret in bytes.
const SecretSize = 32

// Errors returned by the address derivations.
var (
	// ErrPrefixFamily means a prefix of the wrong address family (or an IPv4-mapped IPv6 one).
	ErrPrefixFamily = errors.New("configs: prefix of the wrong address family")
	// ErrPrefixTooLong means a prefix that leaves too few host addresses to derive one.
	ErrPrefixTooLong = errors.New("configs: prefix too long to derive host addresses")
)

// labelHash is H(label, data) = BLAKE2b-256(label || 0x00 || data), unkeyed. No label holds
// a zero byte, so the input splits into label and data in one way only.
func labelHash(label string, data []byte) [32]byte {
	in := make([]byte, 0, len(label)+1+len(data))
	in = append(in, label...)
	in = append(in, 0)
	in = append(in, data...)
	return blake2b.Sum256(in)
}

// Topic returns the network's DHT topic, H("hyperlan/v1/topic", secret): the key every
// member announces on and looks up. The topic is public; the secret cannot be recovered
// from it.
func Topic(secret []byte) [32]byte { return labelHash(labelTopic, secret) }

// RelaySeed returns the seed of the key pair a node serves as a blind relay on ([node] relay),
// H("hyperlan/v1/relay", seed), where seed is the node's own Ed25519 seed (its key file). The
// relay needs a key pair of its own: the node's key pair is its VPN server's, and two
// servers cannot listen on one key. Deriving it keeps the relay's public key, which other
// members name in dht.relay_through, as stable as the node's key file, with nothing more to
// keep secret. The seed cannot be recovered from the relay's seed or key.
func RelaySeed(seed [32]byte) [32]byte { return labelHash(labelRelay, seed[:]) }

// RelayPublicKey returns the public key of the relay key pair of the node whose Ed25519 seed
// is seed: the Ed25519 public key of [RelaySeed](seed).
func RelayPublicKey(seed [32]byte) PublicKey {
	rs := RelaySeed(seed)
	return PublicKey(ed25519.NewKeyFromSeed(rs[:])[32:])
}

// DeriveIPv4 returns the virtual IPv4 address of key inside prefix, never the prefix's
// network or broadcast address:
//
//	n    = first 8 bytes of H("hyperlan/v1/ipv4", key), big-endian
//	hb   = 32 - prefix length
//	addr = prefix address + 1 + n mod (2^hb - 2)
//
// prefix is masked first. It fails with [ErrPrefixFamily] for a prefix that is not IPv4 and
// with [ErrPrefixTooLong] for one longer than /30. Different keys may get the same address;
// see [Collisions].
func DeriveIPv4(prefix netip.Prefix, key PublicKey) (netip.Addr, error) {
	if !prefix.IsValid() || !prefix.Addr().Is4() {
		return netip.Addr{}, ErrPrefixFamily
	}
	hb := 32 - prefix.Bits()
	if hb < 2 {
		return netip.Addr{}, ErrPrefixTooLong
	}
	h := labelHash(labelIPv4, key[:])
	n := binary.BigEndian.Uint64(h[:8])
	host := 1 + n%(uint64(1)<<hb-2)
	a := prefix.Masked().Addr().As4()
	binary.BigEndian.PutUint32(a[:], binary.BigEndian.Uint32(a[:])|uint32(host))
	return netip.AddrFrom4(a), nil
}

// DeriveIPv6 returns the virtual IPv6 address of key inside prefix, never the all-zeros host
// (the subnet-router anycast address):
//
//	n    = first 8 bytes of H("hyperlan/v1/ipv6", key), big-endian
//	m    = min(128 - prefix length, 64)
//	addr = prefix address + 1 + n mod (2^m - 1)
//
// so in a /64 the interface identifier is 1 + n mod (2^64 - 1) and in a longer prefix the
// host bits are filled from the hash the same way. prefix is masked first. It fails with
// [ErrPrefixFamily] for a prefix that is not IPv6 (or is IPv4-mapped) and with
// [ErrPrefixTooLong] for a /128.
func DeriveIPv6(prefix netip.Prefix, key PublicKey) (netip.Addr, error) {
	if !prefix.IsValid() || !prefix.Addr().Is6() || prefix.Addr().Is4In6() {
		return netip.Addr{}, ErrPrefixFamily
	}
	m := min(128-prefix.Bits(), 64)
	if m < 1 {
		return netip.Addr{}, ErrPrefixTooLong
	}
	h := labelHash(labelIPv6, key[:])
	n := binary.BigEndian.Uint64(h[:8])
	size := ^uint64(0) // 2^64 - 1
	if m < 64 {
		size = 1<<m - 1
	}
	host := 1 + n%size
	a := prefix.Masked().Addr().As16()
	binary.BigEndian.PutUint64(a[8:], binary.BigEndian.Uint64(a[8:])|host)
	return netip.AddrFrom16(a), nil
}

// DefaultIPv6Prefix returns the network's IPv6 prefix when the config sets none: a ULA /64
// (RFC 4193) whose 40-bit global ID comes from the network:
//
//	g      = H("hyperlan/v1/ula", secret)                  with a network secret
//	g      = H("hyperlan/v1/ula", ipv4 prefix as text)    without one ("10.77.0.0/16")
//	prefix = fd (8 bits) || g[0:5] (40 bits) || 0000 (16-bit subnet ID) :: /64
//
// Members with the same secret, or without a secret and with the same IPv4 prefix, agree on
// it. The two inputs never collide: a secret is 32 bytes and the text of an IPv4 prefix at
// most 18. ipv4 is masked first.
func DefaultIPv6Prefix(secret []byte, ipv4 netip.Prefix) netip.Prefix {
	var g [32]byte
	if secret != nil {
		g = labelHash(labelULA, secret)
	} else {
		g = labelHash(labelULA, []byte(ipv4.Masked().String()))
	}
	var a [16]byte
	a[0] = 0xfd
	copy(a[1:6], g[:5])
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

// A Member is one node of a network as addressing sees it: the config's own node or a peer,
// or at run time a node admitted by the network secret.
type Member struct {
	Name      string
	PublicKey PublicKey
	IPv4      netip.Addr // explicit or derived; the zero Addr takes no part in collisions
	IPv6      netip.Addr // likewise
}

// A Collision is an address claimed by more than one member.
type Collision struct {
	Addr    netip.Addr
	Members []int // indexes into the member list, ascending; at least two
}

// Collisions returns every address that two or more of members share, IPv4 and IPv6 alike,
// ordered by the index of the first member that claims each and then by address. Which
// member keeps a contested address is the caller's policy; derivation alone cannot avoid
// collisions, so a member that loses one needs an explicit address.
func Collisions(members []Member) []Collision {
	owners := make(map[netip.Addr][]int)
	for i, m := range members {
		for _, a := range []netip.Addr{m.IPv4, m.IPv6} {
			if a.IsValid() && !slices.Contains(owners[a], i) {
				owners[a] = append(owners[a], i)
			}
		}
	}
	var out []Collision
	for a, idx := range owners {
		if len(idx) > 1 {
			out = append(out, Collision{Addr: a, Members: idx})
		}
	}
	slices.SortFunc(out, func(x, y Collision) int {
		if x.Members[0] != y.Members[0] {
			return x.Members[0] - y.Members[0]
		}
		return x.Addr.Compare(y.Addr)
	})
	return out
}
