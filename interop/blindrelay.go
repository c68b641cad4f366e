package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BlindRelayNode is one running blindrelay.js process: one udx-native
// instance on 127.0.0.1 whose secret-stream connections carry npm
// blind-relay (the versions package-lock.json pins), as a relay server, as
// clients, or both. Streams are named by their local UDX id, sockets by the
// number [BlindRelayNode.Socket] returns. The relay's own streams get ids
// from 1000000 up, so tests should use smaller ones. Its methods are safe
// for concurrent use and run concurrently in the driver. It is stopped and
// reaped in t.Cleanup, or earlier by [BlindRelayNode.Stop].
type BlindRelayNode struct {
	node *Node
}

// ControlOpts configure a control connection opened with
// [BlindRelayNode.Control]: a raw stream and a NoiseSecretStream on it,
// started with a handshake the test chose.
type ControlOpts struct {
	Stream    uint32           // local UDX id
	Socket    int              // the socket it uses
	Initiator bool             // the secret stream's role
	Handshake *SecretHandshake // required
	RemoteID  uint32           // the peer's UDX id
	// Remote is the peer's address, connected to at once; the zero value
	// connects to whoever sends the first packet to Socket.
	Remote netip.AddrPort
}

// RelayStats are the JS server's stats, flattened.
type RelayStats struct {
	SessionsAccepted  int `json:"sessionsAccepted"`
	SessionsOpened    int `json:"sessionsOpened"`
	SessionsClosed    int `json:"sessionsClosed"`
	PairingsRequested int `json:"pairingsRequested"`
	PairingsMatched   int `json:"pairingsMatched"`
	PairingsCancelled int `json:"pairingsCancelled"`
	PairingsPending   int `json:"pairingsPending"`
	PairingsActive    int `json:"pairingsActive"`
	StreamsOpened     int `json:"streamsOpened"`
	StreamsClosed     int `json:"streamsClosed"`
	StreamsErrors     int `json:"streamsErrors"`
}

// RelayPair is a "relay-pair" event: the JS server paired a token, seen
// from the session on control stream Stream.
type RelayPair struct {
	Stream      uint32 `json:"stream"` // the session's control stream
	IsInitiator bool   `json:"isInitiator"`
	Token       Hex    `json:"token"`
	RelayStream uint32 `json:"relayStream"` // the relay's stream for this side
	RemoteID    uint32 `json:"remoteId"`    // the client's stream
	At          time.Time
}

// StartBlindRelay starts a blindrelay.js driver with no sockets yet. It must
// be called from the test goroutine; it skips or fails the test like
// [Require] when the reference cannot run.
func StartBlindRelay(t testing.TB) *BlindRelayNode {
	t.Helper()
	requireUDX(t)
	skipOrFail(t, checkSecretStream())
	skipOrFail(t, checkBlindRelay())
	return &BlindRelayNode{startScript(t, "blindrelay.js", "js blind-relay")}
}

// checkBlindRelay says what is wrong when the installed blind-relay is not
// the version package-lock.json pins.
var checkBlindRelay = sync.OnceValue(func() string {
	const dep = "blind-relay"
	b, err := os.ReadFile(filepath.Join(Dir(), "package-lock.json"))
	var lock struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	if err == nil {
		err = json.Unmarshal(b, &lock)
	}
	if err != nil {
		return fmt.Sprintf("cannot read the pinned %s version: %v", dep, err)
	}
	if want := lock.Packages["node_modules/"+dep].Version; want != "" {
		return checkInstalled(dep, want, "package-lock.json")
	}
	return "package-lock.json does not pin " + dep
})

// String returns the name used in messages, such as "js blind-relay (pid 123)".
func (b *BlindRelayNode) String() string { return b.node.String() }

// Stop ends the driver as [Node.Stop] does; it destroys its streams first.
func (b *BlindRelayNode) Stop() error { return b.node.Stop() }

// Socket binds a socket on 127.0.0.1 at a port the system picks and returns
// its number and address.
func (b *BlindRelayNode) Socket(ctx context.Context) (int, netip.AddrPort, error) {
	return (&SecretStreamNode{b.node}).Socket(ctx)
}

// Control opens a control connection (see [ControlOpts]).
func (b *BlindRelayNode) Control(ctx context.Context, o ControlOpts) error {
	args := map[string]any{
		"stream": o.Stream, "socket": o.Socket, "initiator": o.Initiator,
		"remoteId": o.RemoteID, "handshake": o.Handshake,
	}
	if o.Remote.IsValid() {
		args["host"] = o.Remote.Addr().Unmap().String()
		args["port"] = o.Remote.Port()
	}
	return b.node.Call(ctx, "control", args, nil)
}

// Server creates the driver's relay server (relay.Server).
func (b *BlindRelayNode) Server(ctx context.Context) error {
	return b.node.Call(ctx, "server", nil, nil)
}

// Accept makes the relay server serve the control connection on stream
// (server.accept), with channel id channelID (nil for none).
func (b *BlindRelayNode) Accept(ctx context.Context, stream uint32, channelID []byte) error {
	return b.node.Call(ctx, "accept", channelArgs{stream, nilHex(channelID)}, nil)
}

// Client opens a blind-relay client on the control connection on stream
// (Client.from), with channel id channelID (nil for none).
func (b *BlindRelayNode) Client(ctx context.Context, stream uint32, channelID []byte) error {
	return b.node.Call(ctx, "client", channelArgs{stream, nilHex(channelID)}, nil)
}

// Data creates a raw UDX stream with local id to pair. It rejects packets
// until [BlindRelayNode.Pair] connects it.
func (b *BlindRelayNode) Data(ctx context.Context, id uint32) error {
	return b.node.Call(ctx, "data", streamArgs{id}, nil)
}

// Pair pairs data stream stream with token through the client on control
// stream control, in the given role, and connects it to the relay's stream
// through the control connection's socket and remote address. It returns
// once the relay answered (the other side has asked too), with the relay's
// stream id.
func (b *BlindRelayNode) Pair(ctx context.Context, control uint32, initiator bool, token [32]byte, stream uint32) (uint32, error) {
	var res struct {
		RemoteID uint32 `json:"remoteId"`
	}
	err := b.node.Call(ctx, "pair", map[string]any{
		"control": control, "initiator": initiator, "token": Hex(token[:]), "stream": stream,
	}, &res)
	return res.RemoteID, err
}

// Unpair sends unpair for token through the client on control stream
// control (client.unpair).
func (b *BlindRelayNode) Unpair(ctx context.Context, control uint32, token [32]byte) error {
	return b.node.Call(ctx, "unpair", map[string]any{"control": control, "token": Hex(token[:])}, nil)
}

// WriteFile writes the first n bytes of [PseudoRandom](seed) on a data
// stream and returns their SHA-256 once the last write was taken.
func (b *BlindRelayNode) WriteFile(ctx context.Context, stream uint32, n int64, seed uint32) (Digest, error) {
	var res struct {
		SHA256 Digest `json:"sha256"`
	}
	err := b.node.Call(ctx, "writeFile", map[string]any{"stream": stream, "bytes": n, "seed": seed}, &res)
	return res.SHA256, err
}

// End ends a data stream's sending side (stream.end).
func (b *BlindRelayNode) End(ctx context.Context, stream uint32) error {
	return b.node.Call(ctx, "end", streamArgs{stream}, nil)
}

// DestroyControl destroys the secret stream of a control connection.
func (b *BlindRelayNode) DestroyControl(ctx context.Context, stream uint32) error {
	return b.node.Call(ctx, "destroyControl", streamArgs{stream}, nil)
}

// ServerStats returns the relay server's stats.
func (b *BlindRelayNode) ServerStats(ctx context.Context) (RelayStats, error) {
	var st RelayStats
	err := b.node.Call(ctx, "serverStats", nil, &st)
	return st, err
}

// WaitEnd waits for the "stream-end" event of data stream stream.
func (b *BlindRelayNode) WaitEnd(ctx context.Context, stream uint32) (StreamEnd, error) {
	return waitUDX(ctx, b.udx(), "stream-end",
		func(e StreamEnd) uint32 { return e.Stream }, stream, func(e *StreamEnd, at time.Time) { e.At = at }, nil)
}

// WaitSessionClose waits for the "session-close" event of the relay session
// on control stream stream: its blind-relay channel closed.
func (b *BlindRelayNode) WaitSessionClose(ctx context.Context, stream uint32) error {
	_, err := b.node.WaitEvent(ctx, "session-close", func(ev Event) bool {
		var e struct {
			Stream uint32 `json:"stream"`
		}
		return json.Unmarshal(ev.Raw, &e) == nil && e.Stream == stream
	})
	return err
}

// WaitRelayPair waits for the "relay-pair" event of the session on control
// stream stream.
func (b *BlindRelayNode) WaitRelayPair(ctx context.Context, stream uint32) (RelayPair, error) {
	return waitUDX(ctx, b.udx(), "relay-pair",
		func(e RelayPair) uint32 { return e.Stream }, stream, func(e *RelayPair, at time.Time) { e.At = at }, nil)
}

// udx views the driver as a UDXNode, for the event helper they share.
func (b *BlindRelayNode) udx() *UDXNode { return &UDXNode{b.node} }

type channelArgs struct {
	Stream    uint32 `json:"stream"`
	ChannelID Hex    `json:"channelId"`
}

// nilHex is b as Hex, with nil (JSON null) for an empty b.
func nilHex(b []byte) Hex {
	if len(b) == 0 {
		return nil
	}
	return b
}
