package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/hyperlan/hyperlan/dht/rpc"
)

const (
	defaultDemoNodes = 5
	maxDemoNodes     = 50
	demoTimeout      = 30 * time.Second // per node to bootstrap, and for the lookup

	defaultVPNDemoTimeout = 60 * time.Second // for the members to reach each other
)

const demoUsage = `Usage: hyperlan demo [--timeout D] [-v]
       hyperlan demo --dht-only [--nodes N] [-v]

Show what hyperlan does, on this machine only, with no config and no network.

As root on Linux (with ip, nft and ping installed) the demo builds a small internet out of
network namespaces named hld-<pid>-*: a router, a private HyperDHT (a bootstrap node and 3
nodes), and three VPN members: carol with a public address, alice behind a home router with a
consistent NAT and bob behind one with a random ("symmetric") NAT. Each member gets a new key
pair; all share one new network secret and know nothing but the secret and the bootstrap
node. Each member then pings the others' virtual IPv4 and IPv6 addresses through its TUN
device, while a status table (redrawn every second on a terminal, printed on change
elsewhere) shows per member its address, how many peers are connected, each connection's path
(direct, holepunch or relayed), its round-trip time and the pings so far by IPv4 and by IPv6.
When every member has reached every other at both addresses, each sends 3 more pings to each
of them, the demo prints a summary, stops everything and deletes every namespace and link it
made, also when it fails or is interrupted (Ctrl-C). Namespaces left by a demo that was killed
are deleted by the next one.

Without root, or without those tools, or with --dht-only, the demo says why in one line and
runs a DHT on 127.0.0.1 instead: a bootstrap node on a free port, N persistent nodes that join
through it, and one ephemeral node that looks one of them up by id, printing each node as it
becomes ready, the nodes that answered the lookup, and a summary.

Flags:
  --timeout D  how long the members may take to reach each other (default 60s)
  --dht-only   run only the DHT demo on 127.0.0.1, even as root
  --nodes N    persistent nodes of the DHT demo, 1 to 50 (default 5)
  -v           log node and engine activity to stderr

Exit status: 0 when every member reached every other (or the DHT lookup found its target);
1 if they did not within the timeout, setting up or cleaning up failed, or the demo was
interrupted; 2 for bad flags.

Examples:
  sudo hyperlan demo
  hyperlan demo --dht-only --nodes 8
`

const demoIntro = `Here is the DHT that hyperlan members find each other through, running on 127.0.0.1
only: a bootstrap node, %d persistent node(s), and an ephemeral node that looks one of them up.

`

// vpnDemoCheck is vpnDemoProblem; tests replace it to see the DHT demo's fallback.
var vpnDemoCheck = vpnDemoProblem

func runDemo(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("demo")
	count := fs.Int("nodes", defaultDemoNodes, "")
	verbose := fs.Bool("v", false, "")
	dhtOnly := fs.Bool("dht-only", false, "")
	timeout := fs.Duration("timeout", defaultVPNDemoTimeout, "")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	if *count < 1 || *count > maxDemoNodes {
		return usageErrorf("--nodes %d: want 1 to %d", *count, maxDemoNodes)
	}
	if *timeout <= 0 {
		return usageErrorf("--timeout %v: want a positive duration", *timeout)
	}
	if !*dhtOnly {
		problem := vpnDemoCheck()
		if problem == "" {
			return runVPNDemo(ctx, c, *timeout, *verbose)
		}
		fmt.Fprintf(c.stdout, "Skipping the VPN mesh demo: %s; run 'sudo hyperlan demo' on Linux for it.\n\n", problem)
	}
	d := &demo{c: c, log: *verbose}
	defer d.stop()
	return d.run(ctx, *count)
}

// demo is one run of the offline demo; it owns the nodes it starts.
type demo struct {
	c      *cli
	log    bool
	nodes  []*rpc.Node               // the bootstrap node first
	labels map[netip.AddrPort]string // server address -> "node 3"
}

const loopback = "127.0.0.1"

// opts are the options every demo node shares: bound to 127.0.0.1, and a filter that keeps
// anything but loopback out of tables and queries, so the demo cannot reach further.
func (d *demo) opts() rpc.Options {
	return rpc.Options{
		Host:       loopback,
		FilterNode: func(a netip.AddrPort) bool { return a.Addr().IsLoopback() },
		Logger:     newLogger(d.c.stderr, d.log),
	}
}

func (d *demo) printf(format string, args ...any) {
	fmt.Fprintf(d.c.stdout, format, args...)
}

func (d *demo) run(ctx context.Context, count int) error {
	d.labels = make(map[netip.AddrPort]string)
	d.printf(demoIntro, count)

	boot, err := startBootstrapper(loopback, loopback, 0, d.opts())
	if err != nil {
		return err
	}
	d.nodes = append(d.nodes, boot)
	if err := boot.Ready(ctx); err != nil {
		return d.interrupted(ctx, err)
	}
	d.labels[boot.LocalAddr()] = "bootstrap"
	id, _ := boot.ID()
	d.printf("%-10s %-21s id %s  listening\n", "bootstrap", boot.LocalAddr(), short(id.String()))
	list := []rpc.BootstrapNode{{Host: loopback, Port: boot.LocalAddr().Port()}}

	for i := 1; i <= count; i++ {
		n, err := d.startNode(ctx, list, rpc.ModePersistent)
		if err != nil {
			return err
		}
		label := fmt.Sprintf("node %d", i)
		d.labels[n.LocalAddr()] = label
		state := "persistent"
		if n.Ephemeral() {
			state = "ephemeral (not reachable, so it does not serve)"
		}
		d.printf("%-10s %-21s id %s  ready, %s, knows %d node(s)\n",
			label, n.LocalAddr(), short(rpc.NodeID(n.LocalAddr()).String()), state, n.TableSize())
	}

	// Look up the middle node from a fresh ephemeral node.
	want := (count + 1) / 2
	target := d.nodes[want]
	targetID := rpc.NodeID(target.LocalAddr())
	q, err := d.startNode(ctx, list, rpc.ModeEphemeral)
	if err != nil {
		return err
	}
	d.printf("\nlookup: an ephemeral node at %s looks up node %d (id %s)\n", q.LocalAddr(), want, short(targetID.String()))

	qctx, cancel := context.WithTimeout(ctx, demoTimeout)
	defer cancel()
	start := time.Now()
	res, err := q.FindNode(qctx, targetID, &rpc.QueryOptions{OnReply: func(r *rpc.Response) {
		d.printf("  %-9s answered with %d closer node(s)%s\n", d.label(r.From), len(r.CloserNodes), d.listLabels(r.CloserNodes))
	}})
	took := time.Since(start)
	if err != nil {
		return d.interrupted(ctx, fmt.Errorf("lookup: %w", err))
	}
	if len(res.Closest) == 0 || res.Closest[0].From != target.LocalAddr() {
		return failf("the lookup did not find node %d first: closest %v", want, res.ClosestNodes())
	}
	d.printf("\nsummary: %d node(s) answered the lookup; node %d (%s) is the closest of %d; took %v.\n",
		res.Successes, want, target.LocalAddr(), len(res.Closest), took.Round(10*time.Microsecond))
	d.stop()
	d.printf("stopped all %d nodes. Run 'hyperlan dht --help' to run nodes yourself.\n", count+2)
	return nil
}

// startNode starts a demo node in mode that joins through list, and waits for it to bootstrap.
// The demo owns the node from the start, so stop destroys it also when joining fails.
func (d *demo) startNode(ctx context.Context, list []rpc.BootstrapNode, mode rpc.Mode) (*rpc.Node, error) {
	o := d.opts()
	o.Bootstrap, o.Mode = list, mode
	n, err := rpc.New(o)
	if err != nil {
		return nil, listenError(err, loopback, 0)
	}
	d.nodes = append(d.nodes, n)
	if err := join(ctx, n, list, demoTimeout); err != nil {
		return nil, d.interrupted(ctx, err)
	}
	return n, nil
}

// stop destroys the demo's nodes, newest first. Later calls do nothing.
func (d *demo) stop() {
	for i := len(d.nodes) - 1; i >= 0; i-- {
		d.nodes[i].Destroy()
	}
	d.nodes = nil
}

func (d *demo) label(a netip.AddrPort) string {
	if l, ok := d.labels[a]; ok {
		return l
	}
	return a.String()
}

func (d *demo) listLabels(addrs []netip.AddrPort) string {
	if len(addrs) == 0 {
		return ""
	}
	s := ":"
	for i, a := range addrs {
		if i > 0 {
			s += ","
		}
		s += " " + d.label(a)
	}
	return s
}

// interrupted turns a cancelled ctx into a plain "interrupted" failure.
func (d *demo) interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return failf("demo interrupted")
	}
	return err
}

// short abbreviates a hex id for human output.
func short(hexID string) string {
	return hexID[:8] + "..."
}
