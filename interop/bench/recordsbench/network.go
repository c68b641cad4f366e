package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hyperlan/hyperlan/interop/bench/internal/driver"
)

const (
	stopGrace = 15 * time.Second // after EOF on stdin and SIGTERM, before SIGKILL
	readyWait = 2 * time.Minute  // for the network to come up
	callWait  = 10 * time.Second // for a short JSON-lines command (info)
)

// network is one running network process: this program in serve-go-net mode, or
// node jsnet.js. Both print a ready event and then answer the same JSON-lines commands.
type network struct {
	*driver.Process
	ready chan readyEvent // the ready event, once; other events are dropped
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
	ready := make(chan readyEvent, 1)
	onEvent := func(line []byte) {
		var ev readyEvent
		if json.Unmarshal(line, &ev) == nil && ev.Event == "ready" {
			select {
			case ready <- ev:
			default:
			}
		}
	}
	p, err := driver.Start(ctx, cmd, target+" network", driver.Options{MaxLine: maxLine, StopGrace: stopGrace, OnEvent: onEvent})
	if err != nil {
		return nil, err
	}
	return &network{Process: p, ready: ready}, nil
}

// waitReady waits for the ready event.
func (nw *network) waitReady(ctx context.Context, limit time.Duration) (readyEvent, error) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case ev := <-nw.ready:
		return ev, nil
	case <-nw.Exited():
		return readyEvent{}, fmt.Errorf("starting: %s", nw.Diag())
	case <-timer.C:
		return readyEvent{}, fmt.Errorf("not up after %v (%s)", limit, nw.Diag())
	case <-ctx.Done():
		return readyEvent{}, ctx.Err()
	}
}

func (nw *network) info(ctx context.Context) (netInfo, error) {
	var info netInfo
	err := nw.Call(ctx, "info", nil, callWait, &info)
	return info, err
}

// phase runs one announce or lookup phase over items in the network process.
func (nw *network) phase(ctx context.Context, op string, concurrency int, items []item, wait time.Duration) (*phase, error) {
	var p phase
	if err := nw.Call(ctx, op, map[string]any{"concurrency": concurrency, "items": items}, wait, &p); err != nil {
		return nil, err
	}
	if len(p.LatencyMs) != len(items) || p.OK+p.Failed != len(items) {
		return nil, fmt.Errorf("%s: malformed result: %d latencies, %d ok + %d failed for %d items", op, len(p.LatencyMs), p.OK, p.Failed, len(items))
	}
	return &p, nil
}
