package interop

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	lanPrefix = netip.MustParsePrefix("10.77.0.0/24")
	hostA     = netip.MustParseAddr("10.77.0.2")
	hostB     = netip.MustParseAddr("10.77.0.3")
)

// twoHostLAN builds hosts a (10.77.0.2) and b (10.77.0.3) on one bridged LAN.
func twoHostLAN(t *testing.T) (*Lab, *Netns, *Netns) {
	t.Helper()
	lab := NewLab(t)
	a, b := lab.Netns("a"), lab.Netns("b")
	lan := lab.LAN("lan", lanPrefix)
	lan.Attach(a, "eth0", hostA)
	lan.Attach(b, "eth0", hostB)
	return lab, a, b
}

// hostLinks lists the link names of the test's own namespace.
func hostLinks(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return names
}

// statNetns returns the identity (device and inode) of the network namespace at path.
func statNetns(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func TestNetnsLAN(t *testing.T) {
	linksBefore := hostLinks(t)
	lab, a, b := twoHostLAN(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	// UDP across the bridge, from sockets this process opened inside a and b.
	pb, err := b.ListenPacket("udp4", netip.AddrPortFrom(hostB, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer pb.Close()
	pa, err := a.ListenPacket("udp4", netip.AddrPortFrom(hostA, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Close()
	if _, err := pa.WriteTo([]byte("over the lan"), pb.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	pb.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, from, err := pb.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != "over the lan" || from.(*net.UDPAddr).AddrPort() != pa.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Errorf("b got %q from %v, want %q from %v", buf[:n], from, "over the lan", pa.LocalAddr())
	}
	// The host has no such address: a socket opened here, outside, cannot bind it.
	if c, err := net.ListenPacket("udp4", netip.AddrPortFrom(hostA, 0).String()); err == nil {
		c.Close()
		t.Errorf("bound %v in the test's own namespace", hostA)
	}

	// Commands inside: ping (if installed) and the namespace's own view of its links.
	if _, err := exec.LookPath("ping"); err == nil {
		if out, err := a.Run(ctx, "ping", "-c", "1", "-W", "2", hostB.String()); err != nil {
			t.Errorf("ping a -> b: %v", err)
		} else if !strings.Contains(out, "1 received") {
			t.Errorf("ping a -> b: %s", out)
		}
	} else {
		t.Log("ping not installed; UDP alone checked the LAN")
	}
	out, err := b.Run(ctx, "ip", "-br", "addr", "show", "eth0")
	if err != nil || !strings.Contains(out, hostB.String()+"/24") {
		t.Errorf("ip addr in b: %q %v", out, err)
	}

	// Sysctls are per namespace: forwarding on in a, the host's left as it was.
	hostFwd, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	a.Sysctl("net.ipv4.ip_forward", "1")
	var aFwd []byte
	if err := a.Do(func() error {
		var err error
		aFwd, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(aFwd) != "1\n" || !bytes.Equal(after, hostFwd) {
		t.Errorf("ip_forward: %q in a, host %q before and %q after", aFwd, hostFwd, after)
	}

	// Close removes every namespace; nothing ever appeared on the host.
	names := []string{a.Name(), b.Name(), lab.ID() + "-lan"}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(netnsDir, name)); !os.IsNotExist(err) {
			t.Errorf("namespace %s still exists after Close (%v)", name, err)
		}
	}
	if list, err := exec.Command(ipPath(), "netns", "list").Output(); err != nil || strings.Contains(string(list), lab.ID()) {
		t.Errorf("ip netns list after Close: %q %v", list, err)
	}
	if after := hostLinks(t); strings.Join(after, " ") != strings.Join(linksBefore, " ") {
		t.Errorf("host links changed: %v, before %v", after, linksBefore)
	}
	if err := lab.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Many concurrent Do calls leave every thread of the process in its own namespace.
func TestNetnsThreadsReturn(t *testing.T) {
	_, a, _ := twoHostLAN(t)
	home := statNetns(t, "/proc/self/ns/net")
	if os.SameFile(statNetns(t, a.Path()), home) {
		t.Fatal("a is the test's own namespace")
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			pc, err := a.ListenPacket("udp4", "10.77.0.2:0")
			if err != nil {
				errs <- err
				return
			}
			pc.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		fi, err := os.Stat(filepath.Join("/proc/self/task", task.Name(), "ns/net"))
		if err != nil {
			continue // the thread just exited
		}
		if !os.SameFile(fi, home) {
			t.Errorf("thread %s is in another network namespace", task.Name())
		}
	}
}

// A namespace named like a lab's whose test process is gone is deleted by the sweep.
func TestNetnsSweepStale(t *testing.T) {
	RequireNetns(t)
	// No pid can exceed pid_max (at most 2^22), so this process never existed.
	dead := "hl-" + strconv.FormatInt(1<<23, 36) + "-zzzz-stale"
	if err := runIP("netns", "add", dead); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(netnsDir, dead)); err == nil {
			runIP("netns", "del", dead)
		}
	})
	msgs := sweepStale()
	if _, err := os.Stat(filepath.Join(netnsDir, dead)); !os.IsNotExist(err) {
		t.Errorf("stale namespace %s survived the sweep: %v", dead, msgs)
	}
	for _, m := range msgs {
		t.Log(m)
	}
}

// JS drivers run inside namespaces: a hyperdht bootstrapper in a, a node in b
// that becomes persistent across the LAN (the bootstrapper's PING_NAT reached it).
func TestNetnsHyperDHT(t *testing.T) {
	Require(t)
	_, a, b := twoHostLAN(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	boot := StartHyperDHTBootstrapperAt(t, netip.AddrPortFrom(hostA, 49737), a.Name())
	if boot.Addr() != netip.AddrPortFrom(hostA, 49737) {
		t.Errorf("bootstrapper at %v", boot.Addr())
	}
	node := StartHyperDHTNode(t, []netip.AddrPort{boot.Addr()}, NodeOptions{Host: hostB, Netns: b.Name()})
	if _, err := node.WaitEvent(ctx, "persistent", nil); err != nil {
		t.Fatal(err)
	}
	info, err := node.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Host != hostB.String() || info.Firewalled || node.Addr().Addr() != hostB {
		t.Errorf("node in b: info %+v, addr %v", info, node.Addr())
	}
	if _, err := boot.Ping(ctx, node.Addr()); err != nil {
		t.Errorf("ping a -> b: %v", err)
	}
}
