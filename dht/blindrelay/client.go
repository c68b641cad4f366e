package blindrelay

import (
	"context"
	"math"
	"net/netip"
	"sync"

	"github.com/hyperlan/hyperlan/dht/protomux"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// Client is the client side of a blind-relay channel (the reference's
// Client): it asks the relay at the other end of its connection to pair a
// token, and learns the id of the relay's stream for it. It is safe for
// concurrent use.
type Client struct {
	ch     *protomux.Channel
	pair   *protomux.Message[Pair]
	unpair *protomux.Message[Unpair]

	mu       sync.Mutex
	requests map[Token]*request // guarded by mu
	closed   bool               // guarded by mu
}

// request is one Pair waiting for the relay's answer.
type request struct {
	isInitiator bool
	done        chan struct{} // closed when answered or failed
	id          uint64        // the relay's stream id; set before done is closed
	err         error         // set before done is closed
}

// NewClient opens the blind-relay channel on mux, the connection to a
// relay. Call it before mux.Start, so that the relay's open finds the
// channel.
func NewClient(mux *protomux.Mux, opts Options) (*Client, error) {
	c := &Client{requests: map[Token]*request{}}
	ch, err := mux.CreateChannel(protomux.ChannelOptions{
		Protocol: Protocol, ID: opts.ID,
		OnClose: func(*protomux.Channel, bool) { c.fail() },
	})
	if err != nil {
		return nil, err
	}
	c.ch = ch
	c.pair = protomux.AddMessage(ch, pairCodec{}, c.onPair)
	c.unpair = protomux.AddMessage(ch, unpairCodec{}, nil)
	if err := ch.Open(opts.Handshake); err != nil {
		return nil, err
	}
	return c, nil
}

// Pair asks the relay to pair token, for the local UDX stream stream, in
// the given role: the two peers that share the token must ask with
// opposite roles. It returns the id of the relay's stream for us once the
// other peer has asked too; connect stream to it at the relay's address
// through the socket of the connection to the relay ([Client.Connect] does
// both). When ctx ends first, Pair sends unpair and returns ctx's error.
func (c *Client) Pair(ctx context.Context, isInitiator bool, token Token, stream udx.StreamID) (udx.StreamID, error) {
	r := &request{isInitiator: isInitiator, done: make(chan struct{})}
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return 0, ErrChannelClosed
	case c.requests[token] != nil:
		c.mu.Unlock()
		return 0, ErrAlreadyPairing
	}
	c.requests[token] = r
	c.mu.Unlock()
	if err := c.pair.Send(Pair{IsInitiator: isInitiator, Token: token, ID: uint64(stream)}); err != nil {
		c.finish(token, r, 0, ErrChannelClosed)
		<-r.done
		return 0, r.err
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		if c.finish(token, r, 0, context.Cause(ctx)) {
			c.unpair.Send(Unpair{Token: token})
		}
		<-r.done
	}
	if r.err != nil {
		return 0, r.err
	}
	if r.id > math.MaxUint32 {
		return 0, ErrBadStreamID
	}
	return udx.StreamID(r.id), nil
}

// Connect pairs token for stream (see [Client.Pair]) and connects stream to
// the relay's stream at relay, the relay's address, through sock, the
// socket of the connection to the relay. That is what hyperdht does before
// it starts the end-to-end secret stream on stream. The relay's stream
// learns our address from our first packet, so until each side has sent
// something (a secret stream's header does) the other side's packets are
// dropped at the relay and retransmitted.
func (c *Client) Connect(ctx context.Context, isInitiator bool, token Token, stream *udx.Stream, sock *udx.Socket, relay netip.AddrPort) error {
	id, err := c.Pair(ctx, isInitiator, token, stream.ID())
	if err != nil {
		return err
	}
	return stream.Connect(sock, id, relay)
}

// Unpair cancels pairing token: a Pair waiting for it returns
// ErrPairingCancelled, and the relay drops the request or destroys the
// streams it made for it.
func (c *Client) Unpair(token Token) error {
	c.mu.Lock()
	r := c.requests[token]
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrChannelClosed
	}
	if r != nil {
		c.finish(token, r, 0, ErrPairingCancelled)
	}
	return c.unpair.Send(Unpair{Token: token})
}

// Close closes the channel; waiting Pairs return ErrChannelClosed. The
// connection stays up.
func (c *Client) Close() error {
	c.fail()
	return c.ch.Close()
}

// Done is closed when the channel has closed.
func (c *Client) Done() <-chan struct{} { return c.ch.Done() }

// onPair handles the relay's answer to a request of ours.
func (c *Client) onPair(p Pair) {
	c.mu.Lock()
	r := c.requests[p.Token]
	c.mu.Unlock()
	if r == nil || r.isInitiator != p.IsInitiator {
		return
	}
	c.finish(p.Token, r, p.ID, nil)
}

// finish ends request r for token with id or err, unless it has ended; it
// reports whether it ended it.
func (c *Client) finish(token Token, r *request, id uint64, err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.requests[token] != r {
		return false
	}
	delete(c.requests, token)
	r.id, r.err = id, err
	close(r.done)
	return true
}

// fail ends every request when the channel closes.
func (c *Client) fail() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for token, r := range c.requests {
		delete(c.requests, token)
		r.err = ErrChannelClosed
		close(r.done)
	}
}
