package routing

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// dumpRetries bounds the retries of a netlink dump the kernel interrupted
// (the table changed while it was being read).
const dumpRetries = 8

// netlinkSystem is the system on Linux: one rtnetlink socket, opened in the
// network namespace of the thread that called newSystem.
type netlinkSystem struct {
	h     *netlink.Handle
	iface string
	index int // of the interface, from the last link()
}

func newSystem(iface string) (system, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("routing: netlink: %w", err)
	}
	return &netlinkSystem{h: h, iface: iface}, nil
}

func (s *netlinkSystem) name() string { return s.iface }

func (s *netlinkSystem) link() (linkInfo, error) {
	l, err := s.h.LinkByName(s.iface)
	if err != nil {
		if errors.As(err, new(netlink.LinkNotFoundError)) {
			return linkInfo{}, fmt.Errorf("%w: %s", errNoLink, s.iface)
		}
		return linkInfo{}, fmt.Errorf("routing: %s: %w", s.iface, err)
	}
	a := l.Attrs()
	s.index = a.Index
	t, ok := l.(*netlink.Tuntap)
	return linkInfo{
		// Kernels before 4.x do not report the mode; a TAP reports it.
		tun: ok && t.Mode != netlink.TUNTAP_MODE_TAP,
		up:  a.Flags&net.FlagUp != 0,
		mtu: a.MTU,
	}, nil
}

// linkRef is what the netlink calls need to find the interface.
func (s *netlinkSystem) linkRef() netlink.Link {
	return &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Index: s.index, Name: s.iface}}
}

func (s *netlinkSystem) setMTU(mtu int) error { return s.h.LinkSetMTU(s.linkRef(), mtu) }

func (s *netlinkSystem) setUp(up bool) error {
	if up {
		return s.h.LinkSetUp(s.linkRef())
	}
	return s.h.LinkSetDown(s.linkRef())
}

func (s *netlinkSystem) addrs() ([]addr, error) {
	list, err := retryDump(func() ([]netlink.Addr, error) { return s.h.AddrList(s.linkRef(), netlink.FAMILY_ALL) })
	if err != nil {
		return nil, err
	}
	var out []addr
	for _, a := range list {
		p, ok := prefixOf(a.IPNet)
		if !ok || p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
			continue
		}
		out = append(out, addr{prefix: p, noPrefixRoute: a.Flags&unix.IFA_F_NOPREFIXROUTE != 0})
	}
	return out, nil
}

func (s *netlinkSystem) addAddr(p netip.Prefix) error {
	flags := unix.IFA_F_NOPREFIXROUTE
	if p.Addr().Is6() {
		// Duplicate address detection has no one to ask on a TUN.
		flags |= unix.IFA_F_NODAD
	}
	return s.h.AddrAdd(s.linkRef(), &netlink.Addr{IPNet: ipNet(p), Flags: flags})
}

func (s *netlinkSystem) delAddr(p netip.Prefix) error {
	return s.h.AddrDel(s.linkRef(), &netlink.Addr{IPNet: ipNet(p)})
}

func (s *netlinkSystem) inUse(p netip.Prefix) (bool, error) {
	host := netip.PrefixFrom(p.Addr(), p.Addr().BitLen())
	filter := &netlink.Route{Table: unix.RT_TABLE_LOCAL, Type: unix.RTN_LOCAL, Dst: ipNet(host)}
	mask := netlink.RT_FILTER_TABLE | netlink.RT_FILTER_TYPE | netlink.RT_FILTER_DST
	family := netlink.FAMILY_V4
	if p.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	list, err := retryDump(func() ([]netlink.Route, error) { return s.h.RouteListFiltered(family, filter, mask) })
	return len(list) > 0, err
}

func (s *netlinkSystem) routes() ([]route, error) {
	filter := &netlink.Route{LinkIndex: s.index, Protocol: Protocol, Table: unix.RT_TABLE_UNSPEC}
	mask := netlink.RT_FILTER_OIF | netlink.RT_FILTER_PROTOCOL | netlink.RT_FILTER_TABLE
	list, err := retryDump(func() ([]netlink.Route, error) {
		return s.h.RouteListFiltered(netlink.FAMILY_ALL, filter, mask)
	})
	if err != nil {
		return nil, err
	}
	var out []route
	for _, r := range list {
		if p, ok := prefixOf(r.Dst); ok {
			out = append(out, route{dst: p, table: r.Table, metric: r.Priority})
		}
	}
	return out, nil
}

func (s *netlinkSystem) addRoute(dst netip.Prefix) error {
	r := &netlink.Route{
		LinkIndex: s.index,
		Dst:       ipNet(dst),
		Protocol:  Protocol,
		Table:     mainTable,
	}
	if dst.Addr().Is4() {
		r.Scope = netlink.SCOPE_LINK // no gateway: the destination is on the link
	}
	return s.h.RouteAdd(r)
}

func (s *netlinkSystem) delRoute(r route) error {
	return s.h.RouteDel(&netlink.Route{
		LinkIndex: s.index,
		Dst:       ipNet(r.dst),
		Protocol:  Protocol,
		Table:     r.table,
		Priority:  r.metric,
		Scope:     netlink.SCOPE_NOWHERE, // any scope
	})
}

func (s *netlinkSystem) close() error {
	s.h.Close()
	return nil
}

// retryDump runs a netlink dump again when the kernel interrupted it.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	for i := 0; ; i++ {
		list, err := dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) || i == dumpRetries {
			return list, err
		}
	}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	bits, total := n.Mask.Size()
	if total != a.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, bits), true
}
