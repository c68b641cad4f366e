package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/rpc"
)

// line is one decoded JSON output line.
type line map[string]any

func (l line) str(key string) string {
	s, _ := l[key].(string)
	return s
}

// proc is an in-process run of the hyperlan command: run() on its own goroutine with a
// cancellable context, stdout decoded line by line.
type proc struct {
	t      *testing.T
	args   []string
	cancel context.CancelFunc
	lines  chan line // every stdout line; closed when run has returned
	code   chan int
	stderr lockedBuffer

	stopOnce sync.Once
	exit     int    // set by stop
	rest     []line // likewise
}

// startProc runs hyperlan args in-process until stopped. The test's cleanup stops it.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{t: t, args: args, cancel: cancel, lines: make(chan line, 1000), code: make(chan int, 1)}
	pr, pw := io.Pipe()
	go func() {
		code := run(ctx, args, nil, pw, &p.stderr)
		pw.Close()
		p.code <- code
	}()
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Errorf("hyperlan %s: stdout line %q is not JSON: %v", strings.Join(args, " "), sc.Text(), err)
			}
			p.lines <- l
		}
	}()
	t.Cleanup(func() { p.stop() })
	return p
}

// await returns the first line whose event is ev, failing if the command exits first.
func (p *proc) await(ev string) line {
	p.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("hyperlan %s exited before %q; stderr:\n%s", strings.Join(p.args, " "), ev, p.stderr.String())
			}
			if l.str("event") == ev {
				return l
			}
		case <-timeout:
			p.t.Fatalf("hyperlan %s: no %q line after 20s; stderr:\n%s", strings.Join(p.args, " "), ev, p.stderr.String())
		}
	}
}

// stop cancels the run (as SIGINT would) and returns its exit code and the stdout lines
// not yet read. run must return promptly. Later calls return the same.
func (p *proc) stop() (int, []line) {
	p.stopOnce.Do(func() {
		p.cancel()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-p.lines:
				if !ok {
					p.exit = <-p.code
					return
				}
				p.rest = append(p.rest, l)
			case <-timeout:
				p.exit = -1
				p.t.Errorf("hyperlan %s did not return within 10s of cancel", strings.Join(p.args, " "))
				return
			}
		}
	})
	return p.exit, p.rest
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// checkNoLeaks fails the test if goroutines of the DHT or of run outlive it.
func checkNoLeaks(t *testing.T) {
	t.Cleanup(func() {
		var leaked []string
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			leaked = leaked[:0]
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			for g := range strings.SplitSeq(string(buf), "\n\n") {
				// The DHT's goroutines, run's, and those of the command's types (eventPump,
				// pipe, listener, datagramLines).
				if strings.Contains(g, "hyperlan/hyperlan/dht/") || strings.Contains(g, "cmd/hyperlan.run(") ||
					strings.Contains(g, "cmd/hyperlan.(*") {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 {
				return
			}
		}
		t.Errorf("%d goroutine(s) leaked:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	})
}

// TestDHTCommands runs a bootstrap node and three persistent nodes on 127.0.0.1, looks one
// node up with find-node, and stops everything as a signal would.
func TestDHTCommands(t *testing.T) {
	checkNoLeaks(t)
	boot := startProc(t, "dht", "bootstrap", "--host", "127.0.0.1", "--bind", "127.0.0.1", "--port", "0")
	l := boot.await("listening")
	if l.str("host") != "127.0.0.1" {
		t.Fatalf("listening line %v: host want 127.0.0.1", l)
	}
	port, ok := l["port"].(float64)
	if !ok || port <= 0 || port > 65535 {
		t.Fatalf("listening line %v: bad port", l)
	}
	bootAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	if got, want := l.str("id"), rpc.NodeID(bootAddr).String(); got != want {
		t.Fatalf("bootstrap id %s, want %s (hash of %v)", got, want, bootAddr)
	}
	bootstrap := bootAddr.String()

	var nodes []*proc
	var ready []line
	for range 3 {
		n := startProc(t, "dht", "node", "--bootstrap", bootstrap, "--host", "127.0.0.1", "--persistent", "--timeout", "10s")
		nodes = append(nodes, n)
		ready = append(ready, n.await("ready"))
	}
	for i, r := range ready {
		addr, err := netip.ParseAddrPort(r.str("host") + ":" + strconv.FormatFloat(r["port"].(float64), 'f', -1, 64))
		if err != nil {
			t.Fatalf("node %d ready line %v: %v", i, r, err)
		}
		if r["ephemeral"] != false || r["firewalled"] != false {
			t.Fatalf("node %d ready line %v: want a reachable persistent node", i, r)
		}
		if got, want := r.str("id"), rpc.NodeID(addr).String(); got != want {
			t.Fatalf("node %d id %s, want %s (hash of %v)", i, got, want, addr)
		}
	}

	target := ready[1]
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"dht", "find-node", "--bootstrap", bootstrap, "--host", "127.0.0.1", "--timeout", "10s", target.str("id")}, nil, &out, &errs); code != exitOK {
		t.Fatalf("find-node exit %d; stderr:\n%s", code, errs.String())
	}
	if errs.Len() != 0 {
		t.Errorf("find-node wrote to stderr:\n%s", errs.String())
	}
	var replies int
	var closest line
	for _, s := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var l line
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("find-node line %q: %v", s, err)
		}
		switch l.str("event") {
		case "reply":
			replies++
			if _, err := netip.ParseAddrPort(l.str("from")); err != nil {
				t.Errorf("reply line %v: from: %v", l, err)
			}
			if _, ok := l["closerNodes"].([]any); !ok {
				t.Errorf("reply line %v: closerNodes is not a list", l)
			}
		case "closest":
			closest = l
		default:
			t.Errorf("find-node: unexpected line %s", s)
		}
	}
	if replies == 0 {
		t.Fatalf("find-node printed no reply lines:\n%s", out.String())
	}
	list, _ := closest["nodes"].([]any)
	if len(list) == 0 {
		t.Fatalf("find-node closest line %v: no nodes", closest)
	}
	first, _ := list[0].(map[string]any)
	if first["id"] != target.str("id") || first["port"] != target["port"] || first["host"] != target["host"] {
		t.Fatalf("closest %v: want the target node %v first", list, target)
	}

	for i, n := range append(nodes, boot) {
		code, rest := n.stop()
		if code != exitOK {
			t.Errorf("process %d (%s): exit %d after cancel, want 0; stderr:\n%s", i, strings.Join(n.args, " "), code, n.stderr.String())
		}
		if len(rest) == 0 || rest[len(rest)-1].str("event") != "close" {
			t.Errorf("process %d (%s): last lines %v, want a close line", i, strings.Join(n.args, " "), rest)
		}
	}
}

// A cancelled context stops a node that is still joining: run returns at once with exit 0
// (a signal is a clean stop), and find-node reports the interruption with exit 1.
func TestCancelWhileJoining(t *testing.T) {
	checkNoLeaks(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errs bytes.Buffer
	if code := run(ctx, []string{"dht", "node", "--bootstrap", "127.0.0.1:1", "--host", "127.0.0.1"}, nil, &out, &errs); code != exitOK {
		t.Errorf("node: exit %d, want 0; stderr:\n%s", code, errs.String())
	}
	if out.Len() != 0 || errs.Len() != 0 {
		t.Errorf("node: stdout %q stderr %q, want nothing", out.String(), errs.String())
	}
	out.Reset()
	errs.Reset()
	target := strings.Repeat("00", 32)
	if code := run(ctx, []string{"dht", "find-node", "--bootstrap", "127.0.0.1:1", "--host", "127.0.0.1", target}, nil, &out, &errs); code != exitError {
		t.Errorf("find-node: exit %d, want 1", code)
	}
	if got := errs.String(); got != "hyperlan: error: interrupted while joining the DHT\n" {
		t.Errorf("find-node stderr %q", got)
	}
}
