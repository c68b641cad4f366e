package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hyperlan/hyperlan/dht/rpc"
)

const (
	stopGrace  = 5 * time.Second // after EOF on stdin and SIGTERM, before SIGKILL
	callWait   = 5 * time.Second // for one JSON-lines command
	stderrKeep = 8 << 10         // tail of the server's stderr kept for error messages
)

// server is one running server process: the Go bootstrapper (serve-go) or the JS one
// (interop/dhtrpc.js bootstrapper), bound to 127.0.0.1:addr.Port().
type server struct {
	name   string // "go server (pid N)"
	addr   netip.AddrPort
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tail

	replies chan json.RawMessage // reply lines ({"id":…}); events are dropped
	nextID  int64                // used by the one goroutine that calls
	exited  chan struct{}        // closed after stdout reached EOF and the process was reaped
	waitErr error                // set before exited is closed

	stopOnce sync.Once
	stopErr  error
}

// startServer starts the target's server on a free port of 127.0.0.1.
func startServer(ctx context.Context, cfg config, root, target string) (*server, error) {
	port, err := freeUDPPort()
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	switch target {
	case "go":
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own executable for serve-go: %w", err)
		}
		cmd = exec.Command(exe, "serve-go", "-port", strconv.Itoa(port), "-rcvbuf", strconv.Itoa(cfg.goRcvbuf))
	case "js":
		node, err := exec.LookPath("node")
		if err != nil {
			return nil, fmt.Errorf("node.js is needed for the JS server: %w", err)
		}
		driver := filepath.Join(root, "interop", "dhtrpc.js")
		if _, err := os.Stat(filepath.Join(root, "interop", "node_modules", "dht-rpc")); err != nil {
			return nil, fmt.Errorf("the JS reference is not installed (run npm ci in %s): %w", filepath.Join(root, "interop"), err)
		}
		cmd = exec.Command(node, driver, "bootstrapper", strconv.Itoa(port))
	default:
		return nil, fmt.Errorf("unknown target %q", target)
	}
	cmd.SysProcAttr = sysProcAttr()
	s := &server{
		addr:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port)),
		cmd:     cmd,
		stderr:  &tail{max: stderrKeep},
		replies: make(chan json.RawMessage, 16),
		exited:  make(chan struct{}),
	}
	cmd.Stderr = s.stderr
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s server: %w", target, err)
	}
	s.name = fmt.Sprintf("%s server (pid %d)", target, cmd.Process.Pid)
	go s.readLoop(stdout)
	if ctx.Err() != nil {
		s.stop()
		return nil, ctx.Err()
	}
	return s, nil
}

// readLoop passes reply lines on until stdout ends, then reaps the process.
func (s *server) readLoop(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte(`{"id"`)) {
			continue // an event
		}
		select {
		case s.replies <- append(json.RawMessage(nil), line...):
		default: // nobody is waiting for it
		}
	}
	s.waitErr = s.cmd.Wait()
	close(s.exited)
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// diag describes how the process ended, for an error message.
func (s *server) diag() string {
	select {
	case <-s.exited:
		return fmt.Sprintf("%s exited (%v); stderr: %s", s.name, s.waitErr, s.stderr.String())
	default:
		return fmt.Sprintf("%s is running; stderr: %s", s.name, s.stderr.String())
	}
}

// call sends one JSON-lines command and returns its result.
func (s *server) call(ctx context.Context, op string, result any) error {
	s.nextID++
	id := s.nextID
	line, _ := json.Marshal(map[string]any{"op": op, "id": id})
	if _, err := s.stdin.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("%s: %w (%s)", op, err, s.diag())
	}
	timer := time.NewTimer(callWait)
	defer timer.Stop()
	for {
		select {
		case raw := <-s.replies:
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
		case <-s.exited:
			return fmt.Errorf("%s: %s", op, s.diag())
		case <-timer.C:
			return fmt.Errorf("%s: no reply in %v (%s)", op, callWait, s.diag())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tableSize asks the server how many nodes its routing table holds.
func (s *server) tableSize(ctx context.Context) (int, error) {
	var info struct {
		TableSize int `json:"tableSize"`
	}
	err := s.call(ctx, "info", &info)
	return info.TableSize, err
}

// waitPersistent polls the server until it is persistent with the id of its address: only
// then is its routing table organised around that id, which the fillers are chosen for.
func (s *server) waitPersistent(ctx context.Context, limit time.Duration) error {
	want := rpc.NodeID(s.addr).String()
	deadline := time.Now().Add(limit)
	for {
		var info struct {
			ID        *string `json:"id"`
			Ephemeral bool    `json:"ephemeral"`
		}
		if err := s.call(ctx, "info", &info); err != nil {
			return err
		}
		if !info.Ephemeral && info.ID != nil && *info.ID == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not persistent with id %s after %v (%s)", want, limit, s.diag())
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitPing pings the server every 100 ms until it answers.
func (s *server) waitPing(ctx context.Context, limit time.Duration) error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(limit)
	buf := make([]byte, 2048)
	var m rpc.Message
	for tid := uint16(1); time.Now().Before(deadline); tid++ {
		req, err := rpc.AppendMessage(nil, &rpc.Message{
			Kind: rpc.KindRequest, TID: tid, To: s.addr, Internal: true, Command: rpc.CmdPing,
		})
		if err != nil {
			return err
		}
		conn.WriteToUDPAddrPort(req, s.addr)
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				break
			}
			if from == s.addr && rpc.ParseMessage(buf[:n], &m) == nil && m.Kind == rpc.KindResponse && m.TID == tid {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("waiting for the first ping reply: %s", s.diag())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
	}
	return fmt.Errorf("no ping reply in %v (%s)", limit, s.diag())
}

// stop ends the process: EOF on stdin and SIGTERM (each makes both servers destroy their node
// and exit), then SIGKILL after stopGrace. It returns once the process is reaped; the error
// says whether it had to be killed or exited badly. stop is idempotent.
func (s *server) stop() error {
	s.stopOnce.Do(func() {
		s.stdin.Close()
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(stopGrace):
			s.cmd.Process.Kill()
			<-s.exited
			s.stopErr = fmt.Errorf("%s did not stop within %v and was killed", s.name, stopGrace)
			return
		}
		var ee *exec.ExitError
		if errors.As(s.waitErr, &ee) && !ee.Success() {
			s.stopErr = fmt.Errorf("%s exited badly: %v; stderr: %s", s.name, s.waitErr, s.stderr.String())
		}
	})
	return s.stopErr
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

// freeUDPPort returns a UDP port that was free on 127.0.0.1 a moment ago. The kernel hands it
// out from the ephemeral range, which the fillers stay out of.
func freeUDPPort() (int, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
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
	return "", errors.New("cannot find the hyperlan module root; run rpcbench from inside the repository")
}
