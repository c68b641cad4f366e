package main

// The benchmark's network: three namespaces, the two ends of the tunnels and the DHT's,
// whose bridge joins the ends' veth links (one Ethernet segment, no router, no NAT):
//
//	<p>-a    eth0 10.99.0.2/24 ── pa ┐
//	                                 br0 10.99.0.1/24 (+ .11, .12: DHT nodes)   <p>-dht
//	<p>-b    eth0 10.99.0.3/24 ── pb ┘
//
// Both VPNs run over it at the same time, on their own interfaces and prefixes:
// hyperlan's hl0 (10.97.0.1 in a, 10.97.0.2 in b) and wireguard-go's (10.98.0.1, 10.98.0.2).
// Namespaces are named hlvb-<pid in base 36>-<name>; a later run deletes those whose
// process is gone (killed before it could clean up). Links and TUN devices live only
// inside the namespaces and go with them.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	nsDir      = "/run/netns"
	nsPrefix   = "hlvb-"
	ipTimeout  = 10 * time.Second
	bridgeAddr = "10.99.0.1"
	addrA      = "10.99.0.2"
	addrB      = "10.99.0.3"
)

// dhtAddrs are the DHT's nodes: the bootstrap node first.
var dhtAddrs = []string{bridgeAddr, "10.99.0.11", "10.99.0.12"}

// lab owns the namespaces it made.
type lab struct {
	prefix string   // "hlvb-<pid>-"
	nss    []string // full names, in creation order
}

func newLab() *lab {
	return &lab{prefix: nsPrefix + strconv.FormatInt(int64(os.Getpid()), 36) + "-"}
}

// ns returns the full name of the namespace called name.
func (l *lab) ns(name string) string { return l.prefix + name }

// command runs name with args and returns an error holding its output if it fails.
func command(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ip runs `ip -n <namespace name> args...`.
func (l *lab) ip(name string, args ...string) error {
	return command("ip", append([]string{"-n", l.ns(name)}, args...)...)
}

// build makes the namespaces and links of the diagram above.
func (l *lab) build() error {
	for _, name := range []string{"dht", "a", "b"} {
		if err := command("ip", "netns", "add", l.ns(name)); err != nil {
			return err
		}
		l.nss = append(l.nss, l.ns(name))
		if err := l.ip(name, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	steps := [][]string{{"dht", "link", "add", "br0", "type", "bridge"}}
	for _, a := range dhtAddrs {
		steps = append(steps, []string{"dht", "addr", "add", a + "/24", "dev", "br0"})
	}
	steps = append(steps, []string{"dht", "link", "set", "br0", "up"})
	for _, end := range []struct{ name, port, addr string }{{"a", "pa", addrA}, {"b", "pb", addrB}} {
		if err := command("ip", "link", "add", "name", "eth0", "netns", l.ns(end.name),
			"type", "veth", "peer", "name", end.port, "netns", l.ns("dht")); err != nil {
			return err
		}
		steps = append(steps,
			[]string{"dht", "link", "set", end.port, "master", "br0", "up"},
			[]string{end.name, "addr", "add", end.addr + "/24", "dev", "eth0"},
			[]string{end.name, "link", "set", "eth0", "up"},
		)
	}
	for _, s := range steps {
		if err := l.ip(s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// command returns a command that runs name with args inside the namespace, in a session
// of its own, so that Ctrl-C in a terminal reaches only this program, which then stops
// its processes in order. ip and setsid exec the next, so the process's pid is name's.
func (l *lab) command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.ns(ns), "setsid", name}, args...)...)
}

// close kills whatever still runs inside the lab's namespaces and deletes them, newest
// first, with every link and device in them.
func (l *lab) close() error {
	var errs []error
	for i := len(l.nss) - 1; i >= 0; i-- {
		for _, pid := range nsPids(l.nss[i]) {
			syscall.Kill(pid, syscall.SIGKILL)
			errs = append(errs, fmt.Errorf("process %d still ran in %s; killed", pid, l.nss[i]))
		}
		if err := command("ip", "netns", "del", l.nss[i]); err != nil {
			errs = append(errs, err)
		} else if _, err := os.Stat(nsDir + "/" + l.nss[i]); err == nil {
			errs = append(errs, fmt.Errorf("namespace %s still exists after ip netns del", l.nss[i]))
		}
	}
	l.nss = nil
	return errors.Join(errs...)
}

// nsPids lists the processes inside the namespace.
func nsPids(ns string) []int {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// sweepStale deletes the namespaces of earlier runs whose process is gone, and returns
// their names.
func sweepStale() []string {
	entries, err := os.ReadDir(nsDir)
	if err != nil {
		return nil
	}
	var gone []string
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), nsPrefix)
		pidPart, _, ok2 := strings.Cut(rest, "-")
		pid, err := strconv.ParseInt(pidPart, 36, 32)
		if !ok || !ok2 || err != nil || pid == int64(os.Getpid()) || processAlive(int(pid)) {
			continue
		}
		for _, p := range nsPids(e.Name()) {
			syscall.Kill(p, syscall.SIGKILL)
		}
		if command("ip", "netns", "del", e.Name()) == nil {
			gone = append(gone, e.Name())
		}
	}
	return gone
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
