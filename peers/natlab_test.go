package peers

// End to end in the NAT lab (interop.NewNATLab): real TUN devices, real routes and the
// kernel's own ping and TCP, with a private Go DHT on the public segment:
//
//	public 192.0.2.0/24:  dht (bootstrapper + 3 persistent nodes), c (a member)
//	ra [consistent NAT] ── a (a member)
//	rb [random NAT]     ── b (a member)
//
// The members know only the network secret; c serves the subnet 10.99.0.0/24 (an address on
// its loopback device). Every pair pings by IPv4 and IPv6, TCP transfers arrive intact, the
// subnet is reachable; a node with the wrong secret cannot join, and packets a member sends
// from another's address are dropped (labRefusals); then ra's public address changes, and b
// is killed and started again, and each time the mesh heals by itself. It needs root, ip,
// nft and conntrack: skipped without them, failed instead under HYPERLAN_REQUIRE_NETNS=1.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/interop"
	"github.com/hyperlan/hyperlan/interop/labdht"
	"github.com/hyperlan/hyperlan/routing"
	"github.com/hyperlan/hyperlan/tun"
)

// labMember is a member running in a namespace of the lab.
type labMember struct {
	name   string
	host   *interop.Host
	seed   [32]byte
	routes []netip.Prefix
	byNew  bool                // New makes the node, device and router itself (the CLI's way)
	peers  []*labMember        // configured peers ([[peer]]); none on a network with a secret
	relay  bool                // node.relay
	relays []configs.PublicKey // dht.relay_through
	ip4    netip.Addr
	ip6    netip.Addr
	e      *Engine
	runErr chan error
}

func TestNATLabMesh(t *testing.T) {
	if testing.Short() {
		t.Skip("the NAT lab takes tens of seconds")
	}
	nl := interop.NewNATLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	pub := nl.PublicHost("dht")
	boot := startLabDHT(t, pub)
	ra := nl.Router("ra", interop.RouterOptions{NAT: interop.NATConsistent})
	rb := nl.Router("rb", interop.RouterOptions{NAT: interop.NATRandom})
	secret := make([]byte, configs.SecretSize)
	rand.Read(secret)
	var members []*labMember
	for i, h := range []*interop.Host{ra.Host("a"), rb.Host("b"), nl.PublicHost("c")} {
		m := &labMember{name: string(rune('a' + i)), host: h}
		rand.Read(m.seed[:])
		members = append(members, m)
	}
	a, b, c := members[0], members[1], members[2]
	c.byNew = true
	subnet := netip.MustParsePrefix("10.99.0.0/24")
	server := netip.MustParseAddr("10.99.0.1")
	c.routes = []netip.Prefix{subnet}
	c.host.IP("link", "set", "lo", "up") // the subnet's one host: an address on lo (no dummy module here)
	c.host.AddAddr("lo", netip.PrefixFrom(server, 32))
	for _, m := range members {
		m.start(t, secret, boot)
	}
	meshUp := func(d time.Duration) {
		t.Helper()
		for _, pair := range [][2]*labMember{{a, b}, {b, c}, {c, a}} {
			for _, dir := range [][2]*labMember{pair, {pair[1], pair[0]}} {
				from, to := dir[0], dir[1]
				labPing(t, ctx, from, to.ip4, d)
				labPing(t, ctx, from, to.ip6, 10*time.Second)
			}
		}
	}
	meshUp(60 * time.Second)
	st, _ := peerStatusOf(a.e, b.e.PublicKey())
	t.Logf("a reaches b: %s to %v, RTT %v", st.Path, st.Remote, st.RTT)
	if st.Relayed || st.Remote.Addr() != rb.PublicAddr() {
		t.Errorf("a reaches b through %+v, want straight to rb's public address %v", st, rb.PublicAddr())
	}

	before, _ := peerStatusOf(a.e, c.e.PublicKey())
	labTCP(t, a, c, 8<<20)
	labTCP(t, b, a, 8<<20)
	if after, _ := peerStatusOf(a.e, c.e.PublicKey()); after.BytesOut-before.BytesOut < 8<<20 {
		t.Errorf("a sent c %d bytes for 8 MiB over TCP: not through the VPN?", after.BytesOut-before.BytesOut)
	}
	labPing(t, ctx, a, server, 10*time.Second)
	labPing(t, ctx, b, server, 10*time.Second)
	labRefusals(t, ctx, nl, boot, a, c)

	addr, err := ra.ChangePublicAddr()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	meshUp(90 * time.Second)
	t.Logf("healed %v after ra moved to %v", time.Since(start).Round(time.Millisecond), addr)

	b.stop(t)
	b.start(t, secret, boot)
	start = time.Now()
	meshUp(90 * time.Second)
	t.Logf("healed %v after b restarted", time.Since(start).Round(time.Millisecond))

	for _, m := range members {
		m.stop(t)
		if out, err := m.host.Run(ctx, "ip", "link", "show", "hl0"); err == nil {
			t.Errorf("%s: hl0 is still there after Close: %s", m.name, out)
		}
	}
}

// key returns m's public key.
func (m *labMember) key() configs.PublicKey {
	kp, _ := dht.NewKeyPair(m.seed[:])
	return configs.PublicKey(kp.PublicKey)
}

// stop closes m's engine.
func (m *labMember) stop(t *testing.T) {
	t.Helper()
	if err := m.e.Close(); err != nil {
		t.Errorf("%s: Close: %v", m.name, err)
	}
	if err := <-m.runErr; err != nil {
		t.Errorf("%s: Run: %v", m.name, err)
	}
}

// labRefusals checks, on the running mesh, that a node with the wrong network secret cannot
// join nor get a packet through to a, and that packets c sends with another source address
// than its own are dropped by a. (On a network with a secret every key may dial, and the
// proof decides: a key that is not a member is a node without the secret.)
func labRefusals(t *testing.T, ctx context.Context, nl *interop.NATLab, boot []rpc.BootstrapNode, a, c *labMember) {
	t.Helper()
	wrong := make([]byte, configs.SecretSize)
	rand.Read(wrong)
	m := &labMember{name: "m", host: nl.PublicHost("m"), peers: []*labMember{a}}
	rand.Read(m.seed[:])
	m.start(t, wrong, boot)
	defer m.stop(t)
	// m dials a (it lists a) and would ping it at the address it derives for a.
	ip4, _ := configs.DeriveIPv4(configs.DefaultIPv4Prefix, a.key())
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if out, err := m.host.Run(ctx, "ping", "-c", "1", "-W", "1", ip4.String()); err == nil {
			t.Fatalf("m, with the wrong secret, pinged a:\n%s", out)
		}
	}
	st, _ := peerStatusOf(m.e, a.key())
	if st.Connected || st.LastError == "" {
		t.Errorf("m's status of a: %+v; want not connected, with the reason", st)
	}
	if p, ok := peerStatusOf(a.e, m.key()); ok {
		t.Errorf("a lists m: %+v", p)
	}
	a.e.mu.Lock()
	_, refused := a.e.refused[m.key()]
	a.e.mu.Unlock()
	t.Logf("m's status of a: %s (a refused m's key: %v)", st.LastError, refused)
	if !refused {
		t.Error("a did not refuse m's key")
	}

	// c sends from an address of the mesh that is not its own: a drops what arrives.
	spoof := configs.DefaultIPv4Prefix.Addr().Next().Next().Next()
	for spoof == a.ip4 || spoof == c.ip4 {
		spoof = spoof.Next()
	}
	c.host.AddAddr("lo", netip.PrefixFrom(spoof, 32))
	before := a.e.Status().Counters.Spoofed
	if out, err := c.host.Run(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "1", "-I", spoof.String(), a.ip4.String()); err == nil {
		t.Errorf("c pinged a from %v, not its address:\n%s", spoof, out)
	}
	if got := a.e.Status().Counters.Spoofed - before; got < 3 {
		t.Errorf("a counted %d spoofed packets from c, want 3", got)
	} else {
		t.Logf("a dropped %d pings c sent from %v", got, spoof)
	}
}

// startLabDHT starts a Go bootstrapper and three persistent nodes on the public host h.
func startLabDHT(t *testing.T, h *interop.Host) []rpc.BootstrapNode {
	t.Helper()
	nodes := []netip.AddrPort{netip.AddrPortFrom(h.Addr(), dht.DefaultPort)}
	for range 3 {
		nodes = append(nodes, netip.AddrPortFrom(h.ExtraAddr(), dht.DefaultPort))
	}
	return []rpc.BootstrapNode{labdht.Start(t, h.ListenPacket, nodes...)}
}

// start runs m on its host: its DHT node's sockets, its TUN device and its router are in
// the host's namespace.
func (m *labMember) start(t *testing.T, secret []byte, boot []rpc.BootstrapNode) {
	t.Helper()
	h := m.host
	kp, err := dht.NewKeyPair(m.seed[:])
	if err != nil {
		t.Fatal(err)
	}
	key := configs.PublicKey(kp.PublicKey)
	net4 := configs.DefaultIPv4Prefix
	net6 := configs.DefaultIPv6Prefix(secret, net4)
	m.runErr = make(chan error, 1)
	m.ip4, _ = configs.DeriveIPv4(net4, key)
	m.ip6, _ = configs.DeriveIPv6(net6, key)
	cfg := &configs.Config{
		Node: configs.Node{Name: m.name, Seed: m.seed, PublicKey: key, Interface: "hl0", MTU: configs.DefaultMTU,
			KeepAlive: configs.DefaultKeepAlive, Address: m.ip4, Address6: m.ip6, Routes: m.routes},
		Network: configs.Network{Secret: secret, IPv4: net4, IPv6: net6},
		DHT:     configs.DHT{RelayThrough: m.relays},
	}
	cfg.Node.Relay, cfg.Node.RelayPublicKey = m.relay, configs.RelayPublicKey(m.seed)
	for _, o := range m.peers {
		ip4, _ := configs.DeriveIPv4(net4, o.key())
		ip6, _ := configs.DeriveIPv6(net6, o.key())
		cfg.Peers = append(cfg.Peers, configs.Peer{Name: o.name, PublicKey: o.key(), Address: ip4, Address6: ip6})
	}
	for _, b := range boot {
		cfg.DHT.Bootstrap = append(cfg.DHT.Bootstrap, configs.Bootstrap{Host: b.Host, Port: b.Port})
	}
	addrs := h.Addrs()
	if m.byNew {
		// As `hyperlan up` runs it: New opens the device and the router in the calling
		// thread's namespace and starts the node with the given ListenPacket.
		err = h.Do(func() (err error) {
			m.e, err = New(cfg, Deps{ListenPacket: h.ListenPacket, InterfaceAddrs: func() []netip.Addr { return addrs }, Logger: testLogger(t, m.name)})
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	} else {
		m.e = m.startWithDeps(t, cfg, kp, boot, addrs)
	}
	e, runErr := m.e, m.runErr
	go func() { runErr <- e.Run(context.Background()) }()
	t.Cleanup(func() { e.Close() })
}

// startWithDeps makes m's node, device and router in its namespace and gives them to New.
func (m *labMember) startWithDeps(t *testing.T, cfg *configs.Config, kp dht.KeyPair, boot []rpc.BootstrapNode, addrs []netip.Addr) *Engine {
	t.Helper()
	h := m.host
	node, err := dht.New(dht.Options{
		Host: h.Addr().String(), KeyPair: kp, Bootstrap: boot, ListenPacket: h.ListenPacket,
		InterfaceAddrs: func() []netip.Addr { return addrs },
	})
	if err != nil {
		t.Fatal(err)
	}
	var dev tun.Device
	var router *routing.Router
	err = h.Do(func() error {
		var err error
		if dev, err = tun.Open(tun.Options{Name: "hl0", MTU: cfg.Node.MTU}); err != nil {
			return err
		}
		router, err = routing.New("hl0", routing.Options{})
		return err
	})
	if err != nil {
		node.Destroy(context.Background(), dht.DestroyOptions{Force: true})
		if dev != nil {
			dev.Close()
		}
		t.Fatalf("%s: %v", m.name, err)
	}
	e, err := New(cfg, Deps{Node: node, TUN: dev, Router: router, Logger: testLogger(t, m.name)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// labPing pings to from m's namespace until a reply comes or d passes.
func labPing(t *testing.T, ctx context.Context, m *labMember, to netip.Addr, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	var out string
	var err error
	for time.Now().Before(deadline) {
		if out, err = m.host.Run(ctx, "ping", "-c", "1", "-W", "1", to.String()); err == nil {
			return
		}
	}
	t.Fatalf("%s cannot ping %v: %v\n%s\nstatus: %+v", m.name, to, err, out, m.e.Status())
}

// labTCP sends size random bytes over TCP from m to o's virtual IPv4 address and checks
// they arrive intact.
func labTCP(t *testing.T, m, o *labMember, size int) {
	t.Helper()
	var ln net.Listener
	if err := o.host.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(o.ip4, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan [32]byte, 1)
	go func() {
		defer close(got)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		h := sha256.New()
		io.Copy(h, c)
		got <- [32]byte(h.Sum(nil))
	}()
	data := make([]byte, size)
	rand.Read(data)
	var c net.Conn
	if err := m.host.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", ln.Addr().String(), 20*time.Second)
		return err
	}); err != nil {
		t.Fatalf("%s dials %s: %v", m.name, o.name, err)
	}
	start := time.Now()
	c.SetDeadline(time.Now().Add(90 * time.Second))
	if _, err := io.Copy(c, bytes.NewReader(data)); err != nil {
		t.Fatalf("%s -> %s: %v", m.name, o.name, err)
	}
	c.(*net.TCPConn).CloseWrite()
	sum := <-got
	c.Close()
	if sum != sha256.Sum256(data) {
		t.Fatalf("%s -> %s: the data arrived changed", m.name, o.name)
	}
	el := time.Since(start)
	t.Logf("%s -> %s: %d MiB intact in %v (%.1f Mbit/s)", m.name, o.name, size>>20, el.Round(time.Millisecond), float64(size)*8/el.Seconds()/1e6)
}

func peerStatusOf(e *Engine, key configs.PublicKey) (PeerStatus, bool) {
	for _, p := range e.Status().Peers {
		if p.PublicKey == key {
			return p, true
		}
	}
	return PeerStatus{}, false
}
