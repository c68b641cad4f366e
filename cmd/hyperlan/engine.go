package main

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/peers"
)

// engine is what 'hyperlan up' runs: the VPN engine of package peers, seen through the
// methods up uses, so that the daemon can be tested with a fake.
type engine interface {
	// Run runs the engine until ctx is cancelled or Close is called (it returns nil
	// then), or until it fails; either way it has shut the engine down when it returns.
	Run(ctx context.Context) error
	// Reload replaces the configured peers ([[peer]] of a reloaded config).
	Reload(peers []configs.Peer) error
	// Close stops the engine, removes its addresses and routes, closes its device and
	// waits for Run. It is idempotent.
	Close() error
	// Status is the engine's live view: which peers are connected, how, and traffic.
	Status() engineStatus
}

// engineStatus is what the engine adds to the config's view in a status reply.
type engineStatus struct {
	Name      string // "peers"
	MTU       int    // the device's, as last seen; 0 if unknown
	Listening bool
	Drops     dropCounters
	Relay     *relayServerStatus // nil when the node serves no blind relay
	Peers     []peerStatus
}

// newEngine makes the engine for cfg: it starts the DHT node and opens the TUN device
// (in the network namespace of the calling thread); the addresses and routes follow when
// Run starts. On error it has released what it made.
var newEngine = func(cfg *configs.Config, log *slog.Logger) (engine, error) {
	e, err := peers.New(cfg, peers.Deps{Logger: log})
	if err != nil {
		return nil, err
	}
	return peersEngine{e}, nil
}

// peersEngine is a peers.Engine whose Status speaks the control protocol.
type peersEngine struct{ *peers.Engine }

func (e peersEngine) Status() engineStatus {
	st := e.Engine.Status()
	c := st.Counters
	out := engineStatus{
		Name:      "peers",
		MTU:       st.MTU,
		Listening: st.Listening,
		Drops: dropCounters{
			NoRoute: c.NoRoute, NoSession: c.NoSession, SendDropped: c.SendDropped, TooBig: c.TooBig,
			MTUPending: c.MTUPending,
			Fragmented: c.Fragmented, Spoofed: c.Spoofed, Malformed: c.Malformed,
			RecvDropped: c.RecvDropped, DeviceErrors: c.DeviceErrors,
		},
		Peers: make([]peerStatus, 0, len(st.Peers)),
	}
	if r := st.Relay; r != nil {
		out.Relay = &relayServerStatus{Serving: r.Serving, Sessions: r.Sessions, Pairings: r.Pairings, Active: r.Active}
	}
	for _, p := range st.Peers {
		ps := peerStatus{
			peerJSON: peerJSON{Name: p.Name, PublicKey: p.PublicKey.String(), Address: addrString(p.IPv4),
				Address6: addrString(p.IPv6), Routes: prefixStrings(p.Routes)},
			Listed:    p.Configured,
			Connected: p.Connected,
			Path:      p.Path,
			Relayed:   p.Relayed,
			Upgraded:  p.Upgraded,
			Since:     timeOrNil(p.Since),
			RTTMs:     float64(p.RTT) / float64(time.Millisecond),
			RxBytes:   p.BytesIn,
			TxBytes:   p.BytesOut,
			RxPackets: p.PacketsIn,
			TxPackets: p.PacketsOut,
			LastSeen:  timeOrNil(p.LastSeen),
			LastError: p.LastError,
			NextDial:  timeOrNil(p.NextDial),
		}
		if p.Remote.IsValid() {
			ps.Remote = p.Remote.String()
		}
		if p.Relay != (configs.PublicKey{}) {
			ps.Relay = p.Relay.String()
		}
		out.Peers = append(out.Peers, ps)
	}
	return out
}

// addrString is a.String(), or "" for the zero Addr.
func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// timeOrNil returns &t in UTC, or nil for the zero time.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
