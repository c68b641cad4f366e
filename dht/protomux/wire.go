package protomux

import "fmt"

// Control messages: the type of a message on channel 0.
const (
	controlBatch  = 0 // a batch of messages for several channels
	controlOpen   = 1 // the sender opens a channel
	controlReject = 2 // the sender refuses a channel the receiver opened
	controlClose  = 3 // the sender closes a channel
)

// maxBatchDepth bounds batches nested inside batches. The reference never
// nests them; it would recurse until its stack overflows.
const maxBatchDepth = 4

// frameHead splits a frame into its channel, its message type and the
// payload after them.
func frameHead(f []byte) (channel, typ uint64, payload []byte, err error) {
	r := reader{b: f}
	channel = r.uint()
	typ = r.uint()
	if r.err != nil {
		return 0, 0, nil, r.err
	}
	return channel, typ, r.b, nil
}

// openMsg is the payload of an open control message.
type openMsg struct {
	channel   uint64 // the sender's local id for the channel (not 0)
	protocol  string
	id        []byte // nil when absent; the reference's optionalBuffer makes empty absent too
	handshake []byte // everything after the id, in the channel's handshake encoding
}

// appendOpen appends the body of an open message: its control type, then
// the fields.
func appendOpen(b []byte, o openMsg) []byte {
	b = append(b, controlOpen+0)
	b = AppendUint(b, o.channel)
	b = appendBytes(b, []byte(o.protocol))
	b = appendBytes(b, o.id)
	return append(b, o.handshake...)
}

// parseOpen parses the payload of an open message (after the control type).
// The slices in the result alias p.
func parseOpen(p []byte) (openMsg, error) {
	r := reader{b: p}
	var o openMsg
	o.channel = r.uint()
	o.protocol = string(r.bytes())
	o.id = r.bytes()
	if r.err != nil {
		return openMsg{}, r.err
	}
	if len(o.id) == 0 {
		o.id = nil
	}
	o.handshake = r.b
	return o, nil
}

// appendControlID appends the body of a reject or close message: its
// control type, then the channel id it is about.
func appendControlID(b []byte, typ byte, channel uint64) []byte {
	return AppendUint(append(b, typ), channel)
}

// parseControlID parses the payload of a reject or close message. Bytes
// after the id are ignored, as the reference does.
func parseControlID(p []byte) (uint64, error) {
	v, _, err := ParseUint(p)
	return v, err
}

// parseBatch walks the payload of a batch and calls fn with each message in
// it: the channel it is for, its body (type, then payload) and whether more
// follows. A zero length
// switches to the channel id that follows it. As in the reference, an entry
// that claims more bytes than the batch holds is cut to what is there.
func parseBatch(p []byte, fn func(channel uint64, body []byte, more bool) error) error {
	r := reader{b: p}
	channel := r.uint()
	for r.err == nil && len(r.b) > 0 {
		n := r.uint()
		if r.err != nil {
			break
		}
		if n == 0 {
			channel = r.uint()
			continue
		}
		body := r.b[:min(n, uint64(len(r.b)))]
		r.b = r.b[len(body):]
		if err := fn(channel, body, len(r.b) > 0); err != nil {
			return err
		}
	}
	return r.err
}

// batch collects the messages written while the Mux is corked, to be sent
// as one batch frame. size is the length of that frame so far.
type batch struct {
	items []batchItem
	size  int
}

type batchItem struct {
	channel uint64
	body    []byte // message type and payload
}

// itemLen is how many bytes adding a message for channel with body of n
// bytes grows the batch frame by.
func (b *batch) itemLen(channel uint64, n int) int {
	l := UintLen(uint64(n)) + n
	if len(b.items) == 0 {
		l += 2 + UintLen(channel) // the frame's head: channel 0, type batch, first channel
	} else if b.items[len(b.items)-1].channel != channel {
		l += 1 + UintLen(channel) // a zero length, then the new channel
	}
	return l
}

func (b *batch) push(channel uint64, body []byte) {
	b.size += b.itemLen(channel, len(body))
	b.items = append(b.items, batchItem{channel, body})
}

// frame encodes the batch as one frame on channel 0.
func (b *batch) frame() []byte {
	f := make([]byte, 0, b.size)
	f = append(f, 0, controlBatch)
	prev := b.items[0].channel
	f = AppendUint(f, prev)
	for _, it := range b.items {
		if it.channel != prev {
			prev = it.channel
			f = AppendUint(append(f, 0), prev)
		}
		f = appendBytes(f, it.body)
	}
	if len(f) != b.size {
		panic(fmt.Sprintf("protomux: internal error: batch of %d bytes, counted %d", len(f), b.size))
	}
	return f
}
