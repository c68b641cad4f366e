package rpc_test

// Live interop with the JS reference (dht-rpc 6.27 via interop/dhtrpc.js) on 127.0.0.1.
// Topologies:
//
//	TestInteropGoJoinsJS:  JS bootstrapper + 5 persistent JS nodes <- 5 Go nodes join
//	TestInteropJSJoinsGo:  Go bootstrapper + 5 persistent Go nodes <- 5 JS nodes join
//	TestInteropMixed30:    JS bootstrapper, 15 JS + 14 Go nodes, lookups across sides
//	TestInteropRobustness: garbage, truncated datagrams and forged tokens at a Go node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/interop"
)

const echoCommand = 42

func interopCtx(t *testing.T, d time.Duration) context.Context {
	checkLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// checkLeaks fails the test if goroutines started during it outlive its cleanups (which
// destroy every node). Register it before anything else so it runs last.
func checkLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines leaked:\n%s", n-before, buf[:runtime.Stack(buf, true)])
		}
	})
}

// startGo starts a Go node on 127.0.0.1 that echoes command 42 like the JS driver.
func startGo(t *testing.T, boot []netip.AddrPort, mode rpc.Mode) *rpc.Node {
	t.Helper()
	var bl []rpc.BootstrapNode
	for _, b := range boot {
		bl = append(bl, rpc.BootstrapNode{Host: b.Addr().String(), Port: b.Port()})
	}
	n, err := rpc.New(rpc.Options{Host: "127.0.0.1", Mode: mode, Bootstrap: bl})
	if err != nil {
		t.Fatal(err)
	}
	n.Handle(echoCommand, func(req *rpc.Request) { req.Reply(req.Value) })
	t.Cleanup(func() { n.Destroy() })
	return n
}

func startGoBootstrapper(t *testing.T) *rpc.Node {
	t.Helper()
	port := interop.FreeUDPPort(t)
	n, err := rpc.Bootstrapper(port, "127.0.0.1", rpc.Options{Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	n.Handle(echoCommand, func(req *rpc.Request) { req.Reply(req.Value) })
	t.Cleanup(func() { n.Destroy() })
	return n
}

func waitGoReady(t *testing.T, ctx context.Context, nodes ...*rpc.Node) {
	t.Helper()
	for _, n := range nodes {
		if err := n.Ready(ctx); err != nil {
			t.Fatalf("go node %v not ready: %v", n.LocalAddr(), err)
		}
	}
}

func waitJSBootstrapped(t *testing.T, ctx context.Context, nodes ...*interop.Node) {
	t.Helper()
	for _, n := range nodes {
		if _, err := n.WaitEvent(ctx, "bootstrapped", nil); err != nil {
			t.Fatalf("js node %v: %v", n, err)
		}
	}
}

// eventually retries cond every 100 ms until it holds or ctx ends.
func eventually(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s", what, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func randomTarget() ktable.ID {
	var id ktable.ID
	rand.Read(id[:])
	return id
}

func addrStrings(a []netip.AddrPort) []string {
	out := make([]string, len(a))
	for i, x := range a {
		out[i] = x.String()
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func without(s []string, drop ...string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(drop, x) {
			out = append(out, x)
		}
	}
	return out
}

func assertPersistentGo(t *testing.T, n *rpc.Node) {
	t.Helper()
	id, ok := n.ID()
	if !ok || n.Firewalled() {
		t.Fatalf("go node %v: persistent=%v firewalled=%v, want persistent and open", n.LocalAddr(), ok, n.Firewalled())
	}
	if id != rpc.NodeID(n.LocalAddr()) {
		t.Fatalf("go node %v: id %s is not the hash of its address", n.LocalAddr(), id)
	}
}

func TestInteropGoJoinsJS(t *testing.T) {
	interop.Require(t)
	ctx := interopCtx(t, 90*time.Second)
	boot := interop.StartBootstrapper(t, interop.FreeUDPPort(t))
	bootAddrs := []netip.AddrPort{boot.Addr()}
	var js []*interop.Node
	for range 5 {
		js = append(js, interop.StartNode(t, bootAddrs, interop.NodeOptions{}))
	}
	waitJSBootstrapped(t, ctx, js...)
	var gos []*rpc.Node
	for range 5 {
		gos = append(gos, startGo(t, bootAddrs, rpc.ModePersistent))
	}
	waitGoReady(t, ctx, gos...)

	// Go nodes become persistent and open, as the JS nodes do.
	for _, g := range gos {
		assertPersistentGo(t, g)
	}
	for _, j := range js {
		info, err := j.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Ephemeral || info.Firewalled {
			t.Fatalf("js node %v: %+v", j, info)
		}
	}

	// Every Go node is in the JS bootstrapper's table (it carries a valid id).
	eventually(t, ctx, "go nodes in the js bootstrapper's table", func() (bool, string) {
		table, err := boot.Table(ctx)
		if err != nil {
			return false, err.Error()
		}
		have := map[string]bool{}
		for _, p := range table {
			have[p.AddrPort().String()] = true
		}
		for _, g := range gos {
			if !have[g.LocalAddr().String()] {
				return false, fmt.Sprintf("%v missing from %v", g.LocalAddr(), table)
			}
		}
		return true, ""
	})

	// Ephemeral queriers of both implementations see the same closest set: with 11
	// persistent nodes (fewer than k) that is all of them.
	goQ := startGo(t, bootAddrs, rpc.ModeEphemeral)
	jsQ := interop.StartNode(t, bootAddrs, interop.NodeOptions{Ephemeral: true})
	waitGoReady(t, ctx, goQ)
	waitJSBootstrapped(t, ctx, jsQ)
	all := []string{boot.Addr().String()}
	for _, j := range js {
		all = append(all, j.Addr().String())
	}
	for _, g := range gos {
		all = append(all, g.LocalAddr().String())
	}
	for range 5 {
		target := randomTarget()
		goRes, err := goQ.FindNode(ctx, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		jsRes, err := jsQ.FindNode(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		got, want := addrStrings(goRes.ClosestNodes()), sorted(jsRes.Closest)
		if !slices.Equal(got, want) {
			t.Fatalf("target %s: go closest %v, js closest %v", target, got, want)
		}
		if !slices.Equal(want, sorted(all)) {
			t.Fatalf("target %s: closest %v, want every node %v", target, want, sorted(all))
		}
		// Persistent queriers: each set is everyone but the querier itself.
		pg, err := gos[0].FindNode(ctx, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		pj, err := js[0].FindNode(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		g0, j0 := gos[0].LocalAddr().String(), js[0].Addr().String()
		if a, b := without(addrStrings(pg.ClosestNodes()), j0), without(sorted(pj.Closest), g0); !slices.Equal(a, b) {
			t.Fatalf("persistent queriers disagree: go %v js %v", a, b)
		}
	}

	// Go queries with commit reach JS nodes, whose tokens we echo.
	res, err := gos[1].Query(ctx, randomTarget(), echoCommand, []byte("hello"), &rpc.QueryOptions{Commit: true})
	if err != nil {
		t.Fatalf("go commit over js+go nodes: %v", err)
	}
	if len(res.Closest) < 5 {
		t.Fatalf("commit query closest %d", len(res.Closest))
	}
}

func TestInteropJSJoinsGo(t *testing.T) {
	interop.Require(t)
	ctx := interopCtx(t, 90*time.Second)
	boot := startGoBootstrapper(t)
	waitGoReady(t, ctx, boot)
	bootAddrs := []netip.AddrPort{boot.LocalAddr()}
	var gos []*rpc.Node
	for range 5 {
		gos = append(gos, startGo(t, bootAddrs, rpc.ModePersistent))
	}
	waitGoReady(t, ctx, gos...)
	var js []*interop.Node
	for range 5 {
		js = append(js, interop.StartNode(t, bootAddrs, interop.NodeOptions{}))
	}
	waitJSBootstrapped(t, ctx, js...)

	// JS nodes turn persistent through Go nodes: Go answered PING_NAT to the value port and
	// filled "to" truthfully.
	for _, j := range js {
		info, err := j.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Ephemeral || info.Firewalled || info.Host != "127.0.0.1" || info.Port != info.ServerPort {
			t.Fatalf("js node %v did not become persistent through go nodes: %+v", j, info)
		}
		id := rpc.NodeID(j.Addr())
		if info.ID != hex.EncodeToString(id[:]) {
			t.Fatalf("js node id %s, want %s", info.ID, id)
		}
	}

	// JS nodes hold Go nodes in their routing tables.
	goAddrs := map[string]bool{boot.LocalAddr().String(): true}
	for _, g := range gos {
		goAddrs[g.LocalAddr().String()] = true
	}
	for _, j := range js {
		eventually(t, ctx, "go nodes in js table", func() (bool, string) {
			table, err := j.Table(ctx)
			if err != nil {
				return false, err.Error()
			}
			n := 0
			for _, p := range table {
				if goAddrs[p.AddrPort().String()] {
					n++
				}
			}
			return n == len(goAddrs), fmt.Sprintf("%v has %d of %d go nodes: %v", j, n, len(goAddrs), table)
		})
	}
	// Go nodes hold the JS nodes too.
	eventually(t, ctx, "js nodes in go bootstrapper table", func() (bool, string) {
		have := map[string]bool{}
		for _, ni := range boot.Nodes(0) {
			have[ni.Addr.String()] = true
		}
		for _, j := range js {
			if !have[j.Addr().String()] {
				return false, fmt.Sprintf("%v missing", j)
			}
		}
		return true, ""
	})

	// JS queries are answered by Go nodes: each Go node's id, looked up from JS, comes back
	// with that Go node first; the replies include Go responders with valid ids.
	for _, g := range gos {
		id, _ := g.ID()
		res, err := js[0].FindNode(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Closest) == 0 || res.Closest[0] != g.LocalAddr().String() {
			t.Fatalf("js find_node(%s): closest %v, want %v first", id, res.Closest, g.LocalAddr())
		}
		fromGo := 0
		for _, r := range res.Replies {
			if goAddrs[r.From.AddrPort().String()] && r.From.ID != "" {
				fromGo++
			}
		}
		if fromGo == 0 {
			t.Fatal("no reply from a go node carried a valid id")
		}
	}

	// A JS commit query over Go nodes: Go issues tokens, accepts the echo.
	res, err := js[1].Query(ctx, randomTarget(), echoCommand, []byte("v"), true)
	if err != nil {
		t.Fatal(err)
	}
	okCommits := 0
	for _, c := range res.Commits {
		if c.Error == 0 {
			okCommits++
		}
	}
	if okCommits == 0 {
		t.Fatalf("no commit accepted: %+v", res.Commits)
	}

	// JS request with a forged token to a Go node: INVALID_TOKEN plus a fresh token, which
	// then works.
	bad := make([]byte, 32)
	msg, err := js[0].Request(ctx, gos[0].LocalAddr(), interop.RequestArgs{Command: echoCommand, Value: []byte("x"), Token: bad})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Error != rpc.CodeInvalidToken || len(msg.Token) != 32 {
		t.Fatalf("forged token: %+v", msg)
	}
	msg, err = js[0].Request(ctx, gos[0].LocalAddr(), interop.RequestArgs{Command: echoCommand, Value: []byte("x"), Token: msg.Token})
	if err != nil || msg.Error != 0 || string(msg.Value) != "x" {
		t.Fatalf("fresh token: %+v %v", msg, err)
	}
	// Unknown user command at a Go node: UNKNOWN_COMMAND.
	msg, err = js[0].Request(ctx, gos[0].LocalAddr(), interop.RequestArgs{Command: 99})
	if err != nil || msg.Error != rpc.CodeUnknownCommand {
		t.Fatalf("unknown command: %+v %v", msg, err)
	}
	// A Go request with a JS-issued token (and a forged one) to a JS node.
	r, err := gos[0].Request(ctx, js[2].Addr(), rpc.Outgoing{Command: echoCommand, Value: []byte("t")}, nil)
	if err != nil || !r.HasToken {
		t.Fatalf("js echo: %+v %v", r, err)
	}
	tok := r.Token
	if r, err = gos[0].Request(ctx, js[2].Addr(), rpc.Outgoing{Command: echoCommand, Value: []byte("t"), Token: &tok}, nil); err != nil || r.Error != 0 {
		t.Fatalf("js token echoed back: %+v %v", r, err)
	}
	forged := [32]byte{9}
	if r, err = gos[0].Request(ctx, js[2].Addr(), rpc.Outgoing{Command: echoCommand, Token: &forged}, nil); err != nil || r.Error != rpc.CodeInvalidToken || !r.HasToken {
		t.Fatalf("js forged token: %+v %v", r, err)
	}
}

func TestInteropMixed30(t *testing.T) {
	interop.Require(t)
	if testing.Short() {
		t.Skip("30 processes: skipped in -short mode")
	}
	ctx := interopCtx(t, 150*time.Second)
	boot := interop.StartBootstrapper(t, interop.FreeUDPPort(t))
	bootAddrs := []netip.AddrPort{boot.Addr()}
	var (
		mu  sync.Mutex
		js  []*interop.Node
		gos []*rpc.Node
	)
	// Interleave the two implementations so each joins through a mix.
	for i := range 15 {
		j := interop.StartNode(t, bootAddrs, interop.NodeOptions{})
		mu.Lock()
		js = append(js, j)
		mu.Unlock()
		if i < 14 {
			gos = append(gos, startGo(t, bootAddrs, rpc.ModePersistent))
		}
	}
	waitJSBootstrapped(t, ctx, js...)
	waitGoReady(t, ctx, gos...)
	for _, g := range gos {
		assertPersistentGo(t, g)
	}
	goSet, jsSet := map[string]bool{}, map[string]bool{boot.Addr().String(): true}
	for _, g := range gos {
		goSet[g.LocalAddr().String()] = true
	}
	for _, j := range js {
		jsSet[j.Addr().String()] = true
	}

	// Go lookups for JS nodes' ids find them (the target replies first), and their replies
	// come from both sides.
	for i, j := range js[:6] {
		info, err := j.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var id ktable.ID
		b, _ := hex.DecodeString(info.ID)
		copy(id[:], b)
		res, err := gos[i].FindNode(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Closest) == 0 || res.Closest[0].From != j.Addr() {
			t.Fatalf("go lookup of js node %v: closest %v", j, res.ClosestNodes())
		}
		var fromGo, fromJS int
		for _, c := range res.Closest {
			if goSet[c.From.String()] {
				fromGo++
			}
			if jsSet[c.From.String()] {
				fromJS++
			}
		}
		if fromGo == 0 || fromJS == 0 {
			t.Fatalf("go lookup closest set is one-sided: go=%d js=%d", fromGo, fromJS)
		}
	}
	// JS lookups for Go nodes' ids find them.
	for i, g := range gos[:6] {
		id, _ := g.ID()
		res, err := js[i].FindNode(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Closest) == 0 || res.Closest[0] != g.LocalAddr().String() {
			t.Fatalf("js lookup of go node %v: closest %v", g.LocalAddr(), res.Closest)
		}
		var fromGo, fromJS int
		for _, c := range res.Closest {
			if goSet[c] {
				fromGo++
			}
			if jsSet[c] {
				fromJS++
			}
		}
		if fromGo == 0 || fromJS == 0 {
			t.Fatalf("js lookup closest set is one-sided: go=%d js=%d", fromGo, fromJS)
		}
	}
	// The head of the closest set agrees between implementations for random targets.
	for range 5 {
		target := randomTarget()
		g, err := gos[7].FindNode(ctx, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		j, err := js[7].FindNode(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		drop := []string{gos[7].LocalAddr().String(), js[7].Addr().String()}
		a := without(addrStrings(g.ClosestNodes()[:min(8, len(g.Closest))]), drop...)
		b := without(sorted(j.Closest[:min(8, len(j.Closest))]), drop...)
		n := min(len(a), len(b), 5)
		// Compare the nearest few, which the reference's walk finds reliably.
		if !slices.Equal(nearest(target, a)[:n], nearest(target, b)[:n]) {
			t.Fatalf("target %s: go head %v, js head %v", target, a, b)
		}
	}
}

// nearest sorts addresses by the XOR distance of their node ids to target.
func nearest(target ktable.ID, addrs []string) []string {
	out := slices.Clone(addrs)
	slices.SortFunc(out, func(a, b string) int {
		return ktable.Compare(target, rpc.NodeID(netip.MustParseAddrPort(a)), rpc.NodeID(netip.MustParseAddrPort(b)))
	})
	return out
}

func TestInteropRobustness(t *testing.T) {
	interop.Require(t)
	ctx := interopCtx(t, 60*time.Second)
	boot := interop.StartBootstrapper(t, interop.FreeUDPPort(t))
	bootAddrs := []netip.AddrPort{boot.Addr()}
	js := interop.StartNode(t, bootAddrs, interop.NodeOptions{})
	waitJSBootstrapped(t, ctx, js)
	g := startGo(t, bootAddrs, rpc.ModePersistent)
	waitGoReady(t, ctx, g)
	tableBefore := g.TableSize()

	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	target := net.UDPAddrFromAddrPort(g.LocalAddr())
	valid := func(flags byte, tail ...byte) []byte {
		b := []byte{0x03, flags, 1, 0, 127, 0, 0, 1, 0x11, 0x27}
		return append(b, tail...)
	}
	spoofedID := make([]byte, 32)
	packets := [][]byte{
		{},
		{0x03},
		{0x13, 0x00},
		{0xff, 0x01, 0x02},
		valid(0x04)[:9],                      // truncated "to"
		valid(0x0c, 2, 1, 2, 3),              // target cut short
		valid(0x14, 0, 0xfd, 0xff, 0xff),     // value length past the end
		valid(0x05, append(spoofedID, 0)...), // id that is not ours: treated as id-less
		append([]byte{0x13, 0x04, 1, 0, 127, 0, 0, 1, 0x11, 0x27, 0xfe, 0, 0, 0, 1}, 1, 2, 3), // absurd closer count
		valid(0x04, 1), // PING_NAT without value: no reply
		valid(0x04, 2), // FIND_NODE without target: no reply
	}
	for i := range 200 {
		b := make([]byte, i%60)
		rand.Read(b)
		if len(b) > 0 && i%2 == 0 {
			b[0] = 0x03
		}
		packets = append(packets, b)
	}
	for _, p := range packets {
		conn.WriteToUDP(p, target)
	}
	// None of those gets an answer.
	conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 2048)
	for {
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			break
		}
		if n > 0 && buf[0] == 0x13 {
			var m rpc.Message
			if rpc.ParseMessage(buf[:n], &m) == nil && m.Error == 0 && m.TID == 1 && !m.HasID {
				// A valid PING in the random set may be answered; anything else must not be.
				continue
			}
		}
	}
	if g.Stats().Malformed == 0 {
		t.Fatal("malformed datagrams were not counted")
	}

	// A wrong token is refused with INVALID_TOKEN and changes nothing.
	bad := make([]byte, 32)
	msg, err := js.Request(ctx, g.LocalAddr(), interop.RequestArgs{Command: echoCommand, Token: bad})
	if err != nil || msg.Error != rpc.CodeInvalidToken {
		t.Fatalf("wrong token: %+v %v", msg, err)
	}

	// The node is undisturbed: it answers the JS node, keeps its table, and still queries.
	if _, err := js.Ping(ctx, g.LocalAddr()); err != nil {
		t.Fatalf("ping after garbage: %v", err)
	}
	if g.TableSize() < tableBefore {
		t.Fatalf("table shrank from %d to %d", tableBefore, g.TableSize())
	}
	for _, ni := range g.Nodes(0) {
		if ni.Addr.String() == conn.LocalAddr().String() {
			t.Fatal("the garbage sender entered the table")
		}
	}
	id, _ := js.Info(ctx)
	var jid ktable.ID
	b, _ := hex.DecodeString(id.ID)
	copy(jid[:], b)
	res, err := g.FindNode(ctx, jid, nil)
	if err != nil || len(res.Closest) == 0 || res.Closest[0].From != js.Addr() {
		t.Fatalf("find_node after garbage: %v %v", res, err)
	}
	// And the JS node survives the same garbage.
	for _, p := range packets {
		conn.WriteToUDP(p, net.UDPAddrFromAddrPort(js.Addr()))
	}
	if _, err := g.Ping(ctx, js.Addr()); err != nil {
		t.Fatalf("js node after garbage: %v", err)
	}
}

// Down hints in both directions. A JS query that times out on a dead node a Go node listed
// sends DOWN_HINT to that Go node, which checks the dead node and drops it; a Go DOWN_HINT to
// a JS node about a Go node that has gone makes the JS node drop it.
func TestInteropDownHints(t *testing.T) {
	interop.Require(t)
	ctx := interopCtx(t, 90*time.Second)
	boot := startGoBootstrapper(t)
	waitGoReady(t, ctx, boot)
	bootAddrs := []netip.AddrPort{boot.LocalAddr()}
	js := interop.StartNode(t, bootAddrs, interop.NodeOptions{})
	waitJSBootstrapped(t, ctx, js)

	// JS -> Go: a dead address sits in the Go bootstrapper's table.
	deadConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	dead := deadConn.LocalAddr().(*net.UDPAddr).AddrPort()
	deadConn.Close() // nobody answers there now
	boot.AddNode(dead)
	hasDead := func() bool {
		for _, ni := range boot.Nodes(0) {
			if ni.Addr == dead {
				return true
			}
		}
		return false
	}
	if !hasDead() {
		t.Fatal("dead node not added")
	}
	// The JS query visits the dead node (the Go bootstrapper names it), times out after 6
	// sends and hints the Go bootstrapper, which pings it and removes it.
	if _, err := js.FindNode(ctx, rpc.NodeID(dead)); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "go node dropped the hinted dead node", func() (bool, string) {
		return !hasDead(), fmt.Sprintf("still has %v", dead)
	})

	// Go -> JS: a Go node the JS node knows goes away; a DOWN_HINT makes JS check and drop it.
	g := startGo(t, bootAddrs, rpc.ModePersistent)
	waitGoReady(t, ctx, g)
	gAddr := g.LocalAddr()
	eventually(t, ctx, "js knows the go node", func() (bool, string) {
		table, err := js.Table(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, p := range table {
			if p.AddrPort() == gAddr {
				return true, ""
			}
		}
		return false, fmt.Sprint(table)
	})
	g.Destroy()
	val, _ := compactIPv4(gAddr)
	r, err := boot.Request(ctx, js.Addr(), rpc.Outgoing{Command: rpc.CmdDownHint, Internal: true, Value: val}, nil)
	if err != nil || r.Error != 0 {
		t.Fatalf("down hint to js: %+v %v", r, err)
	}
	if _, err := js.WaitEvent(ctx, "remove-node", func(e interop.Event) bool {
		return e.Peer != nil && e.Peer.AddrPort() == gAddr
	}); err != nil {
		t.Fatalf("js did not drop the go node: %v", err)
	}
}

func compactIPv4(a netip.AddrPort) ([]byte, error) {
	b := a.Addr().As4()
	return []byte{b[0], b[1], b[2], b[3], byte(a.Port()), byte(a.Port() >> 8)}, nil
}
