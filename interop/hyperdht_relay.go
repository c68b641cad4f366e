package interop

import "context"

// JSRelayStats are the counters of a JS blind relay (blind-relay's server.stats).
type JSRelayStats struct {
	Sessions struct {
		Accepted int `json:"accepted"`
		Opened   int `json:"opened"`
		Closed   int `json:"closed"`
	} `json:"sessions"`
	Pairings struct {
		Requested int `json:"requested"`
		Matched   int `json:"matched"`
		Cancelled int `json:"cancelled"`
		Pending   int `json:"pending"`
		Active    int `json:"active"`
	} `json:"pairings"`
	Streams struct {
		Opened int `json:"opened"`
		Closed int `json:"closed"`
		Errors int `json:"errors"`
	} `json:"streams"`
}

// SetRelayThrough sets the blind relays (public keys) that the driver's servers created and
// connects made from now on name, as hyperdht's relayThrough option (one is picked at random
// per connection); none when keys is empty.
func (n *HyperNode) SetRelayThrough(ctx context.Context, keys ...[32]byte) error {
	list := []Hex{}
	for i := range keys {
		list = append(list, keys[i][:])
	}
	return n.Call(ctx, "relayThrough", struct {
		RelayThrough []Hex `json:"relayThrough"`
	}{list}, nil)
}

// ServeBlindRelay makes the driver's node a blind relay on the key pair of seed, as
// hyperdht's connection-relaying example does (a blind-relay Server on the node's raw
// streams behind a server that accepts a relay session on every connection), and returns
// once it listens. Peers name the returned key in relayThrough.
func (n *HyperNode) ServeBlindRelay(ctx context.Context, seed [32]byte) ([32]byte, error) {
	var res struct {
		PublicKey Hex `json:"publicKey"`
	}
	if err := n.Call(ctx, "relayServer", struct {
		Seed Hex `json:"seed"`
	}{seed[:]}, &res); err != nil {
		return [32]byte{}, err
	}
	return to32(n, "relayServer", "publicKey", res.PublicKey)
}

// RelayStats returns the counters of the node's blind relay.
func (n *HyperNode) RelayStats(ctx context.Context) (JSRelayStats, error) {
	var st JSRelayStats
	err := n.Call(ctx, "relayStats", struct{}{}, &st)
	return st, err
}
