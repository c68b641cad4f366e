package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	stopGrace  = 15 * time.Second // after EOF on stdin and SIGTERM, before SIGKILL
	readyWait  = 2 * time.Minute  // for the network to come up
	callWait   = 10 * time.Second // for a short JSON-lines command (info)
	stderrKeep = 8 << 10          // tail of the process's stderr kept for error messages
)

// network is one running network process: this program in serve-go-net mode, or
// node jsnet.js. Both print a ready event and then answer the same JSON-lines commands.
type network struct {
	name   string // "go network (pid N)"
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tail

	ready   chan readyEvent      // the ready event, once
	replies chan json.RawMessage // reply lines ({"id":…}); other events are dropped
	nextID  int64                // used by the one goroutine that calls
	exited  chan struct{}        // closed after stdout reached EOF and the process was reaped
	waitErr error                // set before exited is closed

	stopOnce sync.Once
	stopErr  error
}

// startNetwork starts the target's network process. It returns at once; waitReady waits
// until the network is up.
func startNetwork(ctx context.Context, cfg config, root, target string) (*network, error) {
	nodes, timeout := strconv.Itoa(cfg.nodes), cfg.opTimeout
	var cmd *exec.Cmd
	switch target {
	case "go":
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own executable for serve-go-net: %w", err)
		}
		args := []string{"serve-go-net", "-nodes", nodes, "-op-timeout", timeout.String()}
		if cfg.goProfile != "" {
			args = append(args, "-cpuprofile", cfg.goProfile)
		}
		cmd = exec.Command(exe, args...)
		if cfg.goProcs > 0 {
			cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(cfg.goProcs))
		}
	case "js":
		node, err := exec.LookPath("node")
		if err != nil {
			return nil, fmt.Errorf("node.js is needed for the JS network: %w", err)
		}
		if _, err := os.Stat(filepath.Join(root, "interop", "node_modules", "hyperdht")); err != nil {
			return nil, fmt.Errorf("the JS reference is not installed (run npm ci in %s): %w", filepath.Join(root, "interop"), err)
		}
		script := filepath.Join(root, "interop", "bench", "recordsbench", "jsnet.js")
		cmd = exec.Command(node, script, "--nodes", nodes, "--op-timeout", strconv.FormatInt(timeout.Milliseconds(), 10))
	default:
		return nil, fmt.Errorf("unknown target %q", target)
	}
	cmd.SysProcAttr = sysProcAttr()
	nw := &network{
		cmd:     cmd,
		stderr:  &tail{max: stderrKeep},
		ready:   make(chan readyEvent, 1),
		replies: make(chan json.RawMessage, 4),
		exited:  make(chan struct{}),
	}
	cmd.Stderr = nw.stderr
	var err error
	if nw.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s network: %w", target, err)
	}
	nw.name = fmt.Sprintf("%s network (pid %d)", target, cmd.Process.Pid)
	go nw.readLoop(stdout)
	if ctx.Err() != nil {
		nw.stop()
		return nil, ctx.Err()
	}
	return nw, nil
}

// readLoop passes the ready event and reply lines on until stdout ends, then reaps the
// process.
func (nw *network) readLoop(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte(`{"id"`)) {
			select {
			case nw.replies <- append(json.RawMessage(nil), line...):
			default: // nobody is waiting for it
			}
			continue
		}
		var ev readyEvent
		if json.Unmarshal(line, &ev) == nil && ev.Event == "ready" {
			select {
			case nw.ready <- ev:
			default:
			}
		}
	}
	nw.waitErr = nw.cmd.Wait()
	close(nw.exited)
}

func (nw *network) pid() int { return nw.cmd.Process.Pid }

// diag describes how the process ended, for an error message.
func (nw *network) diag() string {
	select {
	case <-nw.exited:
		return fmt.Sprintf("%s exited (%v); stderr: %s", nw.name, nw.waitErr, nw.stderr.String())
	default:
		return fmt.Sprintf("%s is running; stderr: %s", nw.name, nw.stderr.String())
	}
}

// waitReady waits for the ready event.
func (nw *network) waitReady(ctx context.Context, limit time.Duration) (readyEvent, error) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case ev := <-nw.ready:
		return ev, nil
	case <-nw.exited:
		return readyEvent{}, fmt.Errorf("starting: %s", nw.diag())
	case <-timer.C:
		return readyEvent{}, fmt.Errorf("not up after %v (%s)", limit, nw.diag())
	case <-ctx.Done():
		return readyEvent{}, ctx.Err()
	}
}

// call sends one JSON-lines command (args are merged into it) and decodes its result.
func (nw *network) call(ctx context.Context, op string, args map[string]any, wait time.Duration, result any) error {
	nw.nextID++
	id := nw.nextID
	cmd := map[string]any{"op": op, "id": id}
	for k, v := range args {
		cmd[k] = v
	}
	line, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	if _, err := nw.stdin.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("%s: %w (%s)", op, err, nw.diag())
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case raw := <-nw.replies:
			var r struct {
				ID     int64           `json:"id"`
				OK     bool            `json:"ok"`
				Result json.RawMessage `json:"result"`
				Error  string          `json:"error"`
			}
			if err := json.Unmarshal(raw, &r); err != nil || r.ID != id {
				continue
			}
			if !r.OK {
				return fmt.Errorf("%s: %s", op, r.Error)
			}
			return json.Unmarshal(r.Result, result)
		case <-nw.exited:
			return fmt.Errorf("%s: %s", op, nw.diag())
		case <-timer.C:
			return fmt.Errorf("%s: no reply in %v (%s)", op, wait, nw.diag())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (nw *network) info(ctx context.Context) (netInfo, error) {
	var info netInfo
	err := nw.call(ctx, "info", nil, callWait, &info)
	return info, err
}

// phase runs one announce or lookup phase over items in the network process.
func (nw *network) phase(ctx context.Context, op string, concurrency int, items []item, wait time.Duration) (*phase, error) {
	var p phase
	if err := nw.call(ctx, op, map[string]any{"concurrency": concurrency, "items": items}, wait, &p); err != nil {
		return nil, err
	}
	if len(p.LatencyMs) != len(items) || p.OK+p.Failed != len(items) {
		return nil, fmt.Errorf("%s: malformed result: %d latencies, %d ok + %d failed for %d items", op, len(p.LatencyMs), p.OK, p.Failed, len(items))
	}
	return &p, nil
}

// stop ends the process: EOF on stdin and SIGTERM (each makes both kinds destroy their nodes
// and exit), then SIGKILL after stopGrace. It returns once the process is reaped; the error
// says whether it had to be killed or exited badly. stop is idempotent.
func (nw *network) stop() error {
	nw.stopOnce.Do(func() {
		nw.stdin.Close()
		nw.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-nw.exited:
		case <-time.After(stopGrace):
			nw.cmd.Process.Kill()
			<-nw.exited
			nw.stopErr = fmt.Errorf("%s did not stop within %v and was killed", nw.name, stopGrace)
			return
		}
		var ee *exec.ExitError
		if errors.As(nw.waitErr, &ee) && !ee.Success() {
			nw.stopErr = fmt.Errorf("%s exited badly: %v; stderr: %s", nw.name, nw.waitErr, nw.stderr.String())
		}
	})
	return nw.stopErr
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte // guarded by mu
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return "(empty)"
	}
	return s
}

// moduleRoot finds the directory of the hyperlan go.mod: walking up from the working
// directory, else from `go env GOMOD`.
func moduleRoot() (string, error) {
	isRoot := func(dir string) bool {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		return err == nil && bytes.Contains(b, []byte("module github.com/hyperlan/hyperlan\n"))
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			if isRoot(dir) {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if dir := filepath.Dir(strings.TrimSpace(string(out))); err == nil && isRoot(dir) {
		return dir, nil
	}
	return "", errors.New("cannot find the hyperlan module root; run recordsbench from inside the repository")
}
