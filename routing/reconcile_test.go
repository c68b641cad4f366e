package routing

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func checkTranscript(t *testing.T, f *fakeSystem, want ...string) {
	t.Helper()
	if got := f.take(); !slices.Equal(got, want) {
		t.Errorf("changes:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func foreign(dst string, table, metric, proto int) fakeRoute {
	return fakeRoute{route: route{dst: netip.MustParsePrefix(dst), table: table, metric: metric}, proto: proto}
}

const protoBoot = 3 // what `ip route add` uses by default

// TestRouterStates applies a sequence of configs and compares the changes
// each makes with the expected transcript.
func TestRouterStates(t *testing.T) {
	f := newFake()
	f.routeTable = []fakeRoute{foreign("10.250.0.0/16", mainTable, 0, protoBoot)}
	r, err := newRouter(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkTranscript(t, f) // nothing left over, nothing to sweep

	steps := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"first", Config{MTU: 1400, Addrs: pfx("fd5e::5/64", "10.99.0.5/16"), Routes: pfx("10.99.0.0/16", "fd5e::/64", "192.168.50.0/24")}, []string{
			"mtu 1400", "up",
			"addr add 10.99.0.5/16", "addr add fd5e::5/64",
			"route add 10.99.0.0/16", "route add 192.168.50.0/24", "route add fd5e::/64",
		}},
		{"same again", Config{MTU: 1400, Addrs: pfx("10.99.0.5/16", "fd5e::5/64"), Routes: pfx("fd5e::/64", "192.168.50.0/24", "10.99.0.0/16")}, nil},
		{"duplicates and MTU 0 change nothing", Config{Addrs: pfx("10.99.0.5/16", "fd5e::5/64", "10.99.0.5/16"), Routes: pfx("10.99.0.0/16", "192.168.50.0/24", "fd5e::/64", "fd5e::/64")}, nil},
		{"a peer's subnet moves", Config{MTU: 1400, Addrs: pfx("10.99.0.5/16", "fd5e::5/64"), Routes: pfx("10.99.0.0/16", "192.168.60.0/24", "fd5e::/64")}, []string{
			"route del 192.168.50.0/24 table 254", "route add 192.168.60.0/24",
		}},
		{"new address, no IPv6, larger MTU", Config{MTU: 9000, Addrs: pfx("10.99.0.6/16"), Routes: pfx("10.99.0.0/16")}, []string{
			"mtu 9000",
			"addr del 10.99.0.5/16", "addr del fd5e::5/64", "addr add 10.99.0.6/16",
			"route del fd5e::/64 table 254", "route del 192.168.60.0/24 table 254", // in the system's order
		}},
	}
	for _, s := range steps {
		if err := r.Set(s.cfg); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		t.Run(s.name, func(t *testing.T) { checkTranscript(t, f, s.want...) })
	}

	f.up = false // someone took the link down
	if err := r.Set(Config{Addrs: pfx("10.99.0.6/16"), Routes: pfx("10.99.0.0/16")}); err != nil {
		t.Fatal(err)
	}
	checkTranscript(t, f, "up")

	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	checkTranscript(t, f, "route del 10.99.0.0/16 table 254", "addr del 10.99.0.6/16", "down")
	if !f.closed {
		t.Error("Close left the netlink socket open")
	}
	if want := []fakeRoute{foreign("10.250.0.0/16", mainTable, 0, protoBoot)}; !slices.Equal(f.routeTable, want) {
		t.Errorf("routes after Close: %v, want only the foreign one", f.routeTable)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := r.Set(Config{}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Set after Close: %v", err)
	}
	checkTranscript(t, f)
}

// TestNewRemovesLeftovers is the crash recovery: what a previous run left on
// the interface goes before New returns, and each removal is logged.
func TestNewRemovesLeftovers(t *testing.T) {
	f := newFake()
	f.up, f.mtu = true, 1400
	f.addrTable = []addr{
		{prefix: netip.MustParsePrefix("10.99.0.5/16"), noPrefixRoute: true},
		{prefix: netip.MustParsePrefix("fd5e::5/64"), noPrefixRoute: true},
		{prefix: netip.MustParsePrefix("10.77.0.1/24")}, // added by hand
	}
	f.routeTable = []fakeRoute{
		foreign("10.99.0.0/16", mainTable, 0, Protocol),
		foreign("fd5e::/64", mainTable, 1024, Protocol),
		foreign("172.16.0.0/12", 100, 0, Protocol), // another table: ours all the same
		foreign("10.250.0.0/16", mainTable, 0, protoBoot),
	}
	var logs bytes.Buffer
	r, err := newRouter(f, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	checkTranscript(t, f,
		"route del 10.99.0.0/16 table 254", "route del fd5e::/64 table 254", "route del 172.16.0.0/12 table 100",
		"addr del 10.99.0.5/16", "addr del fd5e::5/64", "addr del 10.77.0.1/24")
	for _, want := range []string{
		`msg="removed leftover route" iface=hl0 route=172.16.0.0/12 table=100`,
		`msg="removed leftover address" iface=hl0 addr=10.77.0.1/24`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
	if strings.Count(logs.String(), "\n") != 6 {
		t.Errorf("want 6 log lines:\n%s", logs.String())
	}
	if len(f.routeTable) != 1 || f.routeTable[0].proto != protoBoot {
		t.Errorf("routes after New: %v, want only the foreign one", f.routeTable)
	}
	if err := r.Set(Config{Addrs: pfx("10.99.0.5/16"), Routes: pfx("10.99.0.0/16")}); err != nil {
		t.Fatal(err)
	}
	checkTranscript(t, f, "addr add 10.99.0.5/16", "route add 10.99.0.0/16") // already up, MTU kept
}

func TestCleanup(t *testing.T) {
	f := newFake()
	f.up = true
	f.addrTable = []addr{{prefix: netip.MustParsePrefix("10.99.0.5/16"), noPrefixRoute: true}}
	f.routeTable = []fakeRoute{foreign("10.99.0.0/16", mainTable, 0, Protocol)}
	if err := cleanup(f, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	checkTranscript(t, f, "route del 10.99.0.0/16 table 254", "addr del 10.99.0.5/16", "down")
	if !f.closed {
		t.Error("cleanup left the netlink socket open")
	}

	gone := newFake()
	gone.exists = false
	if err := cleanup(gone, slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("cleanup of a missing interface: %v", err)
	}
	notTUN := newFake()
	notTUN.tun = false
	notTUN.addrTable = []addr{{prefix: netip.MustParsePrefix("192.168.1.2/24")}}
	if err := cleanup(notTUN, slog.New(slog.DiscardHandler)); !errors.Is(err, ErrNotTUN) {
		t.Errorf("cleanup of a non-TUN interface: %v", err)
	}
	checkTranscript(t, notTUN)
}

// An address someone else added brought a prefix route with it; Set puts it
// back without one.
func TestSetReplacesAddressWithPrefixRoute(t *testing.T) {
	f := newFake()
	r, err := newRouter(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.up = true
	f.addrTable = []addr{{prefix: netip.MustParsePrefix("10.99.0.5/16")}}
	if err := r.Set(Config{Addrs: pfx("10.99.0.5/16")}); err != nil {
		t.Fatal(err)
	}
	checkTranscript(t, f, "addr del 10.99.0.5/16", "addr add 10.99.0.5/16")
}

// A route that is not ours is in the way: Set reports it, replaces nothing,
// and still makes every other change.
func TestSetConflictWithForeignRoute(t *testing.T) {
	f := newFake()
	f.routeTable = []fakeRoute{foreign("192.168.1.0/24", mainTable, 0, protoBoot)}
	r, err := newRouter(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Set(Config{Addrs: pfx("10.99.0.5/16"), Routes: pfx("10.99.0.0/16", "192.168.1.0/24")})
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "routing: hl0: add route 192.168.1.0/24: a route hyperlan did not add is in the way") {
		t.Errorf("error: %v", err)
	}
	checkTranscript(t, f, "up", "addr add 10.99.0.5/16", "route add 10.99.0.0/16")
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []fakeRoute{foreign("192.168.1.0/24", mainTable, 0, protoBoot)}; !slices.Equal(f.routeTable, want) {
		t.Errorf("routes after Close: %v", f.routeTable)
	}
}

func TestSetCarriesOnAfterFailures(t *testing.T) {
	f := newFake()
	f.fail = map[string]error{"mtu 1400": syscall.EINVAL, "addr add fd5e::5/64": syscall.EACCES}
	r, err := newRouter(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Set(Config{MTU: 1400, Addrs: pfx("10.99.0.5/16", "fd5e::5/64"), Routes: pfx("10.99.0.0/16")})
	if !errors.Is(err, syscall.EINVAL) || !errors.Is(err, syscall.EACCES) {
		t.Errorf("error: %v", err)
	}
	checkTranscript(t, f, "mtu 1400: invalid argument", "up", "addr add 10.99.0.5/16", "addr add fd5e::5/64: permission denied", "route add 10.99.0.0/16")
	f.fail = nil
	if err := r.Set(Config{MTU: 1400, Addrs: pfx("10.99.0.5/16", "fd5e::5/64"), Routes: pfx("10.99.0.0/16")}); err != nil {
		t.Fatal(err)
	}
	checkTranscript(t, f, "mtu 1400", "addr add fd5e::5/64")
}

func TestSetRejectsBadConfigs(t *testing.T) {
	f := newFake()
	r, err := newRouter(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"zero address", Config{Addrs: []netip.Prefix{{}}}, "not an IPv4 or IPv6 address"},
		{"unspecified address", Config{Addrs: pfx("0.0.0.0/0")}, "not an IPv4 or IPv6 address"},
		{"mapped address", Config{Addrs: pfx("::ffff:10.0.0.1/120")}, "not an IPv4 or IPv6 address"},
		{"link-local address", Config{Addrs: pfx("fe80::1/64")}, "link-local addresses are the kernel's"},
		{"zero route", Config{Routes: []netip.Prefix{{}}}, "not an IPv4 or IPv6 prefix"},
		{"host bits", Config{Routes: pfx("10.99.0.5/16")}, "host bits set (did you mean 10.99.0.0/16?)"},
		{"MTU", Config{MTU: 67}, "MTU 67 outside"},
		{"MTU for IPv6", Config{MTU: 1279, Routes: pfx("fd5e::/64")}, "IPv6 needs at least 1280"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Set(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
			checkTranscript(t, f)
		})
	}
}

func TestInterfaceChecks(t *testing.T) {
	f := newFake()
	f.tun = false
	if _, err := newRouter(f, Options{}); !errors.Is(err, ErrNotTUN) || !f.closed {
		t.Errorf("New on a non-TUN interface: %v (socket closed: %v)", err, f.closed)
	}
	f = newFake()
	f.exists = false
	if _, err := newRouter(f, Options{}); !errors.Is(err, errNoLink) || !f.closed {
		t.Errorf("New on a missing interface: %v (socket closed: %v)", err, f.closed)
	}

	f = newFake()
	r, err := newRouter(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.tun = false // another interface took the name
	f.addrTable = []addr{{prefix: netip.MustParsePrefix("192.168.1.2/24")}}
	if err := r.Set(Config{}); !errors.Is(err, ErrNotTUN) {
		t.Errorf("Set on a non-TUN interface: %v", err)
	}
	if err := r.Close(); !errors.Is(err, ErrNotTUN) {
		t.Errorf("Close on a non-TUN interface: %v", err)
	}
	checkTranscript(t, f)

	f = newFake()
	r, err = newRouter(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.exists = false // the TUN device was closed first
	if err := r.Set(Config{}); !errors.Is(err, errNoLink) {
		t.Errorf("Set without the interface: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close without the interface: %v", err)
	}
	checkTranscript(t, f)
}

// Set returns once the kernel has put new addresses in use, which it does
// asynchronously for IPv6, or says that it did not.
func TestSetWaitsForAddressesInUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		r, err := newRouter(f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		f.notYet = 3
		start := time.Now()
		if err := r.Set(Config{Addrs: pfx("fd5e::5/64")}); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != 3*inUsePoll {
			t.Errorf("waited %v, want %v", waited, 3*inUsePoll)
		}
		f.notYet = 1 << 30
		err = r.Set(Config{Addrs: pfx("fd5e::6/64")})
		if err == nil || !strings.Contains(err.Error(), "routing: hl0: address fd5e::6/64: not in use after 2s") {
			t.Errorf("error: %v", err)
		}
		if waited := time.Since(start); waited < inUseWait {
			t.Errorf("gave up after %v", waited)
		}
	})
}
