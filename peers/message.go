package peers

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"unicode/utf8"
)

// Control messages travel on a session's reliable stream, one secret-stream frame each (see
// the package doc for the layout). Decoders check every length, never panic and ignore
// bytes after the fields they know, so that a later version may append fields.

// Message types (the first byte of a frame).
const (
	msgAuth  = 1
	msgHello = 2
	msgPing  = 3
	msgPong  = 4
)

// Sizes and bounds of the encoding.
const (
	protocolVersion = 1
	proofSize       = 32   // a keyed BLAKE2b-256
	maxName         = 64   // bytes of a member name in a hello
	maxRoutes       = 64   // subnets in a hello
	maxPingPadding  = 1500 // padding of a ping (it drives the UDX MTU search)
	authFlagProof   = 1    // the auth message carries a proof
)

var (
	errShort   = errors.New("peers: truncated message")
	errMsgType = errors.New("peers: unexpected message type")
)

// auth is the first message of each side: the protocol version and, when the sender knows
// the network secret, its proof (see proof.go).
type auth struct {
	version  uint8
	hasProof bool
	proof    [proofSize]byte
}

func appendAuth(b []byte, a *auth) []byte {
	b = append(b, msgAuth, a.version)
	if !a.hasProof {
		return append(b, 0)
	}
	b = append(b, authFlagProof)
	return append(b, a.proof[:]...)
}

func parseAuth(b []byte) (auth, error) {
	var a auth
	if len(b) < 3 {
		return a, errShort
	}
	if b[0] != msgAuth {
		return a, fmt.Errorf("%w %d, want auth", errMsgType, b[0])
	}
	a.version = b[1]
	if a.version == 0 {
		return a, errors.New("peers: auth of protocol version 0")
	}
	if b[2]&authFlagProof != 0 {
		if len(b) < 3+proofSize {
			return a, errShort
		}
		a.hasProof = true
		copy(a.proof[:], b[3:])
	}
	return a, nil
}

// hello tells the other side who this member is: its name, its virtual addresses (either may
// be absent) and the subnets it serves.
type hello struct {
	name   string
	ipv4   netip.Addr
	ipv6   netip.Addr
	routes []netip.Prefix
}

// Route families in a hello.
const (
	family4 = 4
	family6 = 6
)

func appendHello(b []byte, h *hello) []byte {
	name := h.name
	if len(name) > maxName {
		name = name[:maxName]
	}
	b = append(b, msgHello, byte(len(name)))
	b = append(b, name...)
	var a4 [4]byte
	if h.ipv4.Is4() {
		a4 = h.ipv4.As4()
	}
	b = append(b, a4[:]...)
	var a6 [16]byte
	if h.ipv6.Is6() {
		a6 = h.ipv6.As16()
	}
	b = append(b, a6[:]...)
	routes := h.routes[:min(len(h.routes), maxRoutes)]
	b = append(b, byte(len(routes)))
	for _, r := range routes {
		r = r.Masked()
		if r.Addr().Is4() {
			a := r.Addr().As4()
			b = append(b, family4, byte(r.Bits()))
			b = append(b, a[:]...)
		} else {
			a := r.Addr().As16()
			b = append(b, family6, byte(r.Bits()))
			b = append(b, a[:]...)
		}
	}
	return b
}

func parseHello(b []byte) (hello, error) {
	var h hello
	if len(b) < 2 {
		return h, errShort
	}
	if b[0] != msgHello {
		return h, fmt.Errorf("%w %d, want hello", errMsgType, b[0])
	}
	n := int(b[1])
	b = b[2:]
	if n > maxName {
		return h, fmt.Errorf("peers: hello name of %d bytes", n)
	}
	if len(b) < n+4+16+1 {
		return h, errShort
	}
	if !utf8.Valid(b[:n]) {
		return h, errors.New("peers: hello name is not UTF-8")
	}
	h.name = string(b[:n])
	b = b[n:]
	if a := netip.AddrFrom4([4]byte(b[:4])); !a.IsUnspecified() {
		h.ipv4 = a
	}
	if a := netip.AddrFrom16([16]byte(b[4:20])); !a.IsUnspecified() {
		h.ipv6 = a
	}
	count := int(b[20])
	b = b[21:]
	if count > maxRoutes {
		return h, fmt.Errorf("peers: hello with %d routes", count)
	}
	for range count {
		if len(b) < 2 {
			return h, errShort
		}
		fam, bits := b[0], int(b[1])
		b = b[2:]
		var p netip.Prefix
		switch fam {
		case family4:
			if len(b) < 4 || bits > 32 {
				return h, errors.New("peers: bad IPv4 route in hello")
			}
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte(b[:4])), bits)
			b = b[4:]
		case family6:
			if len(b) < 16 || bits > 128 {
				return h, errors.New("peers: bad IPv6 route in hello")
			}
			p = netip.PrefixFrom(netip.AddrFrom16([16]byte(b[:16])), bits)
			b = b[16:]
		default:
			return h, fmt.Errorf("peers: route family %d in hello", fam)
		}
		if p != p.Masked() {
			return h, fmt.Errorf("peers: route %v in hello is not masked", p)
		}
		h.routes = append(h.routes, p)
	}
	return h, nil
}

// appendPing appends a ping carrying stamp (the sender's clock, echoed in the pong) and pad
// bytes of padding.
func appendPing(b []byte, stamp uint64, pad int) []byte {
	b = append(b, msgPing)
	b = binary.BigEndian.AppendUint64(b, stamp)
	for range min(pad, maxPingPadding) {
		b = append(b, 0)
	}
	return b
}

// appendPong answers a ping with its stamp.
func appendPong(b []byte, stamp uint64) []byte {
	b = append(b, msgPong)
	return binary.BigEndian.AppendUint64(b, stamp)
}

// parseStamp returns the stamp of a ping or pong.
func parseStamp(b []byte) (uint64, error) {
	if len(b) < 9 {
		return 0, errShort
	}
	return binary.BigEndian.Uint64(b[1:9]), nil
}
