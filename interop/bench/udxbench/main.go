// Command udxbench measures, in one run, UDX bulk throughput on loopback between our Go
// implementation (package dht/udx) and the JS reference (udx-native, pinned in interop/) in
// all four pairings, and the unreliable message rate Go to Go against JS to JS, and reports
// the ratios Go/JS.
//
// Usage:
//
//	udxbench [-bytes N] [-msg-duration 5s] [-msg-size 1152] [-pairs go-go,js-js,go-js,js-go]
//	         [-timeout 5m] [-no-messages] [-no-bulk]
//	udxbench serve-go
//
// The default mode is the benchmark. Every endpoint is a process of its own: this program in
// serve-go mode, or "node interop/bench/udxbench/peer.js"; both bind one UDP socket on
// 127.0.0.1 and speak the JSON-lines protocol described at the top of peer.js. For each
// pair (sender-receiver) the benchmark starts a fresh receiver and sender, connects a stream
// between them, has the sender write -bytes bytes and END, and the receiver report the
// bytes and the time from its first byte to the END; CPU time and memory of both come from
// /proc. Then, for go-go and js-js, the sender sends -msg-size byte messages as fast as it
// can for -msg-duration and the receiver counts them. It prints tables and, last, one JSON
// line:
//
//	{"bulk":{"go-go":{"mb_per_s":…,…},…},"messages":{"go-go":{"received_per_s":…,…},…},"ratio":{"bulk":…,"messages":…},…}
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

	"github.com/hyperlan/hyperlan/dht/udx"
	"github.com/hyperlan/hyperlan/interop/bench/internal/cli"
	"github.com/hyperlan/hyperlan/interop/bench/internal/driver"
	"github.com/hyperlan/hyperlan/interop/bench/internal/procstat"
)

// baseMTU is the packet size UDX uses without MTU probing (both implementations here).
const baseMTU = 1200

func main() {
	cli.Main(cli.Tool{Name: "udxbench", ServeMode: "serve-go", Serve: serveGo, Stopped: "endpoints", Parse: cli.Parser(parseFlags, bench, (*report).print)})
}

// config is the benchmark's settings, the same for every pair.
type config struct {
	bytes       int64
	blockSize   int // the bulk data is this much of PseudoRandom(seed), repeated
	seed        uint32
	msgDuration time.Duration
	msgSize     int
	timeout     time.Duration // for one transfer or message run
	pairs       []pair        // bulk pairs, in the order run
	messages    bool          // run the message rate for go-go and js-js
}

// pair is a sender and a receiver implementation: "go" or "js".
type pair struct{ from, to string }

func (p pair) String() string { return p.from + "-" + p.to }

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("udxbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: udxbench [flags]    compare Go and JS (udx-native) UDX on loopback\n"+
			"       udxbench serve-go   run one Go UDX endpoint speaking JSON lines\n\nflags:\n")
		fs.PrintDefaults()
	}
	maxMsg := udx.MaxPayload(baseMTU, false)
	cfg := config{blockSize: 4 << 20, seed: 1}
	fs.Int64Var(&cfg.bytes, "bytes", 256<<20, "bytes per bulk transfer")
	fs.DurationVar(&cfg.msgDuration, "msg-duration", 5*time.Second, "how long the sender sends messages")
	fs.IntVar(&cfg.msgSize, "msg-size", maxMsg, "message size in bytes (the largest both accept at the base MTU)")
	fs.DurationVar(&cfg.timeout, "timeout", 5*time.Minute, "give up on a transfer or message run after this long")
	pairs := fs.String("pairs", "go-go,js-js,go-js,js-go", "bulk pairs sender-receiver to run, comma-separated")
	noMsg := fs.Bool("no-messages", false, "skip the message rate")
	noBulk := fs.Bool("no-bulk", false, "skip the bulk transfers (run only the message rate)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	cfg.messages = !*noMsg
	if *noBulk {
		*pairs = ""
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.bytes <= 0:
		return cfg, errors.New("-bytes must be positive")
	case cfg.msgDuration < time.Second:
		return cfg, errors.New("-msg-duration must be at least 1s")
	case cfg.msgSize < 1 || cfg.msgSize > maxMsg:
		return cfg, fmt.Errorf("-msg-size %d: want 1 to %d (udx.MaxPayload at MTU %d)", cfg.msgSize, maxMsg, baseMTU)
	case cfg.timeout <= 0:
		return cfg, errors.New("-timeout must be positive")
	case *noBulk && *noMsg:
		return cfg, errors.New("-no-bulk and -no-messages leave nothing to run")
	}
	ps, err := driver.Pairs(*pairs)
	if err != nil {
		return cfg, err
	}
	for _, p := range ps {
		cfg.pairs = append(cfg.pairs, pair{p[0], p[1]})
	}
	return cfg, nil
}

// bench runs every pair in turn, then the message rates, and collects the report. Each
// pair's processes are stopped before the next pair starts, and before bench returns,
// whatever happened.
func bench(ctx context.Context, cfg config, log io.Writer) (*report, error) {
	root, err := driver.ModuleRoot("udxbench")
	if err != nil {
		return nil, err
	}
	rep := &report{cfg: cfg, cpus: runtime.NumCPU(), loadavg: procstat.LoadAverage()}
	fmt.Fprintf(log, "udxbench: %d CPUs shared by all processes (load average %s); %d MiB per transfer, %d-byte messages for %v\n",
		rep.cpus, rep.loadavg, cfg.bytes>>20, cfg.msgSize, cfg.msgDuration)
	for _, p := range cfg.pairs {
		res, err := runBulk(ctx, cfg, root, p)
		if err != nil {
			return nil, fmt.Errorf("bulk %v: %w", p, err)
		}
		fmt.Fprintf(log, "bulk %v: %.1f MB/s in %.2f s (sender cpu %.2f s, receiver cpu %.2f s, %d retransmits)\n",
			p, res.mbps(), res.seconds, res.sender.CPU.Seconds(), res.receiver.CPU.Seconds(), res.retransmits)
		rep.bulk = append(rep.bulk, res)
	}
	if cfg.messages {
		for _, p := range []pair{{"go", "go"}, {"js", "js"}} {
			res, err := runMessages(ctx, cfg, root, p)
			if err != nil {
				return nil, fmt.Errorf("messages %v: %w", p, err)
			}
			fmt.Fprintf(log, "messages %v: %.0f/s received of %.0f/s sent (%.1f%% lost)\n",
				p, res.receivedRate(), res.sentRate(), 100*res.loss())
			rep.messages = append(rep.messages, res)
		}
	}
	return rep, nil
}
