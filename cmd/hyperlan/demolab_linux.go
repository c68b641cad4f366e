package main

// The VPN demo's lab: a handful of network namespaces joined by veth pairs, with nftables
// NAT in the home routers. It follows the recipe of the test-only package interop (NAT lab),
// cut down to what the demo needs and with no bridges:
//
//	<p>-dht   eth0 192.0.2.2-.5/28    ── d0 192.0.2.1/28     ┐
//	<p>-carol eth0 192.0.2.18/28      ── c0 192.0.2.17/28    ├ <p>-inet (forwards)
//	<p>-ra    wan  198.51.100.2/28    ── wa 198.51.100.1/28  │
//	<p>-rb    wan  198.51.100.18/28   ── wb 198.51.100.17/28 ┘
//	<p>-alice eth0 10.0.1.2/24 ── lan 10.0.1.1/24 of ra [consistent NAT]
//	<p>-bob   eth0 10.0.2.2/24 ── lan 10.0.2.1/24 of rb [random NAT]
//
// Every namespace is named hld-<pid in base 36>-<name>, so a later demo can tell and
// delete those whose process is gone (killed before it could clean up). Links live only
// inside the namespaces and go with them.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	netnsDir       = "/run/netns"
	demoNSPrefix   = "hld-"
	demoCmdTimeout = 10 * time.Second
)

// vpnDemoProblem says why the VPN mesh demo cannot run here, or "" when it can.
func vpnDemoProblem() string {
	if os.Geteuid() != 0 {
		return "it needs root (network namespaces, TUN devices)"
	}
	var missing []string
	for _, tool := range []string{"ip", "nft", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return "it needs " + strings.Join(missing, ", ") + " on PATH (packages iproute2, nftables, iputils-ping)"
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return "it needs /dev/net/tun (modprobe tun)"
	}
	return ""
}

// demoLab owns the namespaces it made; close deletes them.
type demoLab struct {
	prefix string   // "hld-<pid>-"
	nss    []string // full names, in creation order
}

func newDemoLab() *demoLab {
	return &demoLab{prefix: demoNSPrefix + strconv.FormatInt(int64(os.Getpid()), 36) + "-"}
}

// sweepStaleDemoNamespaces deletes the namespaces of demos whose process is gone and returns
// their names.
func sweepStaleDemoNamespaces() []string {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return nil
	}
	var gone []string
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), demoNSPrefix)
		if !ok {
			continue
		}
		pidPart, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.ParseInt(pidPart, 36, 32)
		if !ok || err != nil || pid == int64(os.Getpid()) {
			continue
		}
		if err := syscall.Kill(int(pid), 0); err == nil || errors.Is(err, syscall.EPERM) {
			continue // its demo still runs
		}
		if labCmd("ip", "netns", "del", e.Name()) == nil {
			gone = append(gone, e.Name())
		}
	}
	return gone
}

// labCmd runs a command of the lab and returns its output in the error when it fails.
func labCmd(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), demoCmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ns returns the full name of the namespace called name.
func (l *demoLab) ns(name string) string { return l.prefix + name }

// netns creates the namespace name with its loopback up.
func (l *demoLab) netns(name string) error {
	full := l.ns(name)
	if err := labCmd("ip", "netns", "add", full); err != nil {
		return err
	}
	l.nss = append(l.nss, full)
	return l.ip(name, "link", "set", "lo", "up")
}

// ip runs ip -n <namespace> args.
func (l *demoLab) ip(name string, args ...string) error {
	return labCmd("ip", append([]string{"-n", l.ns(name)}, args...)...)
}

// link joins namespaces a and b with a veth pair, gives each end its address (a prefix
// like 10.0.1.1/24) and sets both up.
func (l *demoLab) link(a, aDev, aAddr, b, bDev, bAddr string) error {
	if err := labCmd("ip", "link", "add", "name", aDev, "netns", l.ns(a), "type", "veth", "peer", "name", bDev, "netns", l.ns(b)); err != nil {
		return err
	}
	for _, s := range [][3]string{{a, aDev, aAddr}, {b, bDev, bAddr}} {
		if err := l.ip(s[0], "addr", "add", s[2], "dev", s[1]); err != nil {
			return err
		}
		if err := l.ip(s[0], "link", "set", s[1], "up"); err != nil {
			return err
		}
	}
	return nil
}

// forward turns on IPv4 forwarding in the namespace.
func (l *demoLab) forward(name string) error {
	return l.do(name, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0)
	})
}

// nat makes the namespace a home router that masquerades what its lan device sends out of
// its wan device and drops unsolicited inbound packets; random picks a new public port for
// every destination ("symmetric" NAT), otherwise a socket keeps its port (consistent).
func (l *demoLab) nat(name string, random bool) error {
	masq := "masquerade"
	if random {
		masq = "masquerade fully-random"
	}
	rules := fmt.Sprintf(`flush ruleset
table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan" %s
	}
}
table ip filter {
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
		iifname "wan" icmp type echo-request accept
		iifname "wan" drop
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "lan" oifname "wan" accept
	}
}
`, masq)
	ctx, cancel := context.WithTimeout(context.Background(), demoCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.ns(name), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %w: %s", l.ns(name), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// run runs a command inside the namespace and returns its output.
func (l *demoLab) run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.ns(name)}, args...)...).CombinedOutput()
	return string(out), err
}

// do runs f on a thread inside the namespace (setns): sockets, TUN devices and netlink
// handles that f opens belong to it. The thread goes back before it is reused; if it
// cannot, it stays locked and the runtime ends it.
func (l *demoLab) do(name string, f func() error) error {
	target, err := os.Open(netnsDir + "/" + l.ns(name))
	if err != nil {
		return err
	}
	defer target.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer home.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("setns %s: %w", l.ns(name), err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- errors.Join(ferr, fmt.Errorf("setns back: %w", err))
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// listenPacket returns a ListenPacket that opens its sockets inside the namespace.
func (l *demoLab) listenPacket(name string) func(network, address string) (net.PacketConn, error) {
	return func(network, address string) (net.PacketConn, error) {
		var pc net.PacketConn
		err := l.do(name, func() (err error) {
			pc, err = net.ListenPacket(network, address)
			return err
		})
		return pc, err
	}
}

// close deletes the lab's namespaces, newest first, with every link and device in them.
func (l *demoLab) close() error {
	var errs []error
	for i := len(l.nss) - 1; i >= 0; i-- {
		if err := labCmd("ip", "netns", "del", l.nss[i]); err != nil {
			errs = append(errs, err)
		}
	}
	l.nss = nil
	return errors.Join(errs...)
}

// leftovers lists the lab's namespaces that still exist.
func (l *demoLab) leftovers() []string {
	entries, _ := os.ReadDir(netnsDir)
	var left []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), l.prefix) {
			left = append(left, e.Name())
		}
	}
	return left
}
