// Command rpcbench measures, in one run, how many PING and FIND_NODE requests per second one
// Go dht-rpc node (package dht/rpc) answers compared with one JS dht-rpc node (the reference
// pinned in interop/), on the same machine, and reports the ratios Go/JS.
//
// Usage:
//
//	rpcbench [-duration 5s] [-warmup 1s] [-timeout 200ms] [-clients 4] [-window 64]
//	         [-fillers 200] [-rounds 1] [-only go|js] [-go-rcvbuf BYTES]
//	rpcbench serve-go -port P [-rcvbuf BYTES]
//
// The default mode is the benchmark. For each target in turn (never both at once) it starts
// the server in its own process on 127.0.0.1 (this program in serve-go mode, or
// "node interop/dhtrpc.js bootstrapper P"), waits until it answers a PING, fills its routing
// table from UDP sockets that carry valid ids and keep answering the server, then drives
// closed-loop PING and FIND_NODE load at it and reads its memory from /proc. It prints a
// table and, last, one JSON line:
//
//	{"go":{"ping_rps":…,"find_node_rps":…,"rss_kb":…},"js":{…},"ratio":{"ping":…,"find_node":…}}
//
// serve-go runs one Go bootstrapper (rpc.Bootstrapper) until SIGTERM, SIGINT or EOF on stdin,
// and answers the same JSON-lines "info" command as interop/dhtrpc.js.
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

	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/interop/bench/internal/cli"
	"github.com/hyperlan/hyperlan/interop/bench/internal/driver"
	"github.com/hyperlan/hyperlan/interop/bench/internal/procstat"
)

func main() {
	cli.Main(cli.Tool{Name: "rpcbench", ServeMode: "serve-go", Serve: serveGo, Stopped: "servers", Parse: cli.Parser(parseBenchFlags, bench, (*report).print)})
}

// config is the benchmark's settings, the same for every target.
type config struct {
	duration, warmup, timeout time.Duration
	clients, window, fillers  int
	rounds                    int      // each target runs this often, interleaved; medians are reported
	goRcvbuf                  int      // SO_RCVBUF for the Go server's sockets; 0 = kernel default
	targets                   []string // "go", "js", in the order run
}

func parseBenchFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("rpcbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: rpcbench [flags]        compare the Go and JS dht-rpc servers\n"+
			"       rpcbench serve-go -port P   run one Go bootstrapper on 127.0.0.1:P\n\nflags:\n")
		fs.PrintDefaults()
	}
	var cfg config
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "measured load time per command and target")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "unmeasured load before each measurement")
	fs.DurationVar(&cfg.timeout, "timeout", 200*time.Millisecond, "resend a request not answered within this time")
	fs.IntVar(&cfg.clients, "clients", 4, "client UDP sockets of the load generator, one goroutine each")
	fs.IntVar(&cfg.window, "window", 64, "outstanding requests per client socket")
	fs.IntVar(&cfg.fillers, "fillers", 200, "sockets with valid ids put into the server's routing table (at most 220)")
	fs.IntVar(&cfg.rounds, "rounds", 1, "run the targets this many times, alternating, and report the median")
	fs.IntVar(&cfg.goRcvbuf, "go-rcvbuf", 0, "experiment: SO_RCVBUF in bytes for the Go server's sockets (udx-native, under the JS server, uses 2 MiB); 0 keeps the kernel default like dht/rpc")
	only := fs.String("only", "", "run only this target: go or js")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.duration <= 0 || cfg.warmup < 0 || cfg.timeout <= 0:
		return cfg, errors.New("-duration and -timeout must be positive, -warmup not negative")
	case cfg.clients < 1 || cfg.clients > 64:
		return cfg, fmt.Errorf("-clients %d: want 1 to 64", cfg.clients)
	case cfg.window < 1 || cfg.window > maxWindow:
		return cfg, fmt.Errorf("-window %d: want 1 to %d", cfg.window, maxWindow)
	case cfg.fillers < 0 || cfg.fillers > maxFillers:
		return cfg, fmt.Errorf("-fillers %d: want 0 to %d", cfg.fillers, maxFillers)
	case cfg.goRcvbuf < 0:
		return cfg, fmt.Errorf("-go-rcvbuf %d: want 0 or more", cfg.goRcvbuf)
	case cfg.rounds < 1 || cfg.rounds > 20:
		return cfg, fmt.Errorf("-rounds %d: want 1 to 20", cfg.rounds)
	}
	var err error
	cfg.targets, err = driver.Targets(*only)
	return cfg, err
}

// bench runs every target in turn and collects the report. Each server process is stopped
// before the next one starts, and before bench returns, whatever happened.
func bench(ctx context.Context, cfg config, log io.Writer) (*report, error) {
	root, err := driver.ModuleRoot("rpcbench")
	if err != nil {
		return nil, err
	}
	rep := &report{cfg: cfg, cpus: runtime.NumCPU(), loadavg: procstat.LoadAverage()}
	fmt.Fprintf(log, "rpcbench: %d CPUs shared by the server and this load generator (load average %s); %d sockets x %d outstanding, %v warm-up + %v per command\n",
		rep.cpus, rep.loadavg, cfg.clients, cfg.window, cfg.warmup, cfg.duration)
	rep.results, err = driver.Rounds(cfg.rounds, cfg.targets, func(target string) (*result, error) {
		return benchTarget(ctx, cfg, root, target, log)
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// benchTarget measures one server: start, fill, PING load, FIND_NODE load, memory, stop.
func benchTarget(ctx context.Context, cfg config, root, target string, log io.Writer) (res *result, err error) {
	srv, err := startServer(ctx, cfg, root, target)
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := srv.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	if err := srv.waitPing(ctx, 15*time.Second); err != nil {
		return nil, err
	}
	if err := srv.waitPersistent(ctx, 10*time.Second); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "%s: %s answers on %v\n", target, srv.Name(), srv.addr)

	fl, err := openFillers(srv.addr, cfg.fillers)
	if err != nil {
		return nil, err
	}
	defer fl.close()
	joined := fl.join(ctx, 5*time.Second)
	res = &result{fillers: len(fl.list), joined: joined}
	res.table, err = srv.tableSize(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "%s: %d of %d fillers answered; routing table holds %d nodes\n", target, joined, len(fl.list), res.table)

	for _, cmd := range []uint64{rpc.CmdPing, rpc.CmdFindNode} {
		lr, err := runLoad(ctx, cfg, srv, cmd)
		if err != nil {
			return nil, err
		}
		res.load[cmd] = lr
		fmt.Fprintf(log, "%s: %s %.0f/s (server cpu %.0f%%, generator cpu %.0f%%, %d resent)\n",
			target, commandName(cmd), lr.rate(), lr.serverCPU, lr.clientCPU, lr.resent)
	}

	res.rssKB, res.hwmKB, err = procstat.Memory(srv.Pid())
	if err != nil {
		fmt.Fprintf(log, "%s: memory not measured: %v\n", target, err)
	}
	if res.tableAfter, err = srv.tableSize(ctx); err != nil {
		return nil, err
	}
	res.fillerRequests = fl.served()
	return res, nil
}

func commandName(cmd uint64) string {
	if cmd == rpc.CmdFindNode {
		return "find_node"
	}
	return "ping"
}
