package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/routing"
)

const upUsage = `Usage: hyperlan up -c FILE [--socket PATH] [-v]

Run this machine's member of the network described by the config FILE, in the
foreground, until SIGINT or SIGTERM: create the TUN interface (node.interface), give it
the node's addresses and route the network's prefixes and the peers' subnets into it,
join the DHT, and keep an encrypted connection to every other member that carries the
IP packets between them. Run it as root, or with the CAP_NET_ADMIN capability; as a
service, 'systemctl start hyperlan@NAME' runs 'hyperlan up -c /etc/hyperlan/NAME.toml'.

Before it touches the system, up loads and checks the whole config as 'hyperlan config
check' does; a bad config prints every problem and exits 2 with nothing created. It
then refuses to start when another daemon serves the same interface, and removes what
a daemon that died left on the interface (addresses, and routes with protocol 104).

While it runs:
  - 'hyperlan status' and 'hyperlan peers' ask it what it is doing through its control
    socket, by default /run/hyperlan/<interface>.sock (mode 0600, for root only).
  - SIGHUP reloads the config file and applies its [[peer]] list: new peers are
    admitted and connected, removed ones dropped, changed addresses and routes applied.
    A config with problems changes nothing (they are logged). Changes to [node] or
    [network] that move this node's key, addresses or prefixes are not applied by a
    reload at all; other changes outside [[peer]] wait for a restart (both are logged).
  - Under systemd (Type=notify) it reports when it is ready, reloading and stopping.

SIGINT or SIGTERM stops it cleanly: the connections are closed, and the interface with
its addresses and routes is removed. A second signal kills it at once.

Logs go to stderr as [log] in the config sets them (level, text or JSON).

Flags:
  -c, --config FILE   the config file (required)
  --socket PATH       the control socket (default /run/hyperlan/<interface>.sock)
  -v                  log at debug level, whatever log.level says

Exit status: 0 after a clean stop on SIGINT or SIGTERM; 1 if it cannot start (no
CAP_NET_ADMIN, a daemon already serves the interface, the interface cannot be made) or
fails while running; 2 for bad flags or a bad config (nothing was started).

Examples:
  sudo hyperlan up -c /etc/hyperlan/home.toml
  sudo systemctl enable --now hyperlan@home
`

func runUp(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("up")
	var path, socket string
	configFlag(fs, &path)
	fs.StringVar(&socket, "socket", "", "")
	verbose := fs.Bool("v", false, "")
	cfg, list, err := parseAndLoad(fs, &path, args)
	if err != nil {
		return err
	}
	if list != nil {
		fmt.Fprintln(c.stderr, list.Error())
		return badConfigError(path, list).hintf("nothing was started; 'hyperlan config check -c %s' checks it again", path)
	}
	printWarnings(c.stderr, cfg.Warnings)
	if err := checkNetAdmin(); err != nil {
		return failf("%v", err).
			hintf("run it as root ('sudo hyperlan up -c %s'), or as the service hyperlan@NAME", path)
	}
	if socket == "" {
		socket = filepath.Join(controlDir, cfg.Node.Interface+".sock")
	}
	d := &daemon{
		path:    path,
		socket:  socket,
		cfg:     cfg,
		log:     vpnLogger(c.stderr, cfg.Log, *verbose),
		started: time.Now(),
	}
	return d.run(ctx)
}

// daemon is one run of 'hyperlan up'.
type daemon struct {
	path    string // the config file, reloaded on SIGHUP
	socket  string
	log     *slog.Logger
	started time.Time

	mu  sync.Mutex
	cfg *configs.Config // guarded by mu; the running config, its peers as last reloaded
	eng engine          // guarded by mu; nil until started
}

func (d *daemon) run(ctx context.Context) error {
	iface := d.cfg.Node.Interface
	ctl, err := listenControl(d.socket, d.status, d.log)
	if errors.Is(err, errAlreadyRunning) {
		return failf("a hyperlan daemon already serves %s (control socket %s)", iface, d.socket).
			hintf("'hyperlan status -i %s' shows it; stop it first, or give this config another node.interface", iface)
	}
	if err != nil {
		return failf("%v", err)
	}
	defer ctl.Close()

	eng, err := newEngine(d.cfg, d.log)
	if err != nil {
		return startError(iface, err)
	}
	d.mu.Lock()
	d.eng = eng
	d.mu.Unlock()
	defer eng.Close()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- eng.Run(runCtx) }()

	d.log.Info("running", "node", d.cfg.Node.Name, "interface", iface,
		"address", d.cfg.Node.Address, "address6", d.cfg.Node.Address6,
		"peers", len(d.cfg.Peers), "control", d.socket)
	sdNotify("READY=1\nSTATUS=up on " + iface)
	for stopped := false; !stopped; {
		select {
		case <-hup:
			d.reload()
		case <-ctx.Done():
			sdNotify("STOPPING=1")
			d.log.Info("stopping", "interface", iface)
			cancel()
			err, stopped = <-done, true
		case err = <-done:
			sdNotify("STOPPING=1")
			stopped = true
		}
	}
	if cerr := eng.Close(); err == nil && cerr != nil {
		d.log.Warn("cleanup incomplete", "interface", iface, "err", cerr)
	}
	if err != nil {
		return failf("%s: %v", iface, err)
	}
	d.log.Info("stopped", "interface", iface)
	return nil
}

// startError explains why the engine could not start.
func startError(iface string, err error) error {
	e := failf("cannot bring up %s: %v", iface, err)
	switch {
	case errors.Is(err, routing.ErrNotTUN):
		e.hintf("an interface named %s exists and is not a TUN interface; set node.interface to another name", iface)
	case errors.Is(err, syscall.EBUSY):
		e.hintf("another process holds the TUN interface %s", iface)
	case errors.Is(err, os.ErrPermission):
		e.hintf("hyperlan up needs root or CAP_NET_ADMIN, and /dev/net/tun")
	}
	return e
}

// reload applies the [[peer]] list of the config file as it is now (SIGHUP).
func (d *daemon) reload() {
	d.log.Info("reloading", "config", d.path)
	sdNotify("RELOADING=1")
	defer sdNotify("READY=1")
	cfg, err := configs.Load(d.path)
	if err != nil {
		for _, e := range configErrors(d.path, err) {
			d.log.Error("reload: config problem; nothing changed", "problem", e.Error(), "hint", e.Hint)
		}
		return
	}
	d.mu.Lock()
	old, eng := d.cfg, d.eng
	d.mu.Unlock()
	moved, later := configChanges(old, cfg)
	if len(moved) > 0 {
		d.log.Error("reload: the config changes this node's identity or network; restart to apply it (nothing changed)",
			"changed", moved)
		return
	}
	if len(later) > 0 {
		d.log.Warn("reload: these changes take effect at the next restart", "changed", later)
	}
	if err := eng.Reload(cfg.Peers); err != nil {
		d.log.Error("reload failed; nothing changed", "err", err)
		return
	}
	next := *old
	next.Peers = cfg.Peers
	d.mu.Lock()
	d.cfg = &next
	d.mu.Unlock()
	added, removed := peerDiff(old.Peers, cfg.Peers)
	d.log.Info("reloaded", "peers", len(cfg.Peers), "added", added, "removed", removed)
}

// configChanges compares a reloaded config with the running one, outside [[peer]]. moved
// lists the settings that move this node or its network, which the new peer list was
// checked against, so that a reload cannot apply it; later lists the others, which wait
// for a restart.
func configChanges(old, cfg *configs.Config) (moved, later []string) {
	o, n := &old.Node, &cfg.Node
	on, nn := &old.Network, &cfg.Network
	for _, c := range []struct {
		changed bool
		key     string
		moves   bool
	}{
		{o.PublicKey != n.PublicKey, "node.key_file", true},
		{o.Address != n.Address, "node.address", true},
		{o.Address6 != n.Address6, "node.address6", true},
		{!slices.Equal(o.Routes, n.Routes), "node.routes", true},
		{on.IPv4 != nn.IPv4, "network.ipv4", true},
		{on.IPv6 != nn.IPv6, "network.ipv6", true},
		{!slices.Equal(on.Secret, nn.Secret), "network.secret_file", true},
		{o.Name != n.Name, "node.name", false},
		{o.Interface != n.Interface, "node.interface", false},
		{o.MTU != n.MTU, "node.mtu", false},
		{o.ListenPort != n.ListenPort, "node.listen_port", false},
		{o.KeepAlive != n.KeepAlive, "node.keep_alive", false},
		{o.Relay != n.Relay, "node.relay", false},
		{!slices.Equal(old.DHT.RelayThrough, cfg.DHT.RelayThrough), "dht.relay_through", false},
		{!slices.Equal(old.DHT.Bootstrap, cfg.DHT.Bootstrap) || (old.DHT.Bootstrap == nil) != (cfg.DHT.Bootstrap == nil), "dht.bootstrap", false},
		{old.Log != cfg.Log, "log", false},
	} {
		switch {
		case c.changed && c.moves:
			moved = append(moved, c.key)
		case c.changed:
			later = append(later, c.key)
		}
	}
	return moved, later
}

// peerDiff returns the names of the peers in next but not in prev, and the reverse, by key.
func peerDiff(prev, next []configs.Peer) (added, removed []string) {
	has := func(list []configs.Peer, k configs.PublicKey) bool {
		return slices.ContainsFunc(list, func(p configs.Peer) bool { return p.PublicKey == k })
	}
	for _, p := range next {
		if !has(prev, p.PublicKey) {
			added = append(added, p.Name)
		}
	}
	for _, p := range prev {
		if !has(next, p.PublicKey) {
			removed = append(removed, p.Name)
		}
	}
	return added, removed
}

// status is the control socket's answer to "status".
func (d *daemon) status() *vpnStatus {
	d.mu.Lock()
	cfg, eng := d.cfg, d.eng
	d.mu.Unlock()
	sum := summarize(cfg)
	st := &vpnStatus{
		Version: versionString(),
		PID:     os.Getpid(),
		Config:  d.path,
		Started: d.started.UTC().Round(time.Second),
		Engine:  "starting",
		Node:    nodeStatus{nodeJSON: sum.Node},
		Network: sum.Network,
		DHT:     sum.DHT,
		Peers:   []peerStatus{},
	}
	if eng == nil {
		for _, p := range sum.Peers {
			st.Peers = append(st.Peers, peerStatus{peerJSON: p, Listed: true})
		}
		return st
	}
	es := eng.Status()
	st.Engine, st.Node.Listening, st.Node.Drops, st.Node.RelayServer = es.Name, es.Listening, es.Drops, es.Relay
	if es.MTU > 0 {
		st.Node.MTU = es.MTU
	}
	if es.Peers != nil {
		st.Peers = es.Peers
	}
	return st
}

// vpnLogger returns up's logger: text or JSON on w, at the config's level (debug with
// -v). Under systemd's journal, which stamps every line itself, the time is left out.
func vpnLogger(w io.Writer, l configs.Log, verbose bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: l.Level}
	if verbose {
		opts.Level = slog.LevelDebug
	}
	if os.Getenv("JOURNAL_STREAM") != "" {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
