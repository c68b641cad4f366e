package routing

// Tests against the kernel, each in a network namespace of its own (they skip
// without root; HYPERLAN_REQUIRE_NETNS=1 makes that a failure). The state is
// read back with iproute2's JSON output, not with the netlink code under test.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/interop"
	"golang.org/x/sys/unix"
)

// labTUN returns a namespace with a persistent TUN interface hl0 in it, which
// outlives any file descriptor, as an interface left by a crashed run would.
// The lab deletes the namespace, and the interface with it.
func labTUN(t *testing.T) *interop.Netns {
	t.Helper()
	ns := interop.NewLab(t).Netns("rt")
	ns.IP("tuntap", "add", "dev", "hl0", "mode", "tun")
	return ns
}

func newIn(t *testing.T, ns *interop.Netns, iface string, opts Options) *Router {
	t.Helper()
	var r *Router
	err := ns.Do(func() (err error) {
		r, err = New(iface, opts)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ipJSON(t *testing.T, ns *interop.Netns, v any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, err := ns.Run(ctx, "ip", append([]string{"-j"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("ip -j %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// linkState is what the tests check of an interface: up, MTU, its addresses
// other than IPv6 link-local ones ("10.99.0.5/16 noprefixroute"), and the
// routes through it other than the kernel's ("10.99.0.0/16 proto 104", with
// " table N" outside the main table), both sorted.
type linkState struct {
	Up     bool
	MTU    int
	Addrs  []string
	Routes []string
}

func (s linkState) String() string {
	return fmt.Sprintf("up %v, MTU %d\n\taddrs %q\n\troutes %q", s.Up, s.MTU, s.Addrs, s.Routes)
}

func stateOf(t *testing.T, ns *interop.Netns, dev string) linkState {
	t.Helper()
	var links []struct {
		Flags    []string
		MTU      int
		AddrInfo []struct {
			Family, Local, Scope string
			Prefixlen            int
			Noprefixroute        bool
		} `json:"addr_info"`
	}
	ipJSON(t, ns, &links, "addr", "show", "dev", dev)
	if len(links) != 1 {
		t.Fatalf("ip addr show dev %s: %d links", dev, len(links))
	}
	s := linkState{Up: slices.Contains(links[0].Flags, "UP"), MTU: links[0].MTU}
	for _, a := range links[0].AddrInfo {
		if a.Family == "inet6" && a.Scope == "link" {
			continue
		}
		line := fmt.Sprintf("%s/%d", a.Local, a.Prefixlen)
		if a.Noprefixroute {
			line += " noprefixroute"
		}
		s.Addrs = append(s.Addrs, line)
	}
	var routes []struct{ Dst, Table, Protocol string }
	ipJSON(t, ns, &routes, "route", "show", "table", "all", "dev", dev)
	for _, r := range routes {
		if r.Protocol == "kernel" || r.Table == "local" {
			continue
		}
		if r.Protocol == "" {
			r.Protocol = "boot" // ip leaves out the default
		}
		line := r.Dst + " proto " + r.Protocol
		if r.Table != "" && r.Table != "main" {
			line += " table " + r.Table
		}
		s.Routes = append(s.Routes, line)
	}
	slices.Sort(s.Addrs)
	slices.Sort(s.Routes)
	return s
}

func checkState(t *testing.T, ns *interop.Netns, want linkState) {
	t.Helper()
	if got := stateOf(t, ns, "hl0"); !equalState(got, want) {
		t.Errorf("hl0:\n%v\nwant\n%v", got, want)
	}
}

func equalState(a, b linkState) bool {
	return a.Up == b.Up && a.MTU == b.MTU && slices.Equal(a.Addrs, b.Addrs) && slices.Equal(a.Routes, b.Routes)
}

var (
	cfg = Config{
		MTU:    1400,
		Addrs:  pfx("10.99.0.5/16", "fd5e::5/64"),
		Routes: pfx("10.99.0.0/16", "192.168.50.0/24", "fd5e::/64"),
	}
	cfgState = linkState{
		Up: true, MTU: 1400,
		Addrs:  []string{"10.99.0.5/16 noprefixroute", "fd5e::5/64 noprefixroute"},
		Routes: []string{"10.99.0.0/16 proto 104", "192.168.50.0/24 proto 104", "fd5e::/64 proto 104"},
	}
)

// monitor is an rtnetlink socket in a namespace that hears every change of
// links, addresses and routes there.
type monitor struct{ fd int }

func newMonitor(t *testing.T, ns *interop.Netns) *monitor {
	t.Helper()
	m := &monitor{fd: -1}
	err := ns.Do(func() (err error) {
		m.fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		groups := uint32(unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR | unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV6_ROUTE)
		return unix.Bind(m.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(m.fd) })
	return m
}

// changes returns how many notifications arrived since the last call. The
// kernel queues them before it acknowledges the request that caused them.
func (m *monitor) changes(t *testing.T) int {
	t.Helper()
	n := 0
	buf := make([]byte, 1<<16)
	for {
		k, _, err := unix.Recvfrom(m.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := countMessages(buf[:k])
		if err != nil {
			t.Fatal(err)
		}
		n += msgs
	}
}

// countMessages counts the netlink messages in b.
func countMessages(b []byte) (int, error) {
	n := 0
	for len(b) >= unix.SizeofNlMsghdr {
		l := int(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return n, fmt.Errorf("netlink message of %d bytes in %d", l, len(b))
		}
		n++
		b = b[(l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1):]
	}
	return n, nil
}

func TestNetnsSetAndClose(t *testing.T) {
	ns := labTUN(t)
	r := newIn(t, ns, "hl0", Options{})
	if err := r.Set(cfg); err != nil {
		t.Fatal(err)
	}
	checkState(t, ns, cfgState)

	// The kernel now sends the network and a peer's subnet into hl0, from
	// our address.
	for dst, src := range map[string]string{"10.99.7.7": "10.99.0.5", "192.168.50.7": "10.99.0.5", "fd5e::7": "fd5e::5"} {
		var got []struct{ Dev, Prefsrc string }
		ipJSON(t, ns, &got, "route", "get", dst)
		if len(got) != 1 || got[0].Dev != "hl0" || got[0].Prefsrc != src {
			t.Errorf("ip route get %s: %+v, want dev hl0 src %s", dst, got, src)
		}
	}

	// Routes that are not ours: one beside ours, one in the way of a
	// subnet a peer advertises.
	ns.IP("route", "add", "10.250.0.0/16", "dev", "hl0")
	ns.IP("route", "add", "172.31.0.0/16", "dev", "hl0", "proto", "static")
	cfg2 := Config{MTU: 1400, Addrs: cfg.Addrs, Routes: pfx("10.99.0.0/16", "192.168.60.0/24", "172.31.0.0/16", "fd5e::/64")}
	err := r.Set(cfg2)
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "172.31.0.0/16: a route hyperlan did not add is in the way") {
		t.Errorf("Set over a foreign route: %v", err)
	}
	want := cfgState
	want.Routes = []string{"10.250.0.0/16 proto boot", "10.99.0.0/16 proto 104", "172.31.0.0/16 proto static", "192.168.60.0/24 proto 104", "fd5e::/64 proto 104"}
	checkState(t, ns, want)

	// Set again: not one netlink notification.
	mon := newMonitor(t, ns)
	cfg2.Routes = pfx("10.99.0.0/16", "192.168.60.0/24", "fd5e::/64")
	for range 2 {
		if err := r.Set(cfg2); err != nil {
			t.Fatal(err)
		}
	}
	if n := mon.changes(t); n != 0 {
		t.Errorf("Set with the state in place: %d changes, want none", n)
	}
	cfg2.Routes = pfx("10.99.0.0/16", "fd5e::/64")
	if err := r.Set(cfg2); err != nil {
		t.Fatal(err)
	}
	if n := mon.changes(t); n != 1 {
		t.Errorf("Set removing one route: %d changes, want 1", n)
	}

	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// The kernel drops the other routes through hl0 by itself: IPv4 ones
	// with the interface's last IPv4 address, all of them when it goes down.
	checkState(t, ns, linkState{MTU: 1400})
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestNetnsCrashRecovery leaves state behind the way a killed process would
// (and adds some by hand), then starts again: New removes all of it before
// the first Set, Close and Cleanup leave nothing of ours.
func TestNetnsCrashRecovery(t *testing.T) {
	ns := labTUN(t)
	crashed := newIn(t, ns, "hl0", Options{})
	if err := crashed.Set(cfg); err != nil {
		t.Fatal(err)
	}
	crashed.sys.close() // the process dies: no Close

	ns.IP("route", "add", "10.98.0.0/16", "dev", "hl0", "proto", "104", "table", "100")
	ns.IP("addr", "add", "10.77.0.1/24", "dev", "hl0") // with its own prefix route
	ns.IP("route", "add", "fd99::/64", "dev", "hl0")   // not ours (an IPv4 one would go with the last IPv4 address)
	left := cfgState
	left.Addrs = append([]string{"10.77.0.1/24"}, left.Addrs...)
	left.Routes = []string{"10.98.0.0/16 proto 104 table 100", "10.99.0.0/16 proto 104", "192.168.50.0/24 proto 104", "fd5e::/64 proto 104", "fd99::/64 proto boot"}
	checkState(t, ns, left)

	var logs bytes.Buffer
	r := newIn(t, ns, "hl0", Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	checkState(t, ns, linkState{Up: true, MTU: 1400, Routes: []string{"fd99::/64 proto boot"}})
	for _, want := range []string{
		"route=10.98.0.0/16 table=100", "route=10.99.0.0/16 table=254", "route=192.168.50.0/24 table=254", "route=fd5e::/64 table=254",
		"addr=10.77.0.1/24", "addr=10.99.0.5/16", "addr=fd5e::5/64",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no log line for the leftover %s:\n%s", want, logs.String())
		}
	}

	if err := r.Set(cfg); err != nil {
		t.Fatal(err)
	}
	want := cfgState
	want.Routes = append(slices.Clone(want.Routes), "fd99::/64 proto boot")
	checkState(t, ns, want)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	clean := linkState{MTU: 1400} // down, which takes the foreign route too
	checkState(t, ns, clean)

	// Crash again; this time `hyperlan down` cleans up without a Router.
	crashed = newIn(t, ns, "hl0", Options{})
	if err := crashed.Set(cfg); err != nil {
		t.Fatal(err)
	}
	crashed.sys.close()
	if err := ns.Do(func() error { return Cleanup("hl0", Options{}) }); err != nil {
		t.Fatal(err)
	}
	checkState(t, ns, clean)
	if err := ns.Do(func() error { return Cleanup("hl9", Options{}) }); err != nil {
		t.Errorf("Cleanup of a missing interface: %v", err)
	}
}

// TestNetnsRefusesOtherLinks: a Router never touches an interface that is not
// a TUN, whatever its name.
func TestNetnsRefusesOtherLinks(t *testing.T) {
	ns := interop.NewLab(t).Netns("rt")
	ns.IP("link", "add", "eth9", "type", "veth", "peer", "name", "eth8")
	ns.IP("addr", "add", "192.168.9.2/24", "dev", "eth9")
	ns.IP("tuntap", "add", "dev", "tap9", "mode", "tap")
	for _, dev := range []string{"eth9", "tap9"} {
		err := ns.Do(func() error {
			_, err := New(dev, Options{})
			return err
		})
		if !errors.Is(err, ErrNotTUN) {
			t.Errorf("New(%s): %v", dev, err)
		}
		err = ns.Do(func() error { return Cleanup(dev, Options{}) })
		if !errors.Is(err, ErrNotTUN) {
			t.Errorf("Cleanup(%s): %v", dev, err)
		}
	}
	if got := stateOf(t, ns, "eth9"); !slices.Equal(got.Addrs, []string{"192.168.9.2/24"}) {
		t.Errorf("eth9 after New and Cleanup: %v", got)
	}
	err := ns.Do(func() error {
		_, err := New("hl9", Options{})
		return err
	})
	if !errors.Is(err, errNoLink) {
		t.Errorf("New of a missing interface: %v", err)
	}
}
