package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Error codes that the reference's connect gives (hyperdht lib/errors.js),
// plus the driver's own for a connection that closed without an error. A
// failed [HyperNode.Connect] returns a *[CallError] with one of these in
// Code; [ErrorCode] reads it.
const (
	CodePeerNotFound         = "PEER_NOT_FOUND"         // no node on the path held the server's announce record
	CodePeerConnectionFailed = "PEER_CONNECTION_FAILED" // records were found, but no handshake through them completed
	CodeStreamClosed         = "ESTREAMCLOSED"          // the driver's: the connection closed without an error
)

// ErrorCode returns the JS error code carried by err (a *[CallError] anywhere
// in its chain), or "" if there is none.
func ErrorCode(err error) string {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ""
}

// ServerOptions configure a JS server made by [HyperNode.CreateServer].
type ServerOptions struct {
	Seed   [32]byte   // the server's key pair is HyperDHT.keyPair(Seed)
	Reject [][32]byte // public keys the server's firewall refuses; every other key is accepted
	Echo   bool       // each accepted connection writes back what it reads and ends when the remote ends
	Sink   bool       // each accepted connection ends when the remote ends (it always hashes what it reads)
	// Holepunch is "never" (holepunch: false: the server never punches), "veto" (a holepunch
	// callback that refuses every punch) or "" (the default).
	Holepunch string
}

// JSServer is a hyperdht server (dht.createServer) in a hyperdht.js driver.
// Its methods are safe for concurrent use. It is closed with the driver at the
// latest.
type JSServer struct {
	node      *HyperNode
	id        int
	publicKey [32]byte
}

// ServerAddress is what server.address() returns once a server listens: its
// public key and the node's own address (host "" and port 0 while unknown).
type ServerAddress struct {
	PublicKey Hex    `json:"publicKey"`
	Host      string `json:"host"`
	Port      int    `json:"port"`
}

// ConnInfo says who a connection is between, as the secret stream reports it.
type ConnInfo struct {
	Conn            int            `json:"conn"`   // the driver's number for it
	Side            string         `json:"side"`   // "client" (from Connect) or "server" (accepted)
	Server          int            `json:"server"` // the accepting server's number; 0 on the client side
	Remote          netip.AddrPort `json:"remote"` // the UDX peer address; zero if unknown
	PublicKey       Hex            `json:"publicKey"`
	RemotePublicKey Hex            `json:"remotePublicKey"`
	HandshakeHash   Hex            `json:"handshakeHash"` // 64 bytes: the Noise IK handshake hash
	IsInitiator     bool           `json:"isInitiator"`   // true on the client side
	// Open is, for Connect, the time from dht.connect to the stream's open.
	// It is 0 for a connection a server accepted (see [JSConn.WaitOpen]).
	Open time.Duration `json:"-"`
	// Header is, for Connect with WaitHeader, the time from dht.connect until the
	// server's secret-stream header had been read (what Go's Connect waits for).
	Header time.Duration `json:"-"`
	At     time.Time     `json:"-"` // when the driver's reply or event was read
}

// FirewallCall is one call of a server's firewall: the client's key and
// handshake payload (hyperdht lib/messages.js noisePayload) and whether it was
// let through. The driver reports the first 16 calls per server.
type FirewallCall struct {
	Server          int              `json:"server"`
	RemotePublicKey Hex              `json:"remotePublicKey"`
	Accepted        bool             `json:"accepted"`
	Payload         HandshakePayload `json:"payload"`
	ClientAddress   netip.AddrPort   `json:"clientAddress"` // as the server saw it
	Calls           int              `json:"calls"`         // this call's number, from 1
	At              time.Time        `json:"-"`
}

// HandshakePayload is a decoded handshake payload as the reference sees it.
// Addresses are "host:port".
type HandshakePayload struct {
	Version    int      `json:"version"`
	Error      int      `json:"error"`
	Firewall   int      `json:"firewall"` // 0 UNKNOWN, 1 OPEN, 2 CONSISTENT, 3 RANDOM
	Addresses4 []string `json:"addresses4"`
	Addresses6 []string `json:"addresses6"`
	Holepunch  *struct {
		ID     int `json:"id"`
		Relays []struct {
			RelayAddress string `json:"relayAddress"`
			PeerAddress  string `json:"peerAddress"`
		} `json:"relays"`
	} `json:"holepunch"`
	UDX *struct {
		Version        int    `json:"version"`
		ReusableSocket bool   `json:"reusableSocket"`
		ID             uint32 `json:"id"`
		Seq            uint32 `json:"seq"`
	} `json:"udx"`
	SecretStream *struct {
		Version int `json:"version"`
	} `json:"secretStream"`
	RelayThrough *struct {
		PublicKey Hex `json:"publicKey"`
		Token     Hex `json:"token"`
	} `json:"relayThrough"`
	RelayAddresses []string `json:"relayAddresses"`
}

// CreateServer makes a server (dht.createServer with a firewall) in the
// driver. It does not listen yet; call [JSServer.Listen].
func (n *HyperNode) CreateServer(ctx context.Context, opts ServerOptions) (*JSServer, error) {
	reject := make([]Hex, len(opts.Reject))
	for i := range opts.Reject {
		reject[i] = opts.Reject[i][:]
	}
	var res struct {
		Server    int `json:"server"`
		PublicKey Hex `json:"publicKey"`
	}
	err := n.Call(ctx, "createServer", struct {
		Seed   Hex    `json:"seed"`
		Reject []Hex  `json:"reject"`
		Echo   bool   `json:"echo"`
		Sink   bool   `json:"sink"`
		Punch  string `json:"holepunch,omitempty"`
	}{opts.Seed[:], reject, opts.Echo, opts.Sink, opts.Holepunch}, &res)
	if err != nil {
		return nil, err
	}
	pk, err := to32(n, "createServer", "publicKey", res.PublicKey)
	if err != nil {
		return nil, err
	}
	return &JSServer{node: n, id: res.Server, publicKey: pk}, nil
}

// ID returns the driver's number for the server.
func (s *JSServer) ID() int { return s.id }

// PublicKey returns the server's public key, which clients connect to.
func (s *JSServer) PublicKey() [32]byte { return s.publicKey }

// Listen runs server.listen(keyPair) to completion, which announces the
// server under hash(publicKey) to the closest nodes, and returns
// server.address().
func (s *JSServer) Listen(ctx context.Context) (ServerAddress, error) {
	var a ServerAddress
	err := s.node.Call(ctx, "listen", serverArgs{s.id}, &a)
	return a, err
}

// Refresh runs server.refresh(): the announcer re-announces at once.
func (s *JSServer) Refresh(ctx context.Context) error {
	return s.node.Call(ctx, "refresh", serverArgs{s.id}, nil)
}

// Close runs server.close() to completion: it unannounces the server and
// stops accepting handshakes. Connections already made stay open.
func (s *JSServer) Close(ctx context.Context) error {
	return s.node.Call(ctx, "close", serverArgs{s.id}, nil)
}

// Connections returns every connection the server has accepted so far, in
// order, as they were reported on acceptance.
func (s *JSServer) Connections() []ConnInfo {
	var list []ConnInfo
	for _, ev := range s.node.Events() {
		if ev.Name != "server-connection" {
			continue
		}
		var c ConnInfo
		if json.Unmarshal(ev.Raw, &c) == nil && c.Server == s.id {
			c.At = ev.At
			list = append(list, c)
		}
	}
	return list
}

// WaitConnection waits for the first connection the server accepted, since
// it was created, for which match (if non-nil) returns true.
func (s *JSServer) WaitConnection(ctx context.Context, match func(ConnInfo) bool) (*JSConn, error) {
	c, err := waitEvent(ctx, s.node.Node, "server-connection", func(c *ConnInfo, at time.Time) bool {
		c.At = at
		return c.Server == s.id && (match == nil || match(*c))
	})
	if err != nil {
		return nil, err
	}
	return &JSConn{node: s.node, info: c}, nil
}

// WaitFirewall waits for the first reported firewall call of the server for
// which match (if non-nil) returns true.
func (s *JSServer) WaitFirewall(ctx context.Context, match func(FirewallCall) bool) (FirewallCall, error) {
	return waitEvent(ctx, s.node.Node, "server-firewall", func(f *FirewallCall, at time.Time) bool {
		f.At = at
		return f.Server == s.id && (match == nil || match(*f))
	})
}

// ConnectOptions configure [HyperNode.Connect]. The zero value connects with
// the node's default key pair and finds the server through the DHT.
type ConnectOptions struct {
	Seed           *[32]byte        // the client's key pair is HyperDHT.keyPair(*Seed); nil: the node's default pair
	RelayAddresses []netip.AddrPort // IPv4 nodes to send the handshake through first (connect's relayAddresses)
	Echo           bool             // write back what is read, and end when the remote ends
	Sink           bool             // end when the remote ends
	// WaitHeader returns only once the server's secret-stream header has been read,
	// as Go's dht.Node.Connect does, and sets ConnInfo.Header.
	WaitHeader bool
	// Holepunch "veto" passes a holepunch callback that refuses every punch.
	Holepunch  string
	NoFastOpen bool // fastOpen: false
}

// Connect runs dht.connect(publicKey) in the driver and returns once the
// encrypted stream has opened. If it closes first, Connect returns a
// *[CallError] whose Code is the reference's error code (see [ErrorCode]).
func (n *HyperNode) Connect(ctx context.Context, publicKey [32]byte, opts ConnectOptions) (*JSConn, error) {
	relays, err := hostPorts(opts.RelayAddresses)
	if err != nil {
		return nil, err
	}
	var seed Hex
	if opts.Seed != nil {
		seed = opts.Seed[:]
	}
	var res struct {
		ConnInfo
		MS       float64 `json:"ms"`
		HeaderMS float64 `json:"headerMs"`
	}
	err = n.Call(ctx, "connect", struct {
		PublicKey      Hex      `json:"publicKey"`
		Seed           Hex      `json:"seed,omitempty"`
		RelayAddresses []string `json:"relayAddresses"`
		Echo           bool     `json:"echo"`
		Sink           bool     `json:"sink"`
		Header         bool     `json:"header"`
		Punch          string   `json:"holepunch,omitempty"`
		NoFastOpen     bool     `json:"noFastOpen"`
	}{publicKey[:], seed, relays, opts.Echo, opts.Sink, opts.WaitHeader, opts.Holepunch, opts.NoFastOpen}, &res)
	if err != nil {
		return nil, err
	}
	info := res.ConnInfo
	info.Open = msDuration(res.MS)
	info.Header = msDuration(res.HeaderMS)
	info.At = time.Now()
	return &JSConn{node: n, info: info}, nil
}

// JSConn is one encrypted connection (a NoiseSecretStream over UDX) in a
// hyperdht.js driver, on either side. The driver hashes what it reads rather
// than forwarding it; datagrams are reported as events. Its methods are safe
// for concurrent use.
type JSConn struct {
	node *HyperNode
	info ConnInfo
}

// Info returns who the connection is between, as reported when it was made.
func (c *JSConn) Info() ConnInfo { return c.info }

// ID returns the driver's number for the connection.
func (c *JSConn) ID() int { return c.info.Conn }

func (c *JSConn) String() string {
	return fmt.Sprintf("%v conn %d (%s)", c.node, c.info.Conn, c.info.Side)
}

// ConnStats is a snapshot of a connection. It stays readable after close.
// Its Open is the time from the connect (or the acceptance) to the open, on
// both sides; 0 while it has not opened.
type ConnStats struct {
	ConnInfo
	Opened          bool   `json:"opened"`
	Received        int64  `json:"received"` // plaintext stream bytes read
	SHA256          Digest `json:"sha256"`   // of those bytes
	Written         int64  `json:"written"`  // plaintext stream bytes written
	RawBytesRead    int64  `json:"rawBytesRead"`
	RawBytesWritten int64  `json:"rawBytesWritten"`
	Messages        int    `json:"messages"`    // datagrams received
	RemoteEnded     bool   `json:"remoteEnded"` // the remote's end arrived
	Ended           bool   `json:"ended"`       // this side ended
	Closed          bool   `json:"closed"`
	Error           string `json:"error"` // the stream's error, "" if none
	Code            string `json:"code"`  // its code, such as "ECONNRESET"
}

// ConnMessage is a datagram received on a connection (secret-stream's
// encrypted unordered messages).
type ConnMessage struct {
	Conn   int    `json:"conn"`
	Data   Hex    `json:"data"`   // the first 256 bytes at most
	Length int    `json:"length"` // the whole datagram's length
	SHA256 Digest `json:"sha256"` // of the whole datagram
	At     time.Time
}

// ConnEnd is a "conn-end" event: the remote ended the stream and everything
// before its end has been read.
type ConnEnd struct {
	Conn   int    `json:"conn"`
	Bytes  int64  `json:"bytes"`
	SHA256 Digest `json:"sha256"`
	At     time.Time
}

// ConnClose is a "conn-close" event. Error and Code are empty after a clean
// close.
type ConnClose struct {
	Conn     int    `json:"conn"`
	Error    string `json:"error"`
	Code     string `json:"code"`
	Bytes    int64  `json:"bytes"`
	SHA256   Digest `json:"sha256"`
	Written  int64  `json:"written"`
	Messages int    `json:"messages"`
	At       time.Time
}

// BulkResult is what [JSConn.SendBulk] wrote.
type BulkResult struct {
	Bytes   int64  `json:"bytes"`
	SHA256  Digest `json:"sha256"`
	Elapsed time.Duration
}

// Write writes data on the stream and returns once the stream took it (at
// the next drain if its buffer was full).
func (c *JSConn) Write(ctx context.Context, data []byte) error {
	return c.node.Call(ctx, "write", connData{c.info.Conn, nonNil(data)}, nil)
}

// SendBulk writes the first n bytes of [PseudoRandom](seed) in 64 KiB
// writes that wait for drain, then ends the stream, and returns their
// SHA-256 and the time the writes took (not until they were acknowledged).
func (c *JSConn) SendBulk(ctx context.Context, n int64, seed uint32) (BulkResult, error) {
	var res struct {
		BulkResult
		MS float64 `json:"ms"`
	}
	err := c.node.Call(ctx, "sendBulk", struct {
		Conn  int    `json:"conn"`
		Bytes int64  `json:"bytes"`
		Seed  uint32 `json:"seed"`
	}{c.info.Conn, n, seed}, &res)
	res.Elapsed = msDuration(res.MS)
	return res.BulkResult, err
}

// End ends this side of the stream (a half-close); reading goes on.
func (c *JSConn) End(ctx context.Context) error {
	return c.node.Call(ctx, "end", connArgs{c.info.Conn}, nil)
}

// Destroy destroys the stream at once; "conn-close" follows.
func (c *JSConn) Destroy(ctx context.Context) error {
	return c.node.Call(ctx, "destroy", connArgs{c.info.Conn}, nil)
}

// Send sends data as one encrypted datagram (secret-stream send) and returns
// what the UDX send resolved to; false also when the stream is not open yet.
func (c *JSConn) Send(ctx context.Context, data []byte) (bool, error) {
	var res struct {
		Sent bool `json:"sent"`
	}
	err := c.node.Call(ctx, "send", connData{c.info.Conn, nonNil(data)}, &res)
	return res.Sent, err
}

// TrySend sends data as one encrypted datagram without waiting
// (secret-stream trySend).
func (c *JSConn) TrySend(ctx context.Context, data []byte) error {
	return c.node.Call(ctx, "trySend", connData{c.info.Conn, nonNil(data)}, nil)
}

// Messages returns the datagrams received so far (the first 1024 of them)
// and how many were received in total.
func (c *JSConn) Messages(ctx context.Context) ([]ConnMessage, int, error) {
	var res struct {
		Count    int           `json:"count"`
		Messages []ConnMessage `json:"messages"`
	}
	err := c.node.Call(ctx, "messages", connArgs{c.info.Conn}, &res)
	for i := range res.Messages {
		res.Messages[i].Conn = c.info.Conn
	}
	return res.Messages, res.Count, err
}

// WaitMessage waits for the first datagram received on the connection for
// which match (if non-nil) returns true. Only the first 1024 are reported.
func (c *JSConn) WaitMessage(ctx context.Context, match func(ConnMessage) bool) (ConnMessage, error) {
	return waitEvent(ctx, c.node.Node, "conn-message", func(m *ConnMessage, at time.Time) bool {
		m.At = at
		return m.Conn == c.info.Conn && (match == nil || match(*m))
	})
}

// Stats returns a snapshot of the connection.
func (c *JSConn) Stats(ctx context.Context) (ConnStats, error) {
	var res struct {
		ConnStats
		OpenMS float64 `json:"openMs"`
	}
	err := c.node.Call(ctx, "connStats", connArgs{c.info.Conn}, &res)
	res.Open = msDuration(res.OpenMS)
	return res.ConnStats, err
}

// WaitOpen waits until the stream has opened (both sides' secret-stream
// headers exchanged) and returns the time since the connection was made.
func (c *JSConn) WaitOpen(ctx context.Context) (time.Duration, error) {
	var ms float64
	_, err := waitEvent(ctx, c.node.Node, "conn-open", func(o *struct {
		Conn int     `json:"conn"`
		MS   float64 `json:"ms"`
	}, _ time.Time) bool {
		ms = o.MS
		return o.Conn == c.info.Conn
	})
	return msDuration(ms), err
}

// WaitEnded waits until the remote has ended the stream and everything
// before its end has been read.
func (c *JSConn) WaitEnded(ctx context.Context) (ConnEnd, error) {
	return waitEvent(ctx, c.node.Node, "conn-end", func(e *ConnEnd, at time.Time) bool {
		e.At = at
		return e.Conn == c.info.Conn
	})
}

// WaitClosed waits until the stream has closed.
func (c *JSConn) WaitClosed(ctx context.Context) (ConnClose, error) {
	return waitEvent(ctx, c.node.Node, "conn-close", func(e *ConnClose, at time.Time) bool {
		e.At = at
		return e.Conn == c.info.Conn
	})
}

// waitEvent waits for the first event called name, since the process
// started, that decodes into a T that match accepts; match may set fields
// from the event's time.
func waitEvent[T any](ctx context.Context, n *Node, name string, match func(*T, time.Time) bool) (T, error) {
	var (
		got    T
		badErr error
	)
	_, err := n.WaitEvent(ctx, name, func(ev Event) bool {
		var v T
		if err := json.Unmarshal(ev.Raw, &v); err != nil {
			badErr = fmt.Errorf("decoding %s: %w", ev.Raw, err)
			return false
		}
		if !match(&v, ev.At) {
			return false
		}
		got = v
		return true
	})
	if err != nil && badErr != nil {
		err = fmt.Errorf("%w (and an event did not decode: %w)", err, badErr)
	}
	return got, err
}

func msDuration(ms float64) time.Duration {
	return time.Duration(ms * float64(time.Millisecond))
}

type serverArgs struct {
	Server int `json:"server"`
}

type connArgs struct {
	Conn int `json:"conn"`
}

type connData struct {
	Conn int `json:"conn"`
	Data Hex `json:"data"`
}
