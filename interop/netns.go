package interop

// Network namespaces for tests: a Lab is the set of namespaces one test makes,
// wired with veth pairs and bridges, and removed again in t.Cleanup with
// everything inside them. Nothing is created in, or changed in, the test's own
// namespace: each veth end is created directly inside its namespace and a LAN's
// bridge lives in a namespace of its own (the "switch"). The two-host LAN
// (10.77.0.0/24 is only an example; every lab has its own address space):
//
//	hl-…-a   eth0 10.77.0.2/24 ──p1─┐
//	                                 br0   hl-…-lan (the switch)
//	hl-…-b   eth0 10.77.0.3/24 ──p2─┘
//
//	lab := interop.NewLab(t)         // skips without root or ip; fails with HYPERLAN_REQUIRE_NETNS=1
//	a, b := lab.Netns("a"), lab.Netns("b")
//	lan := lab.LAN("lan", netip.MustParsePrefix("10.77.0.0/24"))
//	lan.Attach(a, "eth0", netip.MustParseAddr("10.77.0.2"))
//	lan.Attach(b, "eth0", netip.MustParseAddr("10.77.0.3"))
//	pc, err := a.ListenPacket("udp4", "10.77.0.2:0") // a socket in a, from this process
//	js := interop.StartHyperDHTNode(t, boot, interop.NodeOptions{Netns: b.Name(), Host: ...})
//
// Routers are namespaces on two links with [Netns.Sysctl]
// ("net.ipv4.ip_forward", "1"), [Netns.AddRoute] and rules run with
// [Netns.Run] (nft, iptables); see /work/shared/lab/NATLAB.md.
//
// Namespace names are "hl-<pid>-<rand>-<name>": pid is the test process's id in
// base 36, so [NewLab] can tell the namespaces that earlier, killed test runs
// left behind (their process is gone) and removes them.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireNetnsEnv is the environment variable that turns a machine without
// network namespaces (not Linux, not root, no ip) from a skipped test into a
// failed one.
const RequireNetnsEnv = "HYPERLAN_REQUIRE_NETNS"

const (
	netnsDir   = "/run/netns"     // where ip netns keeps the named namespaces
	ipTimeout  = 10 * time.Second // for one ip command
	killWait   = 2 * time.Second  // for leftover processes to die before the namespace is deleted
	maxNameLen = 16               // of the name part of a namespace
)

var (
	validName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)
	// ourName matches the names of every lab's namespaces: hl-<pid>-<rand>-<name>.
	ourName = regexp.MustCompile(`^hl-([0-9a-z]{1,8})-[0-9a-z]{4}-[a-z][a-z0-9]*$`)
)

// RequireNetns makes sure this test can create network namespaces: Linux, root,
// ip (iproute2) on PATH, and one namespace made and deleted as a probe. If not,
// it skips the test with the reason, or fails it when HYPERLAN_REQUIRE_NETNS=1.
// [NewLab] calls it.
func RequireNetns(t testing.TB) {
	t.Helper()
	problem := checkNetns()
	if problem == "" {
		return
	}
	if os.Getenv(RequireNetnsEnv) == "1" {
		t.Fatalf("interop: %s (%s=1, so this is a failure)", problem, RequireNetnsEnv)
	}
	t.Skipf("interop: %s; set %s=1 to fail instead of skipping", problem, RequireNetnsEnv)
}

var checkNetns = sync.OnceValue(func() string {
	if runtime.GOOS != "linux" {
		return "network namespaces need Linux"
	}
	if os.Geteuid() != 0 {
		return "network namespaces need root (this test creates namespaces and veth links)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "ip (iproute2) not found on PATH"
	}
	probe := newLabID() + "-probe"
	if err := runIP("netns", "add", probe); err != nil {
		return fmt.Sprintf("cannot create a network namespace: %v", err)
	}
	if err := runIP("netns", "del", probe); err != nil {
		return fmt.Sprintf("cannot delete the probe namespace %s: %v", probe, err)
	}
	return ""
})

var ipPath = sync.OnceValue(func() string {
	if p, err := exec.LookPath("ip"); err == nil {
		return p
	}
	return "ip"
})

// runIP runs ip with args and returns an error with its output if it fails.
func runIP(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, ipPath(), args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes2line(out))
	}
	return nil
}

func bytes2line(b []byte) string { return strings.TrimSpace(strings.ReplaceAll(string(b), "\n", "; ")) }

var (
	labIDsMu sync.Mutex
	labIDs   = map[string]bool{} // guarded by labIDsMu; every id this process handed out
)

// newLabID returns "hl-<pid in base 36>-<4 random base-36 digits>", new in this
// process.
func newLabID() string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	labIDsMu.Lock()
	defer labIDsMu.Unlock()
	for {
		var r [4]byte
		for i := range r {
			r[i] = digits[rand.IntN(len(digits))]
		}
		id := "hl-" + strconv.FormatInt(int64(os.Getpid()), 36) + "-" + string(r[:])
		if !labIDs[id] {
			labIDs[id] = true
			return id
		}
	}
}

// Lab is the set of network namespaces one test made. Its setup methods
// (Netns, Veth, LAN, and those of [Netns] and [LAN] that change the network)
// fail the test on error and must be called from the test goroutine. Close,
// registered with t.Cleanup by [NewLab], kills what still runs inside and
// deletes every namespace, which removes their links, addresses, routes and
// rules with them.
type Lab struct {
	t  testing.TB
	id string // "hl-<pid>-<rand>", the start of every namespace's name

	mu     sync.Mutex
	nss    []*Netns        // guarded by mu; in creation order
	names  map[string]bool // guarded by mu; the name parts in use
	closed bool            // guarded by mu
}

// NewLab returns an empty lab. It calls [RequireNetns], and the first call in a
// process deletes namespaces that earlier test processes left behind: those
// named like a lab's whose process no longer exists and that hold no process.
func NewLab(t testing.TB) *Lab {
	t.Helper()
	RequireNetns(t)
	sweepOnce.Do(func() {
		for _, msg := range sweepStale() {
			t.Log(msg)
		}
	})
	l := &Lab{t: t, id: newLabID(), names: map[string]bool{}}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

var sweepOnce sync.Once

// sweepStale deletes the namespaces of earlier, dead test processes and
// returns what it did or left alone, one line each.
func sweepStale() []string {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return nil // no named namespaces at all
	}
	var msgs []string
	for _, e := range entries {
		m := ourName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.ParseInt(m[1], 36, 64)
		if err != nil || pid == int64(os.Getpid()) || processExists(int(pid)) {
			continue
		}
		if pids, err := netnsPids(e.Name()); err != nil || len(pids) > 0 {
			msgs = append(msgs, fmt.Sprintf("interop: left stale namespace %s alone: processes %v inside (%v)", e.Name(), pids, err))
			continue
		}
		if err := runIP("netns", "del", e.Name()); err != nil {
			msgs = append(msgs, fmt.Sprintf("interop: stale namespace: %v", err))
			continue
		}
		msgs = append(msgs, fmt.Sprintf("interop: deleted stale namespace %s (its test process %d is gone)", e.Name(), pid))
	}
	return msgs
}

// netnsPids lists the processes inside namespace name (ip netns pids).
func netnsPids(name string) ([]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, ipPath(), "netns", "pids", name).Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns pids %s: %w", name, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// ID returns the prefix of the lab's namespace names, "hl-<pid>-<rand>".
func (l *Lab) ID() string { return l.id }

// Netns creates the namespace "<lab id>-name" with its loopback up. name is
// lower-case letters and digits, starting with a letter, at most 16 long, and
// new in this lab.
func (l *Lab) Netns(name string) *Netns {
	l.t.Helper()
	if !validName.MatchString(name) || len(name) > maxNameLen {
		l.t.Fatalf("interop: namespace name %q: want [a-z][a-z0-9]*, at most %d long", name, maxNameLen)
	}
	l.mu.Lock()
	if l.closed || l.names[name] {
		l.mu.Unlock()
		l.t.Fatalf("interop: namespace %q: lab closed or name in use", name)
	}
	l.names[name] = true
	ns := &Netns{lab: l, name: l.id + "-" + name}
	l.mu.Unlock()

	l.must(runIP("netns", "add", ns.name))
	l.mu.Lock()
	l.nss = append(l.nss, ns)
	l.mu.Unlock()
	ns.IP("link", "set", "lo", "up")
	return ns
}

// Veth links a and b with a veth pair whose ends are aDev in a and bDev in b,
// both up and without addresses.
func (l *Lab) Veth(a *Netns, aDev string, b *Netns, bDev string) {
	l.t.Helper()
	l.must(runIP("link", "add", "name", aDev, "netns", a.name, "type", "veth", "peer", "name", bDev, "netns", b.name))
	a.IP("link", "set", aDev, "up")
	b.IP("link", "set", bDev, "up")
}

// LAN creates an Ethernet segment for the IPv4 subnet prefix: a namespace
// "<lab id>-name" (the switch) holding the bridge br0. [LAN.Attach] plugs
// hosts in.
func (l *Lab) LAN(name string, prefix netip.Prefix) *LAN {
	l.t.Helper()
	if !prefix.IsValid() || !prefix.Addr().Is4() || prefix.Bits() > 30 || prefix.Masked() != prefix {
		l.t.Fatalf("interop: LAN %s: %v is not an IPv4 subnet of at least 4 addresses", name, prefix)
	}
	sw := l.Netns(name)
	sw.IP("link", "add", "br0", "type", "bridge")
	sw.IP("link", "set", "br0", "up")
	return &LAN{lab: l, sw: sw, prefix: prefix}
}

func (l *Lab) must(err error) {
	l.t.Helper()
	if err != nil {
		l.t.Fatalf("interop: lab %s: %v", l.id, err)
	}
}

// Close deletes the lab's namespaces, newest first, after killing any process
// still inside (drivers started in the lab are stopped by their own cleanups,
// which run before the lab's). Sockets opened with [Netns.ListenPacket] keep
// their namespace alive until they are closed, without its name. Close is
// idempotent; it reports what it could not remove or what it had to kill.
func (l *Lab) Close() error {
	l.mu.Lock()
	nss := l.nss
	l.nss, l.closed = nil, true
	l.mu.Unlock()

	var errs []error
	for i := len(nss) - 1; i >= 0; i-- {
		if err := nss[i].remove(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Netns is one network namespace of a [Lab].
type Netns struct {
	lab  *Lab
	name string // "<lab id>-<name>"
}

// Name returns the namespace's name, as `ip netns` knows it.
func (ns *Netns) Name() string { return ns.name }

// String returns the name.
func (ns *Netns) String() string { return ns.name }

// Path returns the namespace's file, for setns or `nsenter --net=`.
func (ns *Netns) Path() string { return netnsDir + "/" + ns.name }

// IP runs `ip -n NAME args...`, failing the test if it fails.
func (ns *Netns) IP(args ...string) {
	ns.lab.t.Helper()
	ns.lab.must(runIP(append([]string{"-n", ns.name}, args...)...))
}

// AddAddr adds the address addr (with its prefix length, such as
// 10.77.0.2/24) to device dev.
func (ns *Netns) AddAddr(dev string, addr netip.Prefix) {
	ns.lab.t.Helper()
	ns.IP("addr", "add", addr.String(), "dev", dev)
}

// AddRoute routes dst (0.0.0.0/0 for the default route) via gateway via.
func (ns *Netns) AddRoute(dst netip.Prefix, via netip.Addr) {
	ns.lab.t.Helper()
	ns.IP("route", "add", dst.String(), "via", via.String())
}

// Sysctl sets a sysctl of the namespace, such as ("net.ipv4.ip_forward", "1"),
// by writing /proc/sys from a thread inside it; only the net.* keys are per
// namespace.
func (ns *Netns) Sysctl(key, value string) {
	ns.lab.t.Helper()
	if !strings.HasPrefix(key, "net.") || strings.Contains(key, "/") || strings.Contains(key, "..") {
		ns.lab.t.Fatalf("interop: sysctl %q: only net.* keys belong to a namespace", key)
	}
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	ns.lab.must(ns.Do(func() error { return os.WriteFile(path, []byte(value+"\n"), 0) }))
}

// Command returns a command that runs name with args inside the namespace
// (`ip netns exec NAME name args...`; ip execs it, so the process's pid is
// name's). It is safe to call from any goroutine.
func (ns *Netns) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, ipPath(), append([]string{"netns", "exec", ns.name, name}, args...)...)
}

// Run runs name with args inside the namespace and returns its combined
// output; the error includes the output. It is safe to call from any
// goroutine.
func (ns *Netns) Run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in %s: %s %s: %w: %s", ns.name, name, strings.Join(args, " "), err, bytes2line(out))
	}
	return string(out), nil
}

// Do runs f on an OS thread that is inside the namespace, and returns f's
// error. Sockets and files f opens stay in the namespace after it returns;
// net.* sysctls under /proc/sys are the namespace's. f must not start
// goroutines that expect to be in the namespace (they are not). The calling
// goroutine is not moved: f runs on a goroutine of its own, locked to its
// thread, which moves back afterwards (or, if it cannot, is ended). Do is safe
// for concurrent use; on other systems than Linux it returns an error wrapping
// errors.ErrUnsupported.
func (ns *Netns) Do(f func() error) error { return doIn(ns.Path(), f) }

// ListenPacket is net.ListenPacket inside the namespace, for dht.Options and
// rpc.Options: the socket is created and bound there and keeps working in it
// whatever thread uses it.
func (ns *Netns) ListenPacket(network, address string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := ns.Do(func() error {
		var err error
		pc, err = net.ListenPacket(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("interop: in %s: %w", ns.name, err)
	}
	return pc, nil
}

// FreeUDPPortIn is [FreeUDPPort] inside namespace netns (by name) on host: a
// UDP port that was free there a moment ago.
func FreeUDPPortIn(t testing.TB, netns string, host netip.Addr) int {
	t.Helper()
	var port int
	err := doIn(netnsDir+"/"+netns, func() error {
		c, err := net.ListenPacket("udp4", netip.AddrPortFrom(host, 0).String())
		if err != nil {
			return err
		}
		port = c.LocalAddr().(*net.UDPAddr).Port
		return c.Close()
	})
	if err != nil {
		t.Fatalf("interop: free UDP port in %s: %v", netns, err)
	}
	return port
}

// remove kills what runs inside and deletes the namespace.
func (ns *Netns) remove() error {
	var errs []error
	pids, err := netnsPids(ns.name)
	if err != nil {
		errs = append(errs, err)
	}
	if len(pids) > 0 {
		// Processes the test started inside its own namespace and did not stop.
		for _, pid := range pids {
			killPid(pid)
		}
		errs = append(errs, fmt.Errorf("interop: processes %v were still running in %s; killed", pids, ns.name))
		deadline := time.Now().Add(killWait)
		for time.Now().Before(deadline) {
			if left, err := netnsPids(ns.name); err != nil || len(left) == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := runIP("netns", "del", ns.name); err != nil {
		errs = append(errs, fmt.Errorf("interop: %w", err))
	} else if _, err := os.Stat(ns.Path()); err == nil {
		errs = append(errs, fmt.Errorf("interop: namespace %s still exists after ip netns del", ns.name))
	}
	return errors.Join(errs...)
}

// LAN is an Ethernet segment of a [Lab]: a bridge in a switch namespace of its
// own, and an IPv4 subnet.
type LAN struct {
	lab    *Lab
	sw     *Netns
	prefix netip.Prefix

	mu    sync.Mutex
	ports int // guarded by mu; bridge ports made so far, named p1, p2, ...
}

// Prefix returns the LAN's subnet.
func (n *LAN) Prefix() netip.Prefix { return n.prefix }

// Switch returns the namespace that holds the bridge br0, to watch the LAN
// from (tcpdump -i br0).
func (n *LAN) Switch() *Netns { return n.sw }

// Attach plugs ns into the LAN with a veth pair: device dev in ns (up, with
// addr and the LAN's prefix length) and a bridge port in the switch.
func (n *LAN) Attach(ns *Netns, dev string, addr netip.Addr) {
	n.lab.t.Helper()
	if !n.prefix.Contains(addr) || addr == n.prefix.Addr() {
		n.lab.t.Fatalf("interop: LAN %v: cannot give %s the address %v", n.prefix, ns.name, addr)
	}
	n.mu.Lock()
	n.ports++
	port := "p" + strconv.Itoa(n.ports)
	n.mu.Unlock()
	n.lab.Veth(ns, dev, n.sw, port)
	n.sw.IP("link", "set", port, "master", "br0")
	ns.AddAddr(dev, netip.PrefixFrom(addr, n.prefix.Bits()))
}
