// Command vpnbench measures, in one run, hyperlan's data plane side by side with
// wireguard-go's between two network namespaces of this machine, and reports the ratios
// hyperlan / wireguard-go: TCP throughput (one and several streams, both directions), UDP
// at a fixed offered rate and at the most the sender can offer (received rate and loss),
// round-trip latency (a UDP request/response loop), the VPN processes' CPU time per byte,
// and their memory (RSS idle, under load and at peak).
//
// Usage:
//
//	vpnbench [-duration 4s] [-latency 3s] [-streams 4] [-udp-rate 200] [-mtu 1420]
//	         [-rounds 1] [-only hyperlan|wireguard-go] [-hyperlan PATH] [-wireguard-go PATH]
//	vpnbench serve-load
//
// It needs Linux, root, ip (iproute2), setsid (util-linux), /dev/net/tun and the go command (it builds
// ./cmd/hyperlan and the upstream wireguard-go daemon from the module cache, unless given
// binaries). It builds three namespaces (lab.go), runs both VPNs over the same veth links
// at the same time, each as its users run it (vpn.go), and a load generator in each end
// (this program in serve-load mode, load.go); the measurements alternate between the VPNs
// (run.go). Everything it started and made is stopped and deleted at the end, also on
// errors and Ctrl-C; namespaces of a run that was killed are deleted by the next one. It
// prints tables and, last, one JSON line:
//
//	{"tests":{"tcp_up_1":{"hyperlan":{"mbps":…,…},"wireguard-go":{…},"ratio":…},…},"memory":{…},…}
//
// Progress goes to stderr. Exit status: 0 on success, 1 when the run failed, 2 for bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/hyperlan/hyperlan/interop/bench/internal/cli"
	"github.com/hyperlan/hyperlan/interop/bench/internal/driver"
	"github.com/hyperlan/hyperlan/interop/bench/internal/procstat"
)

func main() {
	cli.Main(cli.Tool{
		Name: "vpnbench", ServeMode: "serve-load", Serve: serveLoad, Stopped: "the VPNs and the namespaces",
		Parse: func(args []string, stderr io.Writer) (cli.Bench, error) {
			cfg, err := parseFlags(args, stderr)
			return cfg.bench, err
		},
	})
}

// config is the benchmark's settings.
type config struct {
	duration     time.Duration // per throughput measurement
	latency      time.Duration // of the request/response loop
	streams      int           // TCP streams of the parallel measurements
	udpRate      float64       // Mbit/s offered in the fixed-rate UDP measurement
	mtu          int           // of both tunnels
	rounds       int
	vpns         []string // in the order of the first measurement
	hyperlanBin  string
	wireguardBin string
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("vpnbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: vpnbench [flags]    hyperlan's data plane against wireguard-go's, in network namespaces (root)\n\nflags:\n")
		fs.PrintDefaults()
	}
	cfg := &config{}
	fs.DurationVar(&cfg.duration, "duration", 4*time.Second, "length of each throughput measurement (TCP, UDP), per VPN")
	fs.DurationVar(&cfg.latency, "latency", 3*time.Second, "length of the request/response latency loop, per VPN")
	fs.IntVar(&cfg.streams, "streams", 4, "TCP streams of the parallel measurements")
	fs.Float64Var(&cfg.udpRate, "udp-rate", 200, "Mbit/s of UDP payload offered in the fixed-rate measurement")
	fs.IntVar(&cfg.mtu, "mtu", 1420, "MTU of both tunnels (wireguard-go's default; hyperlan's is 1280, at most 1428)")
	fs.IntVar(&cfg.rounds, "rounds", 1, "run every measurement this often per VPN, alternating, and report the median")
	only := fs.String("only", "", "run one VPN: hyperlan or wireguard-go (no ratios)")
	fs.StringVar(&cfg.hyperlanBin, "hyperlan", "", "hyperlan binary to run (default: go build ./cmd/hyperlan)")
	fs.StringVar(&cfg.wireguardBin, "wireguard-go", "", "wireguard-go binary to run (default: go build golang.zx2c4.com/wireguard at go.mod's version)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case cfg.duration < 100*time.Millisecond || cfg.latency < 100*time.Millisecond:
		return cfg, errors.New("-duration and -latency must be at least 100ms")
	case cfg.streams < 1 || cfg.streams > 64:
		return cfg, errors.New("-streams must be 1 to 64")
	case cfg.udpRate <= 0:
		return cfg, errors.New("-udp-rate must be positive")
	case cfg.mtu < 1280 || cfg.mtu > 1428:
		return cfg, errors.New("-mtu must be 1280 to 1428 (hyperlan's range)")
	case cfg.rounds < 1:
		return cfg, errors.New("-rounds must be at least 1")
	}
	switch *only {
	case "":
		cfg.vpns = []string{hyperlanName, wireguardName}
	case hyperlanName, wireguardName:
		cfg.vpns = []string{*only}
	default:
		return cfg, fmt.Errorf("-only %q: want %s or %s", *only, hyperlanName, wireguardName)
	}
	return cfg, nil
}

// problem says why the benchmark cannot run here, or "" when it can.
func problem() string {
	if runtime.GOOS != "linux" {
		return "vpnbench needs Linux (network namespaces, TUN devices)"
	}
	if os.Geteuid() != 0 {
		return "vpnbench needs root (network namespaces, TUN devices)"
	}
	for _, tool := range []string{"ip", "setsid", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " not found on PATH (iproute2, util-linux; the go command builds hyperlan and wireguard-go)"
		}
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return "vpnbench needs /dev/net/tun (modprobe tun)"
	}
	return ""
}

// run is the state of one benchmark run: what it made, to measure and to remove.
type run struct {
	cfg          *config
	log          io.Writer
	lab          *lab
	dir          string            // binaries, keys, configs, control sockets
	procs        []*driver.Process // every process started, in order
	wgSockets    []string          // wireguard-go's UAPI sockets, removed at the end
	loadA, loadB *driver.Process   // the load generators
	vpns         map[string]*vpn   // by name
}

// bench builds the lab, starts both VPNs, runs the measurements and returns what prints
// the report. Everything it started and made is gone when it returns, whatever happened.
func (cfg *config) bench(ctx context.Context, log io.Writer) (print func(io.Writer), err error) {
	if p := problem(); p != "" {
		return nil, errors.New(p)
	}
	r := &run{cfg: cfg, log: log, lab: newLab(), vpns: map[string]*vpn{}}
	if gone := sweepStale(); len(gone) > 0 {
		fmt.Fprintf(log, "vpnbench: deleted namespaces of an earlier run that was killed: %s\n", strings.Join(gone, " "))
	}
	defer func() {
		if cerr := r.close(); cerr != nil && err == nil {
			err = fmt.Errorf("cleanup: %w", cerr)
		}
	}()
	rep := &report{cfg: cfg, cpus: runtime.NumCPU(), loadavg: procstat.LoadAverage(), results: map[string]map[string][]*result{}, memory: map[string]*memory{}}
	fmt.Fprintf(log, "vpnbench: %d CPUs shared by all processes (load average %s); MTU %d; %v per measurement\n",
		rep.cpus, rep.loadavg, cfg.mtu, cfg.duration)

	began := time.Now()
	if r.dir, err = os.MkdirTemp("", "vpnbench-"); err != nil {
		return nil, err
	}
	if err := buildBinaries(ctx, cfg, r.dir); err != nil {
		return nil, err
	}
	if err := r.lab.build(); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if r.loadA, err = r.start(ctx, "a", "load generator in a", "ready", nil, self, "serve-load"); err != nil {
		return nil, err
	}
	if r.loadB, err = r.start(ctx, "b", "load generator in b", "ready", nil, self, "serve-load"); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "vpnbench: binaries built and lab up in %v\n", time.Since(began).Round(time.Millisecond))
	for _, name := range cfg.vpns {
		var v *vpn
		if name == hyperlanName {
			v, err = r.startHyperlan(ctx)
		} else {
			v, err = r.startWireGuard(ctx)
		}
		if err != nil {
			return nil, r.stopped(ctx, fmt.Errorf("starting %s: %w", name, err))
		}
		r.vpns[name] = v
		fmt.Fprintf(log, "vpnbench: %s up in %v (processes %d and %d)\n", name, v.setup.Round(time.Millisecond), v.a.Pid(), v.b.Pid())
	}
	if err := r.measure(ctx, rep); err != nil {
		return nil, r.stopped(ctx, err)
	}
	rep.loadavgEnd = procstat.LoadAverage()
	rep.elapsed = time.Since(began)
	return rep.print, nil
}

// stopped turns an error after an interrupt into the interrupt.
func (r *run) stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// close stops every process, newest first, deletes the namespaces and the temporary
// directory, and checks that nothing is left. A process that had exited badly is reported
// on the log; what could not be removed is the error.
func (r *run) close() error {
	for i := len(r.procs) - 1; i >= 0; i-- {
		if err := r.procs[i].Stop(); err != nil {
			fmt.Fprintf(r.log, "vpnbench: %v\n", err)
		}
	}
	for _, s := range r.wgSockets {
		os.Remove(s) // wireguard-go leaves it when stopped by a signal
	}
	var errs []error
	if err := r.lab.close(); err != nil {
		errs = append(errs, err)
	}
	if r.dir != "" {
		if err := os.RemoveAll(r.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(r.log, "vpnbench: cleanup: %v\n", err)
		return err
	}
	fmt.Fprintf(r.log, "vpnbench: cleaned up: stopped %d processes, deleted the namespaces and %s\n", len(r.procs), r.dir)
	return nil
}

// order returns the VPNs of the run in the order of the i-th measurement: alternating,
// so that neither always goes first.
func (c *config) order(i int) []string {
	out := slices.Clone(c.vpns)
	if i%2 == 1 {
		slices.Reverse(out)
	}
	return out
}
