package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/interop/bench/internal/cli"
	"github.com/hyperlan/hyperlan/interop/bench/internal/driver"
)

// maxNodes bounds -nodes: every node holds two sockets, and all of them live in one process.
const maxNodes = 500

// startupWait bounds how long the network process waits for its nodes to join.
const startupWait = 90 * time.Second

// serveGoNet is the Go network process: a bootstrapper, nodes-1 persistent nodes and an
// ephemeral client, all dht.Node values in this process on 127.0.0.1, driven over JSON lines
// exactly like jsnet.js (see the protocol there). Commands run one at a time. It stops on ctx
// (SIGTERM, SIGINT), on the exit op or at EOF on stdin.
func serveGoNet(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve-go-net", flag.ContinueOnError)
	fs.SetOutput(stderr)
	size := fs.Int("nodes", 0, "nodes in the network, the bootstrapper included (required)")
	opTimeout := fs.Duration("op-timeout", 30*time.Second, "an announce or lookup still running after this long fails")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process's whole life to this file")
	if err := fs.Parse(args); err != nil {
		return cli.ExitUsage
	}
	if fs.NArg() > 0 || *size < 2 || *size > maxNodes || *opTimeout <= 0 {
		fmt.Fprintf(stderr, "recordsbench: error: usage: recordsbench serve-go-net -nodes N (2 to %d) [-op-timeout D]\n", maxNodes)
		return cli.ExitUsage
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "recordsbench: error: cpu profile: %v\n", err)
			return cli.ExitFail
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	start := time.Now()
	nw, err := startGoNet(ctx, *size)
	if nw != nil {
		defer nw.destroy()
	}
	if err != nil {
		fmt.Fprintf(stderr, "recordsbench: error: %v\n", err)
		return cli.ExitFail
	}
	enc := json.NewEncoder(stdout)
	enc.Encode(readyEvent{
		Event: "ready", Bootstrap: nw.nodes[0].LocalAddr().String(), Nodes: len(nw.nodes),
		Persistent: nw.info().Persistent, StartupMs: float64(time.Since(start).Nanoseconds()) / 1e6,
	})

	lines := driver.Lines(stdin, maxLine)
	for {
		select {
		case <-ctx.Done():
			return cli.ExitOK
		case line, ok := <-lines:
			if !ok {
				return cli.ExitOK
			}
			cmd, err := parseCommand(line)
			if err != nil {
				enc.Encode(map[string]any{"event": "driver-error", "error": err.Error()})
				continue
			}
			var result any
			switch cmd.Op {
			case "info":
				result = nw.info()
			case "announce", "lookup":
				if cmd.Concurrency < 1 {
					err = errors.New("concurrency: want a positive integer")
					break
				}
				result = nw.run(ctx, cmd.Op, cmd.Concurrency, cmd.Items, *opTimeout)
			case "exit":
				nw.destroy()
				enc.Encode(reply{ID: cmd.ID, OK: true})
				return cli.ExitOK
			default:
				err = fmt.Errorf("unknown op %q", cmd.Op)
			}
			if err != nil {
				enc.Encode(reply{ID: cmd.ID, Error: err.Error()})
			} else {
				enc.Encode(reply{ID: cmd.ID, OK: true, Result: result})
			}
		}
	}
}

// maxLine bounds one JSON line on stdin and stdout; a phase of 100,000 items is ~14 MB.
const maxLine = 32 << 20

// command is one line of the JSON-lines protocol.
type command struct {
	Op          string `json:"op"`
	ID          int64  `json:"id"`
	Concurrency int    `json:"concurrency"`
	Items       []item `json:"items"`
}

func parseCommand(line []byte) (command, error) {
	var raw struct {
		command
		ID *int64 `json:"id"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return command{}, fmt.Errorf("bad command: %w", err)
	}
	if raw.ID == nil {
		return command{}, errors.New("command without a numeric id")
	}
	cmd := raw.command
	cmd.ID = *raw.ID
	return cmd, nil
}

type reply struct {
	ID     int64  `json:"id"`
	OK     bool   `json:"ok"`
	Result any    `json:"result"`
	Error  string `json:"error,omitempty"`
}

type readyEvent struct {
	Event      string  `json:"event"`
	Bootstrap  string  `json:"bootstrap"`
	Nodes      int     `json:"nodes"`
	Persistent int     `json:"persistent"`
	StartupMs  float64 `json:"startupMs"`
}

// netInfo is the info op's result.
type netInfo struct {
	Nodes       int `json:"nodes"`
	Persistent  int `json:"persistent"`
	TableMin    int `json:"tableMin"`
	TableMedian int `json:"tableMedian"`
	TableMax    int `json:"tableMax"`
	ClientTable int `json:"clientTable"`
}

// goNet is a whole Go network in this process.
type goNet struct {
	nodes  []*dht.Node // [0] is the bootstrapper
	client *dht.Node   // ephemeral; nil until the nodes are up
}

// startGoNet starts the bootstrapper, then all persistent nodes at once (as jsnet.js does),
// waits until each has joined and is persistent, then starts the client. On error the nodes
// started so far are returned for destroy.
func startGoNet(ctx context.Context, size int) (*goNet, error) {
	ctx, cancel := context.WithTimeout(ctx, startupWait)
	defer cancel()
	ports, err := freePorts(size + 1) // the last one is the client's
	if err != nil {
		return nil, err
	}
	nw := &goNet{}
	boot, err := dht.Bootstrapper(ports[0], "127.0.0.1", dht.Options{Host: "127.0.0.1", Bootstrap: []rpc.BootstrapNode{}})
	if err != nil {
		return nil, err
	}
	nw.nodes = append(nw.nodes, boot)
	if err := boot.Ready(ctx); err != nil {
		return nw, fmt.Errorf("bootstrapper: %w", err)
	}
	bootstrap := []rpc.BootstrapNode{{Host: "127.0.0.1", Port: boot.LocalAddr().Port()}}
	for _, port := range ports[1:size] {
		n, err := dht.New(dht.Options{Host: "127.0.0.1", Port: port, Mode: rpc.ModePersistent, Bootstrap: bootstrap})
		if err != nil {
			return nw, err
		}
		nw.nodes = append(nw.nodes, n)
	}
	for _, n := range nw.nodes {
		if err := n.Ready(ctx); err != nil {
			return nw, fmt.Errorf("node %v: %w", n.LocalAddr(), err)
		}
	}
	if p := nw.info().Persistent; p != len(nw.nodes) {
		return nw, fmt.Errorf("only %d of %d nodes became persistent", p, len(nw.nodes))
	}
	nw.client, err = dht.New(dht.Options{Host: "127.0.0.1", Port: ports[size], Mode: rpc.ModeEphemeral, Bootstrap: bootstrap})
	if err != nil {
		return nw, err
	}
	if err := nw.client.Ready(ctx); err != nil {
		return nw, fmt.Errorf("client: %w", err)
	}
	return nw, nil
}

// destroy stops every node; it may be called more than once.
func (nw *goNet) destroy() {
	all := nw.nodes
	if nw.client != nil {
		all = append([]*dht.Node{nw.client}, all...)
	}
	for _, n := range all {
		n.Destroy(context.Background(), dht.DestroyOptions{Force: true})
	}
}

func (nw *goNet) info() netInfo {
	out := netInfo{Nodes: len(nw.nodes)}
	var tables []int
	for _, n := range nw.nodes {
		if _, ok := n.ID(); ok {
			out.Persistent++
		}
		tables = append(tables, n.RPC().TableSize())
	}
	slices.Sort(tables)
	if len(tables) > 0 {
		out.TableMin, out.TableMedian, out.TableMax = tables[0], tables[len(tables)/2], tables[len(tables)-1]
	}
	if nw.client != nil {
		out.ClientTable = nw.client.RPC().TableSize()
	}
	return out
}

// run is one phase: the client announces (or looks up) every item, concurrency at a time.
// Key pairs are derived before the clock starts.
func (nw *goNet) run(ctx context.Context, op string, concurrency int, items []item, timeout time.Duration) *phase {
	kps := make([]dht.KeyPair, len(items))
	for i, it := range items {
		kp, err := dht.NewKeyPair(it.Seed[:])
		if err != nil {
			panic("internal error: 32-byte seed refused: " + err.Error())
		}
		kps[i] = kp
	}
	if op == "announce" {
		return runPhase(ctx, len(items), concurrency, timeout, op, func(ctx context.Context, i int) (int, error) {
			res, err := nw.client.Announce(ctx, items[i].Topic, kps[i], nil, nil)
			if err != nil {
				return 0, err
			}
			return len(res.ClosestNodes), nil
		})
	}
	return runPhase(ctx, len(items), concurrency, timeout, op, func(ctx context.Context, i int) (int, error) {
		replies, err := nw.client.Lookup(ctx, items[i].Topic, nil)
		if err != nil {
			return 0, err
		}
		holders := 0
		for _, r := range replies {
			if slices.ContainsFunc(r.Peers, func(p records.Peer) bool { return p.PublicKey == kps[i].PublicKey }) {
				holders++
			}
		}
		return holders, nil
	})
}

// freePorts returns n distinct UDP ports that were free on 127.0.0.1 a moment ago: it binds
// n sockets to port 0 at once, then closes them. A node whose port was taken meanwhile falls
// back to another one.
func freePorts(n int) ([]int, error) {
	var ports []int
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		conns = append(conns, c)
		ports = append(ports, c.LocalAddr().(*net.UDPAddr).Port)
	}
	return ports, nil
}
