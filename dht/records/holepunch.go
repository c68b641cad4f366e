package records

import (
	"fmt"
	"net/netip"

	"github.com/hyperlan/hyperlan/dht/compact"
)

// Holepunch is the value of PEER_HOLEPUNCH (hyperdht lib/messages.js holepunch): a sealed
// holepunch payload on its way between a client, a relay and a server (see [Mode]):
//
//	flags:uint  mode:uint  id:uint  payload:buffer  [peerAddress:ipv4Address]
//	flags: 1 peerAddress
//
// PeerAddress is present when it is valid.
type Holepunch struct {
	Mode Mode
	ID   uint64 // the server's holepunch slot, from the noise payload's HolepunchInfo
	// Payload is a HolepunchPayload sealed with [SecurePayload.Seal].
	Payload []byte
	// PeerAddress is the relay's next hop in FROM_CLIENT, the client as the relay saw it in
	// FROM_RELAY and FROM_SERVER, and the server as the relay saw it in a REPLY.
	PeerAddress netip.AddrPort
}

// Flag bits of a holepunch.
const holepunchPeerAddress = 1 << 0

// AppendHolepunch appends the encoding of h. It fails, leaving b as it was, if PeerAddress is
// present and not IPv4 (compact.ErrBadAddress).
func AppendHolepunch(b []byte, h *Holepunch) ([]byte, error) {
	var flags uint64
	if h.PeerAddress.IsValid() {
		flags |= holepunchPeerAddress
	}
	orig := b
	b = compact.AppendUint(b, flags)
	b = compact.AppendUint(b, uint64(h.Mode))
	b = compact.AppendUint(b, h.ID)
	b = compact.AppendBuffer(b, h.Payload)
	b, err := appendOptIPv4(b, "holepunch peer address", h.PeerAddress)
	if err != nil {
		return orig, err
	}
	return b, nil
}

// ParseHolepunch decodes a holepunch from the start of b and returns it with the number of
// bytes it used. Flag bits other than 1 and the bytes after the last field are ignored, as in
// the reference. Payload aliases b and is non-nil, possibly empty.
func ParseHolepunch(b []byte) (Holepunch, int, error) {
	r := compact.NewReader(b)
	flags := r.Uint()
	h := Holepunch{Mode: Mode(r.Uint()), ID: r.Uint(), Payload: r.Buffer()}
	if flags&holepunchPeerAddress != 0 {
		h.PeerAddress = r.IPv4Addr()
	}
	if err := r.Err(); err != nil {
		return Holepunch{}, 0, fmt.Errorf("records: parse holepunch: %w", err)
	}
	return h, r.Offset(), nil
}

// HolepunchPayload is the plaintext of a sealed holepunch payload (hyperdht lib/messages.js
// holepunchPayload), what client and server tell each other between punching rounds:
//
//	flags:uint  error:uint  firewall:uint  round:uint  [addresses:array(ipv4Address)]
//	[remoteAddress:ipv4Address]  [token:32]  [remoteToken:32]
//	flags: 1 connected, 2 punching, 4 addresses, 8 remoteAddress, 16 token, 32 remoteToken
//
// Absent optional fields are nil, or the zero netip.AddrPort for RemoteAddress.
type HolepunchPayload struct {
	Error     ConnError
	Firewall  Firewall // the sender's NAT as it has classified it
	Round     uint64
	Connected bool // the sender already holds a working path
	Punching  bool // the sender is punching this round

	// Addresses are the sender's public addresses. A non-nil list is written even when
	// empty (the flag is set, the count is 0), and ParseHolepunchPayload returns such a list
	// as empty, not nil.
	Addresses []netip.AddrPort
	// RemoteAddress is the receiver as the sender sees it.
	RemoteAddress netip.AddrPort
	// Token is the sender's token for the receiver's host ([SecurePayload.Token]), and
	// RemoteToken the receiver's token echoed back, which proves the sender is at that host.
	Token       *[32]byte
	RemoteToken *[32]byte
}

// Flag bits of a holepunch payload.
const (
	holepunchConnected     = 1 << 0
	holepunchPunching      = 1 << 1
	holepunchAddresses     = 1 << 2
	holepunchRemoteAddress = 1 << 3
	holepunchToken         = 1 << 4
	holepunchRemoteToken   = 1 << 5
)

// AppendHolepunchPayload appends the encoding of p. It fails, leaving b as it was, if an
// address is not IPv4 (compact.ErrBadAddress).
//
// Unlike the reference, which sizes error, firewall and round as one byte each before
// writing them, it writes values of 253 and above correctly.
func AppendHolepunchPayload(b []byte, p *HolepunchPayload) ([]byte, error) {
	var flags uint64
	if p.Connected {
		flags |= holepunchConnected
	}
	if p.Punching {
		flags |= holepunchPunching
	}
	if p.Addresses != nil {
		flags |= holepunchAddresses
	}
	if p.RemoteAddress.IsValid() {
		flags |= holepunchRemoteAddress
	}
	if p.Token != nil {
		flags |= holepunchToken
	}
	if p.RemoteToken != nil {
		flags |= holepunchRemoteToken
	}
	orig := b
	b = compact.AppendUint(b, flags)
	b = compact.AppendUint(b, uint64(p.Error))
	b = compact.AppendUint(b, uint64(p.Firewall))
	b = compact.AppendUint(b, p.Round)
	var err error
	if p.Addresses != nil {
		if b, err = appendAddrs(b, "holepunch payload address", p.Addresses, compact.AppendIPv4Addr); err != nil {
			return orig, err
		}
	}
	if b, err = appendOptIPv4(b, "holepunch payload remote address", p.RemoteAddress); err != nil {
		return orig, err
	}
	if p.Token != nil {
		b = compact.AppendFixed32(b, *p.Token)
	}
	if p.RemoteToken != nil {
		b = compact.AppendFixed32(b, *p.RemoteToken)
	}
	return b, nil
}

// ParseHolepunchPayload decodes a holepunch payload from the start of b and returns it with
// the number of bytes it used. Flag bits above 32 and the bytes after the last field are
// ignored, as in the reference. The address list is bounded only by the length of b.
func ParseHolepunchPayload(b []byte) (HolepunchPayload, int, error) {
	r := compact.NewReader(b)
	flags := r.Uint()
	p := HolepunchPayload{
		Error:     ConnError(r.Uint()),
		Firewall:  Firewall(r.Uint()),
		Round:     r.Uint(),
		Connected: flags&holepunchConnected != 0,
		Punching:  flags&holepunchPunching != 0,
	}
	if flags&holepunchAddresses != 0 {
		p.Addresses = nonNil(readIPv4s(r))
	}
	if flags&holepunchRemoteAddress != 0 {
		p.RemoteAddress = r.IPv4Addr()
	}
	if flags&holepunchToken != 0 {
		t := r.Fixed32()
		p.Token = &t
	}
	if flags&holepunchRemoteToken != 0 {
		t := r.Fixed32()
		p.RemoteToken = &t
	}
	if err := r.Err(); err != nil {
		return HolepunchPayload{}, 0, fmt.Errorf("records: parse holepunch payload: %w", err)
	}
	return p, r.Offset(), nil
}
