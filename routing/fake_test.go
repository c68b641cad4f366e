package routing

import (
	"fmt"
	"net/netip"
	"slices"
	"syscall"
)

// fakeSystem models one interface and the routes through it, the way the
// kernel treats them, and records every change as a line of text: the
// transcript the tests compare against what they expect (tailscale's
// TestRouterStates does this with ip commands).
type fakeSystem struct {
	iface      string
	exists     bool
	tun        bool
	up         bool
	mtu        int
	addrTable  []addr
	routeTable []fakeRoute // ours and others', in every table

	notYet     int              // inUse answers false this many times first
	fail       map[string]error // change line -> error to fail it with
	transcript []string
	closed     bool
}

type fakeRoute struct {
	route
	proto int
}

func newFake() *fakeSystem {
	return &fakeSystem{iface: "hl0", exists: true, tun: true, mtu: 1500}
}

// defaultMetric is the metric the kernel gives a route added without one.
func defaultMetric(p netip.Prefix) int {
	if p.Addr().Is6() {
		return 1024
	}
	return 0
}

// change records line and returns the error the test injected for it.
func (f *fakeSystem) change(line string) error {
	if err := f.fail[line]; err != nil {
		f.transcript = append(f.transcript, line+": "+err.Error())
		return err
	}
	f.transcript = append(f.transcript, line)
	return nil
}

// take returns the transcript so far and starts a new one.
func (f *fakeSystem) take() []string {
	t := f.transcript
	f.transcript = nil
	return t
}

func (f *fakeSystem) name() string { return f.iface }

func (f *fakeSystem) link() (linkInfo, error) {
	if !f.exists {
		return linkInfo{}, fmt.Errorf("%w: %s", errNoLink, f.iface)
	}
	return linkInfo{tun: f.tun, up: f.up, mtu: f.mtu}, nil
}

func (f *fakeSystem) setMTU(mtu int) error {
	if err := f.change(fmt.Sprintf("mtu %d", mtu)); err != nil {
		return err
	}
	f.mtu = mtu
	return nil
}

func (f *fakeSystem) setUp(up bool) error {
	line := "down"
	if up {
		line = "up"
	}
	if err := f.change(line); err != nil {
		return err
	}
	f.up = up
	return nil
}

func (f *fakeSystem) addrs() ([]addr, error) { return slices.Clone(f.addrTable), nil }

func (f *fakeSystem) addAddr(p netip.Prefix) error {
	if slices.ContainsFunc(f.addrTable, func(a addr) bool { return a.prefix == p }) {
		return syscall.EEXIST
	}
	if err := f.change("addr add " + p.String()); err != nil {
		return err
	}
	f.addrTable = append(f.addrTable, addr{prefix: p, noPrefixRoute: true})
	return nil
}

func (f *fakeSystem) delAddr(p netip.Prefix) error {
	i := slices.IndexFunc(f.addrTable, func(a addr) bool { return a.prefix == p })
	if i < 0 {
		return syscall.EADDRNOTAVAIL
	}
	if err := f.change("addr del " + p.String()); err != nil {
		return err
	}
	f.addrTable = slices.Delete(f.addrTable, i, i+1)
	return nil
}

// inUse: in the model, addresses are in use once added, except the first
// notYet looks at each.
func (f *fakeSystem) inUse(p netip.Prefix) (bool, error) {
	if f.notYet > 0 {
		f.notYet--
		return false, nil
	}
	return slices.ContainsFunc(f.addrTable, func(a addr) bool { return a.prefix == p }), nil
}

func (f *fakeSystem) routes() ([]route, error) {
	var out []route
	for _, r := range f.routeTable {
		if r.proto == Protocol {
			out = append(out, r.route)
		}
	}
	return out, nil
}

func (f *fakeSystem) addRoute(dst netip.Prefix) error {
	r := route{dst: dst, table: mainTable, metric: defaultMetric(dst)}
	if slices.ContainsFunc(f.routeTable, func(o fakeRoute) bool { return o.route == r }) {
		return syscall.EEXIST
	}
	if err := f.change("route add " + dst.String()); err != nil {
		return err
	}
	f.routeTable = append(f.routeTable, fakeRoute{route: r, proto: Protocol})
	return nil
}

func (f *fakeSystem) delRoute(r route) error {
	i := slices.Index(f.routeTable, fakeRoute{route: r, proto: Protocol})
	if i < 0 {
		return syscall.ESRCH
	}
	if err := f.change(fmt.Sprintf("route del %v table %d", r.dst, r.table)); err != nil {
		return err
	}
	f.routeTable = slices.Delete(f.routeTable, i, i+1)
	return nil
}

func (f *fakeSystem) close() error {
	f.closed = true
	return nil
}
