package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
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
	goArgs := []string{"serve-go-net", "-nodes", nodes, "-op-timeout", timeout.String()}
	if cfg.goProfile != "" {
		goArgs = append(goArgs, "-cpuprofile", cfg.goProfile)
	}
	cmd, err := driver.Command(root, target, driver.Impl{
		GoArgs: goArgs,
		Script: "interop/bench/recordsbench/jsnet.js",
		JSArgs: []string{"--nodes", nodes, "--op-timeout", strconv.FormatInt(timeout.Milliseconds(), 10)},
		Module: "hyperdht", What: "network",
	})
	if err != nil {
		return nil, err
	}
	if target == "go" && cfg.goProcs > 0 {
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(cfg.goProcs))
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
