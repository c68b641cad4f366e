package records

import (
	"fmt"
	"net/netip"

	"github.com/hyperlan/hyperlan/dht/compact"
)

// NoisePayload is the plaintext a client sends in Noise message 1 and a server answers in
// message 2 (hyperdht lib/messages.js noisePayload):
//
//	version:uint  flags:uint  error:uint  firewall:uint  [holepunch]  [addresses4]
//	[addresses6]  [udx]  [secretStream]  [relayThrough]  [relayAddresses]
//
//	flags         1 holepunch, 2 addresses4, 4 addresses6, 8 udx, 16 secretStream,
//	              32 relayThrough, 64 relayAddresses
//	holepunch     id:uint  relays:array(relayAddress:ipv4Address peerAddress:ipv4Address)
//	addresses4    array(ipv4Address)   written only when non-empty
//	addresses6    array(ipv6Address)   written only when non-empty
//	udx           version:uint  features:uint  id:uint  seq:uint   (features: 1 reusableSocket)
//	secretStream  version:uint
//	relayThrough  version:uint  flags:uint  publicKey:32  token:32
//	relayAddresses array(ipv4Address)  written whenever non-nil, even empty
//
// A decoder that meets a version other than 1 reads no further (see [ParseNoisePayload]).
// Absent optional parts are nil.
type NoisePayload struct {
	// Version is the version as received. AppendNoisePayload always writes
	// NoisePayloadVersion, whatever this says.
	Version  uint64
	Error    ConnError
	Firewall Firewall // the sender's reachability

	// Holepunch is set by a server that can be punched to, not by one that is open.
	Holepunch *HolepunchInfo
	// Addresses4 and Addresses6 are addresses the sender may be reached at directly (its
	// public address, and local ones for same-LAN connections). Empty lists are not
	// written and decode as nil.
	Addresses4 []netip.AddrPort
	Addresses6 []netip.AddrPort
	// UDX describes the sender's raw stream; a server aborts a handshake without it.
	UDX          *UDXInfo
	SecretStream *SecretStreamInfo
	// RelayThrough names a blind relay the sender wants the connection to go through.
	RelayThrough *RelayThroughInfo
	// RelayAddresses are the nodes a server announced through. A non-nil list is written
	// even when empty, and ParseNoisePayload returns such a list as empty, not nil.
	RelayAddresses []netip.AddrPort
}

// HolepunchInfo is what a server needs a client to know to punch to it.
type HolepunchInfo struct {
	ID     uint64      // the server's holepunch slot, to be sent back in Holepunch.ID
	Relays []RelayInfo // nil when empty
}

// RelayInfo is one node a server announced through, with the server's address as that node
// sees it. Both addresses are IPv4 and must be valid.
type RelayInfo struct {
	RelayAddress netip.AddrPort
	PeerAddress  netip.AddrPort
}

// UDXInfo describes the sender's UDX raw stream.
type UDXInfo struct {
	Version        uint64 // as received; written as NoisePayloadVersion
	ReusableSocket bool   // features & 1; the decoder drops the other feature bits
	ID             uint64 // the sender's stream id; the reference sends a uint32
	Seq            uint64 // the reference always sends 0
}

// SecretStreamInfo says the sender speaks secret-stream over the raw stream.
type SecretStreamInfo struct {
	Version uint64 // as received; written as NoisePayloadVersion
}

// RelayThroughInfo names a blind relay and the pairing token both ends present to it. Its
// flags field is written as 0 and skipped on decode, as in the reference.
type RelayThroughInfo struct {
	Version   uint64 // as received; written as NoisePayloadVersion
	PublicKey [32]byte
	Token     [32]byte
}

// Flag bits of a noise payload.
const (
	noiseHolepunch      = 1 << 0
	noiseAddresses4     = 1 << 1
	noiseAddresses6     = 1 << 2
	noiseUDX            = 1 << 3
	noiseSecretStream   = 1 << 4
	noiseRelayThrough   = 1 << 5
	noiseRelayAddresses = 1 << 6

	udxReusableSocket = 1 << 0 // udx features
)

// Fewest bytes one holepunch relay takes: two ipv4Address.
const relayInfoLen = 2 * compact.IPv4AddrLen

// AppendNoisePayload appends the encoding of p with version NoisePayloadVersion. It fails,
// leaving b as it was, if an address is of the wrong family or not valid
// (compact.ErrBadAddress).
func AppendNoisePayload(b []byte, p *NoisePayload) ([]byte, error) {
	var flags uint64
	if p.Holepunch != nil {
		flags |= noiseHolepunch
	}
	if len(p.Addresses4) > 0 {
		flags |= noiseAddresses4
	}
	if len(p.Addresses6) > 0 {
		flags |= noiseAddresses6
	}
	if p.UDX != nil {
		flags |= noiseUDX
	}
	if p.SecretStream != nil {
		flags |= noiseSecretStream
	}
	if p.RelayThrough != nil {
		flags |= noiseRelayThrough
	}
	if p.RelayAddresses != nil {
		flags |= noiseRelayAddresses
	}
	orig := b
	b = compact.AppendUint(b, NoisePayloadVersion)
	b = compact.AppendUint(b, flags)
	b = compact.AppendUint(b, uint64(p.Error))
	b = compact.AppendUint(b, uint64(p.Firewall))
	var err error
	if hp := p.Holepunch; hp != nil {
		b = compact.AppendUint(b, hp.ID)
		b = compact.AppendArrayLen(b, len(hp.Relays))
		for _, r := range hp.Relays {
			if b, err = appendAddr(b, "noise payload relay", r.RelayAddress, compact.AppendIPv4Addr); err != nil {
				return orig, err
			}
			if b, err = appendAddr(b, "noise payload relay peer address", r.PeerAddress, compact.AppendIPv4Addr); err != nil {
				return orig, err
			}
		}
	}
	if len(p.Addresses4) > 0 {
		if b, err = appendAddrs(b, "noise payload address", p.Addresses4, compact.AppendIPv4Addr); err != nil {
			return orig, err
		}
	}
	if len(p.Addresses6) > 0 {
		if b, err = appendAddrs(b, "noise payload address", p.Addresses6, compact.AppendIPv6Addr); err != nil {
			return orig, err
		}
	}
	if u := p.UDX; u != nil {
		var features uint64
		if u.ReusableSocket {
			features |= udxReusableSocket
		}
		b = compact.AppendUint(b, NoisePayloadVersion)
		b = compact.AppendUint(b, features)
		b = compact.AppendUint(b, u.ID)
		b = compact.AppendUint(b, u.Seq)
	}
	if p.SecretStream != nil {
		b = compact.AppendUint(b, NoisePayloadVersion)
	}
	if rt := p.RelayThrough; rt != nil {
		b = compact.AppendUint(b, NoisePayloadVersion)
		b = compact.AppendUint(b, 0) // flags
		b = compact.AppendFixed32(b, rt.PublicKey)
		b = compact.AppendFixed32(b, rt.Token)
	}
	if p.RelayAddresses != nil {
		if b, err = appendAddrs(b, "noise payload relay address", p.RelayAddresses, compact.AppendIPv4Addr); err != nil {
			return orig, err
		}
	}
	return b, nil
}

// ParseNoisePayload decodes a noise payload from the start of b and returns it with the
// number of bytes it used.
//
// As in the reference: a version other than NoisePayloadVersion ends the decoding there,
// with success, and the payload holds only that Version (the receiver is expected to answer
// ConnErrorVersionMismatch); unknown flag bits and the bytes after the last field are
// ignored; the versions inside udx, secretStream and relayThrough are reported but not
// checked. Address and relay lists are bounded only by the length of b.
func ParseNoisePayload(b []byte) (NoisePayload, int, error) {
	r := compact.NewReader(b)
	p := NoisePayload{Version: r.Uint()}
	if r.Err() == nil && p.Version == NoisePayloadVersion {
		readNoisePayload(r, &p)
	}
	if err := r.Err(); err != nil {
		return NoisePayload{}, 0, fmt.Errorf("records: parse noise payload: %w", err)
	}
	return p, r.Offset(), nil
}

// readNoisePayload reads what follows the version of a version-1 noise payload into p.
func readNoisePayload(r *compact.Reader, p *NoisePayload) {
	flags := r.Uint()
	p.Error = ConnError(r.Uint())
	p.Firewall = Firewall(r.Uint())
	if flags&noiseHolepunch != 0 {
		hp := &HolepunchInfo{ID: r.Uint()}
		if n := r.ArrayLen(relayInfoLen); n > 0 {
			hp.Relays = make([]RelayInfo, n)
			for i := range hp.Relays {
				hp.Relays[i] = RelayInfo{RelayAddress: r.IPv4Addr(), PeerAddress: r.IPv4Addr()}
			}
		}
		p.Holepunch = hp
	}
	if flags&noiseAddresses4 != 0 {
		p.Addresses4 = readIPv4s(r)
	}
	if flags&noiseAddresses6 != 0 {
		p.Addresses6 = readAddrs(r, compact.IPv6AddrLen, (*compact.Reader).IPv6Addr)
	}
	if flags&noiseUDX != 0 {
		u := &UDXInfo{Version: r.Uint()}
		u.ReusableSocket = r.Uint()&udxReusableSocket != 0
		u.ID = r.Uint()
		u.Seq = r.Uint()
		p.UDX = u
	}
	if flags&noiseSecretStream != 0 {
		p.SecretStream = &SecretStreamInfo{Version: r.Uint()}
	}
	if flags&noiseRelayThrough != 0 {
		rt := &RelayThroughInfo{Version: r.Uint()}
		r.Uint() // flags, unused
		rt.PublicKey = r.Fixed32()
		rt.Token = r.Fixed32()
		p.RelayThrough = rt
	}
	if flags&noiseRelayAddresses != 0 {
		p.RelayAddresses = nonNil(readIPv4s(r))
	}
}
