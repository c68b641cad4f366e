package peers

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/netsim"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/routing"
	"github.com/hyperlan/hyperlan/tun/tuntest"
)

// The engine tests run whole members on an in-memory internet (netsim) with a private DHT,
// tuntest devices and a recording router, inside testing/synctest bubbles: back-offs, pings
// and timeouts pass in virtual time. The test plays each member's operating system on the
// other end of its device.

// testlab is a private DHT on netsim and the members' shared network settings.
type testlab struct {
	t      testing.TB
	net    *netsim.Network
	nodes  []*dht.Node
	secret []byte // nil: members admit by key only
	net4   netip.Prefix
	net6   netip.Prefix
	hosts  int // members started, for their addresses
}

var bootAddr = netip.MustParseAddrPort("10.0.0.1:49737")

// newTestlab starts a bootstrap node and four persistent nodes.
func newTestlab(t *testing.T, secret []byte) *testlab {
	t.Helper()
	l := &testlab{t: t, net: netsim.New(netsim.Options{Delay: 5 * time.Millisecond}), secret: secret}
	l.net4 = netip.MustParsePrefix("10.77.0.0/16")
	l.net6 = configs.DefaultIPv6Prefix(secret, l.net4)
	t.Cleanup(func() {
		l.stopDHT()
		l.net.Close()
	})
	l.restartDHT()
	return l
}

func (l *testlab) stopDHT() {
	for _, n := range l.nodes {
		n.Destroy(context.Background(), dht.DestroyOptions{Force: true})
	}
	l.nodes = nil
}

// restartDHT starts the lab's DHT nodes on l.net (after stopping any).
func (l *testlab) restartDHT() {
	t := l.t
	l.stopDHT()
	boot, err := dht.Bootstrapper(int(bootAddr.Port()), bootAddr.Addr().String(), dht.Options{Host: bootAddr.Addr().String(), ListenPacket: l.net.ListenPacket})
	if err != nil {
		t.Fatal(err)
	}
	l.nodes = append(l.nodes, boot)
	for i := range 4 {
		n, err := dht.New(dht.Options{
			Host: fmt.Sprintf("10.0.1.%d", i+1), Mode: rpc.ModePersistent, ListenPacket: l.net.ListenPacket,
			Bootstrap: []rpc.BootstrapNode{{Host: "10.0.0.1", Port: 49737}},
		})
		if err != nil {
			t.Fatal(err)
		}
		l.nodes = append(l.nodes, n)
		if err := n.Ready(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// member is one engine and the test's view of it.
type member struct {
	l      *testlab
	name   string
	kp     dht.KeyPair
	key    configs.PublicKey
	ip4    netip.Addr
	ip6    netip.Addr
	routes []netip.Prefix
	cfg    *configs.Config

	e      *Engine
	os     *tuntest.Device // the operating system's end of the device
	router *fakeRouter
	host   string // where it runs; start picks one unless at is set
	at     string // the host for the next start, if set
	runErr chan error

	mu      sync.Mutex
	got     []tuntest.Packet // packets the OS received that the responder did not answer
	frags   [][]byte         // IPv4 fragments the OS received
	arrived chan struct{}    // capacity 1: got grew
	osDone  chan struct{}
}

// newMember makes a member with a key from seed; start it with start.
func (l *testlab) newMember(name string, seed byte) *member {
	s := make([]byte, dht.SeedSize)
	for i := range s {
		s[i] = seed
	}
	kp, err := dht.NewKeyPair(s)
	if err != nil {
		l.t.Fatal(err)
	}
	m := &member{l: l, name: name, kp: kp, key: configs.PublicKey(kp.PublicKey)}
	m.ip4, _ = configs.DeriveIPv4(l.net4, m.key)
	m.ip6, _ = configs.DeriveIPv6(l.net6, m.key)
	return m
}

// pair starts members a and b (keys from the seeds) that list each other as peers.
func (l *testlab) pair(seedA, seedB byte) (a, b *member) {
	a, b = l.newMember("a", seedA), l.newMember("b", seedB)
	a.start(a.config(b))
	b.start(b.config(a))
	return a, b
}

// asPeer is m as a [[peer]] table.
func (m *member) asPeer() configs.Peer {
	return configs.Peer{Name: m.name, PublicKey: m.key, Address: m.ip4, Address6: m.ip6, Routes: m.routes}
}

// config is m's config listing peers.
func (m *member) config(peers ...*member) *configs.Config {
	l := m.l
	cfg := &configs.Config{
		Node: configs.Node{
			Name: m.name, PublicKey: m.key, Interface: "hl-" + m.name, MTU: configs.DefaultMTU,
			KeepAlive: configs.DefaultKeepAlive, Address: m.ip4, Address6: m.ip6, Routes: m.routes,
		},
		Network: configs.Network{Secret: l.secret, IPv4: l.net4, IPv6: l.net6},
		DHT:     configs.DHT{Bootstrap: []configs.Bootstrap{{Host: bootAddr.Addr().String(), Port: bootAddr.Port()}}},
	}
	copy(cfg.Node.Seed[:], m.kp.Seed())
	for _, p := range peers {
		cfg.Peers = append(cfg.Peers, p.asPeer())
	}
	return cfg
}

// start runs m's engine with cfg on a new host of the lab; tweaks change the engine before
// it runs.
func (m *member) start(cfg *configs.Config, tweaks ...func(*Engine)) {
	t, l := m.l.t, m.l
	t.Helper()
	l.hosts++
	m.host = fmt.Sprintf("10.0.2.%d", l.hosts)
	if m.at != "" {
		m.host, m.at = m.at, ""
	}
	host := netip.MustParseAddr(m.host)
	node, err := dht.New(dht.Options{
		Host: m.host, ListenPacket: l.net.ListenPacket, KeyPair: m.kp,
		Bootstrap:      []rpc.BootstrapNode{{Host: "10.0.0.1", Port: 49737}},
		InterfaceAddrs: func() []netip.Addr { return []netip.Addr{host} },
	})
	if err != nil {
		t.Fatal(err)
	}
	dev, osEnd := tuntest.NewPair(tuntest.Options{Name: "hl-" + m.name, MTU: cfg.Node.MTU, BatchSize: 16})
	m.router = &fakeRouter{}
	m.cfg = cfg
	m.e, err = New(cfg, Deps{Node: node, TUN: dev, Router: m.router, Logger: testLogger(t, m.name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tweaks {
		f(m.e)
	}
	m.os = osEnd
	m.arrived = make(chan struct{}, 1)
	m.osDone = make(chan struct{})
	m.runErr = make(chan error, 1)
	e := m.e
	go func() { m.runErr <- e.Run(context.Background()) }()
	go m.routineOS(osEnd)
	t.Cleanup(m.stop)
}

// stop closes m's engine and its OS end.
func (m *member) stop() {
	if m.e == nil {
		return
	}
	if err := m.e.Close(); err != nil {
		m.l.t.Errorf("%s: Close: %v", m.name, err)
	}
	if err := <-m.runErr; err != nil {
		m.l.t.Errorf("%s: Run: %v", m.name, err)
	}
	m.os.Close()
	<-m.osDone
	m.e = nil
}

// routineOS plays m's operating system: it answers echo requests to m's addresses and
// keeps every other packet for the test.
func (m *member) routineOS(dev *tuntest.Device) {
	defer close(m.osDone)
	bufs := [][]byte{make([]byte, 2048)}
	sizes := make([]int, 1)
	for {
		n, err := dev.Read(bufs, sizes, 0)
		if err != nil {
			return
		}
		for i := range n {
			b := bufs[i][:sizes[i]]
			p, err := tuntest.Parse(b)
			if err != nil && b[0]>>4 == 4 && binary.BigEndian.Uint16(b[6:])&(ipv4MF|ipv4Offset) != 0 {
				m.mu.Lock()
				m.frags = append(m.frags, append([]byte(nil), b...))
				m.mu.Unlock()
				continue
			}
			if err != nil {
				m.l.t.Errorf("%s: the engine wrote a bad packet: %v", m.name, err)
				continue
			}
			if p.IsEchoRequest() && (p.Dst == m.ip4 || p.Dst == m.ip6) {
				reply := tuntest.EchoReply(p.Dst, p.Src, p.ID, p.Seq, p.Payload)
				m.write(reply)
				continue
			}
			p.Payload = append([]byte(nil), p.Payload...)
			m.mu.Lock()
			m.got = append(m.got, p)
			m.mu.Unlock()
			select {
			case m.arrived <- struct{}{}:
			default:
			}
		}
	}
}

// write sends a packet from m's operating system into the VPN.
func (m *member) write(pkt []byte) {
	buf := make([]byte, 16+len(pkt))
	copy(buf[16:], pkt)
	if _, err := m.os.Write([][]byte{buf}, 16); err != nil && !errors.Is(err, net.ErrClosed) {
		m.l.t.Errorf("%s: OS write: %v", m.name, err)
	}
}

// waitPacket waits up to d for a packet that match accepts, and removes it.
func (m *member) waitPacket(d time.Duration, match func(tuntest.Packet) bool) (tuntest.Packet, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		for i, p := range m.got {
			if match(p) {
				m.got = append(m.got[:i], m.got[i+1:]...)
				m.mu.Unlock()
				return p, true
			}
		}
		m.mu.Unlock()
		select {
		case <-m.arrived:
		case <-deadline.C:
			return tuntest.Packet{}, false
		}
	}
}

var pingSeq uint16

// ping sends echo requests from m to dst, one a second, until a reply comes back or
// tries run out; it reports whether one did.
func (m *member) ping(src, dst netip.Addr, tries int) bool {
	for range tries {
		pingSeq++
		seq := pingSeq
		m.write(tuntest.EchoRequest(src, dst, 7, seq, []byte("hyperlan ping")))
		if _, ok := m.waitPacket(time.Second, func(p tuntest.Packet) bool {
			return p.IsEcho() && !p.IsEchoRequest() && p.Src == dst && p.Seq == seq
		}); ok {
			return true
		}
	}
	return false
}

// mustPing fails the test unless m reaches o on both its addresses.
func (m *member) mustPing(o *member) {
	m.l.t.Helper()
	if !m.ping(m.ip4, o.ip4, 60) {
		m.l.t.Fatalf("%s cannot ping %s at %v; status %+v", m.name, o.name, o.ip4, m.e.Status())
	}
	if !m.ping(m.ip6, o.ip6, 10) {
		m.l.t.Fatalf("%s cannot ping %s at %v", m.name, o.name, o.ip6)
	}
}

// peerStatus returns m's status of o.
func (m *member) peerStatus(o *member) (PeerStatus, bool) {
	for _, p := range m.e.Status().Peers {
		if p.PublicKey == o.key {
			return p, true
		}
	}
	return PeerStatus{}, false
}

// fakeRouter records the configs the engine sets.
type fakeRouter struct {
	mu     sync.Mutex
	sets   []routing.Config
	closed bool
}

func (r *fakeRouter) Set(c routing.Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return net.ErrClosed
	}
	r.sets = append(r.sets, c)
	return nil
}

func (r *fakeRouter) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

func (r *fakeRouter) last() routing.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sets) == 0 {
		return routing.Config{}
	}
	return r.sets[len(r.sets)-1]
}

// testLogger logs to the test when HYPERLAN_TEST_LOG is set.
func testLogger(t testing.TB, name string) *slog.Logger {
	if os.Getenv("HYPERLAN_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", name)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}
