package records

import (
	"fmt"
	"net/netip"

	"github.com/hyperlan/hyperlan/dht/compact"
)

// Handshake is the value of PEER_HANDSHAKE (hyperdht lib/messages.js handshake): a Noise IK
// message on its way between a client, up to two relays and a server (see [Mode]):
//
//	flags:uint  mode:uint  noise:buffer  [peerAddress:ipv4Address]  [relayAddress:ipv4Address]
//	flags: 1 peerAddress, 2 relayAddress
//
// An address is present when it is valid; the zero netip.AddrPort leaves it out.
type Handshake struct {
	Mode  Mode
	Noise []byte // Noise message 1 (client to server) or 2 (server to client)

	// PeerAddress is the client as the first relay saw it (FROM_RELAY, FROM_SECOND_RELAY,
	// FROM_SERVER), or, in a REPLY, the server as the relay saw it.
	PeerAddress netip.AddrPort
	// RelayAddress is where a server sends its FROM_SERVER answer to a FROM_SECOND_RELAY
	// value: the first relay. A client may set it in FROM_CLIENT to name the relay's next hop.
	RelayAddress netip.AddrPort
}

// Flag bits of a handshake.
const (
	handshakePeerAddress  = 1 << 0
	handshakeRelayAddress = 1 << 1
)

// AppendHandshake appends the encoding of h. It fails, leaving b as it was, if a present
// address is not IPv4 (compact.ErrBadAddress).
func AppendHandshake(b []byte, h *Handshake) ([]byte, error) {
	var flags uint64
	if h.PeerAddress.IsValid() {
		flags |= handshakePeerAddress
	}
	if h.RelayAddress.IsValid() {
		flags |= handshakeRelayAddress
	}
	orig := b
	b = compact.AppendUint(b, flags)
	b = compact.AppendUint(b, uint64(h.Mode))
	b = compact.AppendBuffer(b, h.Noise)
	var err error
	if b, err = appendOptIPv4(b, "handshake peer address", h.PeerAddress); err != nil {
		return orig, err
	}
	if b, err = appendOptIPv4(b, "handshake relay address", h.RelayAddress); err != nil {
		return orig, err
	}
	return b, nil
}

// ParseHandshake decodes a handshake from the start of b and returns it with the number of
// bytes it used. As in the reference, flag bits other than 1 and 2 and the bytes after the
// last field are ignored, and any mode is accepted. Noise aliases b and is non-nil, possibly
// empty.
func ParseHandshake(b []byte) (Handshake, int, error) {
	r := compact.NewReader(b)
	flags := r.Uint()
	h := Handshake{Mode: Mode(r.Uint()), Noise: r.Buffer()}
	if flags&handshakePeerAddress != 0 {
		h.PeerAddress = r.IPv4Addr()
	}
	if flags&handshakeRelayAddress != 0 {
		h.RelayAddress = r.IPv4Addr()
	}
	if err := r.Err(); err != nil {
		return Handshake{}, 0, fmt.Errorf("records: parse handshake: %w", err)
	}
	return h, r.Offset(), nil
}
