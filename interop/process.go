package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	startTimeout = 20 * time.Second // until the driver reports "listening"
	stopGrace    = 2 * time.Second  // after the exit op and stdin EOF, before SIGKILL
	writeTimeout = 5 * time.Second  // for one command line on stdin
	maxLine      = 16 << 20         // longest stdout line accepted
	stderrKeep   = 64 << 10         // tail of stderr kept for diagnostics
	stderrInErr  = 4 << 10          // tail of stderr put into error messages
)

// NodeOptions configure a JS node started with [StartNode]. The zero value is
// a node that tries to become persistent (dht-rpc ephemeral: false) on a
// random port.
type NodeOptions struct {
	Adaptive    bool // leave ephemeral unset, so dht-rpc decides (stays ephemeral for ~20 min)
	Ephemeral   bool // ephemeral: true; never persistent
	Port        int  // preferred server port; 0 means any
	LogRequests bool // write a "request" event for each incoming user request

	// Host is the IPv4 address the node binds and announces; the zero value
	// means 127.0.0.1. Another address needs a namespace that has it (Netns).
	Host netip.Addr
	// Netns is the network namespace the driver runs in (`ip netns exec`, so
	// root; see [Lab]); "" means the test's own.
	Netns string
}

// Node is one running dhtrpc.js process, that is one JS dht-rpc node on
// 127.0.0.1 (or [NodeOptions.Host]). Its methods are safe for concurrent use;
// commands run concurrently in the driver. It is stopped and reaped in
// t.Cleanup, or earlier by [Node.Stop].
type Node struct {
	name      string       // for messages, e.g. "js node (pid 123)"
	cmd       *exec.Cmd    // Wait is called only by readLoop
	stderr    *tailBuffer  // stderr tail, plus any stdout line that was not JSON
	listening Info         // from the "listening" event; set before Start* returns
	host      netip.Addr   // the address it binds; set before Start* returns
	nextID    atomic.Int64 // command ids

	writeMu sync.Mutex // serializes command lines
	stdin   *os.File   // guarded by writeMu; nil once closed

	mu      sync.Mutex
	pending map[int64]chan reply // guarded by mu; calls waiting for a reply
	events  []Event              // guarded by mu; every event since start, append-only
	changed chan struct{}        // guarded by mu; closed and replaced when events grows

	// done is closed by readLoop after stdout reached EOF and the process was
	// waited for; readErr and waitErr are written before that and only read
	// after it.
	done    chan struct{}
	readErr error
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// reply is one reply line.
type reply struct {
	ok      bool
	payload json.RawMessage
	message string
	code    string
}

// StartBootstrapper starts a JS dht-rpc bootstrapper
// (DHT.bootstrapper(port, '127.0.0.1', {host: '127.0.0.1'})) bound to
// 127.0.0.1:port and returns once its sockets are bound. It must be called from
// the test goroutine; it fails the test if the driver does not start (for
// example because the port is taken).
func StartBootstrapper(t testing.TB, port int) *Node {
	t.Helper()
	if port <= 0 || port > 65535 {
		t.Fatalf("interop: bootstrapper port %d out of range", port)
	}
	return start(t, "js bootstrapper 127.0.0.1:"+strconv.Itoa(port), "bootstrapper", strconv.Itoa(port))
}

// StartNode starts a JS dht-rpc node that bootstraps from the given IPv4
// addresses (none is allowed) and returns once its sockets are bound; wait for
// the "bootstrapped" or "persistent" event to know it has joined. It must be
// called from the test goroutine.
func StartNode(t testing.TB, bootstrap []netip.AddrPort, opts NodeOptions) *Node {
	t.Helper()
	args := append([]string{"node"}, nodeFlags(t, bootstrap, opts)...)
	if opts.Port != 0 {
		args = append(args, "--port", strconv.Itoa(opts.Port))
	}
	return startPlaced(t, placeOf(opts), "dhtrpc.js", "js node", args...)
}

// nodeFlags checks opts and returns the flags dhtrpc.js and hyperdht.js take
// alike for a node: --bootstrap, --adaptive or --ephemeral, --log-requests,
// --host. The caller adds --port.
func nodeFlags(t testing.TB, bootstrap []netip.AddrPort, opts NodeOptions) []string {
	t.Helper()
	if opts.Port < 0 || opts.Port > 65535 {
		t.Fatalf("interop: NodeOptions: port %d out of range", opts.Port)
	}
	var flags []string
	if len(bootstrap) > 0 {
		list, err := hostPorts(bootstrap)
		if err != nil {
			t.Fatal(err)
		}
		flags = append(flags, "--bootstrap", strings.Join(list, ","))
	}
	switch {
	case opts.Adaptive && opts.Ephemeral:
		t.Fatal("interop: NodeOptions: Adaptive and Ephemeral exclude each other")
	case opts.Adaptive:
		flags = append(flags, "--adaptive")
	case opts.Ephemeral:
		flags = append(flags, "--ephemeral")
	}
	if opts.LogRequests {
		flags = append(flags, "--log-requests")
	}
	if opts.Host.IsValid() {
		if !opts.Host.Is4() {
			t.Fatalf("interop: NodeOptions: host %v is not IPv4", opts.Host)
		}
		flags = append(flags, "--host", opts.Host.String())
	}
	return flags
}

// placement is where a driver runs: its network namespace ("" for the
// test's own) and the address it binds (the zero value for 127.0.0.1).
type placement struct {
	netns string
	host  netip.Addr
}

func placeOf(opts NodeOptions) placement { return placement{opts.Netns, opts.Host} }

// addr returns the bound address.
func (p placement) addr() netip.Addr {
	if p.host.IsValid() {
		return p.host
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// suffix is what a driver's name says about its placement.
func (p placement) suffix() string {
	if p.netns == "" {
		return ""
	}
	return " in " + p.netns
}

func start(t testing.TB, name string, args ...string) *Node {
	t.Helper()
	return startScript(t, "dhtrpc.js", name, args...)
}

// startScript runs `node script args...` in [Dir] (script is a driver there,
// such as dhtrpc.js or hyperdht.js) and returns once it reported "listening".
func startScript(t testing.TB, script, name string, args ...string) *Node {
	t.Helper()
	return startPlaced(t, placement{}, script, name, args...)
}

// startPlaced is startScript for a driver placed by p: under `ip netns exec`
// if p names a namespace (ip execs node, so the pid is node's), and with the
// address it binds (the caller passes --host) recorded for [Node.Addr].
func startPlaced(t testing.TB, p placement, script, name string, args ...string) *Node {
	t.Helper()
	nodeBin := Require(t)

	argv := append([]string{nodeBin, filepath.Join(Dir(), script)}, args...)
	if p.netns != "" {
		RequireNetns(t)
		argv = append([]string{ipPath(), "netns", "exec", p.netns}, argv...)
	}
	name += p.suffix()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = Dir()
	stderr := &tailBuffer{max: stderrKeep}
	cmd.Stderr = stderr
	cmd.WaitDelay = stopGrace // do not hang in Wait on pipes a stray child keeps open
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("interop: %s: %v", name, err)
	}
	// Our own pipe rather than StdinPipe, so that writes can have a deadline.
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatalf("interop: %s: %v", name, err)
	}
	cmd.Stdin = stdinR
	if err := cmd.Start(); err != nil {
		stdinR.Close()
		stdinW.Close()
		t.Fatalf("interop: %s: %v", name, err)
	}
	stdinR.Close() // the child has its copy

	n := &Node{
		name:    fmt.Sprintf("%s (pid %d)", name, cmd.Process.Pid),
		host:    p.addr(),
		cmd:     cmd,
		stderr:  stderr,
		stdin:   stdinW,
		pending: make(map[int64]chan reply),
		changed: make(chan struct{}),
		done:    make(chan struct{}),
	}
	go n.readLoop(stdout)
	startFailed := false // its error, with stderr, is already reported
	t.Cleanup(func() {
		err := n.Stop()
		if startFailed {
			return
		}
		if err != nil {
			t.Errorf("%v", err)
		}
		if t.Failed() {
			if s := n.stderr.String(); s != "" {
				t.Logf("%s stderr:\n%s", n.name, s)
			}
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	ev, err := n.WaitEvent(ctx, "listening", nil)
	if err == nil && ev.Info == nil {
		err = fmt.Errorf("listening event without info: %s", ev.Raw)
	}
	if err != nil {
		startFailed = true
		t.Fatalf("interop: %s did not start: %v", n.name, err)
	}
	n.listening = *ev.Info
	return n
}

// String returns the name used in messages, such as "js node (pid 123)".
func (n *Node) String() string { return n.name }

// Addr returns the address of the node's server socket, which other nodes use
// to reach it.
func (n *Node) Addr() netip.AddrPort {
	return netip.AddrPortFrom(n.host, uint16(n.listening.ServerPort))
}

// ClientAddr returns the address of the node's client socket, from which it
// sends requests while it is firewalled (ephemeral nodes, at first).
func (n *Node) ClientAddr() netip.AddrPort {
	return netip.AddrPortFrom(n.host, uint16(n.listening.ClientPort))
}

// Events returns a copy of every event received so far, oldest first.
func (n *Node) Events() []Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Event(nil), n.events...)
}

// Call sends the command {"op": op, "id": k, ...fields of args} and waits for
// the reply with id k. args must marshal to a JSON object or be nil. On
// success the reply's result is decoded into result, unless it is nil. A
// command the driver ran and that failed returns a *[CallError]; a driver that
// has exited returns an error wrapping [ErrExited].
func (n *Node) Call(ctx context.Context, op string, args any, result any) error {
	id := n.nextID.Add(1)
	line, err := encodeCommand(op, id, args)
	if err != nil {
		return fmt.Errorf("interop: %s: %s: %w", n.name, op, err)
	}

	ch := make(chan reply, 1)
	n.mu.Lock()
	n.pending[id] = ch
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.pending, id)
		n.mu.Unlock()
	}()

	if err := n.send(line, writeTimeout); err != nil {
		select {
		case <-n.done:
			return n.exitedError(op)
		default:
			return fmt.Errorf("interop: %s: %s: writing command: %w", n.name, op, err)
		}
	}

	var r reply
	select {
	case r = <-ch:
	case <-ctx.Done():
		return fmt.Errorf("interop: %s: %s: %w", n.name, op, context.Cause(ctx))
	case <-n.done:
		select {
		case r = <-ch: // the reply was the last thing it wrote
		default:
			return n.exitedError(op)
		}
	}
	if !r.ok {
		return &CallError{Node: n.name, Op: op, Message: r.message, Code: r.code}
	}
	if result != nil {
		if err := json.Unmarshal(r.payload, result); err != nil {
			return fmt.Errorf("interop: %s: %s: decoding result %s: %w", n.name, op, r.payload, err)
		}
	}
	return nil
}

func encodeCommand(op string, id int64, args any) ([]byte, error) {
	fields := map[string]json.RawMessage{}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return nil, err
		}
		if string(b) != "null" {
			if err := json.Unmarshal(b, &fields); err != nil {
				return nil, fmt.Errorf("arguments must be a JSON object: %w", err)
			}
		}
	}
	fields["op"], _ = json.Marshal(op)
	fields["id"], _ = json.Marshal(id)
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// send writes one command line to the driver's stdin.
func (n *Node) send(line []byte, timeout time.Duration) error {
	n.writeMu.Lock()
	defer n.writeMu.Unlock()
	if n.stdin == nil {
		return ErrExited
	}
	_ = n.stdin.SetWriteDeadline(time.Now().Add(timeout)) // best effort; pipes support it on Unix
	_, err := n.stdin.Write(line)
	return err
}

func (n *Node) closeStdin() {
	n.writeMu.Lock()
	defer n.writeMu.Unlock()
	if n.stdin != nil {
		n.stdin.Close()
		n.stdin = nil
	}
}

// WaitEvent returns the first event called name, since the process started,
// for which match (if non-nil) returns true. It waits for one to arrive until
// ctx is done or the driver exits. match runs without locks held.
func (n *Node) WaitEvent(ctx context.Context, name string, match func(Event) bool) (Event, error) {
	next := 0
	exited := false
	for {
		n.mu.Lock()
		fresh := n.events[next:len(n.events):len(n.events)]
		next = len(n.events)
		changed := n.changed
		n.mu.Unlock()

		for _, ev := range fresh {
			if ev.Name == name && (match == nil || match(ev)) {
				return ev, nil
			}
		}
		if exited {
			return Event{}, n.exitedError("waiting for event " + strconv.Quote(name))
		}
		select {
		case <-changed:
		case <-n.done:
			exited = true // look once more: the last events came before done
		case <-ctx.Done():
			return Event{}, fmt.Errorf("interop: %s: waiting for event %q: %w", n.name, name, context.Cause(ctx))
		}
	}
}

// Stop ends the driver process: it sends the exit op, closes stdin, and kills
// the process if it has not exited within 2 seconds. It returns once the
// process has been reaped and its output read, with an error if it had to be
// killed or exited with a failure. Calls after the first return the same
// result. t.Cleanup calls it for every Node.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() { n.stopErr = n.stop() })
	return n.stopErr
}

func (n *Node) stop() error {
	select {
	case <-n.done:
	default:
		if line, err := encodeCommand("exit", n.nextID.Add(1), nil); err == nil {
			_ = n.send(line, stopGrace/2) // fails if it is already gone; fine
		}
	}
	n.closeStdin()

	timer := time.NewTimer(stopGrace)
	defer timer.Stop()
	killed := false
	select {
	case <-n.done:
	case <-timer.C:
		killed = true
		_ = n.cmd.Process.Kill()
		<-n.done
	}

	switch {
	case killed:
		return fmt.Errorf("interop: %s: did not exit within %v of the exit op; killed%s", n.name, stopGrace, n.stderrSuffix())
	case n.readErr != nil:
		return fmt.Errorf("interop: %s: reading its output: %w%s", n.name, n.readErr, n.stderrSuffix())
	case n.waitErr != nil:
		return fmt.Errorf("interop: %s: %w%s", n.name, n.waitErr, n.stderrSuffix())
	}
	return nil
}

// readLoop reads stdout until EOF, routes replies to Call and appends events,
// then waits for the process and closes n.done. It is the only reader of the
// process's output and the only caller of cmd.Wait.
func (n *Node) readLoop(stdout io.Reader) {
	defer close(n.done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		n.dispatch(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		// The output can no longer be parsed; end the process rather than
		// let it block on a full pipe.
		n.readErr = err
		_ = n.cmd.Process.Kill()
		_, _ = io.Copy(io.Discard, stdout)
	}
	n.waitErr = n.cmd.Wait()
}

// dispatch handles one stdout line. line is only valid during the call.
func (n *Node) dispatch(line []byte) {
	var env struct {
		ID     *int64          `json:"id"`
		Event  string          `json:"event"`
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
		Code   *string         `json:"code"`
		Info   *Info           `json:"info"`
		Peer   *Peer           `json:"peer"`
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	if err := json.Unmarshal(line, &env); err != nil || (env.ID == nil && env.Event == "") {
		// Not ours (a library printing to stdout?): keep it for diagnostics.
		fmt.Fprintf(n.stderr, "[stdout] %s\n", line)
		return
	}

	if env.ID != nil {
		r := reply{ok: env.OK, payload: bytes.Clone(env.Result), message: env.Error}
		if env.Code != nil {
			r.code = *env.Code
		}
		n.mu.Lock()
		ch := n.pending[*env.ID]
		delete(n.pending, *env.ID)
		n.mu.Unlock()
		if ch != nil {
			ch <- r // buffered, one reply per id
		}
		return
	}

	ev := Event{Name: env.Event, Raw: bytes.Clone(line), Info: env.Info, Peer: env.Peer, At: time.Now()}
	n.mu.Lock()
	n.events = append(n.events, ev)
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

// exitedError describes a call that could not complete because the process
// is gone. It must only be called after n.done is closed.
func (n *Node) exitedError(what string) error {
	status := "exited"
	switch {
	case n.readErr != nil:
		status = "output unreadable: " + n.readErr.Error()
	case n.waitErr != nil:
		status = n.waitErr.Error()
	case n.cmd.ProcessState != nil:
		status = n.cmd.ProcessState.String()
	}
	return fmt.Errorf("interop: %s: %s: %w (%s)%s", n.name, what, ErrExited, status, n.stderrSuffix())
}

func (n *Node) stderrSuffix() string {
	s := n.stderr.String()
	if s == "" {
		return ""
	}
	if len(s) > stderrInErr {
		s = "..." + s[len(s)-stderrInErr:]
	}
	return "; stderr:\n" + s
}

// tailBuffer is an io.Writer that keeps the last max bytes written.
type tailBuffer struct {
	max int

	mu  sync.Mutex
	buf []byte // guarded by mu
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
