package records

import (
	"fmt"
	"net/netip"

	"github.com/hyperlan/hyperlan/dht/compact"
)

// Peer is the record a storing node keeps for an announcer and returns from FIND_PEER and
// LOOKUP (hyperdht lib/messages.js peer): the announcer's public key and the addresses of the
// nodes it can be reached through.
type Peer struct {
	PublicKey      [32]byte
	RelayAddresses []netip.AddrPort // IPv4 only
}

// minPeerLen is the size of a peer with no relay addresses.
const minPeerLen = 32 + 1

// AppendPeer appends the encoding of p. It fails, leaving b as it was, if a relay address is
// not IPv4 (compact.ErrBadAddress).
func AppendPeer(b []byte, p *Peer) ([]byte, error) {
	orig := b
	b = compact.AppendFixed32(b, p.PublicKey)
	b = compact.AppendArrayLen(b, len(p.RelayAddresses))
	for _, a := range p.RelayAddresses {
		var err error
		if b, err = compact.AppendIPv4Addr(b, a); err != nil {
			return orig, fmt.Errorf("records: peer relay address %v: %w", a, err)
		}
	}
	return b, nil
}

// ParsePeer decodes a peer from the start of b and returns it with the number of bytes it
// used. A peer with no relay addresses has a nil RelayAddresses. More than
// MaxDecodeRelayAddresses addresses fail with ErrTooMany.
func ParsePeer(b []byte) (Peer, int, error) {
	r := compact.NewReader(b)
	p, err := readPeer(r)
	if err != nil {
		return Peer{}, 0, fmt.Errorf("records: parse peer: %w", err)
	}
	return p, r.Offset(), nil
}

func readPeer(r *compact.Reader) (Peer, error) {
	var p Peer
	p.PublicKey = r.Fixed32()
	n := r.ArrayLen(compact.IPv4AddrLen)
	if err := r.Err(); err != nil {
		return Peer{}, err
	}
	if n > MaxDecodeRelayAddresses {
		return Peer{}, ErrTooMany
	}
	if n > 0 {
		p.RelayAddresses = make([]netip.AddrPort, n)
		for i := range p.RelayAddresses {
			p.RelayAddresses[i] = r.IPv4Addr()
		}
	}
	return p, r.Err()
}

// Announce is the value of ANNOUNCE and UNANNOUNCE (hyperdht lib/messages.js announce).
// Absent optional fields are nil.
type Announce struct {
	Peer      *Peer
	Refresh   *[32]byte // preimage-chain refresh token (storing side only; no client sends it)
	Signature *[64]byte
	Bump      uint64 // written only when non-zero

	// PeerRaw is the peer's encoding exactly as ParseAnnounce received it, aliasing the input
	// (nil when there is no peer). It is informational: the signature covers the canonical
	// re-encoding of Peer, which equals PeerRaw for every sender that writes the shortest
	// relay count. AppendAnnounce ignores it.
	PeerRaw []byte
}

// Flag bits of an announce.
const (
	announcePeer      = 1 << 0
	announceRefresh   = 1 << 1
	announceSignature = 1 << 2
	announceBump      = 1 << 3
)

// AppendAnnounce appends the encoding of a:
//
//	flags:uint [peer] [refresh:32] [signature:64] [bump:uint]
//
// with flag bits 1 peer, 2 refresh, 4 signature, 8 bump. It fails only as AppendPeer does.
func AppendAnnounce(b []byte, a *Announce) ([]byte, error) {
	var flags uint64
	if a.Peer != nil {
		flags |= announcePeer
	}
	if a.Refresh != nil {
		flags |= announceRefresh
	}
	if a.Signature != nil {
		flags |= announceSignature
	}
	if a.Bump != 0 {
		flags |= announceBump
	}
	orig := b
	b = compact.AppendUint(b, flags)
	if a.Peer != nil {
		var err error
		if b, err = AppendPeer(b, a.Peer); err != nil {
			return orig, err
		}
	}
	if a.Refresh != nil {
		b = compact.AppendFixed32(b, *a.Refresh)
	}
	if a.Signature != nil {
		b = compact.AppendFixed64(b, *a.Signature)
	}
	if a.Bump != 0 {
		b = compact.AppendUint(b, a.Bump)
	}
	return b, nil
}

// ParseAnnounce decodes an announce. Unknown flag bits are ignored and so are bytes after the
// last field, as in the reference; a bump flag with a zero bump decodes as Bump 0. PeerRaw
// aliases b.
func ParseAnnounce(b []byte) (Announce, error) {
	var a Announce
	r := compact.NewReader(b)
	flags := r.Uint()
	if flags&announcePeer != 0 && r.Err() == nil {
		start := r.Offset()
		p, err := readPeer(r)
		if err != nil {
			return Announce{}, fmt.Errorf("records: parse announce: %w", err)
		}
		a.Peer = &p
		a.PeerRaw = b[start:r.Offset():r.Offset()]
	}
	if flags&announceRefresh != 0 {
		v := r.Fixed32()
		a.Refresh = &v
	}
	if flags&announceSignature != 0 {
		v := r.Fixed64()
		a.Signature = &v
	}
	if flags&announceBump != 0 {
		a.Bump = r.Uint()
	}
	if err := r.Err(); err != nil {
		return Announce{}, fmt.Errorf("records: parse announce: %w", err)
	}
	return a, nil
}

// LookupReply is the value of a LOOKUP reply (hyperdht lib/messages.js lookupRawReply).
type LookupReply struct {
	Peers []Peer
	Bump  uint64
}

// AppendLookupReply appends a LOOKUP reply built from peer records that are already encoded
// (as a storing node keeps them):
//
//	count:uint peer... bump:uint
//
// The records go back to back with no length prefix of their own.
func AppendLookupReply(b []byte, peers [][]byte, bump uint64) []byte {
	b = compact.AppendArrayLen(b, len(peers))
	for _, p := range peers {
		b = append(b, p...)
	}
	return compact.AppendUint(b, bump)
}

// ParseLookupReply decodes a LOOKUP reply. A reply that ends after the peers has Bump 0, as
// older senders wrote none. More than MaxDecodeLookupPeers peers fail with ErrTooMany.
func ParseLookupReply(b []byte) (LookupReply, error) {
	var l LookupReply
	r := compact.NewReader(b)
	n := r.ArrayLen(minPeerLen)
	if r.Err() == nil && n > MaxDecodeLookupPeers {
		return LookupReply{}, fmt.Errorf("records: parse lookup reply: %w", ErrTooMany)
	}
	if n > 0 {
		l.Peers = make([]Peer, n)
		for i := range l.Peers {
			p, err := readPeer(r)
			if err != nil {
				return LookupReply{}, fmt.Errorf("records: parse lookup reply: %w", err)
			}
			l.Peers[i] = p
		}
	}
	if r.Len() > 0 {
		l.Bump = r.Uint()
	}
	if err := r.Err(); err != nil {
		return LookupReply{}, fmt.Errorf("records: parse lookup reply: %w", err)
	}
	return l, nil
}

// Mutable is a signed mutable value as MUTABLE_GET returns it and as a storing node keeps it
// (hyperdht lib/messages.js mutableGetResponse):
//
//	seq:uint value:buffer signature:64
type Mutable struct {
	Seq       uint64
	Value     []byte
	Signature [64]byte
}

// AppendMutable appends the encoding of m.
func AppendMutable(b []byte, m *Mutable) []byte {
	b = compact.AppendUint(b, m.Seq)
	b = compact.AppendBuffer(b, m.Value)
	return compact.AppendFixed64(b, m.Signature)
}

// ParseMutable decodes a mutable value; Value aliases b (non-nil, possibly empty). Bytes
// after the signature are ignored.
func ParseMutable(b []byte) (Mutable, error) {
	var m Mutable
	r := compact.NewReader(b)
	m.Seq = r.Uint()
	m.Value = r.Buffer()
	m.Signature = r.Fixed64()
	if err := r.Err(); err != nil {
		return Mutable{}, fmt.Errorf("records: parse mutable: %w", err)
	}
	return m, nil
}

// MutablePut is the value of MUTABLE_PUT (hyperdht lib/messages.js mutablePutRequest):
//
//	publicKey:32 seq:uint value:buffer signature:64
type MutablePut struct {
	PublicKey [32]byte
	Seq       uint64
	Value     []byte
	Signature [64]byte
}

// AppendMutablePut appends the encoding of m.
func AppendMutablePut(b []byte, m *MutablePut) []byte {
	b = compact.AppendFixed32(b, m.PublicKey)
	b = compact.AppendUint(b, m.Seq)
	b = compact.AppendBuffer(b, m.Value)
	return compact.AppendFixed64(b, m.Signature)
}

// ParseMutablePut decodes a MUTABLE_PUT value; Value aliases b (non-nil, possibly empty).
// Bytes after the signature are ignored.
func ParseMutablePut(b []byte) (MutablePut, error) {
	var m MutablePut
	r := compact.NewReader(b)
	m.PublicKey = r.Fixed32()
	m.Seq = r.Uint()
	m.Value = r.Buffer()
	m.Signature = r.Fixed64()
	if err := r.Err(); err != nil {
		return MutablePut{}, fmt.Errorf("records: parse mutable put: %w", err)
	}
	return m, nil
}
