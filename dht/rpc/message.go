package rpc

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/hyperlan/hyperlan/dht/compact"
)

// Wire constants of dht-rpc (lib/io.js).
const (
	version    = 0b11
	typeReq    = 0x00<<4 | version // 0x03: first byte of a request
	typeResp   = 0x01<<4 | version // 0x13: first byte of a response
	headerSize = 1 + 1 + 2 + 6     // type, flags, tid, to
)

// Request flags (byte 1 of a request).
const (
	reqFlagID       = 1 << 0
	reqFlagToken    = 1 << 1
	reqFlagInternal = 1 << 2
	reqFlagTarget   = 1 << 3
	reqFlagValue    = 1 << 4
)

// Response flags (byte 1 of a response). Bits 2 and 3 differ from requests.
const (
	respFlagID     = 1 << 0
	respFlagToken  = 1 << 1
	respFlagCloser = 1 << 2
	respFlagError  = 1 << 3
	respFlagValue  = 1 << 4
)

// MaxCloserNodes is the most closer nodes a decoder accepts in one response. The reference
// sends at most k (20); the bound keeps a hostile datagram from sizing a large allocation.
const MaxCloserNodes = 256

// Kind tells a request from a response.
type Kind uint8

// Message kinds.
const (
	KindRequest  Kind = 1
	KindResponse Kind = 2
)

// ErrNotRPC is returned by [ParseMessage] for a datagram whose first byte is neither the
// request nor the response marker. The reference ignores such datagrams.
var ErrNotRPC = errors.New("rpc: not a dht-rpc message")

// Message is one decoded dht-rpc datagram, request or response. Optional 32-byte fields carry
// a Has flag; Value is nil when absent and non-nil (possibly empty) when present.
//
// Layout (all integers little-endian, "uint" is a compact varint):
//
//	request:  0x03 flags:uint tid:u16 to:ipv4(6) [id:32] [token:32] command:uint [target:32] [value:buffer]
//	response: 0x13 flags:uint tid:u16 to:ipv4(6) [id:32] [token:32] [closer:array(ipv4)] [error:uint] [value:buffer]
type Message struct {
	Kind Kind
	TID  uint16
	// To is the address the sender sent this datagram to, as the sender knows it.
	To netip.AddrPort

	ID       [32]byte
	HasID    bool
	Token    [32]byte
	HasToken bool

	// Request fields.
	Internal  bool
	Command   uint64
	Target    [32]byte
	HasTarget bool

	// Response fields.
	CloserNodes []netip.AddrPort
	Error       uint64

	// Value aliases the parsed buffer after ParseMessage.
	Value []byte
}

// AppendMessage appends the encoding of m to b. It fails only when To or a closer node is not
// an IPv4 address.
func AppendMessage(b []byte, m *Message) ([]byte, error) {
	var flags byte
	switch m.Kind {
	case KindRequest:
		b = append(b, typeReq)
		if m.HasID {
			flags |= reqFlagID
		}
		if m.HasToken {
			flags |= reqFlagToken
		}
		if m.Internal {
			flags |= reqFlagInternal
		}
		if m.HasTarget {
			flags |= reqFlagTarget
		}
		if m.Value != nil {
			flags |= reqFlagValue
		}
	case KindResponse:
		b = append(b, typeResp)
		if m.HasID {
			flags |= respFlagID
		}
		if m.HasToken {
			flags |= respFlagToken
		}
		if len(m.CloserNodes) > 0 {
			flags |= respFlagCloser
		}
		if m.Error > 0 {
			flags |= respFlagError
		}
		if m.Value != nil {
			flags |= respFlagValue
		}
	default:
		return b, fmt.Errorf("rpc: encode: invalid message kind %d", m.Kind)
	}
	b = append(b, flags)
	b = compact.AppendUint16(b, m.TID)
	b, err := compact.AppendIPv4Addr(b, m.To)
	if err != nil {
		return b, fmt.Errorf("rpc: encode to %v: %w", m.To, err)
	}
	if m.HasID {
		b = append(b, m.ID[:]...)
	}
	if m.HasToken {
		b = append(b, m.Token[:]...)
	}
	if m.Kind == KindRequest {
		b = compact.AppendUint(b, m.Command)
		if m.HasTarget {
			b = append(b, m.Target[:]...)
		}
	} else {
		if len(m.CloserNodes) > 0 {
			b = compact.AppendUint(b, uint64(len(m.CloserNodes)))
			for _, a := range m.CloserNodes {
				if b, err = compact.AppendIPv4Addr(b, a); err != nil {
					return b, fmt.Errorf("rpc: encode closer node %v: %w", a, err)
				}
			}
		}
		if m.Error > 0 {
			b = compact.AppendUint(b, m.Error)
		}
	}
	if m.Value != nil {
		b = compact.AppendBuffer(b, m.Value)
	}
	return b, nil
}

// ParseMessage decodes b into m, reusing m.CloserNodes' capacity. Value aliases b. Bytes after
// a complete message are ignored, as the reference ignores them. Flags and command are read as
// compact varints, so non-canonical encodings are accepted like the reference accepts them.
func ParseMessage(b []byte, m *Message) error {
	if len(b) < 2 {
		return fmt.Errorf("rpc: parse: %w", compact.ErrTruncated)
	}
	closer := m.CloserNodes[:0]
	*m = Message{CloserNodes: closer}
	switch b[0] {
	case typeReq:
		m.Kind = KindRequest
	case typeResp:
		m.Kind = KindResponse
	default:
		return ErrNotRPC
	}
	r := compact.NewReader(b[1:])
	flags := r.Uint()
	m.TID = r.Uint16()
	m.To = r.IPv4Addr()
	if flags&reqFlagID != 0 { // same bit in both kinds
		m.ID, m.HasID = r.Fixed32(), true
	}
	if flags&reqFlagToken != 0 {
		m.Token, m.HasToken = r.Fixed32(), true
	}
	if m.Kind == KindRequest {
		m.Internal = flags&reqFlagInternal != 0
		m.Command = r.Uint()
		if flags&reqFlagTarget != 0 {
			m.Target, m.HasTarget = r.Fixed32(), true
		}
		if flags&reqFlagValue != 0 {
			m.Value = r.Buffer()
		}
	} else {
		if flags&respFlagCloser != 0 {
			n := r.ArrayLen(compact.IPv4AddrLen)
			if n > MaxCloserNodes {
				return fmt.Errorf("rpc: parse: %d closer nodes: %w", n, compact.ErrTooLong)
			}
			for i := 0; i < n && r.Err() == nil; i++ {
				closer = append(closer, r.IPv4Addr())
			}
			m.CloserNodes = closer
		}
		if flags&respFlagError != 0 {
			m.Error = r.Uint()
		}
		if flags&respFlagValue != 0 {
			m.Value = r.Buffer()
		}
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("rpc: parse: %w", err)
	}
	if m.Value == nil && flags&reqFlagValue != 0 {
		m.Value = b[:0:0] // present but empty
	}
	return nil
}
