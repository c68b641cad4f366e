// Package interop starts and drives real JavaScript dht-rpc nodes, so that Go
// tests can check hyperlan against the reference implementation.
//
// It is test-only: import it from _test.go files, never from production code.
// Each [Node] is one `node dhtrpc.js` process running a single dht-rpc node
// (the version pinned in package.json, installed with `npm ci` into
// interop/node_modules) bound to 127.0.0.1. The process speaks JSON lines: the
// test writes commands on its stdin and reads replies and events from its
// stdout. The driver's protocol is described at the top of dhtrpc.js and in
// README.md.
//
// Tests that use it call [Require] first: it skips the test when Node.js or the
// installed modules are missing, or fails it when HYPERLAN_REQUIRE_INTEROP=1.
// Every process is stopped and reaped in t.Cleanup.
//
//	port := interop.FreeUDPPort(t)
//	boot := interop.StartBootstrapper(t, port)
//	js := interop.StartNode(t, []netip.AddrPort{boot.Addr()}, interop.NodeOptions{})
//	if _, err := js.WaitEvent(ctx, "bootstrapped", nil); err != nil { ... }
//	res, err := js.FindNode(ctx, target)
package interop

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns a missing Node.js setup
// from a skipped test into a failed one, for CI jobs that must run interop.
const RequireEnv = "HYPERLAN_REQUIRE_INTEROP"

// ErrExited is wrapped by errors from calls on a [Node] whose driver process
// has exited (after [Node.Stop], the "exit" op, or a crash).
var ErrExited = errors.New("interop: driver process has exited")

// Dir returns the absolute path of the interop directory, which holds
// dhtrpc.js and node_modules.
func Dir() string {
	dirOnce.Do(func() { dir = findDir() })
	return dir
}

var (
	dirOnce sync.Once
	dir     string
)

func findDir() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		return filepath.Dir(file)
	}
	// Built with -trimpath: the source path is module-relative. Tests run in
	// their package directory, so walk up to the module root instead.
	wd, err := os.Getwd()
	if err != nil {
		return "interop"
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "interop")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(wd, "interop")
		}
	}
}

// Require makes sure the JS reference can run: node on PATH and the pinned
// dht-rpc installed in interop/node_modules. If not, it skips the test with the
// reason, or fails it when HYPERLAN_REQUIRE_INTEROP=1. It returns the path of
// the node binary. [StartBootstrapper] and [StartNode] call it themselves.
func Require(t testing.TB) string {
	t.Helper()
	env := checkEnv()
	skipOrFail(t, env.problem)
	return env.node
}

// skipOrFail skips the test because of problem, or fails it when
// HYPERLAN_REQUIRE_INTEROP=1. It does nothing when problem is "".
func skipOrFail(t testing.TB, problem string) {
	t.Helper()
	if problem == "" {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("interop: %s (%s=1, so this is a failure)", problem, RequireEnv)
	}
	t.Skipf("interop: %s; set %s=1 to fail instead of skipping", problem, RequireEnv)
}

type environment struct {
	node    string // path of the node binary
	problem string // why the reference cannot run; "" if it can
}

var checkEnv = sync.OnceValue(func() environment {
	node, err := exec.LookPath("node")
	if err != nil {
		return environment{problem: "node not found on PATH; install Node.js (v18 or later), then run `npm ci` in interop/"}
	}
	want, err := pinnedVersion(filepath.Join(Dir(), "package.json"), "dht-rpc")
	if err != nil {
		return environment{problem: fmt.Sprintf("cannot read the pinned dht-rpc version: %v", err)}
	}
	if problem := checkInstalled("dht-rpc", want, "package.json"); problem != "" {
		return environment{problem: problem}
	}
	return environment{node: node}
})

// checkInstalled says what is wrong with the package dep in interop/node_modules
// when it is not version want, which the file pinnedIn pins, and returns "" when
// it is.
func checkInstalled(dep, want, pinnedIn string) string {
	got, err := installedVersion(filepath.Join(Dir(), "node_modules", dep, "package.json"))
	if err != nil {
		return fmt.Sprintf("%s is not installed (%v); run `npm ci` in interop/", dep, err)
	}
	if got != want {
		return fmt.Sprintf("installed %s is %s, %s pins %s; run `npm ci` in interop/", dep, got, pinnedIn, want)
	}
	return ""
}

func pinnedVersion(packageJSON, dep string) (string, error) {
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	b, err := os.ReadFile(packageJSON)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "", fmt.Errorf("%s: %w", packageJSON, err)
	}
	v, ok := pkg.Dependencies[dep]
	if !ok {
		return "", fmt.Errorf("%s: no dependency %q", packageJSON, dep)
	}
	return v, nil
}

func installedVersion(packageJSON string) (string, error) {
	var pkg struct {
		Version string `json:"version"`
	}
	b, err := os.ReadFile(packageJSON)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "", fmt.Errorf("%s: %w", packageJSON, err)
	}
	return pkg.Version, nil
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago: it
// binds 127.0.0.1:0, reads the port and closes the socket. Another process can
// take the port before it is used again, so a caller that binds it can fail,
// rarely; use it where a fixed port is unavoidable (bootstrappers).
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("interop: free UDP port: %v", err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	if err := c.Close(); err != nil {
		t.Fatalf("interop: free UDP port: %v", err)
	}
	return port
}

// Hex is a byte string, written as hex in the driver protocol; nil is JSON
// null (absent), an empty non-nil Hex is "" (present but empty).
type Hex []byte

// MarshalJSON implements [json.Marshaler].
func (h Hex) MarshalJSON() ([]byte, error) {
	if h == nil {
		return []byte("null"), nil
	}
	return json.Marshal(hex.EncodeToString(h))
}

// UnmarshalJSON implements [json.Unmarshaler].
func (h *Hex) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*h = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("interop: bad hex %q: %w", s, err)
	}
	*h = d
	return nil
}

// String returns the bytes as lower-case hex.
func (h Hex) String() string { return hex.EncodeToString(h) }

// Info is a snapshot of a JS node's state, as the driver reports it in the
// "info" op and in most events.
type Info struct {
	ID         string `json:"id"`         // hex; "" while the node is ephemeral
	TableID    string `json:"tableId"`    // hex id of its routing table
	Host       string `json:"host"`       // its address as sampled from replies; "" until known
	Port       int    `json:"port"`       // 0 until known (or if it looks randomized)
	Ephemeral  bool   `json:"ephemeral"`  // true until the node is persistent (sends its id)
	Firewalled bool   `json:"firewalled"` // true until the PING_NAT probe shows its server socket is reachable
	ServerPort int    `json:"serverPort"` // bound port of the server socket
	ClientPort int    `json:"clientPort"` // bound port of the client socket
	TableSize  int    `json:"tableSize"`  // nodes in the routing table
}

// Peer is a node address with its id (hex; "" when none was sent or it did
// not match the address).
type Peer struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	ID   string `json:"id"`
}

// AddrPort returns the peer's address, or the zero AddrPort if Host does not
// parse.
func (p Peer) AddrPort() netip.AddrPort {
	a, err := netip.ParseAddr(p.Host)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, uint16(p.Port))
}

// Msg is one dht-rpc response received by a JS node.
type Msg struct {
	TID         int      `json:"tid"`
	From        Peer     `json:"from"`        // the responder; ID set only if it sent a valid one
	To          Peer     `json:"to"`          // our address as the responder saw it (no ID)
	Token       Hex      `json:"token"`       // nil if absent
	CloserNodes []string `json:"closerNodes"` // "host:port"; nil if absent
	Error       int      `json:"error"`       // 0 OK, 1 UNKNOWN_COMMAND, 2 INVALID_TOKEN, ...
	Value       Hex      `json:"value"`       // nil if absent
	RTT         int      `json:"rtt"`         // milliseconds
}

// QueryResult is the outcome of an iterative findNode or query.
type QueryResult struct {
	Replies []Msg    `json:"replies"` // every successful (error 0) reply, in arrival order
	Closest []string `json:"closest"` // "host:port" of the closest repliers, closest first
	Commits []Msg    `json:"commits"` // responses to the commit requests (query with commit only)
}

// RequestArgs is a single user request sent with [Node.Request]. Nil byte
// fields are left out of the request.
type RequestArgs struct {
	Command int `json:"command"`
	Target  Hex `json:"target"` // nil or 32 bytes
	Value   Hex `json:"value"`
	Token   Hex `json:"token"` // nil or 32 bytes
}

// Event is one event line from the driver, kept from process start.
type Event struct {
	Name string          // "listening", "ready", "bootstrapped", "persistent", "add-node", ...
	Raw  json.RawMessage // the whole line, for fields without a typed accessor
	Info *Info           // the node's state when the event was written, if included
	Peer *Peer           // the node added or removed (add-node, remove-node)
	At   time.Time       // when the line was read from the driver
}

// CallError is a command that the driver ran and that failed, such as a
// request that timed out.
type CallError struct {
	Node    string // which driver process
	Op      string
	Message string // the JS error message
	Code    string // the JS error code, such as "REQUEST_TIMEOUT"; may be ""
}

func (e *CallError) Error() string {
	return fmt.Sprintf("interop: %s: %s: %s", e.Node, e.Op, e.Message)
}

// Info returns the node's current state.
func (n *Node) Info(ctx context.Context) (Info, error) {
	var info Info
	err := n.Call(ctx, "info", nil, &info)
	return info, err
}

// Table returns the nodes in the JS node's routing table.
func (n *Node) Table(ctx context.Context) ([]Peer, error) {
	var peers []Peer
	err := n.Call(ctx, "table", nil, &peers)
	return peers, err
}

// FindNode runs an iterative FIND_NODE for target from the JS node.
func (n *Node) FindNode(ctx context.Context, target [32]byte) (QueryResult, error) {
	var res QueryResult
	err := n.Call(ctx, "findNode", struct {
		Target Hex `json:"target"`
	}{target[:]}, &res)
	return res, err
}

// Query runs an iterative user query from the JS node. With commit, the JS
// node then sends the same request, carrying each reply's token, to the
// closest repliers (what dht-rpc's commit: true does); their responses are in
// QueryResult.Commits.
func (n *Node) Query(ctx context.Context, target [32]byte, command int, value []byte, commit bool) (QueryResult, error) {
	var res QueryResult
	err := n.Call(ctx, "query", struct {
		Target  Hex  `json:"target"`
		Command int  `json:"command"`
		Value   Hex  `json:"value"`
		Commit  bool `json:"commit"`
	}{target[:], command, value, commit}, &res)
	return res, err
}

// Ping sends a PING from the JS node to addr and returns the response.
func (n *Node) Ping(ctx context.Context, addr netip.AddrPort) (Msg, error) {
	a, err := addrArgsOf(addr)
	if err != nil {
		return Msg{}, err
	}
	var m Msg
	err = n.Call(ctx, "ping", a, &m)
	return m, err
}

// Request sends one user request from the JS node to addr and returns the
// response, whatever its error code.
func (n *Node) Request(ctx context.Context, addr netip.AddrPort, req RequestArgs) (Msg, error) {
	a, err := addrArgsOf(addr)
	if err != nil {
		return Msg{}, err
	}
	var m Msg
	err = n.Call(ctx, "request", struct {
		addrArgs
		RequestArgs
	}{a, req}, &m)
	return m, err
}

// AddNode makes the JS node add addr to its routing table without contacting
// it (dht-rpc addNode; the id is derived from the address).
func (n *Node) AddNode(ctx context.Context, addr netip.AddrPort) error {
	a, err := addrArgsOf(addr)
	if err != nil {
		return err
	}
	return n.Call(ctx, "addNode", a, nil)
}

type addrArgs struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

func addrArgsOf(addr netip.AddrPort) (addrArgs, error) {
	ip := addr.Addr().Unmap()
	if !ip.Is4() || addr.Port() == 0 {
		return addrArgs{}, fmt.Errorf("interop: %v: dht-rpc needs an IPv4 address and a port", addr)
	}
	return addrArgs{Host: ip.String(), Port: int(addr.Port())}, nil
}

// hostPorts writes IPv4 addresses as the "host:port" strings the drivers take.
func hostPorts(addrs []netip.AddrPort) ([]string, error) {
	list := make([]string, len(addrs))
	for i, addr := range addrs {
		a, err := addrArgsOf(addr)
		if err != nil {
			return nil, err
		}
		list[i] = a.Host + ":" + strconv.Itoa(a.Port)
	}
	return list, nil
}
