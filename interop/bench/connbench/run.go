package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/hyperlan/hyperlan/interop/bench/internal/driver"
	"github.com/hyperlan/hyperlan/interop/bench/internal/procstat"
)

const (
	stopGrace = 5 * time.Second  // after EOF on stdin and SIGTERM, before SIGKILL
	startWait = 30 * time.Second // for a process's ready (or bootstrapped) event
	callWait  = 30 * time.Second // for a command that does not move bulk data
	maxLine   = 1 << 20          // longest stdout line accepted
)

// proc is one running process of the benchmark bound to 127.0.0.1:port: a network node or
// an endpoint.
type proc struct {
	*driver.Process
	impl    string // "go" or "js"
	port    int
	version string // the implementation's, from the ready event
}

// startProc starts the process of impl with args and waits until it reports readyEvent.
func startProc(ctx context.Context, label, impl string, cmd *exec.Cmd, readyEvent string, port int) (*proc, error) {
	p, line, err := driver.StartReady(ctx, cmd, label, driver.Options{MaxLine: maxLine, StopGrace: stopGrace}, readyEvent, startWait)
	if err != nil {
		return nil, err
	}
	var r struct {
		Version string `json:"version"`
	}
	json.Unmarshal(line, &r)
	return &proc{Process: p, impl: impl, port: port, version: r.Version}, nil
}

// processCmd returns the command line of impl's process: this program in serve-go mode with
// goArgs, or node with the script under the module root and jsArgs.
func processCmd(root, impl string, goArgs []string, script string, jsArgs []string) (*exec.Cmd, error) {
	return driver.Command(root, impl, driver.Impl{
		GoArgs: append([]string{"serve-go"}, goArgs...),
		Script: script, JSArgs: jsArgs, Module: "hyperdht", What: "processes",
	})
}

// freePort returns a UDP port of 127.0.0.1 that was free a moment ago. The JS processes need
// one: hyperdht replaces port 0 with 49737.
func freePort() (int, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// network is the private DHT the endpoints join: a bootstrapper and persistent nodes.
type network struct {
	impl  string
	procs []*proc // [0] is the bootstrapper
}

// bootstrap is the bootstrap list the endpoints join with: the bootstrapper.
func (nw *network) bootstrap() string { return "127.0.0.1:" + strconv.Itoa(nw.procs[0].port) }

// startNetwork starts the bootstrapper, then the other size-1 nodes at once, and waits until
// every one has bootstrapped. On error it stops what it started.
func startNetwork(ctx context.Context, root, impl string, size int) (nw *network, err error) {
	nw = &network{impl: impl}
	defer func() {
		if err != nil {
			nw.stop()
		}
	}()
	start := func(i int, boot string) (*proc, error) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p := strconv.Itoa(port)
		goArgs := []string{"-port", p, "-bootstrap", boot}
		jsArgs := []string{"node", "--port", p, "--bootstrap", boot}
		event := "bootstrapped"
		if boot == "" {
			goArgs = []string{"-port", p, "-bootstrapper"}
			jsArgs = []string{"bootstrapper", p}
		}
		if impl == "go" {
			event = "ready"
		}
		cmd, err := processCmd(root, impl, goArgs, "interop/hyperdht.js", jsArgs)
		if err != nil {
			return nil, err
		}
		return startProc(ctx, fmt.Sprintf("%s network node %d", impl, i), impl, cmd, event, port)
	}
	b, err := start(0, "")
	if err != nil {
		return nw, fmt.Errorf("bootstrapper: %w", err)
	}
	nw.procs = append(nw.procs, b)
	type started struct {
		p   *proc
		err error
	}
	results := make(chan started, size-1)
	for i := 1; i < size; i++ {
		go func() {
			p, err := start(i, nw.bootstrap())
			results <- started{p, err}
		}()
	}
	var errs []error
	for range size - 1 {
		r := <-results
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		nw.procs = append(nw.procs, r.p)
	}
	return nw, errors.Join(errs...)
}

// cpu returns the CPU time all network processes have used.
func (nw *network) cpu() time.Duration {
	var sum time.Duration
	for _, p := range nw.procs {
		if c, _, err := procstat.CPU(p.Pid()); err == nil {
			sum += c
		}
	}
	return sum
}

func (nw *network) stop() error {
	var errs []error
	for _, p := range nw.procs {
		errs = append(errs, p.Stop())
	}
	return errors.Join(errs...)
}

// startEndpoint starts a client or server endpoint of impl that joins nw.
func startEndpoint(ctx context.Context, root, impl, role string, nw *network) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := strconv.Itoa(port)
	cmd, err := processCmd(root, impl, []string{"-port", p, "-bootstrap", nw.bootstrap()},
		"interop/bench/connbench/peer.js", []string{"--port", p, "--bootstrap", nw.bootstrap()})
	if err != nil {
		return nil, err
	}
	return startProc(ctx, impl+" "+role, impl, cmd, "ready", port)
}

// endpoints are the clients and servers of a run, by implementation. They live for the whole
// run: a process that leaves the network leaves a dead entry in the others' routing tables,
// which would slow down whatever joins after it (hyperdht's bootstrap waits out the timeouts).
type endpoints struct {
	clients, servers map[string]*proc
	keys             map[string]string // the public key each server listens on, hex
	versions         map[string]string // by implementation
}

// startEndpoints starts a server for every implementation that serves in cfg.pairs and a client
// for every one that connects, and has each server listen on a key pair of its own. On error
// it stops what it started.
func startEndpoints(ctx context.Context, cfg config, root string, nw *network) (ep *endpoints, err error) {
	ep = &endpoints{clients: map[string]*proc{}, servers: map[string]*proc{}, keys: map[string]string{}, versions: map[string]string{}}
	defer func() {
		if err != nil {
			ep.stop()
		}
	}()
	for _, p := range cfg.pairs {
		for _, e := range []struct {
			impl, role string
			m          map[string]*proc
		}{{p.server, "server", ep.servers}, {p.client, "client", ep.clients}} {
			if e.m[e.impl] != nil {
				continue
			}
			pr, err := startEndpoint(ctx, root, e.impl, e.role, nw)
			if err != nil {
				return ep, fmt.Errorf("%s %s: %w", e.impl, e.role, err)
			}
			e.m[e.impl] = pr
			ep.versions[e.impl] = pr.version
		}
	}
	for impl, server := range ep.servers {
		var seed [32]byte
		copy(seed[:], fmt.Sprintf("connbench %d %s", os.Getpid(), impl))
		var listened struct {
			PublicKey string `json:"publicKey"`
		}
		if err := server.Call(ctx, "listen", map[string]any{"seed": hex.EncodeToString(seed[:])}, callWait, &listened); err != nil {
			return ep, fmt.Errorf("%s server: %w", impl, err)
		}
		ep.keys[impl] = listened.PublicKey
	}
	return ep, nil
}

func (ep *endpoints) stop() error {
	var errs []error
	for _, m := range []map[string]*proc{ep.clients, ep.servers} {
		for _, p := range m {
			errs = append(errs, p.Stop())
		}
	}
	return errors.Join(errs...)
}

// pairResult is one round of one pair.
type pairResult struct {
	pair     pair
	round    int
	firstMs  float64 // the first connect, which looks the server up; round 0 only, else NaN
	connects *connectResult
	bulk     *bulkResult
}

// connectResult is the timed sequential connects of one round.
type connectResult struct {
	openMs         []float64 // ms from the connect call to the open session, per connect that opened
	connectEventMs []float64 // JS clients only: ms to the stream's 'connect' event, before it is open
	failed         int
	codes          map[string]int
	client, server procstat.Usage
	networkCPU     time.Duration // all network processes together
	wall           time.Duration
}

// bulkResult is one bulk transfer.
type bulkResult struct {
	bytes          int64
	seconds        float64 // server: first byte to the client's end
	senderMs       float64 // client: first write to the server's end
	openMs         float64 // the transfer's connect
	client, server procstat.Usage
}

func (r *bulkResult) mbps() float64 { return float64(r.bytes) / 1e6 / r.seconds }

// cpuPerByte is the CPU time of both endpoints per byte moved, in ns: what the transfer costs
// whatever share of the CPUs the processes got.
func (r *bulkResult) cpuPerByte() float64 {
	return float64(r.client.CPU+r.server.CPU) / float64(r.bytes)
}

// connectsReply is the connects op's result.
type connectsReply struct {
	OpenMs    []float64      `json:"openMs"`
	ConnectMs []float64      `json:"connectMs"` // JS clients only: to the 'connect' event
	Failed    int            `json:"failed"`
	Codes     map[string]int `json:"codes"`
}

// runPair measures one round of p: in round 0 the first connect of p's client to p's server,
// then the timed connects and the bulk transfer.
func runPair(ctx context.Context, cfg config, nw *network, ep *endpoints, p pair, round int) (*pairResult, error) {
	client, server, pk := ep.clients[p.client], ep.servers[p.server], ep.keys[p.server]
	res := &pairResult{pair: p, round: round, firstMs: math.NaN()}
	if round == 0 {
		// The first connect looks the server up; later ones start from the relays it cached.
		var first connectsReply
		if err := client.Call(ctx, "connects", map[string]any{"publicKey": pk, "count": 1}, callWait, &first); err != nil {
			return nil, fmt.Errorf("client: first connect: %w", err)
		}
		if len(first.OpenMs) != 1 {
			return nil, fmt.Errorf("client: first connect failed: %v", first.Codes)
		}
		res.firstMs = first.OpenMs[0]
	}

	if cfg.connects > 0 {
		c := &connectResult{}
		c.client.Begin(client.Pid())
		c.server.Begin(server.Pid())
		netBefore := nw.cpu()
		start := time.Now()
		var got connectsReply
		if err := client.Call(ctx, "connects", map[string]any{"publicKey": pk, "count": cfg.connects}, cfg.timeout, &got); err != nil {
			return nil, fmt.Errorf("client: connects: %w", err)
		}
		c.wall = time.Since(start)
		c.networkCPU = nw.cpu() - netBefore
		c.client.End(client.Pid())
		c.server.End(server.Pid())
		if len(got.OpenMs)+got.Failed != cfg.connects {
			return nil, fmt.Errorf("client: connects: %d opened and %d failed of %d", len(got.OpenMs), got.Failed, cfg.connects)
		}
		if len(got.OpenMs) == 0 {
			return nil, fmt.Errorf("client: every connect failed: %v", got.Codes)
		}
		c.openMs, c.connectEventMs, c.failed, c.codes = got.OpenMs, got.ConnectMs, got.Failed, got.Codes
		res.connects = c
	}

	if cfg.bytes > 0 {
		var err error
		if res.bulk, err = runBulk(ctx, cfg, client, server, pk, p); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// runBulk has the client connect once more and send cfg.bytes, and checks what the server got.
func runBulk(ctx context.Context, cfg config, client, server *proc, pk string, p pair) (*bulkResult, error) {
	profile := cfg.goProfile != "" && p == pair{"go", "go"}
	if profile {
		for _, e := range []struct {
			p    *proc
			role string
		}{{client, "client"}, {server, "server"}} {
			if err := e.p.Call(ctx, "startProfile", map[string]any{"file": cfg.goProfile + "-" + e.role + ".pprof"}, callWait, new(any)); err != nil {
				return nil, fmt.Errorf("%s: %w", e.role, err)
			}
		}
	}
	type receivedReply []struct {
		Bytes    int64   `json:"bytes"`
		Ms       float64 `json:"ms"`
		Mismatch int64   `json:"mismatch"`
	}
	data := map[string]any{"seed": cfg.seed, "block": cfg.blockSize}
	if err := server.Call(ctx, "expect", data, callWait, new(any)); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	var before receivedReply
	if err := server.Call(ctx, "received", nil, callWait, &before); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	b := &bulkResult{}
	b.client.Begin(client.Pid())
	b.server.Begin(server.Pid())
	var sent struct {
		OpenMs float64 `json:"openMs"`
		Ms     float64 `json:"ms"`
		Bytes  int64   `json:"bytes"`
	}
	args := map[string]any{"publicKey": pk, "bytes": cfg.bytes, "seed": cfg.seed, "block": cfg.blockSize}
	if err := client.Call(ctx, "sendBulk", args, cfg.timeout, &sent); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	b.client.End(client.Pid())
	b.server.End(server.Pid())
	if profile {
		for _, e := range []*proc{client, server} {
			if err := e.Call(ctx, "stopProfile", nil, callWait, new(any)); err != nil {
				return nil, err
			}
		}
	}
	var got receivedReply
	if err := server.Call(ctx, "received", nil, callWait, &got); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	if len(got) != len(before)+1 {
		return nil, fmt.Errorf("server: %d connections read data, want 1", len(got)-len(before))
	}
	r := got[len(got)-1]
	if r.Bytes != cfg.bytes {
		return nil, fmt.Errorf("server read %d bytes, want %d", r.Bytes, cfg.bytes)
	}
	if r.Mismatch >= 0 {
		return nil, fmt.Errorf("server read wrong data at offset %d", r.Mismatch)
	}
	b.bytes, b.seconds, b.senderMs, b.openMs = r.Bytes, r.Ms/1000, sent.Ms, sent.OpenMs
	return b, nil
}
