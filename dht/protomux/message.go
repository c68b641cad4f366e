package protomux

import "fmt"

// Codec encodes and decodes the payload of one message type. Parse gets
// the payload alone and must not keep b past the call unless it owns it
// (the Mux does not reuse it, so keeping it is safe). Trailing bytes should
// be ignored, as compact-encoding's decoders do. A Parse error ends the
// Mux, as a decode error does in the reference.
type Codec[T any] interface {
	Append(b []byte, v T) []byte
	Parse(b []byte) (T, error)
}

// Raw is the codec of a payload taken as it is (compact-encoding's raw).
type Raw struct{}

// Append appends v.
func (Raw) Append(b, v []byte) []byte { return append(b, v...) }

// Parse returns b itself.
func (Raw) Parse(b []byte) ([]byte, error) { return b, nil }

// Message is one message type of a channel, made by [AddMessage].
type Message[T any] struct {
	ch    *Channel
	typ   uint64
	codec Codec[T]
}

// AddMessage adds the next message type to ch (types are numbered from 0 in
// the order they are added, on both sides) and returns it for sending.
// onMessage, if not nil, gets each message of this type the peer sends, on
// the dispatch goroutine.
func AddMessage[T any](ch *Channel, codec Codec[T], onMessage func(v T)) *Message[T] {
	msg := &Message[T]{ch: ch, codec: codec}
	msg.typ = ch.addHandler(func(p []byte) error {
		v, err := codec.Parse(p)
		if err != nil {
			return fmt.Errorf("protomux: %s message %d: %w", ch.opts.Protocol, msg.typ, err)
		}
		if onMessage != nil {
			onMessage(v)
		}
		return nil
	})
	return msg
}

// Type returns the message type's number.
func (msg *Message[T]) Type() uint64 { return msg.typ }

// Send sends v. It does not block (see [Mux]). It fails with ErrNotOpen
// before [Channel.Open], with the channel's Err once it has closed, and with
// ErrFrameTooLarge when v does not fit in a frame.
func (msg *Message[T]) Send(v T) error {
	return msg.ch.send(msg.codec.Append(AppendUint(nil, msg.typ), v))
}
