package rpc

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/netsim"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// testnet is an in-memory network of a bootstrapper and nodes at 10.0.0.x, for use inside a
// synctest bubble.
type testnet struct {
	t     *testing.T
	net   *netsim.Network
	boot  *Node
	nodes []*Node
}

func newTestnet(t *testing.T, opts netsim.Options) *testnet {
	t.Helper()
	tn := &testnet{t: t, net: netsim.New(opts)}
	boot, err := Bootstrapper(49737, "10.0.0.1", Options{Host: "10.0.0.1", ListenPacket: tn.net.ListenPacket})
	if err != nil {
		t.Fatal(err)
	}
	tn.boot = boot
	t.Cleanup(func() {
		for _, n := range tn.nodes {
			n.Destroy()
		}
		boot.Destroy()
		tn.net.Close()
	})
	return tn
}

func (tn *testnet) bootstrapList() []BootstrapNode {
	return []BootstrapNode{{Host: "10.0.0.1", Port: 49737}}
}

// add starts a node at 10.0.0.(2+index) with the given mode and waits until it is ready.
func (tn *testnet) add(mode Mode) *Node {
	tn.t.Helper()
	host := fmt.Sprintf("10.0.%d.%d", (len(tn.nodes)+2)/250, (len(tn.nodes)+2)%250+1)
	n, err := New(Options{
		Host: host, Port: 49737, Mode: mode, Bootstrap: tn.bootstrapList(),
		ListenPacket: tn.net.ListenPacket,
	})
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.nodes = append(tn.nodes, n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := n.Ready(ctx); err != nil {
		tn.t.Fatalf("node %s not ready: %v", host, err)
	}
	return n
}

func TestBootstrapperIsPersistent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{})
		ctx := context.Background()
		if err := tn.boot.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		id, ok := tn.boot.ID()
		if !ok {
			t.Fatal("bootstrapper is ephemeral")
		}
		if want := NodeID(netip.MustParseAddrPort("10.0.0.1:49737")); id != want {
			t.Fatalf("bootstrapper id %s, want %s", id, want)
		}
		if tn.boot.Firewalled() {
			t.Fatal("bootstrapper is firewalled")
		}
	})
}

func TestPersistentNodesJoin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{Delay: 5 * time.Millisecond})
		for range 8 {
			tn.add(ModePersistent)
		}
		for _, n := range tn.nodes {
			id, ok := n.ID()
			if !ok {
				t.Fatalf("node %v stayed ephemeral", n.LocalAddr())
			}
			if want := NodeID(n.LocalAddr()); id != want {
				t.Fatalf("node %v id %s, want hash of its address %s", n.LocalAddr(), id, want)
			}
			if n.Firewalled() {
				t.Fatalf("node %v firewalled", n.LocalAddr())
			}
			if got := n.PublicAddr(); got != n.LocalAddr() {
				t.Fatalf("node public address %v, want %v", got, n.LocalAddr())
			}
		}
		// Every node's own id, looked up from another node, returns that node closest.
		for i, n := range tn.nodes {
			target, _ := n.ID()
			from := tn.nodes[(i+1)%len(tn.nodes)]
			res, err := from.FindNode(context.Background(), target, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Closest) == 0 || res.Closest[0].From != n.LocalAddr() {
				t.Fatalf("find_node(%s): closest %v, want %v first", target, res.ClosestNodes(), n.LocalAddr())
			}
		}
	})
}

// A query's closest replies are sorted by distance and begin with the nodes truly nearest
// the target. (The reference's walk stops at the first candidate of a closer-nodes list that is
// not closer, and those lists come in bucket order rather than XOR order, so in a network larger
// than k the tail of the set may legitimately miss a node; the head may not.) In a network of
// fewer than k nodes the set is everyone but the querier.
func TestFindNodeClosestSet(t *testing.T) {
	for _, size := range []int{12, 30} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testFindNodeClosestSet(t, size) })
		})
	}
}

func testFindNodeClosestSet(t *testing.T, size int) {
	tn := newTestnet(t, netsim.Options{Delay: 2 * time.Millisecond})
	for range size {
		tn.add(ModePersistent)
	}
	all := append([]*Node{tn.boot}, tn.nodes...)
	for trial := range 5 {
		var target ktable.ID
		target[0], target[1] = byte(trial*51), byte(trial*7)
		querier := tn.nodes[trial]
		var ids []ktable.ID
		for _, n := range all {
			if id, _ := n.ID(); n != querier {
				ids = append(ids, id)
			}
		}
		slices.SortFunc(ids, func(a, b ktable.ID) int { return ktable.Compare(target, a, b) })
		want := ids[:min(len(ids), ktable.K)]
		res, err := querier.FindNode(context.Background(), target, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []ktable.ID
		for _, r := range res.Closest {
			id, _ := r.FromID()
			got = append(got, id)
		}
		if !slices.IsSortedFunc(got, func(a, b ktable.ID) int { return ktable.Compare(target, a, b) }) {
			t.Fatalf("trial %d: closest not sorted by distance: %v", trial, got)
		}
		head := len(want)
		if len(ids) > ktable.K {
			head = 5
		}
		if len(got) < head || !slices.Equal(got[:head], want[:head]) {
			t.Fatalf("trial %d: closest\n got %v\nwant %v", trial, got, want)
		}
	}
}

func TestEphemeralAndAdaptiveNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{Delay: time.Millisecond})
		for range 3 {
			tn.add(ModePersistent)
		}
		eph := tn.add(ModeEphemeral)
		if !eph.Ephemeral() {
			t.Fatal("ephemeral node became persistent")
		}
		ad := tn.add(ModeAdaptive)
		if !ad.Ephemeral() {
			t.Fatal("adaptive node persistent right after bootstrap")
		}
		// Neither appears in others' tables: they never send an id.
		for _, n := range append([]*Node{tn.boot}, tn.nodes[:3]...) {
			for _, ni := range n.Nodes(0) {
				if ni.Addr == eph.LocalAddr() || ni.Addr == ad.LocalAddr() || ni.Addr == eph.ClientAddr() || ni.Addr == ad.ClientAddr() {
					t.Fatalf("%v has ephemeral node %v in its table", n.LocalAddr(), ni.Addr)
				}
			}
		}
		// An ephemeral node can still query.
		target, _ := tn.nodes[0].ID()
		res, err := eph.FindNode(context.Background(), target, nil)
		if err != nil || len(res.Closest) == 0 || res.Closest[0].From != tn.nodes[0].LocalAddr() {
			t.Fatalf("ephemeral find_node: %v %v", res, err)
		}
	})
}

func TestUserCommandsAndCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{Delay: time.Millisecond})
		for range 6 {
			tn.add(ModePersistent)
		}
		const cmd = 42
		committed := make(chan netip.AddrPort, 100)
		for _, n := range tn.nodes {
			n.Handle(cmd, func(req *Request) {
				if req.HasToken {
					committed <- req.From
				}
				req.Reply(req.Value)
			})
		}
		var target ktable.ID
		target[0] = 0xaa
		res, err := tn.nodes[0].Query(context.Background(), target, cmd, []byte("v"), &QueryOptions{Commit: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Successes == 0 {
			t.Fatal("no successes")
		}
		synctest.Wait()
		if len(committed) != len(res.Closest)-1 { // the bootstrapper has no handler: error reply, not in Closest
			t.Logf("closest %v", res.ClosestNodes())
		}
		if len(committed) == 0 {
			t.Fatal("no commit reached a node")
		}
		// An unregistered command gets UNKNOWN_COMMAND, which still resolves the request.
		r, err := tn.nodes[0].Request(context.Background(), tn.boot.LocalAddr(), Outgoing{Command: 7}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Error != CodeUnknownCommand {
			t.Fatalf("error %d, want %d", r.Error, CodeUnknownCommand)
		}
		// A forged token is refused with INVALID_TOKEN and a fresh token.
		bad := [32]byte{1}
		r, err = tn.nodes[0].Request(context.Background(), tn.nodes[1].LocalAddr(), Outgoing{Command: cmd, Token: &bad}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Error != CodeInvalidToken || !r.HasToken {
			t.Fatalf("forged token: error %d token %v", r.Error, r.HasToken)
		}
		// The fresh token works.
		tok := r.Token
		r, err = tn.nodes[0].Request(context.Background(), tn.nodes[1].LocalAddr(), Outgoing{Command: cmd, Token: &tok, Value: []byte("x")}, nil)
		if err != nil || r.Error != 0 || string(r.Value) != "x" {
			t.Fatalf("fresh token: %v %v", r, err)
		}
	})
}

func TestRequestTimeoutRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{})
		n := tn.add(ModePersistent)
		start := time.Now()
		_, err := n.Ping(context.Background(), netip.MustParseAddrPort("10.9.9.9:1"))
		if err == nil {
			t.Fatal("ping to nowhere succeeded")
		}
		if d := time.Since(start); d != 4*time.Second {
			t.Fatalf("timeout after %v, want 4s (4 sends, 1 s apart)", d)
		}
		if s := n.Stats(); s.Requests.Retries < 3 || s.Requests.Timeouts < 1 {
			t.Fatalf("stats %+v", s.Requests)
		}
	})
}

func TestDestroy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{})
		n := tn.add(ModePersistent)
		done := make(chan error, 1)
		go func() {
			_, err := n.Ping(context.Background(), netip.MustParseAddrPort("10.9.9.9:1"))
			done <- err
		}()
		synctest.Wait()
		if err := n.Destroy(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err == nil {
			t.Fatal("pending ping survived destroy")
		}
		if err := n.Destroy(); err != nil {
			t.Fatal("second destroy:", err)
		}
		if _, err := n.Ping(context.Background(), tn.boot.LocalAddr()); err == nil {
			t.Fatal("ping after destroy")
		}
	})
}

// An adaptive node that passes the NAT checks turns persistent after about 20 minutes of
// stable uptime (240 ticks), not before.
func TestAdaptiveBecomesPersistent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{Delay: 2 * time.Millisecond})
		for range 4 {
			tn.add(ModePersistent)
		}
		ad := tn.add(ModeAdaptive)
		if !ad.Ephemeral() {
			t.Fatal("adaptive node persistent at once")
		}
		time.Sleep(15 * time.Minute)
		if !ad.Ephemeral() {
			t.Fatal("adaptive node persistent after 15 minutes")
		}
		time.Sleep(7 * time.Minute)
		id, ok := ad.ID()
		if !ok {
			t.Fatal("adaptive node still ephemeral after 22 minutes")
		}
		if id != NodeID(ad.LocalAddr()) {
			t.Fatalf("adaptive node id %s, want hash of %v", id, ad.LocalAddr())
		}
		// Others learn it as it now carries its id.
		synctest.Wait()
		time.Sleep(5 * time.Minute)
		found := false
		for _, ni := range tn.boot.Nodes(0) {
			found = found || ni.Addr == ad.LocalAddr()
		}
		if !found {
			t.Fatal("the bootstrapper never added the now persistent node")
		}
	})
}

// The congestion window lets at most 80 requests out per 750 ms slot.
func TestCongestionWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{})
		n := tn.add(ModePersistent)
		sink := netip.MustParseAddrPort("10.9.9.9:9")
		var sent atomicCounter
		tn.net.SetFilter(func(from, to netip.AddrPort, b []byte) bool {
			if to == sink {
				sent.add()
			}
			return true
		})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for range 200 {
			go n.Ping(ctx, sink)
		}
		synctest.Wait()
		if got := sent.load(); got != DefaultMaxWindow {
			t.Fatalf("first slot sent %d, want %d", got, DefaultMaxWindow)
		}
		time.Sleep(drainInterval)
		synctest.Wait()
		if got := sent.load(); got != 2*DefaultMaxWindow {
			t.Fatalf("after one drain sent %d, want %d", got, 2*DefaultMaxWindow)
		}
		time.Sleep(drainInterval / 2)
		synctest.Wait()
		if got := sent.load(); got != 2*DefaultMaxWindow {
			t.Fatalf("total window exceeded: %d", got)
		}
		cancel()
		synctest.Wait()
	})
}

// Tokens live between 7.5 and 15 s: a token is accepted 7 s after it was issued and refused
// 16 s after.
func TestTokenLifetime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{Delay: time.Millisecond})
		a := tn.add(ModePersistent)
		b := tn.add(ModePersistent)
		b.Handle(42, func(req *Request) { req.Reply(nil) })
		ctx := context.Background()
		r, err := a.Request(ctx, b.LocalAddr(), Outgoing{Command: 42}, nil)
		if err != nil || !r.HasToken {
			t.Fatalf("no token: %v %v", r, err)
		}
		tok := r.Token
		time.Sleep(7 * time.Second)
		if r, err = a.Request(ctx, b.LocalAddr(), Outgoing{Command: 42, Token: &tok}, nil); err != nil || r.Error != 0 {
			t.Fatalf("token refused after 7 s: %v %v", r, err)
		}
		time.Sleep(9 * time.Second)
		if r, err = a.Request(ctx, b.LocalAddr(), Outgoing{Command: 42, Token: &tok}, nil); err != nil || r.Error != CodeInvalidToken {
			t.Fatalf("token after 16 s: %v %v", r, err)
		}
	})
}

type atomicCounter struct {
	mu sync.Mutex
	n  int
}

func (c *atomicCounter) add() { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *atomicCounter) load() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// A relayed request keeps its tid; the final hop answers the origin directly and the origin
// matches the reply by tid although it comes from another address.
func TestRelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{Delay: time.Millisecond})
		a, b, c := tn.add(ModePersistent), tn.add(ModePersistent), tn.add(ModePersistent)
		const cmd = 50
		b.Handle(cmd, func(req *Request) {
			origin, _ := req.From.MarshalBinary()
			req.Relay(origin, c.LocalAddr())
		})
		c.Handle(cmd, func(req *Request) {
			var origin netip.AddrPort
			if err := origin.UnmarshalBinary(req.Value); err != nil {
				t.Errorf("relayed value: %v", err)
				return
			}
			if req.From != b.LocalAddr() {
				t.Errorf("relayed request from %v, want %v", req.From, b.LocalAddr())
			}
			req.Respond(ReplyOptions{Value: []byte("from c"), To: origin})
		})
		r, err := a.Request(context.Background(), b.LocalAddr(), Outgoing{Command: cmd, Value: []byte("hi")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.From != c.LocalAddr() || string(r.Value) != "from c" {
			t.Fatalf("reply from %v value %q, want from %v", r.From, r.Value, c.LocalAddr())
		}
	})
}

// Seed nodes given in Options.Nodes are in the table before any contact; FilterNode keeps
// vetoed nodes out of the table and out of queries.
func TestSeedNodesAndFilter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{Delay: time.Millisecond})
		p1, p2 := tn.add(ModePersistent), tn.add(ModePersistent)
		banned := p2.LocalAddr()
		n, err := New(Options{
			Host: "10.0.7.1", Mode: ModePersistent, ListenPacket: tn.net.ListenPacket,
			Nodes:      []netip.AddrPort{p1.LocalAddr()},
			Bootstrap:  tn.bootstrapList(),
			FilterNode: func(a netip.AddrPort) bool { return a != banned },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Destroy()
		if got := n.Nodes(0); len(got) != 1 || got[0].Addr != p1.LocalAddr() {
			t.Fatalf("seeded table %v", got)
		}
		if err := n.Ready(context.Background()); err != nil {
			t.Fatal(err)
		}
		id2, _ := p2.ID()
		res, err := n.FindNode(context.Background(), id2, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Closest {
			if r.From == banned {
				t.Fatal("filtered node visited")
			}
		}
		for _, ni := range n.Nodes(0) {
			if ni.Addr == banned {
				t.Fatal("filtered node in the table")
			}
		}
	})
}

// The RPC layer runs on UDX sockets, which pass it every datagram that is not for a stream
// (hyperdht shares one socket between dht-rpc and UDX streams).
func TestOverUDXSockets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := netsim.New(netsim.Options{Delay: time.Millisecond})
		defer sim.Close()
		inst := udx.NewInstance()
		listen := func(network, address string) (net.PacketConn, error) {
			pc, err := sim.ListenPacket(network, address)
			if err != nil {
				return nil, err
			}
			return inst.Listen(pc), nil
		}
		boot, err := Bootstrapper(49737, "10.0.0.1", Options{Host: "10.0.0.1", ListenPacket: listen})
		if err != nil {
			t.Fatal(err)
		}
		defer boot.Destroy()
		var nodes []*Node
		for i := range 4 {
			n, err := New(Options{
				Host: fmt.Sprintf("10.0.0.%d", i+2), Mode: ModePersistent, ListenPacket: listen,
				Bootstrap: []BootstrapNode{{Host: "10.0.0.1", Port: 49737}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Destroy()
			if err := n.Ready(context.Background()); err != nil {
				t.Fatal(err)
			}
			nodes = append(nodes, n)
		}
		// Stray UDX packets for unknown streams reach the RPC layer, which ignores them.
		stray := udx.Header{Type: udx.TypeData, ID: 99}
		pc, _ := sim.ListenPacket("udp4", "10.0.9.1:1")
		defer pc.Close()
		pc.WriteTo(stray.Append(nil), net.UDPAddrFromAddrPort(nodes[0].LocalAddr()))
		target, _ := nodes[3].ID()
		res, err := nodes[0].FindNode(context.Background(), target, nil)
		if err != nil || len(res.Closest) == 0 || res.Closest[0].From != nodes[3].LocalAddr() {
			t.Fatalf("find_node over udx sockets: %v %v", res, err)
		}
		if _, ok := nodes[0].ID(); !ok {
			t.Fatal("node over udx sockets stayed ephemeral")
		}
	})
}
