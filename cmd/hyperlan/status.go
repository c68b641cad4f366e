package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

const statusUsage = `Usage: hyperlan status [-i INTERFACE | --socket PATH] [--json]

Show what the running 'hyperlan up' is doing: this node (name, public key, addresses,
the network, whether it is announced on the DHT, packets dropped and why) and a line
per peer (address, connected or not, how, round-trip time, last seen). 'hyperlan peers' lists the peers in
full. status asks the daemon through its control socket, which only root may use.

With one daemon running, status finds its socket in /run/hyperlan by itself; with
several, -i names the interface of the one to ask.

  hyperlan on hyperlan0: desktop, up 3h2m10s (pid 812, hyperlan v0.1.0)
  config      /etc/hyperlan/home.toml
  public key  8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c
  addresses   10.77.31.7, fd5a:1f3e:90c2::8c1e:3b5:d7a2:1b9
  network     10.77.0.0/16, fd5a:1f3e:90c2::/64, topic 4b1d93c0...
  dht         announced, accepting members
  relays      through 2ce0d7d9... when no holepunch connects
  peers       2 of 3 connected

  NAME    ADDRESS     STATE      PATH       RTT   LAST SEEN
  laptop  10.77.3.4   connected  holepunch  12ms  1s ago
  nas     10.77.0.10  -          -          -     never
  phone   10.77.9.12  connected  relay      48ms  2s ago

PATH is how a connection reaches the peer: direct, lan (a private address behind the
same NAT), holepunch (through both NATs) or relay (through a blind relay of
dht.relay_through, when no holepunch connects, as between two random NATs);
"(upgraded)" follows a path a relayed connection moved to once a later punch
succeeded. A node with relay = true in [node] shows the blind relay it serves and its
relay key, which the other members put in their relay_through:

  relay key   2ce0d7d96d06ecba77b394cbc418b1534b4f5681fcf653fdb451cdff46be7601
  relay       serving: 4 sessions, 2 pairings, 1 active

Flags:
  -i INTERFACE   ask the daemon of this interface (/run/hyperlan/INTERFACE.sock)
  --socket PATH  ask the daemon on this control socket (as given to 'hyperlan up')
  --json         print the daemon's status as one JSON line: {"version":...,"pid":...,
                 "config":...,"started":...,"engine":...,"node":{...},
                 "network":{...},"dht":{...},"peers":[...]}, node and dht as 'hyperlan
                 config check --json' prints them (node with "listening", "drops" and,
                 when it serves a relay, "relayServer":{"serving":true,"sessions":4,
                 "pairings":2,"active":1}), each peer as 'hyperlan peers --json' prints it

Exit status: 0 on success; 1 if the control socket cannot be used (not root) or the
daemon does not answer; 2 for bad flags, or when several daemons run and -i is
missing; 3 when no daemon is running (as an init script's status).

Examples:
  sudo hyperlan status
  sudo hyperlan status -i hyperlan1 --json | jq '.peers[] | select(.connected)'
`

const peersUsage = `Usage: hyperlan peers [-i INTERFACE | --socket PATH] [--json]

List the peers of the running 'hyperlan up', one per line: the members this node
admits, listed in its config by public key or proved to know the network secret. For
each: its name, public key (shortened; --json has it whole), addresses, whether it is
connected and how (direct, lan: at a private address behind the same NAT, holepunch:
through both NATs, relay: through a blind relay; "(upgraded)" when a relayed connection
moved to that path), the peer's UDP address (the relay's while relayed), the
round-trip time, the IP bytes received from it and sent to it, when it was last heard
from, whether it is a member by its key (listed in the config) or by the network
secret, the subnets it serves, and why its last connection ended.

  NAME    PUBLIC KEY   ADDRESS     ADDRESS6            STATE      PATH       REMOTE             RTT   RX       TX        LAST SEEN  BY   ROUTES          LAST ERROR
  laptop  6f233167...  10.77.3.4   fd5a:1f3e:90c2::4   connected  holepunch  198.51.100.9:4012  12ms  1.2 MiB  88.0 KiB  1s ago     key  -               -
  nas     38db4d73...  10.77.0.10  fd5a:1f3e:90c2::10  -          -          -                  -     0 B      0 B       never      key  192.168.1.0/24  remote stopped answering

Like 'hyperlan status' it asks the daemon through its control socket, which only root
may use.

Flags:
  -i INTERFACE   ask the daemon of this interface (/run/hyperlan/INTERFACE.sock)
  --socket PATH  ask the daemon on this control socket (as given to 'hyperlan up')
  --json         print one JSON line per peer instead:
                 {"name":"laptop","publicKey":"<hex>","address":"10.77.3.4",
                  "address6":...,"routes":[],"listed":true,"connected":true,
                  "path":"holepunch","relayed":false,"upgraded":false,
                  "remote":"198.51.100.9:4012",
                  "since":"2026-05-01T09:00:00Z","rttMs":12.1,"rxBytes":1258291,
                  "txBytes":90112,"rxPackets":1001,"txPackets":998,
                  "lastSeen":"2026-05-01T10:00:00Z","lastError":...,"nextDial":...}
                 (path, remote, since, rttMs, lastSeen, lastError and nextDial are
                 absent when unknown or not applying; "relay":"<hex>", the blind
                 relay's key, is present when relayed or upgraded)

Exit status: as 'hyperlan status': 0 on success; 1 if the control socket cannot be
used (not root) or the daemon does not answer; 2 for bad flags, or when several
daemons run and -i is missing; 3 when no daemon is running.

Example:
  sudo hyperlan peers
`

// controlFlags are the flags that pick the daemon to ask.
type controlFlags struct {
	iface  string
	socket string
	json   bool
}

func (f *controlFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.iface, "i", "", "")
	fs.StringVar(&f.socket, "socket", "", "")
	fs.BoolVar(&f.json, "json", false, "")
}

func runStatus(ctx context.Context, c *cli, args []string) error {
	st, f, err := askDaemon(ctx, "status", args)
	if err != nil {
		return err
	}
	if f.json {
		c.out.write(st)
		return nil
	}
	printStatus(c.stdout, st, time.Now())
	return nil
}

func runPeers(ctx context.Context, c *cli, args []string) error {
	st, f, err := askDaemon(ctx, "peers", args)
	if err != nil {
		return err
	}
	if f.json {
		for _, p := range st.Peers {
			c.out.write(p)
		}
		return nil
	}
	printPeers(c.stdout, st.Peers, time.Now())
	return nil
}

// askDaemon parses the flags of status or peers and asks the daemon for its status.
func askDaemon(ctx context.Context, name string, args []string) (*vpnStatus, *controlFlags, error) {
	fs := newFlagSet(name)
	f := &controlFlags{}
	f.register(fs)
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return nil, nil, err
	}
	path, err := controlSocket(controlDir, f.iface, f.socket)
	if err != nil {
		return nil, nil, controlError(name, f, path, err)
	}
	st, err := queryStatus(ctx, path)
	if err != nil {
		return nil, nil, controlError(name, f, path, err)
	}
	return st, f, nil
}

// controlSocket returns the socket to ask: --socket, or -i's socket in dir, or the one
// socket in dir.
func controlSocket(dir, iface, socket string) (string, error) {
	switch {
	case iface != "" && socket != "":
		return "", usageErrorf("-i and --socket exclude each other")
	case socket != "":
		return socket, nil
	case iface != "":
		if strings.ContainsAny(iface, "/\x00") || iface == "." || iface == ".." {
			return "", usageErrorf("-i %q: not an interface name", iface)
		}
		return filepath.Join(dir, iface+".sock"), nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return dir, dialError(err)
	}
	var socks []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".sock"); ok && e.Type() == fs.ModeSocket {
			socks = append(socks, name)
		}
	}
	switch len(socks) {
	case 0:
		return dir, errNoDaemon
	case 1:
		return filepath.Join(dir, socks[0]+".sock"), nil
	}
	slices.Sort(socks)
	return "", usageErrorf("several hyperlan daemons run, on %s", strings.Join(socks, ", ")).
		hintf("pick one with -i, e.g. -i %s", socks[0])
}

// controlError turns a failure to ask the daemon at path into the command's error.
func controlError(name string, f *controlFlags, path string, err error) error {
	var ce *cliError
	if errors.As(err, &ce) {
		return err
	}
	start := "start one with 'sudo hyperlan up -c FILE' or 'sudo systemctl start hyperlan@NAME'"
	switch {
	case errors.Is(err, errNoDaemon):
		what := "no hyperlan daemon is running"
		switch {
		case f.socket != "":
			what += fmt.Sprintf(" (no control socket %s)", path)
		case f.iface != "":
			what += " for " + f.iface
		}
		return (&cliError{code: exitNotRunning, err: errors.New(what)}).hintf("%s", start)
	case errors.Is(err, errStale):
		return (&cliError{code: exitNotRunning, err: fmt.Errorf("no hyperlan daemon is running: %s is a stale control socket", path)}).
			hintf("a daemon stopped without removing it; the next 'hyperlan up' replaces it").
			hintf("%s", start)
	case errors.Is(err, errPermission):
		return failf("permission denied: %s", path).
			hintf("the control socket is root's: run 'sudo hyperlan %s'", name)
	}
	return failf("%v", err)
}

// printStatus prints the daemon's status for a person; now dates "last seen".
func printStatus(w io.Writer, st *vpnStatus, now time.Time) {
	n := &st.Node
	fmt.Fprintf(w, "hyperlan on %s: %s, up %s (pid %d, hyperlan %s)\n",
		n.Interface, n.Name, now.Sub(st.Started).Round(time.Second), st.PID, st.Version)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "config\t%s\n", st.Config)
	fmt.Fprintf(tw, "public key\t%s\n", n.PublicKey)
	fmt.Fprintf(tw, "addresses\t%s, %s\n", n.Address, n.Address6)
	if len(n.Routes) > 0 {
		fmt.Fprintf(tw, "routes\t%s\n", strings.Join(n.Routes, ", "))
	}
	topic := "no secret: members by public key only"
	if st.Network.Topic != "" {
		topic = "topic " + short(st.Network.Topic)
	}
	fmt.Fprintf(tw, "network\t%s, %s, %s\n", st.Network.IPv4, st.Network.IPv6, topic)
	switch {
	case st.Engine == "starting":
		fmt.Fprintf(tw, "dht\tstarting\n")
	case n.Listening:
		fmt.Fprintf(tw, "dht\tannounced, accepting members\n")
	default:
		fmt.Fprintf(tw, "dht\tnot announced yet\n")
	}
	if len(st.DHT.RelayThrough) > 0 {
		keys := make([]string, len(st.DHT.RelayThrough))
		for i, k := range st.DHT.RelayThrough {
			keys[i] = short(k)
		}
		fmt.Fprintf(tw, "relays\tthrough %s when no holepunch connects\n", strings.Join(keys, ", "))
	}
	if n.Relay {
		fmt.Fprintf(tw, "relay key\t%s\n", n.RelayPublicKey)
		fmt.Fprintf(tw, "relay\t%s\n", relayServerText(n.RelayServer))
	}
	if d := dropSummary(n.Drops); d != "" {
		fmt.Fprintf(tw, "dropped\t%s\n", d)
	}
	connected := 0
	for _, p := range st.Peers {
		if p.Connected {
			connected++
		}
	}
	fmt.Fprintf(tw, "peers\t%d of %d connected\n", connected, len(st.Peers))
	tw.Flush()
	if len(st.Peers) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tADDRESS\tSTATE\tPATH\tRTT\tLAST SEEN\n")
	for _, p := range st.Peers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Address, state(p), pathText(p), rtt(p.RTTMs), lastSeen(p.LastSeen, now))
	}
	tw.Flush()
}

// printPeers prints the peer table for a person; now dates "last seen".
func printPeers(w io.Writer, peers []peerStatus, now time.Time) {
	if len(peers) == 0 {
		fmt.Fprintln(w, "no peers")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tPUBLIC KEY\tADDRESS\tADDRESS6\tSTATE\tPATH\tREMOTE\tRTT\tRX\tTX\tLAST SEEN\tBY\tROUTES\tLAST ERROR\n")
	for _, p := range peers {
		by := "key"
		if !p.Listed {
			by = "secret"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			p.Name, short(p.PublicKey), orDash(p.Address), orDash(p.Address6), state(p), pathText(p),
			orDash(p.Remote), rtt(p.RTTMs), byteSize(p.RxBytes), byteSize(p.TxBytes), lastSeen(p.LastSeen, now), by,
			orDash(strings.Join(p.Routes, ",")), orDash(oneLine(p.LastError)))
	}
	tw.Flush()
}

// dropSummary lists the non-zero drop counters: "3 spoofed, 1 no route".
func dropSummary(d dropCounters) string {
	var parts []string
	for _, c := range []struct {
		n    uint64
		what string
	}{
		{d.NoRoute, "no route"}, {d.NoSession, "peer not connected"}, {d.SendDropped, "send queue full"},
		{d.TooBig, "too big"}, {d.MTUPending, "too big while the path MTU is searched"}, {d.Spoofed, "spoofed source"}, {d.Malformed, "malformed"},
		{d.RecvDropped, "interface queue full"}, {d.DeviceErrors, "interface errors"},
	} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return strings.Join(parts, ", ")
}

// pathText is a peer's PATH column: "direct", "lan", "holepunch" or "relay", with
// "(upgraded)" when the connection started through a blind relay and moved to that path;
// "-" when not connected.
func pathText(p peerStatus) string {
	switch {
	case p.Path == "":
		return "-"
	case p.Upgraded:
		return p.Path + " (upgraded)"
	}
	return p.Path
}

// relayServerText describes the blind relay the node serves.
func relayServerText(r *relayServerStatus) string {
	if r == nil || !r.Serving {
		return "starting (not announced yet)"
	}
	return fmt.Sprintf("serving: %d sessions, %d pairings, %d active", r.Sessions, r.Pairings, r.Active)
}

func state(p peerStatus) string {
	if p.Connected {
		return "connected"
	}
	return "-"
}

// rtt formats a round-trip time in milliseconds with two or three significant digits:
// "240µs", "1.3ms", "12ms"; "-" when unknown.
func rtt(ms float64) string {
	if ms <= 0 {
		return "-"
	}
	d := time.Duration(ms * float64(time.Millisecond))
	switch {
	case d < 10*time.Microsecond:
		return "<10µs"
	case d < time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d < 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// byteSize formats a byte count in binary units: "0 B", "512 B", "1.2 KiB", "3.0 GiB".
func byteSize(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n), ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"} {
		v, unit = v/1024, u
		if v < 1024 {
			break
		}
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}

// lastSeen formats how long ago t was: "3s ago", "5m ago", "2h ago", "4d ago", "never".
func lastSeen(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	d := max(now.Sub(*t), 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
}
