// Package driver runs the processes the benchmark tools in interop/bench measure: a driver
// process (a JS driver such as interop/dhtrpc.js under Node.js, or the tool itself in a
// serve mode) that takes JSON-lines commands {"op":OP,"id":N,...} on stdin and writes
// replies {"id":N,"ok":…,"result":…,"error":…} and events on stdout. [Command] builds the
// command line of a Go or JS process, [Start] starts one ([StartReady] also waits for its
// ready event) and [Process.Stop] ends it; [ServeConcurrent] and [Lines] are the other side,
// a serve mode's command loop and reader of commands. [ModuleRoot] finds the JS drivers,
// [Targets] and [Pairs] read the tools' -only and -pairs flags, and [Rounds] runs the
// targets round by round.
//
// On Linux the kernel kills a driver process if the tool dies without stopping it
// (Pdeathsig); elsewhere it is not tied to the tool's life.
package driver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stderrKeep is how much of the tail of a process's stderr is kept for error messages.
const stderrKeep = 8 << 10

// Options configure [Start]. MaxLine and StopGrace must be positive.
type Options struct {
	MaxLine   int               // longest stdout line accepted
	StopGrace time.Duration     // after EOF on stdin and SIGTERM, before SIGKILL
	OnEvent   func(line []byte) // if not nil, called with every stdout line that is not a reply; line is only valid during the call
}

// Process is one running driver process. Call is for one goroutine at a time; the other
// methods are safe for concurrent use.
type Process struct {
	name   string // "go server (pid N)"
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tail
	opts   Options

	replies chan json.RawMessage // reply lines ({"id":…}); unclaimed ones are dropped
	nextID  int64                // used by the one goroutine that calls
	exited  chan struct{}        // closed after stdout reached EOF and the process was reaped
	waitErr error                // set before exited is closed

	stopOnce sync.Once
	stopErr  error
}

// Start starts cmd, which must not have been started, with its stdin and stdout as the
// JSON-lines pipes and its stderr kept for messages. label names it in messages, as in
// "go server"; the process's name adds its pid. Start returns at once; if ctx is already
// done it stops the process again and returns ctx's error.
func Start(ctx context.Context, cmd *exec.Cmd, label string, opts Options) (*Process, error) {
	cmd.SysProcAttr = sysProcAttr()
	p := &Process{
		cmd:     cmd,
		stderr:  &tail{max: stderrKeep},
		opts:    opts,
		replies: make(chan json.RawMessage, 16),
		exited:  make(chan struct{}),
	}
	cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", label, err)
	}
	p.name = fmt.Sprintf("%s (pid %d)", label, cmd.Process.Pid)
	go p.readLoop(stdout)
	if ctx.Err() != nil {
		p.Stop()
		return nil, ctx.Err()
	}
	return p, nil
}

// readLoop passes reply lines to Call and other lines to OnEvent until stdout ends, then
// reaps the process.
func (p *Process) readLoop(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), p.opts.MaxLine)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte(`{"id"`)) {
			if p.opts.OnEvent != nil {
				p.opts.OnEvent(line)
			}
			continue
		}
		select {
		case p.replies <- append(json.RawMessage(nil), line...):
		default: // nobody is waiting for it
		}
	}
	p.waitErr = p.cmd.Wait()
	close(p.exited)
}

// Name returns the name used in messages, such as "go server (pid 123)".
func (p *Process) Name() string { return p.name }

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has ended and been reaped.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Diag describes how the process ended, or that it is running, with the tail of its
// stderr, for an error message.
func (p *Process) Diag() string {
	select {
	case <-p.exited:
		return fmt.Sprintf("%s exited (%v); stderr: %s", p.name, p.waitErr, p.stderr.String())
	default:
		return fmt.Sprintf("%s is running; stderr: %s", p.name, p.stderr.String())
	}
}

// Call sends the command {"op":op,"id":N} with the fields of args merged in, waits up to
// wait for its reply and decodes the reply's result into result. A failed command returns
// an error with the reply's message.
func (p *Process) Call(ctx context.Context, op string, args map[string]any, wait time.Duration, result any) error {
	p.nextID++
	id := p.nextID
	cmd := map[string]any{"op": op, "id": id}
	for k, v := range args {
		cmd[k] = v
	}
	line, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("%s: %w (%s)", op, err, p.Diag())
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case raw := <-p.replies:
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
		case <-p.exited:
			return fmt.Errorf("%s: %s", op, p.Diag())
		case <-timer.C:
			return fmt.Errorf("%s: no reply in %v (%s)", op, wait, p.Diag())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Stop ends the process: EOF on stdin and SIGTERM (the drivers destroy their nodes and
// exit on either), then SIGKILL after the stop grace. It returns once the process is
// reaped; the error says whether it had to be killed or exited badly. Stop is idempotent.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		p.stdin.Close()
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(p.opts.StopGrace):
			p.cmd.Process.Kill()
			<-p.exited
			p.stopErr = fmt.Errorf("%s did not stop within %v and was killed", p.name, p.opts.StopGrace)
			return
		}
		var ee *exec.ExitError
		if errors.As(p.waitErr, &ee) && !ee.Success() {
			p.stopErr = fmt.Errorf("%s exited badly: %v; stderr: %s", p.name, p.waitErr, p.stderr.String())
		}
	})
	return p.stopErr
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

// String returns the kept text without surrounding white space, or "(empty)".
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return "(empty)"
	}
	return s
}
