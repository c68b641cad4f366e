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

// SecretStreamNode is one running secretstream.js process: one udx-native
// instance whose streams carry @hyperswarm/secret-stream NoiseSecretStreams
// (the versions package-lock.json pins), on 127.0.0.1. Streams are named by
// their local UDX id, sockets by the number [SecretStreamNode.Socket]
// returns. Its methods are safe for concurrent use and run concurrently in
// the driver. It is stopped and reaped in t.Cleanup, or earlier by
// [SecretStreamNode.Stop].
//
// The driver does not forward received data. Per stream it keeps a running
// SHA-256 and byte count, reported by the "ss-end" event, counts of 'data'
// events, and the first 64 KiB ([SecretStreamNode.Recv]).
type SecretStreamNode struct {
	node *Node
}

// SecretHandshake is the handshake a JS secret stream is started with
// (opts.handshake): the keys a Noise handshake would have produced, chosen by
// the test so that both sides share them without running one.
type SecretHandshake struct {
	Tx, Rx          [32]byte
	Hash            [64]byte
	PublicKey       [32]byte
	RemotePublicKey [32]byte
}

// MarshalJSON writes the handshake as the driver takes it, fields in hex.
func (h *SecretHandshake) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]Hex{
		"tx": h.Tx[:], "rx": h.Rx[:], "hash": h.Hash[:],
		"publicKey": h.PublicKey[:], "remotePublicKey": h.RemotePublicKey[:],
	})
}

// SecretOpts configure a JS secret stream opened with
// [SecretStreamNode.Open].
type SecretOpts struct {
	Stream    uint32           // local UDX id
	Socket    int              // the socket it connects through
	Initiator bool             // the secret stream's role
	Handshake *SecretHandshake // nil: run secret-stream's XX handshake with the key pair of Seed
	Seed      [32]byte         // Ed25519 seed of the key pair for XX
	RemoteID  uint32           // the peer's UDX id
	// Remote is the peer's address, connected to at once; the zero value
	// connects to whoever sends the first packet to Socket, as a hyperdht
	// server does. The secret stream starts (and sends its header, or XX
	// message 1) when the raw stream connects.
	Remote    netip.AddrPort
	KeepAlive time.Duration // keepAlive option, whole ms; 0: none
	Timeout   time.Duration // setTimeout, whole ms; 0: none
	Echo      bool          // write back every chunk read; end when the remote ends
}

// SecretOpen is an "ss-open" event: the secret stream connected.
type SecretOpen struct {
	Stream          uint32 `json:"stream"`
	HandshakeHash   Hex    `json:"handshakeHash"`
	PublicKey       Hex    `json:"publicKey"`
	RemotePublicKey Hex    `json:"remotePublicKey"`
	At              time.Time
}

// SecretEnd is an "ss-end" event: the remote ended and everything before the
// end has been read.
type SecretEnd struct {
	Stream uint32 `json:"stream"`
	Bytes  int64  `json:"bytes"`  // bytes read in total
	SHA256 Digest `json:"sha256"` // of those bytes
	At     time.Time
}

// SecretClose is an "ss-close" event. Error is empty after a clean close;
// Code is "ECONNRESET" when the peer destroyed the raw stream.
type SecretClose struct {
	Stream      uint32 `json:"stream"`
	Error       string `json:"error"`
	Code        string `json:"code"`
	Bytes       int64  `json:"bytes"`
	Frames      int64  `json:"frames"`      // 'data' events
	EmptyFrames int64  `json:"emptyFrames"` // 'data' events of 0 bytes
	At          time.Time
}

// SecretMessage is an "ss-message" event: one unordered message received.
type SecretMessage struct {
	Stream uint32 `json:"stream"`
	Data   Hex    `json:"data"`   // the first 256 bytes at most
	Length int    `json:"length"` // the whole message's length
	SHA256 Digest `json:"sha256"`
	At     time.Time
}

// SecretStats is a snapshot of a JS secret stream.
type SecretStats struct {
	Received        int64  `json:"received"`        // plaintext bytes read
	Frames          int64  `json:"frames"`          // 'data' events
	EmptyFrames     int64  `json:"emptyFrames"`     // 'data' events of 0 bytes
	Messages        int    `json:"messages"`        // messages received
	RawBytesRead    int64  `json:"rawBytesRead"`    // data frame bodies read (17 per keep-alive)
	RawBytesWritten int64  `json:"rawBytesWritten"` // data frames written, length prefixes included
	RemoteEnded     bool   `json:"remoteEnded"`
	Closed          bool   `json:"closed"`
	Error           string `json:"error"`
}

// StartSecretStream starts a secretstream.js driver with no sockets yet. It
// must be called from the test goroutine; it skips or fails the test like
// [Require] when the reference cannot run.
func StartSecretStream(t testing.TB) *SecretStreamNode {
	t.Helper()
	requireUDX(t)
	skipOrFail(t, checkSecretStream())
	return &SecretStreamNode{startScript(t, "secretstream.js", "js secret-stream")}
}

// checkSecretStream says what is wrong when the installed
// @hyperswarm/secret-stream is not the version package-lock.json pins.
var checkSecretStream = sync.OnceValue(func() string {
	const dep = "@hyperswarm/secret-stream"
	b, err := os.ReadFile(filepath.Join(Dir(), "package-lock.json"))
	if err != nil {
		return fmt.Sprintf("cannot read the pinned %s version: %v", dep, err)
	}
	var lock struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return fmt.Sprintf("cannot read the pinned %s version: %v", dep, err)
	}
	want := lock.Packages["node_modules/"+dep].Version
	if want == "" {
		return "package-lock.json does not pin " + dep
	}
	return checkInstalled(dep, want, "package-lock.json")
})

// String returns the name used in messages, such as "js secret-stream (pid 123)".
func (s *SecretStreamNode) String() string { return s.node.String() }

// Stop ends the driver as [Node.Stop] does; it destroys its streams first.
func (s *SecretStreamNode) Stop() error { return s.node.Stop() }

// Call sends one command, as [Node.Call] does.
func (s *SecretStreamNode) Call(ctx context.Context, op string, args, result any) error {
	return s.node.Call(ctx, op, args, result)
}

// WaitEvent returns the first event called name since the process started
// for which match (if non-nil) returns true.
func (s *SecretStreamNode) WaitEvent(ctx context.Context, name string, match func(Event) bool) (Event, error) {
	return s.node.WaitEvent(ctx, name, match)
}

// Socket binds a socket on 127.0.0.1 at a port the system picks and returns
// its number and address.
func (s *SecretStreamNode) Socket(ctx context.Context) (int, netip.AddrPort, error) {
	var res struct {
		Socket int `json:"socket"`
		Port   int `json:"port"`
	}
	if err := s.node.Call(ctx, "socket", nil, &res); err != nil {
		return 0, netip.AddrPort{}, err
	}
	return res.Socket, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(res.Port)), nil
}

// Open creates a raw stream and a secret stream on it (see [SecretOpts]).
func (s *SecretStreamNode) Open(ctx context.Context, o SecretOpts) error {
	args := map[string]any{
		"stream": o.Stream, "socket": o.Socket, "initiator": o.Initiator, "remoteId": o.RemoteID,
		"keepAlive": o.KeepAlive.Milliseconds(), "timeout": o.Timeout.Milliseconds(), "echo": o.Echo,
	}
	if o.Handshake != nil {
		args["handshake"] = o.Handshake
	} else {
		args["seed"] = Hex(o.Seed[:])
	}
	if o.Remote.IsValid() {
		args["host"] = o.Remote.Addr().Unmap().String()
		args["port"] = o.Remote.Port()
	}
	return s.node.Call(ctx, "open", args, nil)
}

// Write writes data as one write, that is one frame; empty data sends a
// keep-alive (sendKeepAlive). It returns once the stream took it.
func (s *SecretStreamNode) Write(ctx context.Context, stream uint32, data []byte) error {
	return s.node.Call(ctx, "write", streamData{stream, nonNil(data)}, nil)
}

// WriteRandom writes n random bytes in writes of chunk bytes (0: 64 KiB)
// and returns their SHA-256.
func (s *SecretStreamNode) WriteRandom(ctx context.Context, stream uint32, n int64, chunk int) (Digest, error) {
	var res struct {
		SHA256 Digest `json:"sha256"`
	}
	err := s.node.Call(ctx, "writeRandom", map[string]any{"stream": stream, "bytes": n, "chunk": chunk}, &res)
	return res.SHA256, err
}

// End ends the secret stream's writing side (end()).
func (s *SecretStreamNode) End(ctx context.Context, stream uint32) error {
	return s.node.Call(ctx, "end", streamArgs{stream}, nil)
}

// Destroy destroys the secret stream, with an error of that message unless
// it is empty.
func (s *SecretStreamNode) Destroy(ctx context.Context, stream uint32, message string) error {
	args := map[string]any{"stream": stream}
	if message != "" {
		args["error"] = message
	}
	return s.node.Call(ctx, "destroy", args, nil)
}

// Send sends data as an unordered message (send()) and returns what its
// promise resolved to.
func (s *SecretStreamNode) Send(ctx context.Context, stream uint32, data []byte) (bool, error) {
	var res struct {
		Sent bool `json:"sent"`
	}
	err := s.node.Call(ctx, "send", streamData{stream, nonNil(data)}, &res)
	return res.Sent, err
}

// TrySend sends data as an unordered message with trySend().
func (s *SecretStreamNode) TrySend(ctx context.Context, stream uint32, data []byte) error {
	return s.node.Call(ctx, "trySend", streamData{stream, nonNil(data)}, nil)
}

// SetKeepAlive calls setKeepAlive(ms) on the secret stream.
func (s *SecretStreamNode) SetKeepAlive(ctx context.Context, stream uint32, d time.Duration) error {
	return s.node.Call(ctx, "setKeepAlive", map[string]any{"stream": stream, "ms": d.Milliseconds()}, nil)
}

// Stats returns a snapshot of the stream, also after it closed.
func (s *SecretStreamNode) Stats(ctx context.Context, stream uint32) (SecretStats, error) {
	var st SecretStats
	err := s.node.Call(ctx, "stats", streamArgs{stream}, &st)
	return st, err
}

// Recv returns the first 64 KiB read from the stream and the total read.
func (s *SecretStreamNode) Recv(ctx context.Context, stream uint32) ([]byte, int64, error) {
	var res struct {
		Data  Hex   `json:"data"`
		Bytes int64 `json:"bytes"`
	}
	err := s.node.Call(ctx, "recv", streamArgs{stream}, &res)
	return res.Data, res.Bytes, err
}

// WaitOpen waits for the "ss-open" event of stream.
func (s *SecretStreamNode) WaitOpen(ctx context.Context, stream uint32) (SecretOpen, error) {
	return waitUDX(ctx, s.udx(), "ss-open",
		func(e SecretOpen) uint32 { return e.Stream }, stream, func(e *SecretOpen, at time.Time) { e.At = at }, nil)
}

// WaitEnd waits for the "ss-end" event of stream.
func (s *SecretStreamNode) WaitEnd(ctx context.Context, stream uint32) (SecretEnd, error) {
	return waitUDX(ctx, s.udx(), "ss-end",
		func(e SecretEnd) uint32 { return e.Stream }, stream, func(e *SecretEnd, at time.Time) { e.At = at }, nil)
}

// WaitClose waits for the "ss-close" event of stream.
func (s *SecretStreamNode) WaitClose(ctx context.Context, stream uint32) (SecretClose, error) {
	return waitUDX(ctx, s.udx(), "ss-close",
		func(e SecretClose) uint32 { return e.Stream }, stream, func(e *SecretClose, at time.Time) { e.At = at }, nil)
}

// WaitMessage waits for the first message received on stream for which
// match (if non-nil) returns true.
func (s *SecretStreamNode) WaitMessage(ctx context.Context, stream uint32, match func(SecretMessage) bool) (SecretMessage, error) {
	return waitUDX(ctx, s.udx(), "ss-message",
		func(e SecretMessage) uint32 { return e.Stream }, stream, func(e *SecretMessage, at time.Time) { e.At = at }, match)
}

// udx views the driver as a UDXNode, for the event helper they share.
func (s *SecretStreamNode) udx() *UDXNode { return &UDXNode{s.node} }
