package blindrelay

import (
	"crypto/rand"

	"github.com/hyperlan/hyperlan/dht/protomux"
)

// Protocol is the protomux protocol name of a blind-relay channel.
const Protocol = "blind-relay"

// TokenSize is the length of a pairing token.
const TokenSize = 32

// Token is the secret two peers pair with: the relay joins the two pair
// requests that carry the same token.
type Token [TokenSize]byte

// NewToken returns a random token (the reference's token()).
func NewToken() Token {
	var t Token
	rand.Read(t[:])
	return t
}

// Pair is the pair message. A client sends it with its own UDX stream id;
// the relay answers each side with the id of the stream it made for it.
//
//	flags (1: bit 0 isInitiator) | token (32) | id (uint) | seq (uint)
type Pair struct {
	IsInitiator bool
	Token       Token
	ID          uint64 // a UDX stream id; the wire allows any uint
	Seq         uint64 // initial sequence number; 0 in every reference sender
}

// Unpair is the unpair message: the sender gives up pairing, or the link
// made, for the token.
//
//	flags (1: reserved, 0) | token (32)
type Unpair struct {
	Token Token
}

// AppendPair appends the encoding of p.
func AppendPair(b []byte, p Pair) []byte {
	var flags byte
	if p.IsInitiator {
		flags = 1
	}
	b = append(b, flags)
	b = append(b, p.Token[:]...)
	b = protomux.AppendUint(b, p.ID)
	return protomux.AppendUint(b, p.Seq)
}

// ParsePair decodes a pair message. Like the reference it ignores the other
// flag bits, reads a flags field in the long forms compact-encoding allows
// (a marker 0xfd, 0xfe or 0xff then 2, 4 or 8 bytes) and ignores trailing
// bytes. It fails with ErrTruncated when b is too short.
func ParsePair(b []byte) (Pair, error) {
	flags, b, err := parseFlags(b)
	if err != nil {
		return Pair{}, err
	}
	p := Pair{IsInitiator: flags&1 != 0}
	if b, err = parseToken(b, &p.Token); err != nil {
		return Pair{}, err
	}
	var n int
	if p.ID, n, err = protomux.ParseUint(b); err != nil {
		return Pair{}, err
	}
	if p.Seq, _, err = protomux.ParseUint(b[n:]); err != nil {
		return Pair{}, err
	}
	return p, nil
}

// AppendUnpair appends the encoding of u.
func AppendUnpair(b []byte, u Unpair) []byte {
	return append(append(b, 0), u.Token[:]...)
}

// ParseUnpair decodes an unpair message, as leniently as ParsePair.
func ParseUnpair(b []byte) (Unpair, error) {
	_, b, err := parseFlags(b)
	if err != nil {
		return Unpair{}, err
	}
	var u Unpair
	if _, err := parseToken(b, &u.Token); err != nil {
		return Unpair{}, err
	}
	return u, nil
}

// parseFlags reads a compact-encoding bitfield of up to 8 bits and returns
// its first byte and the rest of b.
func parseFlags(b []byte) (byte, []byte, error) {
	if len(b) == 0 {
		return 0, nil, ErrTruncated
	}
	size := 1
	switch b[0] {
	case 0xfd:
		size = 2
	case 0xfe:
		size = 4
	case 0xff:
		size = 8
	}
	if size > 1 {
		b = b[1:]
	}
	if len(b) < size {
		return 0, nil, ErrTruncated
	}
	return b[0], b[size:], nil
}

func parseToken(b []byte, t *Token) ([]byte, error) {
	if len(b) < TokenSize {
		return nil, ErrTruncated
	}
	copy(t[:], b)
	return b[TokenSize:], nil
}

// pairCodec and unpairCodec are the channel's message encodings.
type (
	pairCodec   struct{}
	unpairCodec struct{}
)

func (pairCodec) Append(b []byte, p Pair) []byte     { return AppendPair(b, p) }
func (pairCodec) Parse(b []byte) (Pair, error)       { return ParsePair(b) }
func (unpairCodec) Append(b []byte, u Unpair) []byte { return AppendUnpair(b, u) }
func (unpairCodec) Parse(b []byte) (Unpair, error)   { return ParseUnpair(b) }
