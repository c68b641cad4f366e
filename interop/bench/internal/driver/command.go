package driver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Impl is how [Command] runs one process of an implementation.
type Impl struct {
	GoArgs []string // "go": this program's arguments, its serve mode first
	Script string   // "js": the script, a slash-separated path under the module root
	JSArgs []string // "js": the script's arguments
	Module string   // "js": the pinned package under interop/node_modules the script needs
	What   string   // "js": what the process is, for the error without node: "server", "network", ...
}

// Command returns the command line of impl's process ("go" or "js") as im describes it: this
// program with im.GoArgs, or node with the script under the module root root and im.JSArgs,
// once node is on PATH and the JS reference is installed.
func Command(root, impl string, im Impl) (*exec.Cmd, error) {
	switch impl {
	case "go":
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find own executable for %s: %w", im.GoArgs[0], err)
		}
		return exec.Command(exe, im.GoArgs...), nil
	case "js":
		node, err := exec.LookPath("node")
		if err != nil {
			return nil, fmt.Errorf("node.js is needed for the JS %s: %w", im.What, err)
		}
		if _, err := os.Stat(filepath.Join(root, "interop", "node_modules", im.Module)); err != nil {
			return nil, fmt.Errorf("the JS reference is not installed (run npm ci in %s): %w", filepath.Join(root, "interop"), err)
		}
		return exec.Command(node, append([]string{filepath.Join(root, filepath.FromSlash(im.Script))}, im.JSArgs...)...), nil
	}
	return nil, fmt.Errorf("unknown implementation %q", impl)
}

// StartReady starts cmd as [Start] does and waits up to wait for its first event named
// event ({"event":event,...}), whose line it returns; opts.OnEvent, if set, still sees
// every event. If the process exits first, the wait runs out or ctx is done, StartReady
// stops the process and returns why.
func StartReady(ctx context.Context, cmd *exec.Cmd, label string, opts Options, event string, wait time.Duration) (*Process, []byte, error) {
	readyc := make(chan []byte, 1)
	onEvent := opts.OnEvent
	opts.OnEvent = func(line []byte) {
		var ev struct {
			Event string `json:"event"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.Event == event {
			select {
			case readyc <- append([]byte(nil), line...):
			default:
			}
		}
		if onEvent != nil {
			onEvent(line)
		}
	}
	p, err := Start(ctx, cmd, label, opts)
	if err != nil {
		return nil, nil, err
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case line := <-readyc:
		return p, line, nil
	case <-p.Exited():
		err = errors.New(p.Diag())
	case <-timer.C:
		err = fmt.Errorf("no %s event in %v (%s)", event, wait, p.Diag())
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.Stop()
	return nil, nil, err
}
