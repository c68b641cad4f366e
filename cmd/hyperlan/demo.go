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
)

const demoUsage = `Usage: hyperlan demo [--nodes N] [-v]

Show what hyperlan does, on this machine only. The VPN demo mesh (machines joining one
private network by key) comes with the VPN; until then the demo runs a small DHT on
127.0.0.1: a bootstrap node on a free port, N persistent nodes that join through it, and
one ephemeral node that looks one of them up by id. It prints, in plain text, each node as
it becomes ready, which node answered the lookup with which closer nodes, and a summary;
then it stops every node and exits 0. Nothing is sent beyond 127.0.0.1.

Flags:
  --nodes N   how many persistent nodes to start, 1 to 50 (default 5)
  -v          log node activity to stderr

Exit status: 0 when the lookup found its target; 1 if it did not, a node failed to start
or the demo was interrupted; 2 for bad flags.

Example:
  hyperlan demo --nodes 8
`

const demoIntro = `The VPN demo mesh will come with the VPN. Until then, here is the DHT that hyperlan
peers will find each other through, running on 127.0.0.1 only: a bootstrap node, %d
persistent node(s), and an ephemeral node that looks one of them up.

`

func runDemo(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("demo")
	count := fs.Int("nodes", defaultDemoNodes, "")
	verbose := fs.Bool("v", false, "")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	if *count < 1 || *count > maxDemoNodes {
		return usageErrorf("--nodes %d: want 1 to %d", *count, maxDemoNodes)
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
