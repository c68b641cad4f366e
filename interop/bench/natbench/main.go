// Command natbench measures, in one run, how long a HyperDHT connect takes through the NATs of
// the NAT lab (interop.NewNATLab, after /work/shared/lab/NATLAB.md), per pair of NATs, for our
// Go implementation (package dht) and the JS reference (hyperdht 6.34, pinned in interop/):
// Go client to Go server against JS client to JS server, and the mixed pairs on request. It
// reports the connect-time distribution (median, 90th percentile, min, max) and the successes
// per cell, the ratios JS/Go of the medians, and last one JSON line:
//
//	{"cells":{"consistent+random":{"go-go":{"ok":…,"median_ms":…,"p90_ms":…,…},…},…},"ratio":{…},…}
//
// Usage:
//
//	natbench [-connects 10] [-nats consistent+consistent,consistent+random,random+consistent,random+random]
//	         [-pairs go-go,js-js] [-relay[=own,go,js,none]] [-delay 0] [-loss 0] [-timeout 60s] [-js-nodes 4]
//
// It needs what the lab needs: Linux, root, ip, nft, conntrack, Node.js with `npm ci` run in
// interop/ (and gcc with libnetfilter-queue for -delay and -loss). The server sits behind
// router ra (LAN host a), the client behind router rb (LAN host b), the public DHT of JS nodes
// on the public segment. Every connect uses a fresh server node listening on a key of its own
// and a fresh client node, and both routers' conntrack is flushed first, as NATLAB.md's
// trial.sh does (a node refuses a second random punch within 20 s). Go nodes run in this
// process, JS nodes in driver processes (node interop/hyperdht.js). The time is from the
// connect call to the moment the server's secret-stream header has been read, on both sides
// (what Go's dht.Node.Connect waits for; the JS driver is asked to wait for it too); node
// start-up and bootstrap are not counted. The trials of the pairs alternate, so that the
// machine's load falls on all of them alike.
//
// With -relay, every connect names a blind relay on both sides (dht.ConnectOptions and
// ServerOptions.RelayThrough; hyperdht's relayThrough): a persistent Go node
// (dht.Node.ServeBlindRelay) or JS node (blind-relay, as hyperdht's example) on the public
// segment, started once per run. Random+random, which no punch solves, then connects through
// the relay; in the other NAT pairs the relay pairing races the punch, and the report counts
// the connects that were relayed when they opened. -relay alone runs each pair through a relay
// of its own implementation (the server's for a mixed pair); -relay=go,js runs every pair
// through both, -relay=none,own adds the cells without a relay.
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
	"slices"
	"strings"
	"time"

	"github.com/hyperlan/hyperlan/interop"
	"github.com/hyperlan/hyperlan/interop/bench/internal/cli"
	"github.com/hyperlan/hyperlan/interop/bench/internal/procstat"
)

// connectTimeout bounds one connect; set by -timeout.
var connectTimeout = time.Minute

func main() {
	cli.Main(cli.Tool{Name: "natbench", Stopped: "the lab", Parse: parseBench})
}

// parseBench reads the benchmark flags and returns the run.
func parseBench(args []string, stderr io.Writer) (cli.Bench, error) {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, stderr io.Writer) (func(io.Writer), error) {
		rep, err := bench(ctx, cfg, stderr)
		if err != nil {
			return nil, err
		}
		return func(w io.Writer) { rep.print(w) }, nil
	}, nil
}

// config is the benchmark's settings.
type config struct {
	connects int
	nats     []natPair
	pairs    []pair
	relays   relayFlag     // empty: no relay
	delay    time.Duration // one-way, through the internet router
	loss     float64       // percent
	timeout  time.Duration
	jsNodes  int
}

// natPair is the server's NAT and the client's.
type natPair struct{ server, client interop.NATKind }

func (p natPair) String() string { return p.server.String() + "+" + p.client.String() }

// pair is a client and a server implementation: "go" or "js".
type pair struct{ client, server string }

func (p pair) String() string { return p.client + "-" + p.server }

// cell is one NAT pair with one implementation pair, and the relay both sides name: "go",
// "js", or "" for none.
type cell struct {
	nat   natPair
	pair  pair
	relay string
}

func (c cell) String() string { return c.nat.String() + " " + c.pair.key(c.relay) }

// key names the pair with its relay, as the JSON report does: "go-go", "go-go/js-relay".
func (p pair) key(relay string) string {
	if relay == "" {
		return p.String()
	}
	return p.String() + "/" + relay + "-relay"
}

// relayFlag is -relay: which relays the pairs connect through, each "none", "own" (the
// server's implementation), "go" or "js". -relay alone means own.
type relayFlag []string

func (f *relayFlag) String() string { return strings.Join(*f, ",") }

func (f *relayFlag) IsBoolFlag() bool { return true }

func (f *relayFlag) Set(v string) error {
	switch v {
	case "true":
		*f = relayFlag{"own"}
		return nil
	case "false":
		*f = nil
		return nil
	}
	var out relayFlag
	for _, name := range strings.Split(v, ",") {
		if name != "none" && name != "own" && name != "go" && name != "js" {
			return fmt.Errorf("%q: want own, go, js or none", name)
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	*f = out
	return nil
}

// cells returns the cells of np in the order a round runs them: per implementation pair,
// per relay.
func (cfg config) cells(np natPair) []cell {
	var out []cell
	for _, p := range cfg.pairs {
		if len(cfg.relays) == 0 {
			out = append(out, cell{np, p, ""})
			continue
		}
		for _, r := range cfg.relays {
			switch r {
			case "none":
				r = ""
			case "own":
				r = p.server
			}
			if c := (cell{np, p, r}); !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// relayImpls returns the relays the run needs: "go", "js" or both.
func (cfg config) relayImpls() []string {
	var out []string
	for _, np := range cfg.nats {
		for _, c := range cfg.cells(np) {
			if c.relay != "" && !slices.Contains(out, c.relay) {
				out = append(out, c.relay)
			}
		}
	}
	slices.Sort(out)
	return out
}

var natNames = map[string]interop.NATKind{
	"consistent": interop.NATConsistent, "cons": interop.NATConsistent,
	"random": interop.NATRandom, "rand": interop.NATRandom,
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("natbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: natbench [flags]    connect times through the NAT lab, Go against hyperdht (root)\n\nflags:\n")
		fs.PrintDefaults()
	}
	var cfg config
	fs.IntVar(&cfg.connects, "connects", 10, "connects per cell (NAT pair and implementation pair)")
	nats := fs.String("nats", "consistent+consistent,consistent+random,random+consistent,random+random",
		"NAT pairs server+client (consistent or random; cons, rand), comma-separated")
	pairs := fs.String("pairs", "go-go,js-js", "implementation pairs client-server (go-go, js-js, go-js, js-go), comma-separated")
	fs.Var(&cfg.relays, "relay", "connect through a blind relay named on both sides: alone, a relay of the server's implementation;\n"+
		"-relay=LIST for several: own, go, js, none (no relay), comma-separated")
	fs.DurationVar(&cfg.delay, "delay", 0, "one-way delay added to every packet through the internet router")
	fs.Float64Var(&cfg.loss, "loss", 0, "percent of the packets through the internet router dropped at random")
	fs.DurationVar(&cfg.timeout, "timeout", time.Minute, "give up on one connect after this long")
	fs.IntVar(&cfg.jsNodes, "js-nodes", 4, "persistent JS nodes of the public DHT, besides its bootstrapper")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.connects < 1:
		return cfg, errors.New("-connects must be at least 1")
	case cfg.delay < 0 || cfg.loss < 0 || cfg.loss > 100:
		return cfg, errors.New("-delay must not be negative and -loss must be 0 to 100")
	case cfg.timeout <= 0:
		return cfg, errors.New("-timeout must be positive")
	case cfg.jsNodes < 4:
		return cfg, errors.New("-js-nodes must be at least 4 (hyperdht's NAT sampling asks four nodes)")
	}
	for _, name := range strings.Split(*nats, ",") {
		s, c, ok := strings.Cut(name, "+")
		sk, sok := natNames[s]
		ck, cok := natNames[c]
		if !ok || !sok || !cok {
			return cfg, fmt.Errorf("-nats: %q: want SERVER+CLIENT, each consistent or random", name)
		}
		if p := (natPair{sk, ck}); !slices.Contains(cfg.nats, p) {
			cfg.nats = append(cfg.nats, p)
		}
	}
	for _, name := range strings.Split(*pairs, ",") {
		c, s, ok := strings.Cut(name, "-")
		if !ok || (c != "go" && c != "js") || (s != "go" && s != "js") {
			return cfg, fmt.Errorf("-pairs: %q: want go-go, js-js, go-js or js-go", name)
		}
		if p := (pair{c, s}); !slices.Contains(cfg.pairs, p) {
			cfg.pairs = append(cfg.pairs, p)
		}
	}
	return cfg, nil
}

// bench builds the lab, runs every cell's connects and collects the report. The lab and every
// node are gone when it returns, whatever happened.
func bench(ctx context.Context, cfg config, log io.Writer) (*report, error) {
	connectTimeout = cfg.timeout
	rep := &report{cfg: cfg, cpus: runtime.NumCPU(), loadavg: procstat.LoadAverage(), results: map[cell]*result{}}
	fmt.Fprintf(log, "natbench: %d CPUs shared by all processes (load average %s); %d connects per cell; delay %v, loss %g%%\n",
		rep.cpus, rep.loadavg, cfg.connects, cfg.delay, cfg.loss)
	t := newTB(log)
	defer t.close()
	var impair *interop.Impairment
	if cfg.delay > 0 || cfg.loss > 0 {
		impair = &interop.Impairment{Delay: cfg.delay, Loss: cfg.loss}
	}
	start := time.Now()
	l, err := newLab(t, cfg.jsNodes, impair)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	fmt.Fprintf(log, "natbench: lab up in %v\n", time.Since(start).Round(time.Millisecond))
	for _, impl := range cfg.relayImpls() {
		r, err := l.startRelay(ctx, impl)
		if err != nil {
			return nil, fmt.Errorf("%s relay: %w", impl, err)
		}
		fmt.Fprintf(log, "natbench: %s relay at %v\n", impl, r.addr)
	}
	for _, np := range cfg.nats {
		if err := l.ra.SetNAT(np.server); err != nil {
			return nil, err
		}
		if err := l.rb.SetNAT(np.client); err != nil {
			return nil, err
		}
		for i := range cfg.connects {
			for _, c := range cfg.cells(np) {
				tr, err := l.run(ctx, c, i)
				if err != nil {
					return nil, fmt.Errorf("%v, connect %d: %w", c, i+1, err)
				}
				rep.add(c, tr)
				status := "direct"
				switch {
				case !tr.ok:
					status = "failed: " + tr.detail
				case tr.relayed:
					status = "relayed"
				case !tr.direct:
					status = "not direct"
				}
				fmt.Fprintf(log, "%v %d/%d: %v, %s\n", c, i+1, cfg.connects, tr.time.Round(time.Millisecond), status)
			}
		}
	}
	rep.loadavgEnd = procstat.LoadAverage()
	return rep, nil
}
