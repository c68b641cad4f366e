package interop

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// UDXNode is one running udx.js process, that is one JS udx-native instance
// whose sockets are bound on 127.0.0.1 (unless [UDXNode.SocketAt] says
// otherwise). Streams are named by their local UDX id, which is unique per
// instance; sockets by the number [UDXNode.Socket] returns (1, 2, ...). Its
// methods are safe for concurrent use and run concurrently in the driver. It
// is stopped and reaped in t.Cleanup, or earlier by [UDXNode.Stop].
//
// The driver does not forward received stream bytes. It keeps a running
// SHA-256 and byte count per stream, reported by the "stream-end" and
// "stream-close" events and by [UDXNode.Stats], and the first 64 KiB, returned
// by [UDXNode.Recv].
type UDXNode struct {
	node *Node
}

// Firewall is what a JS stream does with a packet that arrives on a socket
// other than its own (or before it is connected): udx-native's firewall hook.
type Firewall string

const (
	// FirewallReject drops such packets without an ACK; udx-native's default.
	FirewallReject Firewall = "reject"
	// FirewallAccept delivers them but does not connect, so their ACK is
	// deferred until [UDXNode.Connect].
	FirewallAccept Firewall = "accept"
	// FirewallConnectOnFirst connects the stream to the sender of the first
	// such packet, through the socket it arrived on, with
	// [StreamOpts.RemoteID] (the hyperdht server pattern), and accepts it and
	// every later one.
	FirewallConnectOnFirst Firewall = "connect-on-first"
)

// StreamOpts configure a JS stream created with [UDXNode.Stream]. The zero
// value is a plain udx-native stream: it rejects packets from other sockets.
type StreamOpts struct {
	Firewall Firewall // "" means FirewallReject
	Socket   int      // if not 0, the firewall rejects packets that arrive on any other socket
	RemoteID uint32   // the peer's stream id, for FirewallConnectOnFirst
	Echo     bool     // write back everything read, and end when the remote ends
	Framed   bool     // createStream's framed option (read batching only; no wire effect)
	Seq      uint32   // initial sequence number (createStream's seq); 0 is udx-native's default
}

// StreamStats is a snapshot of a JS stream: udx-native's getters, plus the
// driver's own counts.
type StreamStats struct {
	Connected          bool           `json:"connected"`
	RemoteID           uint32         `json:"remoteId"`
	Remote             netip.AddrPort `json:"remote"`             // zero until connected
	RTT                int            `json:"rtt"`                // smoothed RTT, ms
	CWnd               int            `json:"cwnd"`               // congestion window, packets
	MTU                int            `json:"mtu"`                // current path MTU (IP packet size)
	Inflight           int            `json:"inflight"`           // packets in flight
	RTOCount           int            `json:"rtoCount"`           // consecutive RTO expiries
	Retransmits        int            `json:"retransmits"`        // packets retransmitted
	FastRecoveries     int            `json:"fastRecoveries"`     // fast-recovery episodes
	BBRState           int            `json:"bbrState"`           // libudx's BBR state number
	BBRBandwidth       int64          `json:"bbrBandwidth"`       // BBR's bandwidth estimate, payload bytes per second
	BytesTransmitted   int64          `json:"bytesTransmitted"`   // libudx counter
	PacketsTransmitted int64          `json:"packetsTransmitted"` // libudx counter
	BytesReceived      int64          `json:"bytesReceived"`      // libudx counter
	PacketsReceived    int64          `json:"packetsReceived"`    // libudx counter
	Received           int64          `json:"received"`           // stream bytes read by the driver
	Written            int64          `json:"written"`            // stream bytes the driver wrote (ops and echo)
	Messages           int            `json:"messages"`           // messages received
	FirewallCalls      int            `json:"firewallCalls"`      // times the firewall hook ran
	RemoteEnded        bool           `json:"remoteEnded"`        // the remote's END was read
	Closed             bool           `json:"closed"`
}

// Digest is a SHA-256 sum, written as hex in the driver protocol. A [32]byte
// compares equal to it directly.
type Digest [32]byte

// UnmarshalJSON implements [json.Unmarshaler].
func (d *Digest) UnmarshalJSON(b []byte) error {
	var h Hex
	if err := json.Unmarshal(b, &h); err != nil {
		return err
	}
	if len(h) != len(d) {
		return fmt.Errorf("interop: digest has %d bytes, want %d", len(h), len(d))
	}
	*d = Digest(h)
	return nil
}

// String returns the digest as lower-case hex.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// StreamEnd is a "stream-end" event: the remote ended the stream and the
// driver has read everything before the END.
type StreamEnd struct {
	Stream uint32 `json:"stream"`
	Bytes  int64  `json:"bytes"`  // bytes read from the stream in total
	SHA256 Digest `json:"sha256"` // of those bytes
	At     time.Time
}

// StreamClose is a "stream-close" event. Error and Code are empty after a
// clean close (both sides ended, or a local destroy); Code is "ECONNRESET"
// when the remote destroyed the stream and "ETIMEDOUT" when it stopped
// answering.
type StreamClose struct {
	Stream  uint32 `json:"stream"`
	Error   string `json:"error"`
	Code    string `json:"code"`
	Bytes   int64  `json:"bytes"`   // bytes read
	Written int64  `json:"written"` // bytes written
	At      time.Time
}

// StreamMessage is a "message" event: one UDX message received on a stream.
type StreamMessage struct {
	Stream uint32 `json:"stream"`
	Data   Hex    `json:"data"`   // the first 256 bytes at most
	Length int    `json:"length"` // the whole message's length
	SHA256 Digest `json:"sha256"` // of the whole message
	At     time.Time
}

// SocketMessage is a "socket-message" event: a datagram that reached a
// socket's message handler because no stream claimed it.
type SocketMessage struct {
	Socket int            `json:"socket"`
	From   netip.AddrPort `json:"from"`
	Data   Hex            `json:"data"`   // the first 256 bytes at most
	Length int            `json:"length"` // the whole datagram's length
	SHA256 Digest         `json:"sha256"` // of the whole datagram
	At     time.Time
}

// StreamConnect is a "stream-connect" event, written when a stream connects,
// by [UDXNode.Connect] or by its firewall.
type StreamConnect struct {
	Stream   uint32         `json:"stream"`
	Socket   int            `json:"socket"`
	RemoteID uint32         `json:"remoteId"`
	Remote   netip.AddrPort `json:"remote"`
	At       time.Time
}

// StartUDX starts a udx.js driver, one udx-native instance with no sockets
// yet. It must be called from the test goroutine; it skips or fails the test
// like [Require] when the reference cannot run, and fails it if the driver
// does not start.
func StartUDX(t testing.TB) *UDXNode {
	t.Helper()
	requireUDX(t)
	return &UDXNode{startScript(t, "udx.js", "js udx")}
}

// requireUDX is [Require] plus a check that the installed udx-native is the
// version package-lock.json pins (it comes with hyperdht, so package.json does
// not name it).
func requireUDX(t testing.TB) {
	t.Helper()
	Require(t)
	skipOrFail(t, checkUDX())
}

var checkUDX = sync.OnceValue(func() string {
	lock := filepath.Join(Dir(), "package-lock.json")
	b, err := os.ReadFile(lock)
	if err != nil {
		return fmt.Sprintf("cannot read the pinned udx-native version: %v", err)
	}
	var pkg struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return fmt.Sprintf("cannot read the pinned udx-native version: %s: %v", lock, err)
	}
	want := pkg.Packages["node_modules/udx-native"].Version
	if want == "" {
		return fmt.Sprintf("%s does not pin udx-native", lock)
	}
	return checkInstalled("udx-native", want, "package-lock.json")
})

// String returns the name used in messages, such as "js udx (pid 123)".
func (u *UDXNode) String() string { return u.node.String() }

// Stop ends the driver process as [Node.Stop] does. The driver destroys its
// streams first, so connected peers see a DESTROY.
func (u *UDXNode) Stop() error { return u.node.Stop() }

// Call sends one command, as [Node.Call] does, for ops without a typed method.
func (u *UDXNode) Call(ctx context.Context, op string, args, result any) error {
	return u.node.Call(ctx, op, args, result)
}

// Events returns a copy of every event received so far, oldest first.
func (u *UDXNode) Events() []Event { return u.node.Events() }

// WaitEvent returns the first event called name since the process started
// for which match (if non-nil) returns true, as [Node.WaitEvent] does.
func (u *UDXNode) WaitEvent(ctx context.Context, name string, match func(Event) bool) (Event, error) {
	return u.node.WaitEvent(ctx, name, match)
}

// Socket binds a new socket on 127.0.0.1 at a port the system picks and
// returns its number and port.
func (u *UDXNode) Socket(ctx context.Context) (sockID, port int, err error) {
	id, addr, err := u.SocketAt(ctx, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0))
	return id, int(addr.Port()), err
}

// SocketAt binds a new socket at addr (port 0: any port; "::" is dual-stack)
// and returns its number and bound address.
func (u *UDXNode) SocketAt(ctx context.Context, addr netip.AddrPort) (sockID int, bound netip.AddrPort, err error) {
	if !addr.Addr().IsValid() {
		return 0, netip.AddrPort{}, fmt.Errorf("interop: %s: socket: invalid address %v", u, addr)
	}
	var res struct {
		Socket int    `json:"socket"`
		Host   string `json:"host"`
		Port   int    `json:"port"`
	}
	err = u.node.Call(ctx, "socket", struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	}{addr.Addr().String(), int(addr.Port())}, &res)
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	ip, err := netip.ParseAddr(res.Host)
	if err != nil {
		return 0, netip.AddrPort{}, fmt.Errorf("interop: %s: socket: bound host %q: %w", u, res.Host, err)
	}
	return res.Socket, netip.AddrPortFrom(ip, uint16(res.Port)), nil
}

// Stream creates a stream with local id (udx.createStream). It is not
// connected: call [UDXNode.Connect], or let a FirewallConnectOnFirst firewall
// connect it. An id may be reused once its stream has closed.
func (u *UDXNode) Stream(ctx context.Context, id uint32, opts StreamOpts) error {
	args := struct {
		Stream   uint32   `json:"stream"`
		Firewall Firewall `json:"firewall,omitempty"`
		Socket   int      `json:"socket,omitempty"`
		RemoteID uint32   `json:"remoteId"`
		Echo     bool     `json:"echo,omitempty"`
		Framed   bool     `json:"framed,omitempty"`
		Seq      uint32   `json:"seq,omitempty"`
	}{id, opts.Firewall, opts.Socket, opts.RemoteID, opts.Echo, opts.Framed, opts.Seq}
	return u.node.Call(ctx, "stream", args, nil)
}

// Connect connects stream to remoteID at addr through socket
// (stream.connect). It sends nothing: UDX has no handshake.
func (u *UDXNode) Connect(ctx context.Context, stream uint32, socket int, remoteID uint32, addr netip.AddrPort) error {
	return u.node.Call(ctx, "connect", remoteArgs{stream, socket, remoteID, addr.Addr().Unmap().String(), int(addr.Port())}, nil)
}

// Write writes data on a connected stream and returns once udx-native has
// taken it, that is at once unless the send queue is full, then at the next
// drain. Use [UDXNode.Flush] to wait for the ACKs.
func (u *UDXNode) Write(ctx context.Context, stream uint32, data []byte) error {
	return u.node.Call(ctx, "write", streamData{stream, nonNil(data)}, nil)
}

// WriteFile writes the first n bytes of [PseudoRandom](seed) on a connected
// stream, in 64 KiB writes that wait for drain, and returns their SHA-256
// once the last write was taken.
func (u *UDXNode) WriteFile(ctx context.Context, stream uint32, n int64, seed uint32) ([32]byte, error) {
	var res struct {
		SHA256 Digest `json:"sha256"`
	}
	err := u.node.Call(ctx, "writeFile", struct {
		Stream uint32 `json:"stream"`
		Bytes  int64  `json:"bytes"`
		Seed   uint32 `json:"seed"`
	}{stream, n, seed}, &res)
	return res.SHA256, err
}

// Flush waits until everything written on the stream so far has been
// acknowledged (stream.flush).
func (u *UDXNode) Flush(ctx context.Context, stream uint32) error {
	return u.node.Call(ctx, "flush", streamArgs{stream}, nil)
}

// End ends the stream's sending side (stream.end, a half-close): an END
// follows the data already written. Reading goes on.
func (u *UDXNode) End(ctx context.Context, stream uint32) error {
	return u.node.Call(ctx, "end", streamArgs{stream}, nil)
}

// Destroy destroys the stream (stream.destroy): a connected stream sends one
// DESTROY. It returns at once; the "stream-close" event follows.
func (u *UDXNode) Destroy(ctx context.Context, stream uint32) error {
	return u.node.Call(ctx, "destroy", streamArgs{stream}, nil)
}

// Send sends data as one UDX message on the stream (stream.send) and returns
// what udx-native's promise resolved to: false if the stream is not
// connected. true does not mean the datagram left (udx-native reports send
// errors as success).
func (u *UDXNode) Send(ctx context.Context, stream uint32, data []byte) (bool, error) {
	var res struct {
		Sent bool `json:"sent"`
	}
	err := u.node.Call(ctx, "send", streamData{stream, nonNil(data)}, &res)
	return res.Sent, err
}

// TrySend sends data as one UDX message without waiting (stream.trySend).
func (u *UDXNode) TrySend(ctx context.Context, stream uint32, data []byte) error {
	return u.node.Call(ctx, "trySend", streamData{stream, nonNil(data)}, nil)
}

// ChangeRemote moves a connected stream to remoteID at addr through socket
// (stream.changeRemote). immediate reports that the change completed at once
// because nothing was in flight; otherwise a "remote-changed" event follows
// when the old flight has been acknowledged. The event is written in both
// cases.
func (u *UDXNode) ChangeRemote(ctx context.Context, stream uint32, socket int, remoteID uint32, addr netip.AddrPort) (immediate bool, err error) {
	var res struct {
		Immediate bool `json:"immediate"`
	}
	err = u.node.Call(ctx, "changeRemote", remoteArgs{stream, socket, remoteID, addr.Addr().Unmap().String(), int(addr.Port())}, &res)
	return res.Immediate, err
}

// RelayTo makes stream forward every packet it receives to other
// (stream.relayTo); a blind relay calls it on both legs.
func (u *UDXNode) RelayTo(ctx context.Context, stream, other uint32) error {
	return u.node.Call(ctx, "relayTo", struct {
		Stream uint32 `json:"stream"`
		Other  uint32 `json:"other"`
	}{stream, other}, nil)
}

// SetKeepalive makes the stream send a HEARTBEAT after d without traffic
// (stream.setKeepalive, whole milliseconds); 0 turns it off.
func (u *UDXNode) SetKeepalive(ctx context.Context, stream uint32, d time.Duration) error {
	return u.node.Call(ctx, "keepalive", struct {
		Stream uint32 `json:"stream"`
		MS     int64  `json:"ms"`
	}{stream, d.Milliseconds()}, nil)
}

// Stats returns a snapshot of the stream. It works after the stream closed,
// with the values it had then.
func (u *UDXNode) Stats(ctx context.Context, stream uint32) (StreamStats, error) {
	var st StreamStats
	err := u.node.Call(ctx, "stats", streamArgs{stream}, &st)
	return st, err
}

// SendRaw sends data as one plain UDP datagram from socket to addr
// (socket.send).
func (u *UDXNode) SendRaw(ctx context.Context, socket int, addr netip.AddrPort, data []byte) error {
	return u.node.Call(ctx, "sendRaw", struct {
		Socket int    `json:"socket"`
		Host   string `json:"host"`
		Port   int    `json:"port"`
		Data   Hex    `json:"data"`
	}{socket, addr.Addr().Unmap().String(), int(addr.Port()), nonNil(data)}, nil)
}

// Recv returns the first 64 KiB read from the stream so far and the number
// of bytes read in total.
func (u *UDXNode) Recv(ctx context.Context, stream uint32) (data []byte, total int64, err error) {
	var res struct {
		Data  Hex   `json:"data"`
		Bytes int64 `json:"bytes"`
	}
	err = u.node.Call(ctx, "recv", streamArgs{stream}, &res)
	return res.Data, res.Bytes, err
}

// WaitStreamEnd waits for the "stream-end" event of stream. Like the other
// WaitStream* and Wait*Message methods, it returns the first matching event
// since the process started, so after an id has been reused it finds the old
// stream's event; use [UDXNode.WaitEvent] with a match on [Event.At] then.
func (u *UDXNode) WaitStreamEnd(ctx context.Context, stream uint32) (StreamEnd, error) {
	return waitUDX(ctx, u, "stream-end",
		func(e StreamEnd) uint32 { return e.Stream }, stream, func(e *StreamEnd, at time.Time) { e.At = at }, nil)
}

// WaitStreamClose waits for the "stream-close" event of stream.
func (u *UDXNode) WaitStreamClose(ctx context.Context, stream uint32) (StreamClose, error) {
	return waitUDX(ctx, u, "stream-close",
		func(e StreamClose) uint32 { return e.Stream }, stream, func(e *StreamClose, at time.Time) { e.At = at }, nil)
}

// WaitStreamConnect waits for the "stream-connect" event of stream.
func (u *UDXNode) WaitStreamConnect(ctx context.Context, stream uint32) (StreamConnect, error) {
	return waitUDX(ctx, u, "stream-connect",
		func(e StreamConnect) uint32 { return e.Stream }, stream, func(e *StreamConnect, at time.Time) { e.At = at }, nil)
}

// WaitMessage waits for the first message received on stream, since the
// process started, for which match (if non-nil) returns true.
func (u *UDXNode) WaitMessage(ctx context.Context, stream uint32, match func(StreamMessage) bool) (StreamMessage, error) {
	return waitUDX(ctx, u, "message",
		func(e StreamMessage) uint32 { return e.Stream }, stream, func(e *StreamMessage, at time.Time) { e.At = at }, match)
}

// WaitSocketMessage waits for the first plain datagram received on socket,
// since the process started, for which match (if non-nil) returns true.
func (u *UDXNode) WaitSocketMessage(ctx context.Context, socket int, match func(SocketMessage) bool) (SocketMessage, error) {
	return waitUDX(ctx, u, "socket-message",
		func(e SocketMessage) uint32 { return uint32(e.Socket) }, uint32(socket), func(e *SocketMessage, at time.Time) { e.At = at }, match)
}

// waitUDX waits for an event called name whose key (stream or socket) is
// want and that match accepts, and returns it decoded.
func waitUDX[T any](ctx context.Context, u *UDXNode, name string, key func(T) uint32, want uint32,
	setAt func(*T, time.Time), match func(T) bool) (T, error) {
	var (
		got    T
		badErr error
	)
	_, err := u.node.WaitEvent(ctx, name, func(ev Event) bool {
		var v T
		if err := json.Unmarshal(ev.Raw, &v); err != nil {
			badErr = fmt.Errorf("decoding %s: %w", ev.Raw, err)
			return false
		}
		if key(v) != want || (match != nil && !match(v)) {
			return false
		}
		setAt(&v, ev.At)
		got = v
		return true
	})
	if err != nil && badErr != nil {
		err = fmt.Errorf("%w (and an event did not decode: %w)", err, badErr)
	}
	return got, err
}

type streamArgs struct {
	Stream uint32 `json:"stream"`
}

type streamData struct {
	Stream uint32 `json:"stream"`
	Data   Hex    `json:"data"`
}

type remoteArgs struct {
	Stream   uint32 `json:"stream"`
	Socket   int    `json:"socket"`
	RemoteID uint32 `json:"remoteId"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
}

// PseudoRandom returns a reader of the first n bytes of the stream that the
// driver's writeFile op writes for seed, so a test can produce or check the
// same bulk data. The stream is xorshift32 (x ^= x<<13; x ^= x>>17;
// x ^= x<<5) from state seed, or 0x9e3779b9 when seed is 0; each step's new
// state gives 4 bytes, little-endian.
func PseudoRandom(seed uint32, n int64) io.Reader {
	if seed == 0 {
		seed = pseudoRandomZeroSeed
	}
	return &pseudoRandom{x: seed, left: n, used: 4}
}

const pseudoRandomZeroSeed = 0x9e3779b9 // xorshift32 never leaves state 0

type pseudoRandom struct {
	x    uint32
	left int64   // bytes still to return
	word [4]byte // the current word
	used int     // bytes of word already returned; 4 means none left
}

func (r *pseudoRandom) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n := 0
	for n < len(p) && r.used < 4 {
		p[n] = r.word[r.used]
		n++
		r.used++
	}
	for ; len(p)-n >= 4; n += 4 {
		binary.LittleEndian.PutUint32(p[n:], r.step())
	}
	if n < len(p) {
		binary.LittleEndian.PutUint32(r.word[:], r.step())
		r.used = copy(p[n:], r.word[:])
		n += r.used
	}
	r.left -= int64(n)
	return n, nil
}

func (r *pseudoRandom) step() uint32 {
	x := r.x
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	r.x = x
	return x
}
