package holepunch

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/netsim"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// world is a DHT of public nodes on an in-memory network and two homes behind NATs, each
// with a node, its UDX instance and a socket pool: side a (10.0.1.2 behind 198.51.100.2) and
// side b (10.0.2.2 behind 203.0.113.2).
type world struct {
	t     *testing.T
	net   *netsim.Network
	nats  [2]*netsim.NAT
	sides [2]*side
	dht   []*rpc.Node
}

type side struct {
	rpc  *rpc.Node
	udx  *udx.Instance
	pool *Pool
	pub  netip.Addr // the NAT's public address
}

var (
	homeHost   = [2]string{"10.0.1.2", "10.0.2.2"}
	homePrefix = [2]netip.Prefix{netip.MustParsePrefix("10.0.1.0/24"), netip.MustParsePrefix("10.0.2.0/24")}
	homePublic = [2]netip.Addr{netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("203.0.113.2")}
)

func newWorld(t *testing.T, maps [2]netsim.Mapping) *world {
	t.Helper()
	w := &world{t: t, net: netsim.New(netsim.Options{Delay: 5 * time.Millisecond, Seed: 1})}
	t.Cleanup(func() {
		for _, s := range w.sides {
			if s != nil {
				s.pool.Close()
				s.rpc.Destroy()
			}
		}
		for _, n := range w.dht {
			n.Destroy()
		}
		w.net.Close()
	})
	boot, err := rpc.Bootstrapper(49737, "192.0.2.10", rpc.Options{Host: "192.0.2.10", ListenPacket: w.net.ListenPacket})
	if err != nil {
		t.Fatal(err)
	}
	w.dht = append(w.dht, boot)
	bootstrap := []rpc.BootstrapNode{{Host: "192.0.2.10", Port: 49737}}
	for i := range 8 {
		host := fmt.Sprintf("192.0.2.%d", 11+i)
		n, err := rpc.New(rpc.Options{Host: host, Mode: rpc.ModePersistent, ListenPacket: w.net.ListenPacket, Bootstrap: bootstrap})
		if err != nil {
			t.Fatal(err)
		}
		w.dht = append(w.dht, n)
		if err := n.Ready(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		w.nats[i] = w.net.AddNAT(netsim.NATOptions{Public: homePublic[i], Inside: homePrefix[i], Mapping: maps[i]})
		inst := udx.NewInstance()
		listen := func(network, address string) (net.PacketConn, error) {
			pc, err := w.net.ListenPacket(network, address)
			if err != nil {
				return nil, err
			}
			return inst.Listen(pc), nil
		}
		n, err := rpc.New(rpc.Options{Host: homeHost[i], ListenPacket: listen, Bootstrap: bootstrap})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Ready(context.Background()); err != nil {
			t.Fatal(err)
		}
		pool := NewPool(PoolOptions{UDX: inst, RPC: n, ListenPacket: w.net.ListenPacket, Host: homeHost[i]})
		w.sides[i] = &side{rpc: n, udx: inst, pool: pool, pub: homePublic[i]}
	}
	return w
}

// punchResult is what the initiator saw.
type punchResult struct {
	sock *udx.Socket
	from netip.AddrPort
}

// TestPunchStrategies runs the two punchers of a connection (a is the initiator) with the
// rounds' exchange done by hand: each classifies its NAT, learns the other's firewall and
// addresses with the host verified, and punches.
func TestPunchStrategies(t *testing.T) {
	cons, rand := netsim.MappingEndpointIndependent, netsim.MappingRandom
	for _, tc := range []struct {
		name      string
		maps      [2]netsim.Mapping
		fw        [2]Firewall
		strategy  [2]Strategy
		connected bool
	}{
		{"consistent+consistent", [2]netsim.Mapping{cons, cons}, [2]Firewall{Consistent, Consistent}, [2]Strategy{ConsistentProbe, ConsistentProbe}, true},
		{"consistent+random", [2]netsim.Mapping{cons, rand}, [2]Firewall{Consistent, Random}, [2]Strategy{RandomProbes, Birthday}, true},
		{"random+consistent", [2]netsim.Mapping{rand, cons}, [2]Firewall{Random, Consistent}, [2]Strategy{Birthday, RandomProbes}, true},
		{"random+random", [2]netsim.Mapping{rand, rand}, [2]Firewall{Random, Random}, [2]Strategy{None, None}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newWorld(t, tc.maps)
				ctx := context.Background()
				got := make(chan punchResult, 1)
				aborted := make(chan int, 2)
				var lim [2]Limiter
				var p [2]*Puncher
				for i := range 2 {
					var err error
					p[i], err = New(Options{Pool: w.sides[i].pool, Initiator: i == 0, Limiter: &lim[i],
						OnConnect: func(sock *udx.Socket, from netip.AddrPort) { got <- punchResult{sock, from} },
						OnAbort:   func() { aborted <- i }})
					if err != nil {
						t.Fatal(err)
					}
					defer p[i].Destroy()
				}
				for i := range 2 {
					p[i].Analyze(ctx, false)
					if fw := p[i].NAT().Firewall(); fw != tc.fw[i] {
						t.Fatalf("side %d classified %v, want %v", i, fw, tc.fw[i])
					}
				}
				for i := range 2 {
					o := p[1-i].NAT()
					p[i].UpdateRemote(true, o.Firewall(), o.Addresses(), w.sides[1-i].pub)
				}
				start := time.Now()
				for i := range 2 {
					if ok := p[i].Punch(); ok != (tc.strategy[i] != None) {
						t.Fatalf("side %d: Punch %v", i, ok)
					}
					if _, _, _, s := p[i].State(); s != tc.strategy[i] {
						t.Errorf("side %d: strategy %v, want %v", i, s, tc.strategy[i])
					}
				}
				if !tc.connected {
					return
				}
				if tc.strategy[0] == RandomProbes || tc.strategy[0] == Birthday {
					if !lim[0].Blocked() {
						t.Error("a random punch does not block the next one")
					}
				}
				select {
				case r := <-got:
					if r.from.Addr() != homePublic[1] {
						t.Errorf("connected to %v, want b's public address", r.from)
					}
					t.Logf("%s: connected after %v", tc.name, time.Since(start))
				case i := <-aborted:
					t.Fatalf("side %d gave up", i)
				}
				if _, connected, _, _ := p[0].State(); !connected {
					t.Error("initiator not connected")
				}
				synctest.Wait()
				if n := w.sides[0].pool.Len(); n != 1 {
					t.Errorf("initiator keeps %d sockets after connecting, want 1", n)
				}
				if lim[0].Blocked() != (tc.strategy[0] != ConsistentProbe) {
					t.Errorf("blocked %v after connecting", lim[0].Blocked())
				}
			})
		})
	}
}

// TestPunchGivesUp: a responder that never hears from the initiator stops after its tries and
// reports the abort; its sockets close.
func TestPunchGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWorld(t, [2]netsim.Mapping{netsim.MappingEndpointIndependent, netsim.MappingEndpointIndependent})
		aborted := make(chan struct{})
		p, err := New(Options{Pool: w.sides[1].pool, OnAbort: func() { close(aborted) }})
		if err != nil {
			t.Fatal(err)
		}
		p.Analyze(context.Background(), false)
		p.UpdateRemote(true, Consistent, []netip.AddrPort{netip.MustParseAddrPort("198.51.100.2:9")}, netip.Addr{})
		start := time.Now()
		if !p.Punch() {
			t.Fatal("no strategy")
		}
		<-aborted
		if d := time.Since(start); d != 11*time.Second {
			t.Errorf("gave up after %v, want 11 s (a 1 s wait, then 10 tries 1 s apart)", d)
		}
		synctest.Wait()
		if n := w.sides[1].pool.Len(); n != 0 {
			t.Errorf("%d sockets open after giving up", n)
		}
	})
}

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		local, remote Firewall
		verified      bool
		want          Strategy
	}{
		{Consistent, Consistent, false, ConsistentProbe},
		{Open, Consistent, false, ConsistentProbe},
		{Open, Open, false, ConsistentProbe},
		{Consistent, Random, false, None},
		{Consistent, Random, true, RandomProbes},
		{Open, Random, true, RandomProbes},
		{Random, Consistent, true, Birthday},
		{Random, Open, true, Birthday},
		{Random, Consistent, false, None},
		{Random, Random, true, None},
		{Unknown, Consistent, true, None},
		{Consistent, Unknown, true, None},
	} {
		if got := Choose(tc.local, tc.remote, tc.verified); got != tc.want {
			t.Errorf("Choose(%v, %v, verified %v) = %v, want %v", tc.local, tc.remote, tc.verified, got, tc.want)
		}
	}
}

func TestLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &Limiter{Interval: 5 * time.Second}
		if l.Blocked() {
			t.Fatal("a fresh limiter blocks")
		}
		release := l.Reserve()
		if !l.Blocked() {
			t.Fatal("a reserved punch does not block")
		}
		release()
		release()
		if l.Blocked() {
			t.Fatal("blocked after the reservation ended")
		}
		l.begin()
		l.end()
		if !l.Blocked() {
			t.Fatal("not blocked right after a punch")
		}
		time.Sleep(5 * time.Second)
		if l.Blocked() {
			t.Fatal("blocked after the interval")
		}
	})
}
