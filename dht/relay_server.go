package dht

import (
	"context"
	"sync"

	"github.com/hyperlan/hyperlan/dht/blindrelay"
	"github.com/hyperlan/hyperlan/dht/protomux"
)

// BlindRelay is a node serving as a blind relay (the reference's blind-relay Server behind a
// hyperdht server, as in its connection-relaying example): a server on a key pair whose every
// connection gets a blind-relay session, so that two peers that name the key in RelayThrough
// can pair their streams here. The relay forwards their packets without being able to read
// them. It is safe for concurrent use.
type BlindRelay struct {
	srv   *Server
	relay *blindrelay.Server

	mu     sync.Mutex
	conns  map[*Conn]struct{} // guarded by mu; connections of peers, until they end
	closed bool               // guarded by mu
}

// ServeBlindRelay makes the node a blind relay on kp (the node's default key pair when kp is
// the zero value): it listens on kp like [Server.Listen] and returns once the first
// announcement is done. Peers name kp.PublicKey in ConnectOptions.RelayThrough or
// ServerOptions.RelayThrough. The node should be reachable without holepunching (a public
// address), as peers that need a relay are the ones that cannot punch. The relay ends with
// [BlindRelay.Close] or when the node is destroyed.
func (n *Node) ServeBlindRelay(ctx context.Context, kp KeyPair) (*BlindRelay, error) {
	b := &BlindRelay{
		relay: blindrelay.NewServer(blindrelay.ServerOptions{Instance: n.udx, Logger: n.opts.Logger}),
		conns: make(map[*Conn]struct{}),
	}
	b.srv = n.CreateServer(ServerOptions{OnConnection: b.serve})
	if err := b.srv.Listen(ctx, kp); err != nil {
		b.relay.Close()
		return nil, err
	}
	return b, nil
}

// serve runs the blind-relay session of one peer's connection until the connection ends.
func (b *BlindRelay) serve(c *Conn) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		c.Close()
		return
	}
	b.conns[c] = struct{}{}
	b.mu.Unlock()
	defer func() {
		c.Close()
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
	}()
	mux := protomux.New(c, protomux.Options{})
	// The peer opens its channel with the key it connected as, which is the connection's
	// remote key.
	pk := c.RemotePublicKey()
	if _, err := b.relay.Accept(mux, blindrelay.Options{ID: pk[:]}); err != nil {
		mux.Close()
		return
	}
	mux.Start()
	select {
	case <-mux.Done():
	case <-c.Done():
		mux.Close()
	}
}

// PublicKey returns the key peers name to relay through this node.
func (b *BlindRelay) PublicKey() [32]byte { return b.srv.PublicKey() }

// Stats returns the relay's counters.
func (b *BlindRelay) Stats() blindrelay.Stats { return b.relay.Stats() }

// Close stops the relay: it unannounces the key (bounded by ctx), ends every session with the
// streams it relays, and closes the peers' connections. It is idempotent.
func (b *BlindRelay) Close(ctx context.Context) error {
	b.mu.Lock()
	b.closed = true
	conns := make([]*Conn, 0, len(b.conns))
	for c := range b.conns {
		conns = append(conns, c)
	}
	b.mu.Unlock()
	err := b.srv.Close(ctx)
	b.relay.Close()
	for _, c := range conns {
		c.Close()
	}
	return err
}
