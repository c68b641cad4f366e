// Command connbench measures, in one run, how fast an encrypted HyperDHT connection opens and
// how fast it moves bulk data, between our Go implementation (package dht) and the JS reference
// (hyperdht, pinned in interop/) in all four client-server pairings, on a private network on
// 127.0.0.1, and reports the ratios against the JS pair.
//
// Usage:
//
//	connbench [-connects 50] [-bytes N] [-pairs go-go,js-js,go-js,js-go] [-network js|go]
//	          [-nodes 5] [-rounds 1] [-timeout 5m] [-go-cpuprofile PREFIX]
//	connbench serve-go -port N (-bootstrap H:P[,H:P...] | -bootstrapper)
//
// The default mode is the benchmark. It first starts a private network: a bootstrapper and
// -nodes minus one persistent nodes, each a process of its own of the -network implementation
// (node interop/hyperdht.js, or this program in serve-go mode), on 127.0.0.1 and bootstrapped
// only from each other. Then it starts one server and one client endpoint per implementation
// the pairs use, which join that network and live for the whole run: this program in serve-go
// mode, or "node interop/bench/connbench/peer.js"; both speak the JSON-lines protocol described
// at the top of peer.js. Each server listens on a key pair of its own. For each pair
// (client-server) in turn, the client connects to the server once (the first connect, which
// looks the server up; first round only), then -connects times one after the other, timing
// each from the connect call to the open session and destroying it before the next; then it
// connects once more, writes -bytes bytes and ends, and the server reports the bytes, whether
// they matched the data sent, and the time from its first byte to the end. CPU time and memory of both endpoints
// and the network's CPU time come from /proc. It prints tables and, last, one JSON line:
//
//	{"connects":{"go-go":{"median_ms":…,"p90_ms":…,…},…},"bulk":{"go-go":{"mb_per_s":…,…},…},"ratio":{"connect_median":…,"bulk":…,…},…}
//
// Progress goes to stderr. Exit status: 0 on success, 1 when the run failed, 2 for bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/hyperlan/hyperlan/interop/bench/internal/cli"
	"github.com/hyperlan/hyperlan/interop/bench/internal/driver"
	"github.com/hyperlan/hyperlan/interop/bench/internal/procstat"
)

func main() {
	cli.Main(cli.Tool{Name: "connbench", ServeMode: "serve-go", Serve: serveGo, Stopped: "endpoints and network", Parse: cli.Parser(parseFlags, bench, (*report).print)})
}

// config is the benchmark's settings, the same for every pair.
type config struct {
	connects  int   // timed sequential connects per pair and round; 0 skips them
	bytes     int64 // bytes per bulk transfer; 0 skips it
	blockSize int   // the bulk data is this much of PseudoRandom(seed), repeated
	seed      uint32
	pairs     []pair // in the order run
	network   string // "js" or "go": the implementation of the bootstrapper and the nodes
	nodes     int    // network processes, the bootstrapper included
	rounds    int
	timeout   time.Duration // for one phase (the connects, or a transfer)
	goProfile string        // CPU profile prefix for the go-go bulk transfer's endpoints
}

// pair is a client and a server implementation: "go" or "js".
type pair struct{ client, server string }

func (p pair) String() string { return p.client + "-" + p.server }

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("connbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: connbench [flags]    compare Go and JS (hyperdht) encrypted connections on loopback\n"+
			"       connbench serve-go -port N (-bootstrap H:P[,H:P...] | -bootstrapper)\n"+
			"                           run one Go endpoint speaking JSON lines\n\nflags:\n")
		fs.PrintDefaults()
	}
	cfg := config{blockSize: 4 << 20, seed: 1}
	fs.IntVar(&cfg.connects, "connects", 50, "timed sequential connects per pair and round (0: none)")
	fs.Int64Var(&cfg.bytes, "bytes", 256<<20, "bytes per bulk transfer (0: none)")
	pairs := fs.String("pairs", "go-go,js-js,go-js,js-go", "pairs client-server to run, comma-separated")
	fs.StringVar(&cfg.network, "network", "js", "implementation of the network's bootstrapper and nodes: js or go")
	fs.IntVar(&cfg.nodes, "nodes", 5, "network processes, the bootstrapper included (2 to 30)")
	fs.IntVar(&cfg.rounds, "rounds", 1, "run the pairs this often, alternating; connect times are pooled, bulk figures are the median round's")
	fs.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "give up on the connects or a transfer after this long")
	fs.StringVar(&cfg.goProfile, "go-cpuprofile", "", "write CPU profiles of the go-go bulk transfer's client and server to PREFIX-client.pprof and PREFIX-server.pprof")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.connects < 0 || cfg.connects > 100000:
		return cfg, errors.New("-connects: want 0 to 100000")
	case cfg.bytes < 0:
		return cfg, errors.New("-bytes must not be negative")
	case cfg.connects == 0 && cfg.bytes == 0:
		return cfg, errors.New("nothing to measure: -connects and -bytes are both 0")
	case cfg.network != "js" && cfg.network != "go":
		return cfg, fmt.Errorf("-network %q: want js or go", cfg.network)
	case cfg.nodes < 2 || cfg.nodes > 30:
		return cfg, errors.New("-nodes: want 2 to 30")
	case cfg.rounds < 1:
		return cfg, errors.New("-rounds must be positive")
	case cfg.timeout <= 0:
		return cfg, errors.New("-timeout must be positive")
	}
	ps, err := driver.Pairs(*pairs)
	if err != nil {
		return cfg, err
	}
	for _, p := range ps {
		cfg.pairs = append(cfg.pairs, pair{p[0], p[1]})
	}
	if len(cfg.pairs) == 0 {
		return cfg, errors.New("-pairs: none given")
	}
	return cfg, nil
}

// bench starts the network, runs every pair in turn, rounds times, and collects the report.
// Each pair's endpoints are stopped before the next pair starts, and the network before bench
// returns, whatever happened.
func bench(ctx context.Context, cfg config, log io.Writer) (_ *report, err error) {
	root, err := driver.ModuleRoot("connbench")
	if err != nil {
		return nil, err
	}
	rep := &report{cfg: cfg, cpus: runtime.NumCPU(), loadavg: procstat.LoadAverage()}
	fmt.Fprintf(log, "connbench: %d CPUs shared by all processes (load average %s); %s network of %d; %d connects and %d MiB per pair and round\n",
		rep.cpus, rep.loadavg, cfg.network, cfg.nodes, cfg.connects, cfg.bytes>>20)
	nw, err := startNetwork(ctx, root, cfg.network, cfg.nodes)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	defer func() {
		if stopErr := nw.stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	ep, err := startEndpoints(ctx, cfg, root, nw)
	if err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	defer func() {
		if stopErr := ep.stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	rep.versions = ep.versions
	for round := range cfg.rounds {
		for _, p := range cfg.pairs {
			res, err := runPair(ctx, cfg, nw, ep, p, round)
			if err != nil {
				return nil, fmt.Errorf("%v: %w", p, err)
			}
			rep.add(res)
			if round == 0 {
				fmt.Fprintf(log, "round 1 %v: first connect %.1f ms\n", p, res.firstMs)
			}
			if c := res.connects; c != nil {
				fmt.Fprintf(log, "round %d %v: %d connects median %.2f ms, p90 %.2f ms (%d failed)\n",
					round+1, p, len(c.openMs), median(c.openMs), percentile(c.openMs, 90), c.failed)
			}
			if b := res.bulk; b != nil {
				fmt.Fprintf(log, "round %d %v: bulk %.1f MB/s in %.2f s (client cpu %.2f s, server cpu %.2f s)\n",
					round+1, p, b.mbps(), b.seconds, b.client.CPU.Seconds(), b.server.CPU.Seconds())
			}
		}
	}
	rep.loadavgEnd = procstat.LoadAverage()
	return rep, nil
}
