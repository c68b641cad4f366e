package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/peers"
)

const demoDHTPort = 49737

// demoMember is one VPN member of the demo, in a namespace of its own.
type demoMember struct {
	name  string // also its namespace's name part
	where string // "public", "behind a consistent NAT", ...
	addr  netip.Addr
	ip4   netip.Addr
	ip6   netip.Addr // invalid when the member has no IPv6 address in the mesh
	e     *peers.Engine
	done  chan error // Run's result
}

// virtual returns m's addresses in the mesh, IPv4 first: what the others ping.
func (m *demoMember) virtual() []netip.Addr {
	if m.ip6.IsValid() {
		return []netip.Addr{m.ip4, m.ip6}
	}
	return []netip.Addr{m.ip4}
}

// pingKey names the pings from one member to another's IPv4 or IPv6 address.
type pingKey struct {
	from, to string
	v6       bool
}

// pingResult is what the pings from one member to another address of another found.
type pingResult struct {
	reached time.Duration // after the members started; 0 while not yet
	sent    int
	got     int
	avg     string // ping's average RTT, "1.234 ms"
}

// vpnDemo is one run of the VPN mesh demo; it owns its lab, DHT nodes and engines.
type vpnDemo struct {
	c       *cli
	verbose bool
	timeout time.Duration
	lab     *demoLab
	nodes   []*dht.Node
	members []*demoMember
	start   time.Time

	mu    sync.Mutex
	pings map[pingKey]*pingResult // guarded by mu
}

func (d *vpnDemo) printf(format string, args ...any) { fmt.Fprintf(d.c.stdout, format, args...) }

func runVPNDemo(ctx context.Context, c *cli, timeout time.Duration, verbose bool) (err error) {
	d := &vpnDemo{c: c, verbose: verbose, timeout: timeout, lab: newDemoLab(), pings: map[pingKey]*pingResult{}}
	if gone := sweepStaleDemoNamespaces(); len(gone) > 0 {
		d.printf("deleted %d namespace(s) left by an earlier demo that was killed: %s\n\n", len(gone), strings.Join(gone, " "))
	}
	defer func() {
		if cerr := d.cleanup(); cerr != nil {
			err = errors.Join(err, failf("cleanup: %v", cerr))
		}
	}()
	return d.run(ctx)
}

const vpnDemoIntro = `hyperlan demo: three machines join one private network by a shared secret, through NATs,
with no server of their own. Everything runs in network namespaces of this machine named
%s*; nothing leaves it, and all of it is deleted at the end.

  internet   a router namespace that forwards between the public addresses
  dht        a private HyperDHT (a bootstrap node and 3 nodes) at 192.0.2.2-5
  carol      a member with a public address, 192.0.2.18
  alice      a member behind a home router with a consistent NAT (10.0.1.2 -> 198.51.100.2)
  bob        a member behind a home router with a random ("symmetric") NAT (10.0.2.2 -> 198.51.100.18)

`

func (d *vpnDemo) run(ctx context.Context) error {
	d.printf(vpnDemoIntro, d.lab.prefix)
	began := time.Now()
	if err := d.build(); err != nil {
		return failf("building the lab: %v", err)
	}
	d.printf("built 7 namespaces in %v\n", time.Since(began).Round(time.Millisecond))
	boot, err := d.startDHT(ctx)
	if err != nil {
		return d.stopped(ctx, fmt.Errorf("starting the DHT: %w", err))
	}
	d.printf("the DHT is up: bootstrap node %s:%d and 3 nodes\n", "192.0.2.2", demoDHTPort)

	secret := make([]byte, configs.SecretSize)
	rand.Read(secret)
	d.members = []*demoMember{
		{name: "alice", where: "consistent NAT", addr: netip.MustParseAddr("10.0.1.2")},
		{name: "bob", where: "random NAT", addr: netip.MustParseAddr("10.0.2.2")},
		{name: "carol", where: "public", addr: netip.MustParseAddr("192.0.2.18")},
	}
	d.start = time.Now()
	for _, m := range d.members {
		if err := d.startMember(m, secret, boot); err != nil {
			return failf("starting %s: %v", m.name, err)
		}
	}
	d.printf("started alice, bob and carol with generated keys and one generated secret; each pings the\n" +
		"others' virtual addresses (derived from their keys and the secret):\n")
	for _, m := range d.members {
		d.printf("  %-6s %-15s %s\n", m.name, m.ip4, addrString(m.ip6))
	}
	d.printf("\n")

	wctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var wg sync.WaitGroup
	d.eachPing(func(from, to *demoMember, addr netip.Addr) {
		wg.Go(func() { d.pingUntil(wctx, from, to, addr) })
	})
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	live := newLiveTable(d.c.stdout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	live.show(d.table())
loop:
	for {
		select {
		case <-allDone:
			break loop
		case <-tick.C:
			live.show(d.table())
		}
	}
	live.show(d.table())
	if ctx.Err() != nil {
		return failf("demo interrupted")
	}
	if missing := d.unreached(); len(missing) > 0 {
		return failf("within %v these did not reach each other over the VPN: %s (run with -v for the engines' logs)",
			d.timeout, strings.Join(missing, ", "))
	}
	d.printf("\nevery member reached every other; now 3 pings each way:\n")
	d.finalPings(ctx)
	lines, _ := d.table()
	live.final(lines)
	return d.summary()
}

// build makes the namespaces, links, routes and NATs of the diagram in demolab_linux.go.
func (d *vpnDemo) build() error {
	l := d.lab
	steps := []func() error{
		func() error { return l.netns("inet") },
		func() error { return l.forward("inet") },
		func() error { return l.netns("dht") },
		func() error { return l.link("inet", "d0", "192.0.2.1/28", "dht", "eth0", "192.0.2.2/28") },
		func() error { return l.netns("carol") },
		func() error { return l.link("inet", "c0", "192.0.2.17/28", "carol", "eth0", "192.0.2.18/28") },
	}
	for i, r := range []string{"ra", "rb"} {
		wanIn, wanOut := fmt.Sprintf("198.51.100.%d/28", 16*i+1), fmt.Sprintf("198.51.100.%d/28", 16*i+2)
		lanGW, lanHost := fmt.Sprintf("10.0.%d.1/24", i+1), fmt.Sprintf("10.0.%d.2/24", i+1)
		host := []string{"alice", "bob"}[i]
		steps = append(steps,
			func() error { return l.netns(r) },
			func() error { return l.forward(r) },
			func() error { return l.link("inet", "w"+r[1:], wanIn, r, "wan", wanOut) },
			func() error { return l.ip(r, "route", "add", "default", "via", strings.TrimSuffix(wanIn, "/28")) },
			func() error { return l.netns(host) },
			func() error { return l.link(r, "lan", lanGW, host, "eth0", lanHost) },
			func() error { return l.ip(host, "route", "add", "default", "via", strings.TrimSuffix(lanGW, "/24")) },
			func() error { return l.nat(r, i == 1) },
		)
	}
	for _, extra := range []string{"192.0.2.3/28", "192.0.2.4/28", "192.0.2.5/28"} {
		steps = append(steps, func() error { return l.ip("dht", "addr", "add", extra, "dev", "eth0") })
	}
	steps = append(steps,
		func() error { return l.ip("dht", "route", "add", "default", "via", "192.0.2.1") },
		func() error { return l.ip("carol", "route", "add", "default", "via", "192.0.2.17") },
	)
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// startDHT starts a bootstrap node and three persistent nodes in the dht namespace.
func (d *vpnDemo) startDHT(ctx context.Context) ([]rpc.BootstrapNode, error) {
	boot := []rpc.BootstrapNode{{Host: "192.0.2.2", Port: demoDHTPort}}
	for i, host := range []string{"192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"} {
		addr := netip.MustParseAddr(host)
		opts := dht.Options{
			Host: host, Port: demoDHTPort, FixedPort: true, Mode: rpc.ModePersistent,
			ListenPacket:   d.lab.listenPacket("dht"),
			InterfaceAddrs: func() []netip.Addr { return []netip.Addr{addr} },
			Logger:         d.logger("dht"),
		}
		var n *dht.Node
		var err error
		if i == 0 {
			opts.Bootstrap = []rpc.BootstrapNode{}
			n, err = dht.Bootstrapper(demoDHTPort, host, opts)
		} else {
			opts.Bootstrap = boot
			n, err = dht.New(opts)
		}
		if err != nil {
			return nil, err
		}
		d.nodes = append(d.nodes, n)
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = n.Ready(rctx)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	return boot, nil
}

// startMember starts m's engine in its namespace, as `hyperlan up` would with a config
// holding a new key, the secret and the private bootstrap node.
func (d *vpnDemo) startMember(m *demoMember, secret []byte, boot []rpc.BootstrapNode) error {
	var seed [32]byte
	rand.Read(seed[:])
	kp, err := dht.NewKeyPair(seed[:])
	if err != nil {
		return err
	}
	key := configs.PublicKey(kp.PublicKey)
	net4 := configs.DefaultIPv4Prefix
	net6 := configs.DefaultIPv6Prefix(secret, net4)
	m.ip4, _ = configs.DeriveIPv4(net4, key)
	m.ip6, _ = configs.DeriveIPv6(net6, key)
	cfg := &configs.Config{
		Node: configs.Node{Name: m.name, Seed: seed, PublicKey: key, Interface: "hl0", MTU: configs.DefaultMTU,
			KeepAlive: configs.DefaultKeepAlive, Address: m.ip4, Address6: m.ip6},
		Network: configs.Network{Secret: secret, IPv4: net4, IPv6: net6},
	}
	for _, b := range boot {
		cfg.DHT.Bootstrap = append(cfg.DHT.Bootstrap, configs.Bootstrap{Host: b.Host, Port: b.Port})
	}
	err = d.lab.do(m.name, func() (err error) {
		m.e, err = peers.New(cfg, peers.Deps{
			ListenPacket:   d.lab.listenPacket(m.name),
			InterfaceAddrs: func() []netip.Addr { return []netip.Addr{m.addr} },
			Logger:         d.logger(m.name),
		})
		return err
	})
	if err != nil {
		return err
	}
	m.done = make(chan error, 1)
	go func() { m.done <- m.e.Run(context.Background()) }()
	return nil
}

func (d *vpnDemo) logger(name string) *slog.Logger {
	if !d.verbose {
		return nil
	}
	return newLogger(d.c.stderr, true).With("member", name)
}

var pingRTT = regexp.MustCompile(`= [0-9.]+/([0-9.]+)/`)

// pingUntil pings addr, one of to's virtual addresses, from from's namespace, once a second,
// until a reply comes or ctx ends.
func (d *vpnDemo) pingUntil(ctx context.Context, from, to *demoMember, addr netip.Addr) {
	for ctx.Err() == nil {
		t := time.Now()
		out, err := d.lab.run(ctx, from.name, "ping", "-n", "-c", "1", "-W", "1", addr.String())
		if err == nil {
			d.mu.Lock()
			d.pings[pingKey{from.name, to.name, addr.Is6()}] = &pingResult{reached: time.Since(d.start), sent: 1, got: 1, avg: rttOf(out)}
			d.mu.Unlock()
			return
		}
		if wait := time.Second - time.Since(t); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
}

// finalPings sends 3 pings each way between every pair, to each virtual address, all at
// once, and records them.
func (d *vpnDemo) finalPings(ctx context.Context) {
	var wg sync.WaitGroup
	d.eachPing(func(from, to *demoMember, addr netip.Addr) {
		wg.Go(func() {
			out, _ := d.lab.run(ctx, from.name, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", addr.String())
			got := strings.Count(out, "bytes from ")
			d.mu.Lock()
			p := d.pings[pingKey{from.name, to.name, addr.Is6()}]
			p.sent, p.got, p.avg = 3, got, rttOf(out)
			d.printf("  %-5s -> %-5s %-39s %d/3 replies, average %s\n", from.name, to.name, addr, got, rttOf(out))
			d.mu.Unlock()
		})
	})
	wg.Wait()
}

func rttOf(out string) string {
	if m := pingRTT.FindStringSubmatch(out); m != nil {
		return m[1] + " ms"
	}
	return "-"
}

// unreached lists the pairs that never got a reply.
func (d *vpnDemo) unreached() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var missing []string
	d.eachPing(func(from, to *demoMember, addr netip.Addr) {
		if d.pings[pingKey{from.name, to.name, addr.Is6()}] == nil {
			missing = append(missing, fmt.Sprintf("%s->%s (%s)", from.name, to.name, family(addr)))
		}
	})
	return missing
}

// eachPing calls f for every ping of the demo: from each member to each virtual address of
// every other member.
func (d *vpnDemo) eachPing(f func(from, to *demoMember, addr netip.Addr)) {
	for _, from := range d.members {
		for _, to := range d.members {
			if from == to {
				continue
			}
			for _, addr := range to.virtual() {
				f(from, to, addr)
			}
		}
	}
}

// table renders the live status, one line per member and peer, and its signature: the
// table without the clock and the RTTs.
func (d *vpnDemo) table() ([]string, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	lines := []string{
		fmt.Sprintf("%5.0fs  %-6s %-14s %-15s %-6s %-9s %-9s %-9s %-18s %s", time.Since(d.start).Seconds(),
			"MEMBER", "NETWORK", "VIRTUAL IPv4", "PEERS", "PEER", "PATH", "RTT", "PING IPv4", "PING IPv6"),
	}
	var sig strings.Builder
	names := map[configs.PublicKey]string{}
	for _, m := range d.members {
		names[m.e.PublicKey()] = m.name
	}
	for _, m := range d.members {
		st := m.e.Status()
		connected := 0
		for _, p := range st.Peers {
			if p.Connected {
				connected++
			}
		}
		head := fmt.Sprintf("       %-6s %-14s %-15s %d/2    ", m.name, m.where, m.ip4, connected)
		for _, o := range d.members {
			if o == m {
				continue
			}
			path, rtt := "-", "-"
			for _, p := range st.Peers {
				if names[p.PublicKey] == o.name && p.Connected {
					path = p.Path
					if p.Relayed {
						path += " (relayed)"
					}
					if p.RTT > 0 {
						rtt = p.RTT.Round(10 * time.Microsecond).String()
					}
				}
			}
			ping4 := pingText(d.pings[pingKey{m.name, o.name, false}])
			ping6 := "-"
			if o.ip6.IsValid() {
				ping6 = pingText(d.pings[pingKey{m.name, o.name, true}])
			}
			lines = append(lines, fmt.Sprintf("%s %-9s %-9s %-9s %-18s %s", head, o.name, path, rtt, ping4, ping6))
			fmt.Fprintf(&sig, "%s %s %s %d %s %s\n", m.name, o.name, path, connected, ping4, ping6)
			head = strings.Repeat(" ", len(head))
		}
	}
	return lines, sig.String()
}

// pingText is a table cell for r: "waiting", when the first reply came, or the final pings.
func pingText(r *pingResult) string {
	switch {
	case r == nil:
		return "waiting"
	case r.sent > 1:
		return fmt.Sprintf("%d/%d, avg %s", r.got, r.sent, r.avg)
	}
	return fmt.Sprintf("ok after %.1fs", r.reached.Seconds())
}

// family is "IPv4" or "IPv6".
func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// summary prints how the mesh came up and fails when a final ping got no reply.
func (d *vpnDemo) summary() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var slowest time.Duration
	lost, sent := 0, 0
	for _, p := range d.pings {
		slowest = max(slowest, p.reached)
		lost += p.sent - p.got
		sent += p.sent
	}
	families := "IPv4 and IPv6"
	for _, m := range d.members {
		if !m.ip6.IsValid() {
			families = "IPv4"
		}
	}
	relayed := 0
	for _, m := range d.members {
		for _, p := range m.e.Status().Peers {
			if p.Connected && p.Relayed {
				relayed++
			}
		}
	}
	d.printf("\nsummary: 3 members reached each other by virtual %s in all 6 directions; the mesh was\n"+
		"complete %.1fs after the members started; %d of %d final pings lost; %d of 6 connection ends relayed.\n",
		families, slowest.Seconds(), lost, sent, relayed)
	if lost == sent {
		return failf("no final ping got a reply")
	}
	return nil
}

// cleanup closes the engines and the DHT nodes and deletes the namespaces.
func (d *vpnDemo) cleanup() error {
	var errs []error
	for _, m := range d.members {
		if m.e == nil {
			continue
		}
		if err := m.e.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.name, err))
		}
		if m.done != nil {
			if err := <-m.done; err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, fmt.Errorf("%s: %w", m.name, err))
			}
		}
	}
	for i := len(d.nodes) - 1; i >= 0; i-- {
		d.nodes[i].Destroy(context.Background(), dht.DestroyOptions{Force: true})
	}
	n := len(d.lab.nss)
	if err := d.lab.close(); err != nil {
		errs = append(errs, err)
	}
	if left := d.lab.leftovers(); len(left) > 0 {
		errs = append(errs, fmt.Errorf("namespaces left behind: %v", left))
	}
	if n > 0 && len(errs) == 0 {
		d.printf("cleaned up: stopped 3 members and 4 DHT nodes, deleted %d namespaces with their links.\n", n)
	}
	return errors.Join(errs...)
}

// stopped turns a cancelled ctx into a plain "interrupted" failure.
func (d *vpnDemo) stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return failf("demo interrupted")
	}
	return failf("%v", err)
}

// liveTable redraws a table in place on a terminal; elsewhere (a pipe, a log) it prints it
// only when its signature (who is connected how, which pings came back) changes.
type liveTable struct {
	w     io.Writer
	tty   bool
	shown int    // lines drawn last time, on a terminal
	last  string // elsewhere: the signature of the table printed last
}

func newLiveTable(w io.Writer) *liveTable {
	lt := &liveTable{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			lt.tty = true
		}
	}
	return lt
}

func (lt *liveTable) show(lines []string, sig string) {
	if lt.tty {
		if lt.shown > 0 {
			fmt.Fprintf(lt.w, "\033[%dA\033[J", lt.shown)
		}
		fmt.Fprintln(lt.w, strings.Join(lines, "\n"))
		lt.shown = len(lines)
		return
	}
	if sig == lt.last {
		return
	}
	fmt.Fprintln(lt.w, strings.Join(lines, "\n"))
	fmt.Fprintln(lt.w)
	lt.last = sig
}

// final prints the table once more below whatever came since.
func (lt *liveTable) final(lines []string) {
	fmt.Fprintln(lt.w)
	fmt.Fprintln(lt.w, strings.Join(lines, "\n"))
}
