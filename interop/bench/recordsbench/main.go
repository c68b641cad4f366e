// Command recordsbench measures, in one run, how long a HyperDHT client takes to announce N
// topics and then look each of them up on a 50-node network on 127.0.0.1, with our Go
// implementation (package dht) and with the JS reference pinned in interop/ (hyperdht 6.34),
// and reports the ratios JS/Go.
//
// Usage:
//
//	recordsbench [-nodes 50] [-topics 200] [-concurrency 8] [-warmup 16] [-rounds 3]
//	             [-op-timeout 30s] [-only go|js] [-go-procs N] [-go-cpuprofile FILE]
//	recordsbench serve-go-net -nodes N [-op-timeout 30s] [-cpuprofile FILE]
//
// The default mode is the benchmark. For each target in turn (never both at once) it starts
// one network process: this program in serve-go-net mode, or "node jsnet.js" (next to this
// file). Each builds the same network inside itself, a bootstrapper and nodes-1 persistent
// nodes on free ports of 127.0.0.1 plus one ephemeral client node, and then runs the
// workload the benchmark hands it over JSON lines: the client announces every topic (each
// with its own key pair from a seed), then looks every topic up, -concurrency operations in
// flight. The same topics and seeds go to both targets. The benchmark reads the network
// process's CPU time between phases and its memory at the end, and prints a table and, last,
// one JSON line:
//
//	{"go":{"announce":{"wall_s":…},"lookup":{…},"rss_kb":…},"js":{…},"ratio_js_over_go":{"announce_time":…,…}}
//
// serve-go-net runs the Go network until SIGTERM, SIGINT, EOF on stdin or the exit op, and
// speaks the protocol described at the top of jsnet.js.
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
	cli.Main(cli.Tool{Name: "recordsbench", ServeMode: "serve-go-net", Serve: serveGoNet, Stopped: "networks", Parse: cli.Parser(parseBenchFlags, bench, (*report).print)})
}

// config is the benchmark's settings, the same for every target.
type config struct {
	nodes       int // storing nodes per network, the bootstrapper included
	topics      int // announces, then lookups, per round
	concurrency int // operations in flight
	warmup      int // topics announced and looked up before the measured phases
	rounds      int // each target runs this often, alternating; medians are reported
	opTimeout   time.Duration
	goProcs     int      // GOMAXPROCS for the Go network process; 0 leaves it alone
	goProfile   string   // CPU profile file for the Go network process, overwritten every round
	targets     []string // "go", "js", in the order run
}

func parseBenchFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("recordsbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: recordsbench [flags]                compare Go and JS HyperDHT announce + lookup\n"+
			"       recordsbench serve-go-net -nodes N  run a Go network of N nodes and a client\n\nflags:\n")
		fs.PrintDefaults()
	}
	var cfg config
	fs.IntVar(&cfg.nodes, "nodes", 50, "nodes per network: a bootstrapper and nodes-1 persistent nodes (the client comes on top)")
	fs.IntVar(&cfg.topics, "topics", 200, "distinct topics: each is announced, then looked up")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "operations in flight")
	fs.IntVar(&cfg.warmup, "warmup", 16, "topics announced and looked up, unmeasured, before each measurement")
	fs.IntVar(&cfg.rounds, "rounds", 3, "run the targets this many times, alternating, and report the median")
	fs.DurationVar(&cfg.opTimeout, "op-timeout", 30*time.Second, "an announce or lookup still running after this long fails")
	fs.IntVar(&cfg.goProcs, "go-procs", 0, "experiment: GOMAXPROCS of the Go network process (JS runs on one thread); 0 leaves the default")
	fs.StringVar(&cfg.goProfile, "go-cpuprofile", "", "write a CPU profile of the Go network process (the last round's) to this file")
	only := fs.String("only", "", "run only this target: go or js")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.nodes < 2 || cfg.nodes > maxNodes:
		return cfg, fmt.Errorf("-nodes %d: want 2 to %d", cfg.nodes, maxNodes)
	case cfg.topics < 1 || cfg.topics > 100000:
		return cfg, fmt.Errorf("-topics %d: want 1 to 100000", cfg.topics)
	case cfg.concurrency < 1 || cfg.concurrency > 1000:
		return cfg, fmt.Errorf("-concurrency %d: want 1 to 1000", cfg.concurrency)
	case cfg.warmup < 0 || cfg.warmup > 100000:
		return cfg, fmt.Errorf("-warmup %d: want 0 to 100000", cfg.warmup)
	case cfg.rounds < 1 || cfg.rounds > 20:
		return cfg, fmt.Errorf("-rounds %d: want 1 to 20", cfg.rounds)
	case cfg.opTimeout <= 0:
		return cfg, errors.New("-op-timeout must be positive")
	case cfg.goProcs < 0:
		return cfg, fmt.Errorf("-go-procs %d: want 0 or more", cfg.goProcs)
	}
	var err error
	cfg.targets, err = driver.Targets(*only)
	return cfg, err
}

// bench runs every target in turn and collects the report. Each network process is stopped
// before the next one starts, and before bench returns, whatever happened.
func bench(ctx context.Context, cfg config, log io.Writer) (*report, error) {
	root, err := driver.ModuleRoot("recordsbench")
	if err != nil {
		return nil, err
	}
	rep := &report{cfg: cfg, cpus: runtime.NumCPU(), loadavg: procstat.LoadAverage()}
	fmt.Fprintf(log, "recordsbench: %d CPUs shared by the network process and this one (load average %s); %d nodes, %d topics, %d in flight\n",
		rep.cpus, rep.loadavg, cfg.nodes, cfg.topics, cfg.concurrency)
	warm, measured := workItems("warmup", cfg.warmup), workItems("measured", cfg.topics)
	rep.results, err = driver.Rounds(cfg.rounds, cfg.targets, func(target string) (*result, error) {
		return benchTarget(ctx, cfg, root, target, warm, measured, log)
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// benchTarget measures one network: start, warm-up, announce phase, lookup phase, memory,
// stop.
func benchTarget(ctx context.Context, cfg config, root, target string, warm, measured []item, log io.Writer) (res *result, err error) {
	nw, err := startNetwork(ctx, cfg, root, target)
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := nw.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	res = &result{}
	if res.ready, err = nw.waitReady(ctx, readyWait); err != nil {
		return nil, err
	}
	if res.infoBefore, err = nw.info(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "%s: %s up in %.2f s: %d nodes, %d persistent; tables %d..%d nodes\n", target, nw.Name(),
		res.ready.StartupMs/1000, res.ready.Nodes, res.ready.Persistent, res.infoBefore.TableMin, res.infoBefore.TableMax)

	wait := phaseWait(cfg, len(warm))
	for _, op := range []string{"announce", "lookup"} {
		if len(warm) == 0 {
			break
		}
		if _, err := nw.phase(ctx, op, cfg.concurrency, warm, wait); err != nil {
			return nil, fmt.Errorf("warm-up %s: %w", op, err)
		}
	}

	wait = phaseWait(cfg, len(measured))
	for i, op := range []string{"announce", "lookup"} {
		before := takeCPUSample(nw.Pid())
		p, err := nw.phase(ctx, op, cfg.concurrency, measured, wait)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		p.cpu, p.cpuUser, p.cpuOK = takeCPUSample(nw.Pid()).since(before)
		res.phases[i] = p
		fmt.Fprintf(log, "%s: %d %ss in %.2f s (%d ok, %d failed%s), network cpu %.2f s\n",
			target, len(measured), op, p.WallMs/1000, p.OK, p.Failed, errNote(p.Error), p.cpu.Seconds())
	}

	res.rssKB, res.hwmKB, err = procstat.Memory(nw.Pid())
	if err != nil {
		fmt.Fprintf(log, "%s: memory not measured: %v\n", target, err)
	}
	if res.infoAfter, err = nw.info(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

// phaseWait bounds how long the benchmark waits for one phase of n operations: every
// operation may take the operation timeout.
func phaseWait(cfg config, n int) time.Duration {
	batches := (n + cfg.concurrency - 1) / cfg.concurrency
	return time.Duration(batches+1)*cfg.opTimeout + 30*time.Second
}

func errNote(e string) string {
	if e == "" {
		return ""
	}
	return "; first error: " + e
}
