package udx

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// Wire constants, as in libudx include/udx.h.
const (
	HeaderSize = 20   // bytes of the fixed header in front of every packet
	Magic      = 0xFF // byte 0 of every packet
	Version    = 1    // byte 1; any other value makes a datagram non-UDX

	MTUBase = 1200 // IP packet size a stream starts at (UDX_MTU_BASE)
	MTUMax  = 1500 // largest IP packet size MTU probing goes up to (UDX_MTU_MAX)
	MTUStep = 32   // bytes by which each MTU probe grows (UDX_MTU_STEP)

	// MaxDatagram is the receive buffer of a libudx socket
	// (UDX_SOCKET_PACKET_BUFFER_SIZE). libudx silently truncates longer
	// datagrams and may even accept a truncated DATA packet, so never send a
	// datagram longer than this to a libudx peer.
	MaxDatagram = 2048
)

// Errors returned by [ParseHeader] and [Payload].
var (
	// ErrShort means a datagram shorter than HeaderSize. Such a datagram is
	// not UDX: the socket hands it on as a plain datagram.
	ErrShort = errors.New("udx: datagram shorter than the 20-byte header")

	// ErrNotUDX means a datagram whose first two bytes are not Magic and
	// Version. The socket hands it on as a plain datagram.
	ErrNotUDX = errors.New("udx: not a UDX packet")

	// ErrDataOffset means a packet whose data_offset points past its end.
	// libudx drops such a packet whole (no data, no ack), and so must we.
	ErrDataOffset = errors.New("udx: data_offset beyond end of packet")
)

// Type is the type byte of a packet: a set of flag bits, each of which is
// tested on its own. The zero Type is a pure ack.
type Type uint8

// The type bits (UDX_HEADER_* in libudx).
const (
	TypeData      Type = 0x01 // payload is stream data; consumes a seq
	TypeEnd       Type = 0x02 // sender finished writing; consumes a seq
	TypeSACK      Type = 0x04 // body is SACK blocks
	TypeMessage   Type = 0x08 // payload is an unreliable datagram
	TypeDestroy   Type = 0x10 // sender aborts the stream
	TypeHeartbeat Type = 0x20 // asks for an ack
)

// String returns the set bits by name joined with "|", in bit order, for
// example "DATA|END". Unused bits appear as hex ("DATA|0x40"); the zero Type
// is "ACK".
func (t Type) String() string {
	if t == 0 {
		return "ACK"
	}
	names := [...]string{"DATA", "END", "SACK", "MESSAGE", "DESTROY", "HEARTBEAT"}
	var sb strings.Builder
	for i, name := range names {
		if t&(1<<i) == 0 {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('|')
		}
		sb.WriteString(name)
	}
	if rest := t &^ (1<<len(names) - 1); rest != 0 {
		if sb.Len() > 0 {
			sb.WriteByte('|')
		}
		sb.WriteString("0x")
		sb.WriteString(strconv.FormatUint(uint64(rest), 16))
	}
	return sb.String()
}

// StreamID identifies a stream within one UDX instance. Each side picks its
// own; packets carry the receiver's.
type StreamID uint32

// Header is the fixed 20-byte header of a UDX packet. Magic and version are
// not fields: Append and Put always write them and ParseHeader checks them.
// Every other byte of the header maps to a field, so a header parsed from a
// packet re-encodes to the same 20 bytes.
type Header struct {
	Type       Type
	DataOffset uint8    // bytes of padding between the header and the payload
	ID         StreamID // the receiving stream's id
	RWnd       uint32   // the sender's receive window, in bytes
	Seq        Seq      // this packet's seq (DATA, END) or the sender's next seq
	Ack        Seq      // the next seq the sender expects from the receiver
}

// Append appends the 20-byte encoding of h to b and returns the extended
// slice.
func (h *Header) Append(b []byte) []byte {
	b = append(b, Magic, Version, byte(h.Type), h.DataOffset)
	b = binary.LittleEndian.AppendUint32(b, uint32(h.ID))
	b = binary.LittleEndian.AppendUint32(b, h.RWnd)
	b = binary.LittleEndian.AppendUint32(b, uint32(h.Seq))
	return binary.LittleEndian.AppendUint32(b, uint32(h.Ack))
}

// Put writes the encoding of h over b[:HeaderSize], for rewriting a header in
// place (a relay's id, a retransmission's ack and rwnd). The rest of b is
// left alone. It panics if len(b) < HeaderSize.
func (h *Header) Put(b []byte) {
	_ = b[HeaderSize-1]
	b[0], b[1], b[2], b[3] = Magic, Version, byte(h.Type), h.DataOffset
	binary.LittleEndian.PutUint32(b[4:], uint32(h.ID))
	binary.LittleEndian.PutUint32(b[8:], h.RWnd)
	binary.LittleEndian.PutUint32(b[12:], uint32(h.Seq))
	binary.LittleEndian.PutUint32(b[16:], uint32(h.Ack))
}

// ParseHeader decodes the header at the start of the datagram b. It returns
// ErrShort if b is shorter than HeaderSize and ErrNotUDX if the magic or
// version byte is wrong (checked in that order, as libudx process_packet
// does); both mean b is a plain datagram. Unknown type bits are kept. The
// body (b[HeaderSize:]) is not looked at.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrShort
	}
	if b[0] != Magic || b[1] != Version {
		return Header{}, ErrNotUDX
	}
	return Header{
		Type:       Type(b[2]),
		DataOffset: b[3],
		ID:         StreamID(binary.LittleEndian.Uint32(b[4:])),
		RWnd:       binary.LittleEndian.Uint32(b[8:]),
		Seq:        Seq(binary.LittleEndian.Uint32(b[12:])),
		Ack:        Seq(binary.LittleEndian.Uint32(b[16:])),
	}, nil
}

// IsUDX reports whether the datagram b passes the socket's demultiplexing
// test: at least HeaderSize bytes, starting with Magic and Version. Whether
// it is then a stream packet depends on the stream table (see the package
// doc).
func IsUDX(b []byte) bool {
	return len(b) >= HeaderSize && b[0] == Magic && b[1] == Version
}

// PeekID returns the stream id of the datagram b without decoding the rest
// of the header. ok is false when b is not UDX ([IsUDX]).
func PeekID(b []byte) (id StreamID, ok bool) {
	if !IsUDX(b) {
		return 0, false
	}
	return StreamID(binary.LittleEndian.Uint32(b[4:])), true
}

// Payload returns the payload of the datagram b whose header h was parsed
// from it: the bytes after the header and h.DataOffset bytes of padding. The
// result aliases b. It returns ErrShort if b is shorter than a header and
// ErrDataOffset if h.DataOffset is larger than the body (len(b)-HeaderSize);
// libudx process_packet then drops the whole packet, processing neither its
// data nor its ack and sending no ack, and callers must do the same. A
// data_offset equal to the body length gives an empty payload. The padding's
// content is not checked. libudx applies the drop after two earlier steps
// that ignore data_offset: a stream that relays forwards the packet as it is,
// and a HEARTBEAT is answered with an ack.
func Payload(h Header, b []byte) ([]byte, error) {
	if len(b) < HeaderSize {
		return nil, ErrShort
	}
	body := b[HeaderSize:]
	if int(h.DataOffset) > len(body) {
		return nil, ErrDataOffset
	}
	return body[h.DataOffset:], nil
}

// MaxPayload returns the largest DATA or MESSAGE payload that fits an IP
// packet of mtu bytes: mtu minus the IP, UDP and UDX headers, that is mtu-48
// towards an IPv4 address and mtu-68 towards an IPv6 one (libudx
// udx__max_payload). libudx decides by the family of the stream's remote
// address, so a dual-stack socket that sees IPv4 peers as v4-mapped IPv6
// uses the IPv6 size. An mtu too small for the headers gives 0.
func MaxPayload(mtu int, ipv6 bool) int {
	const udpHeader = 8
	ipHeader := 20
	if ipv6 {
		ipHeader = 40
	}
	return max(mtu-ipHeader-udpHeader-HeaderSize, 0)
}
