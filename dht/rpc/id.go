package rpc

import (
	"net/netip"

	"golang.org/x/crypto/blake2b"

	"github.com/hyperlan/hyperlan/dht/compact"
	"github.com/hyperlan/hyperlan/dht/ktable"
)

// NodeID returns the id a node at addr must carry: BLAKE2b-256 of the 6-byte IPv4 peer
// encoding (address then little-endian port), as dht-rpc lib/peer.js derives it. The zero ID
// is returned for an address that is not IPv4.
func NodeID(addr netip.AddrPort) ktable.ID {
	var buf [compact.IPv4AddrLen]byte
	b, err := compact.AppendIPv4Addr(buf[:0], addr)
	if err != nil {
		return ktable.ID{}
	}
	return blake2b.Sum256(b)
}

// tokens issues and checks round-trip tokens: BLAKE2b-256 keyed with a rotating 32-byte
// secret over the requester's host string (dotted quad, no port), accepting the current and
// the previous secret (dht-rpc lib/io.js). The secrets are created on first use.
// Not safe for concurrent use; the Node guards it with its mutex.
type tokens struct {
	secrets [2][32]byte // [0] previous, [1] current
	ready   bool
	drains  int // drain ticks until the next rotation
	random  func([]byte)
}

// tokenRotateDrains is how many 750 ms drain ticks a secret lives: 10 (7.5 s).
const tokenRotateDrains = 10

func (t *tokens) init() {
	if t.ready {
		return
	}
	t.random(t.secrets[0][:])
	t.random(t.secrets[1][:])
	t.ready = true
	t.drains = tokenRotateDrains
}

// issue returns the token for host under the current secret.
func (t *tokens) issue(host netip.Addr) [32]byte {
	t.init()
	return tokenFor(&t.secrets[1], host)
}

// valid reports whether tok is a token for host under either live secret.
func (t *tokens) valid(host netip.Addr, tok *[32]byte) bool {
	t.init()
	return tokenFor(&t.secrets[1], host) == *tok || tokenFor(&t.secrets[0], host) == *tok
}

// drain advances the rotation clock by one drain tick. After tokenRotateDrains ticks the
// current secret becomes the previous one and the new current secret is the hash of the old
// previous secret.
func (t *tokens) drain() {
	if !t.ready {
		return
	}
	if t.drains--; t.drains > 0 {
		return
	}
	t.drains = tokenRotateDrains
	old := t.secrets[0]
	t.secrets[0] = t.secrets[1]
	t.secrets[1] = blake2b.Sum256(old[:])
}

func tokenFor(secret *[32]byte, host netip.Addr) [32]byte {
	h, _ := blake2b.New256(secret[:]) // a 32-byte key is always valid
	var buf [len("255.255.255.255")]byte
	h.Write(host.Unmap().AppendTo(buf[:0]))
	var out [32]byte
	h.Sum(out[:0])
	return out
}
