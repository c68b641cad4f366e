// Package routing puts the VPN into the operating system's network stack: the
// addresses, MTU and up state of the VPN's TUN interface, and the routes that
// send the network's prefixes and the subnets peers advertise into it. A
// [Router] makes the system match a whole desired [Config] on every
// [Router.Set] (idempotent reconciliation, as tailscale's wgengine/router
// does) and removes what it put there on [Router.Close].
//
// # What is ours: the cleanup scheme
//
// A Router manages one interface, by name, and only if it is a TUN interface
// ([ErrNotTUN] otherwise: a wrong name can never take eth0's addresses away).
// On it, these are ours:
//
//   - Routes: every route whose routing protocol number is [Protocol] (104;
//     `ip route show proto 104`) and that leaves through the interface, in
//     any table. Set adds them to the main table. Routes with other protocol
//     numbers on the interface (an administrator's, the kernel's IPv6
//     link-local route) are never touched; a route Set would add that
//     collides with one that is not ours is reported, never replaced. (The
//     kernel itself drops the IPv4 routes through an interface with its last
//     IPv4 address, and every route through it when it goes down.)
//   - Addresses: every address on the interface except IPv6 link-local ones
//     (fe80::/10, the kernel's). Set adds them with IFA_F_NOPREFIXROUTE, so an
//     address brings no route of its own: every route into the interface is
//     one of ours, listed in [Config.Routes].
//   - The link's MTU and up state: Set sets them; Close leaves the link down.
//
// A process that dies without Close leaves this state behind only when the
// interface outlives it (a persistent TUN made with `ip tuntap add` or by a
// service manager); a TUN interface the process created itself disappears
// with its addresses and routes when its last file descriptor closes. [New]
// therefore begins by removing everything the scheme marks as ours on the
// interface (routes with protocol 104 in any table, addresses other than
// IPv6 link-local ones) and logs each removal; [Cleanup] does the same, and
// takes the link down, without keeping a Router.
//
// # Namespaces and systems
//
// New and Cleanup open a netlink socket in the network namespace of the
// calling thread; a Router then acts on that namespace from any goroutine.
// Only Linux is supported: elsewhere New and Cleanup return an error wrapping
// [errors.ErrUnsupported].
package routing

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
)

// Protocol is the routing protocol number (rtm_protocol) that marks the
// routes hyperlan installs. Linux reserves 0-4 for itself and iproute2's
// rt_protos names the values in use (bird 12, babel 42, bgp 186, ...); 104 is
// not among them. `ip route show proto 104` lists hyperlan's routes.
const Protocol = 104

// Config is the desired state of the interface.
type Config struct {
	// Addrs are the interface's addresses with their prefix lengths, IPv4
	// and IPv6 (10.99.0.5/16, fd5e:1::5/64). IPv6 link-local addresses are
	// the kernel's and not allowed here.
	Addrs []netip.Prefix

	// Routes are the destinations sent into the interface: the network's
	// prefixes and the subnets peers advertise. Each must be masked
	// (10.99.0.0/16, not 10.99.0.5/16). An address in Addrs routes nothing
	// by itself: put its network here.
	Routes []netip.Prefix

	// MTU is the interface's MTU; 0 leaves it as it is.
	MTU int
}

// Options configure [New] and [Cleanup].
type Options struct {
	// Logger receives one line for each leftover removed at start and each
	// change Set makes (Info and Debug); nil discards.
	Logger *slog.Logger
}

// ErrNotTUN is returned for an interface that is not a TUN interface (by New
// and Cleanup, and by Set and Close if another interface took the TUN's name):
// the Router refuses to touch it.
var ErrNotTUN = errors.New("routing: not a TUN interface")

// Router owns the addresses and routes of one TUN interface. It is safe for
// concurrent use.
type Router struct {
	log *slog.Logger

	mu     sync.Mutex
	sys    system // guarded by mu
	closed bool   // guarded by mu
}

// New returns a Router for the TUN interface iface in the network namespace
// of the calling thread, after removing what a previous run left on it (see
// the package documentation). The interface must exist.
func New(iface string, opts Options) (*Router, error) {
	sys, err := newSystem(iface)
	if err != nil {
		return nil, err
	}
	return newRouter(sys, opts)
}

// newRouter is New on a given system.
func newRouter(sys system, opts Options) (*Router, error) {
	r := &Router{log: logger(opts), sys: sys}
	li, err := sys.link()
	if err == nil && !li.tun {
		err = fmt.Errorf("%w: %s", ErrNotTUN, sys.name())
	}
	if err == nil {
		err = sweep(sys, r.log)
	}
	if err != nil {
		sys.close()
		return nil, err
	}
	return r, nil
}

// Set makes the interface match c: MTU, up, exactly the addresses in c.Addrs
// and exactly the routes of ours in c.Routes. It checks c before it changes
// anything; past that it carries on after a failed change and returns all
// failures joined, so the rest of the state still converges. It returns once
// the kernel has put new addresses in use (Linux does that asynchronously for
// IPv6), so packets to them are delivered from then on. Calling Set again with
// the same Config changes nothing. After Close it returns net.ErrClosed.
func (r *Router) Set(c Config) error {
	want, err := c.normalize()
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return net.ErrClosed
	}
	return reconcile(r.sys, want, r.log)
}

// Close removes the routes and addresses of ours from the interface, takes it
// down and closes the netlink socket. If the interface is already gone there
// is nothing to remove. Close is idempotent.
func (r *Router) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	err := clearAll(r.sys, r.log)
	return errors.Join(err, r.sys.close())
}

// Cleanup removes the routes and addresses of ours from the TUN interface
// iface and takes it down, as Close does, for a process that starts or stops
// without a Router (after a crash). An interface that does not exist is
// already clean.
func Cleanup(iface string, opts Options) error {
	sys, err := newSystem(iface)
	if err != nil {
		return err
	}
	return cleanup(sys, logger(opts))
}

// cleanup is Cleanup on a given system, which it closes.
func cleanup(sys system, log *slog.Logger) error {
	return errors.Join(clearAll(sys, log), sys.close())
}

func logger(opts Options) *slog.Logger {
	if opts.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return opts.Logger
}
