package interop

// The NAT lab: an "internet" of network namespaces with public hosts on it and
// home routers that NAT for the LAN hosts behind them, for holepunching tests.
// It follows the recipe in /work/shared/lab/NATLAB.md (nftables masquerade in
// each router, NFQUEUE for delay and loss) and is built on [Lab], so it lives
// only in namespaces the test made and is removed in t.Cleanup:
//
//	public segment 192.0.2.0/24, a bridge in <id>-pub
//	  dht 192.0.2.10 (+ .11 ... with Host.ExtraAddr), relay, ... ── pub 192.0.2.1 ┐
//	                                                       <id>-inet  forwards every packet between
//	                                                             │    segments; impairment is here
//	  wan0 198.51.100.1/28 ── wan 198.51.100.2  <id>-ra [NAT] lan 10.0.1.1 ── <id>-lan1 ── a 10.0.1.2
//	  wan1 198.51.100.17/28 ─ wan 198.51.100.18 <id>-rb [NAT] lan 10.0.2.1 ── <id>-lan2 ── b 10.0.2.2
//
//	nl := interop.NewNATLab(t)
//	d := nl.StartJSDHT(t, "dht", 4)                  // bootstrapper + 4 persistent reference nodes
//	ra := nl.Router("ra", interop.RouterOptions{NAT: interop.NATConsistent})
//	rb := nl.Router("rb", interop.RouterOptions{NAT: interop.NATRandom})
//	a, b := ra.Host("a"), rb.Host("b")
//	srv := interop.StartHyperDHTNode(t, d.Bootstrap(), a.NodeOptions(interop.NodeOptions{Adaptive: true}))
//	err := rb.SetNAT(interop.NATConsistent)          // at run time; flushes rb's conntrack
//	addr, err := ra.ChangePublicAddr()               // 198.51.100.3
//	nl.RequireImpairment(t)                          // skips without gcc, libnetfilter-queue, iptables
//	err = nl.Impair(interop.Impairment{Delay: 50 * time.Millisecond, Loss: 1})
//
// Public addresses come from the documentation ranges 192.0.2.0/24 (hosts) and
// 198.51.100.0/24, 203.0.113.0/24 (routers, a /28 each). hyperdht counts them
// as reserved (bogon) addresses, which NATLAB.md found harmless: it skips them
// only as LAN candidates and for an open server's announced addresses, and
// falls back to the address the DHT saw. Private ranges are never used as
// public addresses, because hyperdht takes private addresses for LAN peers.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// NATKind is how a home router maps and filters its LAN's UDP and TCP flows.
// Every kind drops unsolicited inbound packets except [NATFullCone].
type NATKind int

const (
	// NATConsistent maps a LAN socket to the same public port for every
	// destination, keeping the LAN port when it is free (endpoint-independent
	// mapping; nft masquerade). Inbound packets pass only from an address and
	// port the socket sent to (port-restricted filtering). hyperdht sees it
	// as FIREWALL.CONSISTENT.
	NATConsistent NATKind = iota
	// NATRandom maps each new flow (each destination) to a new random public
	// port (endpoint-dependent, "symmetric"; nft masquerade fully-random).
	// hyperdht sees it as FIREWALL.RANDOM.
	NATRandom
	// NATRandomHash is also endpoint-dependent, with ports from a keyed hash
	// that includes the destination (nft masquerade random).
	NATRandomHash
	// NATFullCone maps like NATConsistent and forwards every unsolicited
	// inbound UDP and TCP packet to ports 1024-65535 to the LAN's first host
	// (.2 of the LAN): a DMZ, close to a full-cone NAT for one host.
	NATFullCone
)

// String returns the kind's name: consistent, random, random-hash or full-cone.
func (k NATKind) String() string {
	switch k {
	case NATConsistent:
		return "consistent"
	case NATRandom:
		return "random"
	case NATRandomHash:
		return "random-hash"
	case NATFullCone:
		return "full-cone"
	}
	return fmt.Sprintf("NATKind(%d)", int(k))
}

// masquerade returns the nft masquerade statement of the kind.
func (k NATKind) masquerade() (string, bool) {
	switch k {
	case NATConsistent, NATFullCone:
		return "masquerade", true
	case NATRandom:
		return "masquerade fully-random", true
	case NATRandomHash:
		return "masquerade random", true
	}
	return "", false
}

// The lab's address plan.
var (
	publicNet   = netip.MustParsePrefix("192.0.2.0/24")
	publicGW    = netip.MustParseAddr("192.0.2.1") // the internet router on the public segment
	firstPublic = netip.MustParseAddr("192.0.2.10")
	// wanBlocks hold the routers' WAN links, a /28 each: the internet router
	// has .1 of it, the home router .2 and later .3 to .14.
	wanBlocks = []netip.Prefix{
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
	}
)

const (
	wanBits        = 28
	routersPerWAN  = 1 << (wanBits - 24) // /28s in a /24
	maxRouters     = routersPerWAN * 2   // len(wanBlocks) * routersPerWAN
	firstRouterIP  = 2                   // offset of a router's first public address in its /28
	lastRouterIP   = 14                  // and of its last (15 is the broadcast address)
	routerWANDev   = "wan"               // the router's WAN device (in the router)
	routerLANDev   = "lan"               // the router's LAN device (in the router)
	hostDev        = "eth0"              // every host's device
	inetPublicDev  = "pub"               // the internet router's device on the public segment
	inetNamespace  = "inet"              // the internet router's namespace (name part)
	publicSwitchNS = "pub"               // the public segment's switch (name part)
)

// NATLab is a [Lab] with an internet router, a public segment and home
// routers; see the diagram at the top of natlab.go. Its setup methods
// ([NATLab.PublicHost], [NATLab.Router], [Router.Host], [Host.ExtraAddr],
// [NATLab.RequireImpairment]) fail the test on error and must be called from
// the goroutine of the test that made the lab. The changes made while a test
// runs ([Router.SetNAT], [Router.ChangePublicAddr], [Router.FlushConntrack],
// [NATLab.Impair], [NATLab.Unimpair]) return errors and, like the getters,
// are safe to call from any goroutine, subtests included. Close, registered
// with t.Cleanup by [NewNATLab], stops the impairment and then closes the Lab.
type NATLab struct {
	t    testing.TB
	lab  *Lab
	inet *Netns
	pub  *segment

	mu      sync.Mutex
	routers []*Router // guarded by mu; in creation order
	closed  bool      // guarded by mu

	closeOnce sync.Once
	closeErr  error // set in closeOnce

	// impairMu serializes Impair, Unimpair and Close's part in them.
	impairMu sync.Mutex
	impaired *impairment // guarded by impairMu; nil when no impairment runs
	nqdelay  string      // guarded by impairMu; the compiled nqdelay, "" until RequireImpairment
	tempDirs []string    // guarded by impairMu; removed by Close
}

// NewNATLab builds the internet router and the public segment, with no hosts
// and no routers yet. Besides what [NewLab] needs (Linux, root, ip), it needs
// nft (nftables) and conntrack; without them it skips the test, or fails it
// when HYPERLAN_REQUIRE_NETNS=1.
func NewNATLab(t testing.TB) *NATLab {
	t.Helper()
	RequireNetns(t)
	requireTools(t, "the NAT lab", "nft", "nftables", "conntrack", "conntrack")
	lab := NewLab(t)
	n := &NATLab{t: t, lab: lab}
	// Registered after the Lab's, so it runs first: nqdelay stops before its
	// namespace goes.
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Error(err)
		}
	})
	n.inet = lab.Netns(inetNamespace)
	n.inet.Sysctl("net.ipv4.ip_forward", "1")
	pubLAN := lab.LAN(publicSwitchNS, publicNet)
	pubLAN.Attach(n.inet, inetPublicDev, publicGW)
	n.pub = &segment{lan: pubLAN, gw: publicGW, next: firstPublic}
	return n
}

// requireTools skips the test (or fails it under HYPERLAN_REQUIRE_NETNS=1)
// when one of the commands is not on PATH. pairs are command, Debian package.
func requireTools(t testing.TB, what string, pairs ...string) {
	t.Helper()
	var missing []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if _, err := exec.LookPath(pairs[i]); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", pairs[i], pairs[i+1]))
		}
	}
	if len(missing) > 0 {
		skipOrFailNetns(t, fmt.Sprintf("%s needs %s on PATH", what, strings.Join(missing, ", ")))
	}
}

// skipOrFailNetns skips the test because of problem, or fails it when
// HYPERLAN_REQUIRE_NETNS=1, as [RequireNetns] does.
func skipOrFailNetns(t testing.TB, problem string) {
	t.Helper()
	if os.Getenv(RequireNetnsEnv) == "1" {
		t.Fatalf("interop: %s (%s=1, so this is a failure)", problem, RequireNetnsEnv)
	}
	t.Skipf("interop: %s; set %s=1 to fail instead of skipping", problem, RequireNetnsEnv)
}

// Lab returns the underlying lab, for namespaces and links of the test's own.
func (n *NATLab) Lab() *Lab { return n.lab }

// Internet returns the internet router's namespace: every packet between the
// public segment and a home router, or between two home routers, is forwarded
// by it exactly once (watch with tcpdump -i any there).
func (n *NATLab) Internet() *Netns { return n.inet }

// PublicHost creates a host on the public segment with the next free public
// address (192.0.2.10, .11, ...) and a default route via the internet
// router. name follows [Lab.Netns]; "inet", "pub" and "lan<n>" are taken.
func (n *NATLab) PublicHost(name string) *Host {
	n.t.Helper()
	return n.addHost(name, n.pub, nil)
}

func (n *NATLab) addHost(name string, seg *segment, r *Router) *Host {
	n.t.Helper()
	addr := seg.alloc(n.t)
	ns := n.lab.Netns(name)
	seg.lan.Attach(ns, hostDev, addr)
	ns.AddRoute(netip.MustParsePrefix("0.0.0.0/0"), seg.gw)
	return &Host{Netns: ns, router: r, seg: seg, addrs: []netip.Addr{addr}}
}

// Routers returns the routers made so far, in order.
func (n *NATLab) Routers() []*Router {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*Router(nil), n.routers...)
}

// Close stops the impairment (if any) and closes the lab: every namespace,
// link and process of the lab is gone when it returns. It is idempotent and
// returns the same error each time.
func (n *NATLab) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close() })
	return n.closeErr
}

func (n *NATLab) close() error {
	n.mu.Lock()
	n.closed = true // Impair refuses to start from now on
	n.mu.Unlock()

	var errs []error
	n.impairMu.Lock()
	if _, err := n.unimpairLocked(); err != nil {
		errs = append(errs, err)
	}
	dirs := n.tempDirs
	n.tempDirs = nil
	n.impairMu.Unlock()
	if err := n.lab.Close(); err != nil {
		errs = append(errs, err)
	}
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RouterOptions configure a home router made by [NATLab.Router].
type RouterOptions struct {
	NAT NATKind // the zero value is NATConsistent
	// LAN is the LAN's IPv4 subnet: the router is its .1, hosts get .2, .3,
	// ... The zero value is 10.0.<n>.0/24 for the n-th router (from 1). Two
	// routers may share a subnet, as real homes on 192.168.1.0/24 do.
	LAN netip.Prefix
}

// Router is a home router of a [NATLab]: a namespace with a WAN link to the
// internet router and a LAN (a bridge in a switch namespace "lan<n>") whose
// hosts it NATs with nftables. [Router.Host] follows [NATLab]'s rules for
// setup methods; the other methods are safe for concurrent use.
type Router struct {
	nl     *NATLab
	ns     *Netns
	index  int          // from 0, in creation order
	inetIf string       // its link's device in the internet router, "wan<index>"
	wan    netip.Prefix // its /28
	lan    *segment

	mu     sync.Mutex
	kind   NATKind    // guarded by mu
	public netip.Addr // guarded by mu
}

// Router creates a home router called name with a public address of its own
// (the first router 198.51.100.2, the second 198.51.100.18, ...; at most 32
// routers) and an empty LAN, NATing as opts.NAT says.
func (n *NATLab) Router(name string, opts RouterOptions) *Router {
	n.t.Helper()
	if _, ok := opts.NAT.masquerade(); !ok {
		n.t.Fatalf("interop: router %s: unknown %v", name, opts.NAT)
	}
	n.mu.Lock()
	index := len(n.routers)
	n.mu.Unlock()
	if index >= maxRouters {
		n.t.Fatalf("interop: router %s: a NAT lab has at most %d routers", name, maxRouters)
	}
	lanPrefix := opts.LAN
	if !lanPrefix.IsValid() {
		lanPrefix = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(index + 1), 0}), 24)
	}
	wan := wanBlock(index)
	r := &Router{
		nl:     n,
		index:  index,
		inetIf: fmt.Sprintf("wan%d", index),
		wan:    wan,
		kind:   opts.NAT,
		public: nthAddr(wan, firstRouterIP),
	}

	r.ns = n.lab.Netns(name)
	r.ns.Sysctl("net.ipv4.ip_forward", "1")
	n.lab.Veth(n.inet, r.inetIf, r.ns, routerWANDev)
	// Deleting the primary address must promote the next one rather than
	// delete it too (ChangePublicAddr adds the new address before it deletes
	// the old one).
	r.ns.Sysctl("net.ipv4.conf."+routerWANDev+".promote_secondaries", "1")
	n.inet.AddAddr(r.inetIf, netip.PrefixFrom(r.gateway(), wanBits))
	r.ns.AddAddr(routerWANDev, netip.PrefixFrom(r.public, wanBits))
	r.ns.AddRoute(netip.MustParsePrefix("0.0.0.0/0"), r.gateway())

	lan := n.lab.LAN(fmt.Sprintf("lan%d", index+1), lanPrefix)
	lanGW := lanPrefix.Addr().Next()
	lan.Attach(r.ns, routerLANDev, lanGW)
	r.lan = &segment{lan: lan, gw: lanGW, next: lanGW.Next()}
	if err := r.applyNAT(opts.NAT, true); err != nil {
		n.t.Fatal(err)
	}

	n.mu.Lock()
	n.routers = append(n.routers, r)
	n.mu.Unlock()
	return r
}

// wanBlock returns the /28 of the index-th router.
func wanBlock(index int) netip.Prefix {
	block := wanBlocks[index/routersPerWAN]
	return netip.PrefixFrom(nthAddr(block, (index%routersPerWAN)<<(32-wanBits)), wanBits)
}

// nthAddr returns the address i after the start of p.
func nthAddr(p netip.Prefix, i int) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func (r *Router) gateway() netip.Addr { return nthAddr(r.wan, 1) }

// Name returns the router's namespace name.
func (r *Router) Name() string { return r.ns.Name() }

// String returns the name.
func (r *Router) String() string { return r.ns.Name() }

// Netns returns the router's namespace (nft list ruleset, conntrack -L there).
func (r *Router) Netns() *Netns { return r.ns }

// NAT returns the router's current NAT kind.
func (r *Router) NAT() NATKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kind
}

// PublicAddr returns the router's current public address, the source of
// everything its LAN sends to the internet.
func (r *Router) PublicAddr() netip.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.public
}

// WAN returns the router's WAN subnet, a /28: the internet router is its .1,
// and [Router.ChangePublicAddr] moves the router among .2 to .14.
func (r *Router) WAN() netip.Prefix { return r.wan }

// LANPrefix returns the subnet of the router's LAN.
func (r *Router) LANPrefix() netip.Prefix { return r.lan.lan.Prefix() }

// LANAddr returns the router's own address on its LAN, its hosts' gateway.
func (r *Router) LANAddr() netip.Addr { return r.lan.gw }

// Host creates a host on the router's LAN with the next free LAN address (.2,
// .3, ...) and a default route via the router. name follows [Lab.Netns].
func (r *Router) Host(name string) *Host {
	r.nl.t.Helper()
	return r.nl.addHost(name, r.lan, r)
}

// SetNAT switches the router to kind at once. It also flushes the router's
// conntrack table, as a router restarting with the new setting would: flows
// through it get new mappings with their next outbound packet, and inbound
// packets of the old ones are dropped until then. It is safe to call from any
// goroutine.
func (r *Router) SetNAT(kind NATKind) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.applyNAT(kind, true); err != nil {
		return err
	}
	r.kind = kind
	return nil
}

// ReloadNAT switches the router to kind like SetNAT, but keeps its conntrack
// table, as reloading a live router's rules does: flows keep the mappings they
// have, and only new flows get kind's. It is safe to call from any goroutine.
func (r *Router) ReloadNAT(kind NATKind) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.applyNAT(kind, false); err != nil {
		return err
	}
	r.kind = kind
	return nil
}

// ChangePublicAddr moves the router to the next address of its WAN subnet
// (after .14 it wraps to .2), flushes its conntrack table and returns the new
// address. Flows through the router are remapped onto it with their next
// outbound packet, as after an ISP's address change. It is safe to call from
// any goroutine.
func (r *Router) ChangePublicAddr() (netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.public
	next := old.Next()
	if next == nthAddr(r.wan, lastRouterIP+1) {
		next = nthAddr(r.wan, firstRouterIP)
	}
	// The new address first: promote_secondaries keeps it when the old,
	// primary one goes, and the default route is put back in case it went
	// with the old address.
	steps := [][]string{
		{"addr", "add", netip.PrefixFrom(next, wanBits).String(), "dev", routerWANDev},
		{"addr", "del", netip.PrefixFrom(old, wanBits).String(), "dev", routerWANDev},
		{"route", "replace", "default", "via", r.gateway().String(), "dev", routerWANDev},
	}
	for _, args := range steps {
		if err := runIP(append([]string{"-n", r.ns.Name()}, args...)...); err != nil {
			return netip.Addr{}, fmt.Errorf("interop: router %s: %w", r.ns.Name(), err)
		}
		if args[1] == "add" {
			r.public = next
		}
	}
	return next, r.FlushConntrack()
}

// FlushConntrack empties the router's conntrack table (conntrack -F): every
// mapping and every permission for inbound packets is forgotten. It is safe to
// call from any goroutine.
func (r *Router) FlushConntrack() error {
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	if _, err := r.ns.Run(ctx, "conntrack", "-F"); err != nil {
		return fmt.Errorf("interop: router %s: %w", r.ns.Name(), err)
	}
	return nil
}

// applyNAT loads the router's nftables ruleset for kind, replacing the old
// one in one transaction, and flushes conntrack if flush is set.
func (r *Router) applyNAT(kind NATKind, flush bool) error {
	masq, ok := kind.masquerade()
	if !ok {
		return fmt.Errorf("interop: router %s: unknown %v", r.ns.Name(), kind)
	}
	dmz := ""
	if kind == NATFullCone {
		first := r.lan.gw.Next()
		dmz = fmt.Sprintf("iifname %q meta l4proto { udp, tcp } th dport 1024-65535 dnat to %s", routerWANDev, first)
	}
	// Forwarding: LAN to WAN, and replies; inbound only through a DMZ dnat.
	// Unsolicited packets to the router itself are dropped silently, except
	// pings.
	rules := fmt.Sprintf(`flush ruleset
table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		%[1]s
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname %[2]q %[3]s
	}
}
table ip filter {
	chain input {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
		iifname %[2]q icmp type echo-request accept
		iifname %[2]q drop
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname %[4]q oifname %[2]q accept
		ct status dnat accept
	}
}
`, dmz, routerWANDev, masq, routerLANDev)
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	cmd := r.ns.Command(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("interop: router %s: nft for %v: %w: %s", r.ns.Name(), kind, err, bytes2line(out))
	}
	if !flush {
		return nil
	}
	return r.FlushConntrack()
}

// Host is a host of a [NATLab]: a namespace with one device, eth0, on the
// public segment or on a router's LAN. It embeds its [Netns] (Name,
// ListenPacket, Run, ...).
type Host struct {
	*Netns
	router *Router // nil on the public segment
	seg    *segment

	mu    sync.Mutex
	addrs []netip.Addr // guarded by mu; the first is Addr
}

// Addr returns the host's first address.
func (h *Host) Addr() netip.Addr {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.addrs[0]
}

// Addrs returns every address of the host, in the order they were added.
func (h *Host) Addrs() []netip.Addr {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]netip.Addr(nil), h.addrs...)
}

// Router returns the router the host is behind, or nil for a public host.
func (h *Host) Router() *Router { return h.router }

// ExtraAddr gives the host one more address of its segment (the next free
// one) and returns it: several reference nodes can then share one public host,
// each on an address of its own. It must be called from the test goroutine.
func (h *Host) ExtraAddr() netip.Addr {
	t := h.lab.t
	t.Helper()
	addr := h.seg.alloc(t)
	h.AddAddr(hostDev, netip.PrefixFrom(addr, h.seg.lan.Prefix().Bits()))
	h.mu.Lock()
	h.addrs = append(h.addrs, addr)
	h.mu.Unlock()
	return addr
}

// NodeOptions returns opts placed on the host: Netns is the host's namespace
// and Host its first address, for [StartHyperDHTNode] and [StartNode].
func (h *Host) NodeOptions(opts NodeOptions) NodeOptions {
	opts.Netns = h.Name()
	opts.Host = h.Addr()
	return opts
}

// segment is an IPv4 subnet of the lab with a gateway and an address
// allocator.
type segment struct {
	lan *LAN
	gw  netip.Addr

	mu   sync.Mutex
	next netip.Addr // guarded by mu; the next address to hand out
}

// alloc returns the next free address of the segment, failing t when there is
// none left.
func (s *segment) alloc(t testing.TB) netip.Addr {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.next
	if !s.lan.Prefix().Contains(a.Next()) { // a would be the broadcast address
		t.Fatalf("interop: LAN %v is full", s.lan.Prefix())
	}
	s.next = a.Next()
	return a
}
