package routing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"slices"
	"time"
)

// mainTable is the main routing table (RT_TABLE_MAIN), where Set adds routes.
const mainTable = 254

// minIPv6MTU is the smallest MTU on which Linux keeps IPv6 enabled.
const minIPv6MTU = 1280

// How long Set waits, and how often it looks, for the kernel to put new
// IPv6 addresses in use; with duplicate address detection skipped (NODAD)
// that takes a few milliseconds.
const (
	inUseWait = 2 * time.Second
	inUsePoll = 2 * time.Millisecond
)

// system is the interface as a Router sees it: netlink in netlink_linux.go, a
// model in the tests. Every method acts on the interface found by the last
// call of link.
type system interface {
	name() string
	// link looks the interface up by name; errNoLink if there is none.
	link() (linkInfo, error)
	setMTU(mtu int) error
	setUp(up bool) error
	// addrs lists the addresses of ours: all but IPv6 link-local ones.
	addrs() ([]addr, error)
	// addAddr adds p with IFA_F_NOPREFIXROUTE (and IFA_F_NODAD for IPv6).
	addAddr(p netip.Prefix) error
	delAddr(p netip.Prefix) error
	// inUse reports whether the kernel has put the address of p in use:
	// whether its local route is there. Linux adds that route for IPv6
	// addresses asynchronously, after duplicate address detection (even
	// when it is skipped).
	inUse(p netip.Prefix) (bool, error)
	// routes lists the routes of ours: protocol Protocol, out of the
	// interface, in any table.
	routes() ([]route, error)
	// addRoute adds a route of ours to dst in the main table, failing if any
	// route to dst with the same metric is there (NLM_F_EXCL).
	addRoute(dst netip.Prefix) error
	delRoute(r route) error
	close() error
}

type linkInfo struct {
	tun bool // a TUN interface (not TAP, not anything else)
	up  bool // administratively up
	mtu int
}

type addr struct {
	prefix        netip.Prefix
	noPrefixRoute bool // IFA_F_NOPREFIXROUTE: the address brought no route
}

type route struct {
	dst    netip.Prefix
	table  int
	metric int // as the kernel reports it; given back on delete
}

// errNoLink wraps the system's error for an interface that does not exist.
var errNoLink = errors.New("routing: no such interface")

// normalize checks c and returns it with sorted, deduplicated lists.
func (c Config) normalize() (Config, error) {
	var errs []error
	v6 := false
	for _, p := range c.Addrs {
		a := p.Addr()
		switch {
		case !p.IsValid() || a.Is4In6() || a.Zone() != "" || a.IsUnspecified():
			errs = append(errs, fmt.Errorf("routing: address %v: not an IPv4 or IPv6 address with a prefix length", p))
		case a.Is6() && a.IsLinkLocalUnicast():
			errs = append(errs, fmt.Errorf("routing: address %v: IPv6 link-local addresses are the kernel's", p))
		}
		v6 = v6 || a.Is6()
	}
	for _, p := range c.Routes {
		switch {
		case !p.IsValid() || p.Addr().Is4In6() || p.Addr().Zone() != "":
			errs = append(errs, fmt.Errorf("routing: route %v: not an IPv4 or IPv6 prefix", p))
		case p != p.Masked():
			errs = append(errs, fmt.Errorf("routing: route %v: host bits set (did you mean %v?)", p, p.Masked()))
		}
		v6 = v6 || p.Addr().Is6()
	}
	switch {
	case c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535):
		errs = append(errs, fmt.Errorf("routing: MTU %d outside 68..65535", c.MTU))
	case c.MTU != 0 && c.MTU < minIPv6MTU && v6:
		errs = append(errs, fmt.Errorf("routing: MTU %d: IPv6 needs at least %d", c.MTU, minIPv6MTU))
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return Config{Addrs: sortPrefixes(c.Addrs), Routes: sortPrefixes(c.Routes), MTU: c.MTU}, nil
}

// sortPrefixes returns a sorted copy of ps without duplicates: IPv4 first.
func sortPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
	})
	return slices.Compact(out)
}

// reconcile makes the system match want, which normalize has checked.
func reconcile(s system, want Config, log *slog.Logger) error {
	li, err := s.link()
	if err != nil {
		return err
	}
	if !li.tun {
		return fmt.Errorf("%w: %s", ErrNotTUN, s.name())
	}
	var errs []error
	// The MTU first: an interface below 1280 bytes has IPv6 disabled and
	// refuses IPv6 addresses.
	if want.MTU != 0 && li.mtu != want.MTU {
		if err := s.setMTU(want.MTU); err != nil {
			errs = append(errs, fmt.Errorf("routing: %s: set MTU %d: %w", s.name(), want.MTU, err))
		} else {
			log.Debug("set mtu", "iface", s.name(), "mtu", want.MTU)
		}
	}
	if !li.up {
		if err := s.setUp(true); err != nil {
			errs = append(errs, fmt.Errorf("routing: %s: set up: %w", s.name(), err))
		} else {
			log.Debug("set link up", "iface", s.name())
		}
	}
	errs = append(errs, reconcileAddrs(s, want.Addrs, log)...)
	errs = append(errs, reconcileRoutes(s, want.Routes, log)...)
	return errors.Join(errs...)
}

func reconcileAddrs(s system, want []netip.Prefix, log *slog.Logger) []error {
	cur, err := s.addrs()
	if err != nil {
		return []error{fmt.Errorf("routing: %s: list addresses: %w", s.name(), err)}
	}
	var errs []error
	removed := false
	for _, a := range cur {
		// An address that brought its own prefix route (someone else added
		// it) is replaced by one that does not.
		if slices.Contains(want, a.prefix) && a.noPrefixRoute {
			continue
		}
		if err := s.delAddr(a.prefix); err != nil {
			errs = append(errs, fmt.Errorf("routing: %s: remove address %v: %w", s.name(), a.prefix, err))
			continue
		}
		log.Debug("removed address", "iface", s.name(), "addr", a.prefix)
		removed = true
	}
	if removed {
		// Removing a primary IPv4 address can take its secondaries with it.
		if cur, err = s.addrs(); err != nil {
			return append(errs, fmt.Errorf("routing: %s: list addresses: %w", s.name(), err))
		}
	}
	var added []netip.Prefix
	for _, p := range want {
		if slices.ContainsFunc(cur, func(a addr) bool { return a.prefix == p }) {
			continue
		}
		if err := s.addAddr(p); err != nil {
			errs = append(errs, fmt.Errorf("routing: %s: add address %v: %w", s.name(), p, err))
			continue
		}
		log.Debug("added address", "iface", s.name(), "addr", p)
		added = append(added, p)
	}
	return append(errs, waitInUse(s, added)...)
}

// waitInUse waits until the kernel has put the addresses ps in use, so that
// packets to them are delivered as soon as Set returns.
func waitInUse(s system, ps []netip.Prefix) []error {
	deadline := time.Now().Add(inUseWait)
	var errs []error
	for _, p := range ps {
		for {
			ok, err := s.inUse(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("routing: %s: address %v: %w", s.name(), p, err))
				break
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("routing: %s: address %v: not in use after %v", s.name(), p, inUseWait))
				break
			}
			time.Sleep(inUsePoll)
		}
	}
	return errs
}

func reconcileRoutes(s system, want []netip.Prefix, log *slog.Logger) []error {
	cur, err := s.routes()
	if err != nil {
		return []error{fmt.Errorf("routing: %s: list routes: %w", s.name(), err)}
	}
	var errs []error
	var keep []netip.Prefix
	for _, r := range cur {
		if r.table == mainTable && slices.Contains(want, r.dst) && !slices.Contains(keep, r.dst) {
			keep = append(keep, r.dst)
			continue
		}
		if err := s.delRoute(r); err != nil {
			errs = append(errs, fmt.Errorf("routing: %s: remove route %v table %d: %w", s.name(), r.dst, r.table, err))
			continue
		}
		log.Debug("removed route", "iface", s.name(), "route", r.dst, "table", r.table)
	}
	for _, dst := range want {
		if slices.Contains(keep, dst) {
			continue
		}
		err := s.addRoute(dst)
		switch {
		case errors.Is(err, fs.ErrExist):
			errs = append(errs, fmt.Errorf("routing: %s: add route %v: a route hyperlan did not add is in the way: %w", s.name(), dst, err))
		case err != nil:
			errs = append(errs, fmt.Errorf("routing: %s: add route %v: %w", s.name(), dst, err))
		default:
			log.Debug("added route", "iface", s.name(), "route", dst)
		}
	}
	return errs
}

// sweep removes the routes and addresses of ours that a previous run left,
// logging each.
func sweep(s system, log *slog.Logger) error {
	return removeOurs(s, log, slog.LevelInfo, "leftover ")
}

// clearAll removes the routes and addresses of ours and takes the link down;
// an interface that is gone is already clear.
func clearAll(s system, log *slog.Logger) error {
	li, err := s.link()
	switch {
	case errors.Is(err, errNoLink):
		return nil
	case err != nil:
		return err
	case !li.tun:
		// Someone put another interface in the TUN's place.
		return fmt.Errorf("%w: %s", ErrNotTUN, s.name())
	}
	err = removeOurs(s, log, slog.LevelDebug, "")
	if err2 := s.setUp(false); err2 != nil {
		err = errors.Join(err, fmt.Errorf("routing: %s: set down: %w", s.name(), err2))
	}
	return err
}

func removeOurs(s system, log *slog.Logger, level slog.Level, what string) error {
	var errs []error
	routes, err := s.routes()
	if err != nil {
		errs = append(errs, fmt.Errorf("routing: %s: list routes: %w", s.name(), err))
	}
	for _, r := range routes {
		if err := s.delRoute(r); err != nil {
			errs = append(errs, fmt.Errorf("routing: %s: remove %sroute %v table %d: %w", s.name(), what, r.dst, r.table, err))
			continue
		}
		log.Log(context.Background(), level, "removed "+what+"route", "iface", s.name(), "route", r.dst, "table", r.table)
	}
	addrs, err := s.addrs()
	if err != nil {
		errs = append(errs, fmt.Errorf("routing: %s: list addresses: %w", s.name(), err))
	}
	for _, a := range addrs {
		if err := s.delAddr(a.prefix); err != nil {
			errs = append(errs, fmt.Errorf("routing: %s: remove %saddress %v: %w", s.name(), what, a.prefix, err))
			continue
		}
		log.Log(context.Background(), level, "removed "+what+"address", "iface", s.name(), "addr", a.prefix)
	}
	return errors.Join(errs...)
}
