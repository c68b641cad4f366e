package main

// The control socket: how 'hyperlan status' and 'hyperlan peers' ask a running
// 'hyperlan up' what it is doing.
//
// up listens on a unix stream socket, by default /run/hyperlan/<interface>.sock. The
// directory has mode 0700 and the socket mode 0600, both owned by the daemon's user
// (root); on top of that the daemon reads each connection's peer credentials
// (SO_PEERCRED) and answers only root and its own user. The protocol is one JSON object
// per line, one exchange per connection:
//
//	client: {"v":1,"cmd":"status"}
//	server: {"v":1,"status":{"version":...,"pid":...,"node":{...},"peers":[...]}}
//	        {"v":1,"error":"unknown command \"x\""}
//
// then the server closes the connection. v is the protocol version, 1; a server answers
// a request of another version with an error. "status" is the only command; its reply
// is what 'hyperlan status --json' prints (see vpnStatus). Fields may be added to
// replies in version 1; clients ignore fields they do not know.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

const (
	controlVersion  = 1
	controlDir      = "/run/hyperlan" // default directory of the sockets
	controlMaxLine  = 64 << 10        // longest request the server reads
	controlDeadline = 5 * time.Second // for one exchange, as the client waits
	// requestDeadline bounds the server's wait for a request. A client writes its one line
	// at once; one that does not holds up the others this long at most.
	requestDeadline = time.Second
)

// Errors of the control client, which status and peers turn into messages.
var (
	errNoDaemon   = errors.New("no daemon")         // no socket
	errStale      = errors.New("stale socket")      // a socket nobody listens on
	errPermission = errors.New("permission denied") // the socket or its directory is root's
)

type (
	controlRequest struct {
		V   int    `json:"v"`
		Cmd string `json:"cmd"`
	}
	controlReply struct {
		V      int        `json:"v"`
		Status *vpnStatus `json:"status,omitempty"`
		Error  string     `json:"error,omitempty"`
	}
)

// vpnStatus is the daemon's answer to "status": the node and its peers as the engine sees
// them. Times are RFC 3339; counters count since the daemon started.
type vpnStatus struct {
	Version string       `json:"version"` // of the daemon's hyperlan
	PID     int          `json:"pid"`
	Config  string       `json:"config"` // the config file
	Started time.Time    `json:"started"`
	Engine  string       `json:"engine"` // "peers"; "starting" until the engine is made
	Node    nodeStatus   `json:"node"`
	Network networkJSON  `json:"network"`
	DHT     dhtJSON      `json:"dht"`
	Peers   []peerStatus `json:"peers"`
}

type nodeStatus struct {
	nodeJSON
	Listening bool         `json:"listening"` // announced on the DHT, accepting members
	Drops     dropCounters `json:"drops"`
	// RelayServer is the blind relay the node serves (node.relay); absent when it does not.
	RelayServer *relayServerStatus `json:"relayServer,omitempty"`
}

// relayServerStatus is the blind relay a node serves.
type relayServerStatus struct {
	Serving  bool `json:"serving"`  // announced on the DHT; false while it starts
	Sessions int  `json:"sessions"` // connections of members to it since it started
	Pairings int  `json:"pairings"` // pairs of streams it joined
	Active   int  `json:"active"`   // pairs relayed now
}

// dropCounters count the packets the data plane did not deliver, by reason.
type dropCounters struct {
	NoRoute      uint64 `json:"noRoute"`      // from the interface to an address no member has
	NoSession    uint64 `json:"noSession"`    // to a member that is not connected
	SendDropped  uint64 `json:"sendDropped"`  // a connection's send queue was full
	TooBig       uint64 `json:"tooBig"`       // answered with ICMP "too big" / "frag needed"
	MTUPending   uint64 `json:"mtuPending"`   // too big for the path MTU found so far: dropped without ICMP while the search runs
	Fragmented   uint64 `json:"fragmented"`   // IPv4 packets sent as fragments (not a drop)
	Spoofed      uint64 `json:"spoofed"`      // from a member, with a source address not its own
	Malformed    uint64 `json:"malformed"`    // not an IPv4 or IPv6 packet
	RecvDropped  uint64 `json:"recvDropped"`  // from members, with the interface's queue full
	DeviceErrors uint64 `json:"deviceErrors"` // failed reads and writes of the interface
}

type peerStatus struct {
	peerJSON
	Listed    bool       `json:"listed"`              // a [[peer]] of the config; false: admitted by the network secret
	Connected bool       `json:"connected"`           // a session is up
	Path      string     `json:"path,omitempty"`      // when connected: "direct", "lan", "holepunch" or "relay"
	Relayed   bool       `json:"relayed"`             // the connection goes through a blind relay
	Upgraded  bool       `json:"upgraded"`            // it started through a blind relay and moved to path
	Relay     string     `json:"relay,omitempty"`     // the blind relay's key, when relayed or upgraded
	Remote    string     `json:"remote,omitempty"`    // when connected: the peer's UDP address, host:port
	Since     *time.Time `json:"since,omitempty"`     // when connected: since when
	RTTMs     float64    `json:"rttMs,omitempty"`     // round-trip time in milliseconds, when known
	RxBytes   uint64     `json:"rxBytes"`             // IP bytes received from the peer
	TxBytes   uint64     `json:"txBytes"`             // IP bytes sent to the peer
	RxPackets uint64     `json:"rxPackets"`           // IP packets received from the peer
	TxPackets uint64     `json:"txPackets"`           // IP packets sent to the peer
	LastSeen  *time.Time `json:"lastSeen,omitempty"`  // when the peer was last heard from; absent: never
	LastError string     `json:"lastError,omitempty"` // why the last connection or attempt ended
	NextDial  *time.Time `json:"nextDial,omitempty"`  // when not connected: when it is dialled next
}

// controlServer serves the control socket of one daemon. Requests are answered one at a
// time on the server's own goroutine: a request must arrive within requestDeadline, and
// the reply is written within controlDeadline.
type controlServer struct {
	ln     *net.UnixListener
	path   string
	status func() *vpnStatus
	log    *slog.Logger
	done   chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// listenControl creates the control socket at path and starts serving it: the directory
// is created with mode 0700 if missing, the socket gets mode 0600. A socket left by a
// daemon that died is replaced; a live one means a daemon already runs, and is an error.
// status is called for every "status" request, from the server's goroutine.
func listenControl(path string, status func() *vpnStatus, log *slog.Logger) (*controlServer, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control socket directory %s: %w", dir, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("control socket %s: the path exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, controlDeadline); err == nil {
			c.Close()
			return nil, errAlreadyRunning
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("control socket %s: removing the stale socket: %w", path, err)
		}
		log.Info("removed a stale control socket", "socket", path)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	s := &controlServer{ln: ln, path: path, status: status, log: log, done: make(chan struct{})}
	go s.run()
	return s, nil
}

// errAlreadyRunning is listenControl's error when a daemon answers on the socket.
var errAlreadyRunning = errors.New("a daemon already runs")

func (s *controlServer) run() {
	defer close(s.done)
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("control socket: accept failed; status and peers no longer answer", "err", err)
			}
			return
		}
		s.serve(c)
	}
}

// serve answers the one request of c and closes it.
func (s *controlServer) serve(c *net.UnixConn) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(requestDeadline))
	c.SetWriteDeadline(time.Now().Add(controlDeadline))
	uid, err := peerUID(c)
	if err != nil || (uid != 0 && int(uid) != os.Geteuid()) {
		s.log.Warn("control socket: refused a client", "uid", uid, "err", err)
		writeReply(c, controlReply{Error: "permission denied: only root may use the control socket"})
		return
	}
	r := bufio.NewReaderSize(c, 4096)
	line, err := readLine(r, controlMaxLine)
	if err != nil {
		writeReply(c, controlReply{Error: "bad request: " + err.Error()})
		return
	}
	writeReply(c, s.answer(line))
}

// answer returns the reply to the request line.
func (s *controlServer) answer(line []byte) controlReply {
	var req controlRequest
	if err := json.Unmarshal(line, &req); err != nil {
		return controlReply{Error: "bad request: not a JSON object: " + err.Error()}
	}
	if req.V != controlVersion {
		return controlReply{Error: fmt.Sprintf("protocol version %d not supported; this daemon speaks version %d", req.V, controlVersion)}
	}
	switch req.Cmd {
	case "status":
		return controlReply{Status: s.status()}
	}
	return controlReply{Error: fmt.Sprintf("unknown command %q", req.Cmd)}
}

func writeReply(c net.Conn, r controlReply) {
	r.V = controlVersion
	b, err := json.Marshal(r)
	if err != nil {
		panic("hyperlan: internal error: cannot encode a control reply: " + err.Error())
	}
	c.Write(append(b, '\n')) // a client that went away is not worth a log line
}

// readLine reads one line of at most max bytes, without its newline. A line cut by EOF
// counts as a line.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max {
			return nil, fmt.Errorf("line longer than %d bytes", max)
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
}

// Close stops serving, waits for the server's goroutine and removes the socket.
// It is idempotent.
func (s *controlServer) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.ln.Close() // unlinks the socket
		<-s.done
	})
	return s.closeErr
}

// queryStatus asks the daemon at the socket path for its status.
func queryStatus(ctx context.Context, path string) (*vpnStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, controlDeadline)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if fi, serr := os.Lstat(path); serr == nil && fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s is not a control socket", path)
		}
		return nil, dialError(err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	req, _ := json.Marshal(controlRequest{V: controlVersion, Cmd: "status"})
	if _, err := c.Write(append(req, '\n')); err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	line, err := readLine(bufio.NewReader(c), 16<<20)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: reading the reply: %w", path, err)
	}
	var rep controlReply
	if err := json.Unmarshal(line, &rep); err != nil {
		return nil, fmt.Errorf("control socket %s: bad reply: %w", path, err)
	}
	switch {
	case rep.Error != "":
		return nil, fmt.Errorf("the daemon says: %s", rep.Error)
	case rep.Status == nil:
		return nil, fmt.Errorf("control socket %s: the reply has no status", path)
	}
	return rep.Status, nil
}

// dialError classifies a failed dial of the control socket.
func dialError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errNoDaemon
	case errors.Is(err, syscall.ECONNREFUSED):
		return errStale
	case errors.Is(err, fs.ErrPermission):
		return errPermission
	}
	return err
}
