package dht_test

// Live interop of the HyperDHT records with the JS reference (hyperdht 6.34 through
// interop/hyperdht.js) on 127.0.0.1.
//
//	TestInteropRecordsMixed:  JS bootstrapper, 3 JS + 3 Go storing nodes; Go and JS clients
//	                          announce/lookup/unannounce, immutable and mutable both ways
//	TestInteropGoStorage:     Go bootstrapper + 5 Go storing nodes serve a JS-only workload
//	TestInteropJSStorage:     JS bootstrapper + 5 JS storing nodes serve a Go-only workload
//	TestInteropForgedRecords: forged announces and puts at a Go storing node are dropped

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/compact"
	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/interop"
)

func interopCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	before := goroutines()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > len(before) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if now := goroutines(); len(now) > len(before) {
			var b strings.Builder
			for id, stack := range now {
				if _, ok := before[id]; !ok {
					b.WriteString(stack + "\n\n")
				}
			}
			t.Errorf("%d goroutines leaked; those started since the test began:\n%s", len(now)-len(before), b.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// goroutines returns the stacks of all goroutines by their "goroutine N" line.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := make(map[string]string)
	for _, g := range strings.Split(string(buf), "\n\n") {
		head, _, _ := strings.Cut(g, " [")
		out[head] = g
	}
	return out
}

func bootList(addrs ...netip.AddrPort) []rpc.BootstrapNode {
	var out []rpc.BootstrapNode
	for _, a := range addrs {
		out = append(out, rpc.BootstrapNode{Host: a.Addr().String(), Port: a.Port()})
	}
	return out
}

func startGo(t *testing.T, ctx context.Context, mode rpc.Mode, boot ...netip.AddrPort) *dht.Node {
	t.Helper()
	n, err := dht.New(dht.Options{Host: "127.0.0.1", Port: interop.FreeUDPPort(t), Mode: mode, Bootstrap: bootList(boot...)})
	return readyGo(t, ctx, mode, n, err)
}

func startGoBootstrapper(t *testing.T, ctx context.Context) *dht.Node {
	t.Helper()
	n, err := dht.Bootstrapper(0, "127.0.0.1", dht.Options{Host: "127.0.0.1", Bootstrap: []rpc.BootstrapNode{}})
	return readyGo(t, ctx, rpc.ModeAdaptive, n, err)
}

// readyGo takes what dht.New or dht.Bootstrapper returned: it fails the test on an error, has
// the node destroyed in t.Cleanup and waits until it is ready (and, with ModePersistent,
// persistent).
func readyGo(t *testing.T, ctx context.Context, mode rpc.Mode, n *dht.Node, err error) *dht.Node {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Destroy(context.Background(), dht.DestroyOptions{Force: true}) })
	if err := n.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if mode == rpc.ModePersistent {
		if _, ok := n.ID(); !ok {
			t.Fatalf("go node %v did not become persistent", n.LocalAddr())
		}
	}
	return n
}

func startJS(t *testing.T, ctx context.Context, eph bool, boot ...netip.AddrPort) *interop.HyperNode {
	t.Helper()
	return startJSWith(t, ctx, interop.NodeOptions{Ephemeral: eph}, boot...)
}

// startJSWith starts a JS hyperdht node with opts and waits until it has bootstrapped.
func startJSWith(t *testing.T, ctx context.Context, opts interop.NodeOptions, boot ...netip.AddrPort) *interop.HyperNode {
	t.Helper()
	n := interop.StartHyperDHTNode(t, boot, opts)
	if _, err := n.WaitEvent(ctx, "bootstrapped", nil); err != nil {
		t.Fatal(err)
	}
	return n
}

func keyPair(t *testing.T, b byte) (dht.KeyPair, [32]byte) {
	t.Helper()
	var seed [32]byte
	for i := range seed {
		seed[i] = b
	}
	kp, err := dht.NewKeyPair(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	return kp, seed
}

func goListed(replies []dht.LookupReply, pk [32]byte) bool {
	for _, r := range replies {
		for _, p := range r.Peers {
			if p.PublicKey == pk {
				return true
			}
		}
	}
	return false
}

func jsListed(replies []interop.LookupReply, pk [32]byte) bool {
	for _, r := range replies {
		for _, p := range r.Peers {
			if bytes.Equal(p.PublicKey, pk[:]) {
				return true
			}
		}
	}
	return false
}

// goClient and jsClient are the two sides of a workload; storing nodes may be of either kind.
type workload struct {
	t      *testing.T
	ctx    context.Context
	goNode *dht.Node
	jsNode *interop.HyperNode
}

// announceBothWays: JS announces, Go looks up, and the reverse; after unannounce neither sees it.
func (w workload) announceBothWays(b byte) {
	t, ctx := w.t, w.ctx
	t.Helper()
	jsKP, jsSeed := keyPair(t, b)
	goKP, _ := keyPair(t, b+1)
	topic := records.Hash([]byte{b, 'h', 'y', 'p', 'e', 'r', 'l', 'a', 'n'})
	relay := netip.MustParseAddrPort("127.0.0.1:4000")

	if _, err := w.jsNode.Announce(ctx, topic, jsSeed, []netip.AddrPort{relay}); err != nil {
		t.Fatal(err)
	}
	replies, err := w.goNode.Lookup(ctx, topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !goListed(replies, jsKP.PublicKey) {
		t.Fatalf("go lookup misses the js announcement: %+v", replies)
	}
	for _, r := range replies {
		for _, p := range r.Peers {
			if p.PublicKey == jsKP.PublicKey && (len(p.RelayAddresses) != 1 || p.RelayAddresses[0] != relay) {
				t.Fatalf("relay addresses %v, want [%v]", p.RelayAddresses, relay)
			}
		}
	}
	if _, err := w.goNode.Announce(ctx, topic, goKP, []netip.AddrPort{relay}, nil); err != nil {
		t.Fatal(err)
	}
	jsReplies, err := w.jsNode.Lookup(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if !jsListed(jsReplies, goKP.PublicKey) || !jsListed(jsReplies, jsKP.PublicKey) {
		t.Fatalf("js lookup misses an announcement: %+v", jsReplies)
	}

	if err := w.jsNode.Unannounce(ctx, topic, jsSeed); err != nil {
		t.Fatal(err)
	}
	if err := w.goNode.Unannounce(ctx, topic, goKP); err != nil {
		t.Fatal(err)
	}
	if replies, err = w.goNode.Lookup(ctx, topic, nil); err != nil || goListed(replies, jsKP.PublicKey) || goListed(replies, goKP.PublicKey) {
		t.Fatalf("go lookup after unannounce: %+v %v", replies, err)
	}
	if jsReplies, err = w.jsNode.Lookup(ctx, topic); err != nil || jsListed(jsReplies, jsKP.PublicKey) || jsListed(jsReplies, goKP.PublicKey) {
		t.Fatalf("js lookup after unannounce: %+v %v", jsReplies, err)
	}

	// A server record (announce on hash(publicKey)) is found by FIND_PEER on both sides.
	self := records.Hash(goKP.PublicKey[:])
	if _, err := w.goNode.Announce(ctx, self, goKP, nil, nil); err != nil {
		t.Fatal(err)
	}
	fp, err := w.jsNode.FindPeer(ctx, goKP.PublicKey)
	if err != nil || len(fp) == 0 || !bytes.Equal(fp[0].Peer.PublicKey, goKP.PublicKey[:]) {
		t.Fatalf("js find peer of a go server record: %+v %v", fp, err)
	}
	jsSelf := records.Hash(jsKP.PublicKey[:])
	if _, err := w.jsNode.Announce(ctx, jsSelf, jsSeed, nil); err != nil {
		t.Fatal(err)
	}
	gp, err := w.goNode.FindPeer(ctx, jsKP.PublicKey)
	if err != nil || gp[0].Peer.PublicKey != jsKP.PublicKey {
		t.Fatalf("go find peer of a js server record: %+v %v", gp, err)
	}
}

func (w workload) immutableBothWays(tag string) {
	t, ctx := w.t, w.ctx
	t.Helper()
	put, err := w.goNode.ImmutablePut(ctx, []byte("from go "+tag))
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.jsNode.ImmutableGet(ctx, put.Hash)
	if err != nil || got == nil || string(got.Value) != "from go "+tag {
		t.Fatalf("js immutable get of a go put: %+v %v", got, err)
	}
	hash, err := w.jsNode.ImmutablePut(ctx, []byte("from js "+tag))
	if err != nil {
		t.Fatal(err)
	}
	val, err := w.goNode.ImmutableGet(ctx, hash)
	if err != nil || string(val.Value) != "from js "+tag {
		t.Fatalf("go immutable get of a js put: %+v %v", val, err)
	}
}

// mutableBothWays: one side puts seq 1 and 2, the other reads seq 2 with and without latest;
// a later put with seq 1 from the reading side is refused and changes nothing.
func (w workload) mutableBothWays(b byte) {
	t, ctx := w.t, w.ctx
	t.Helper()
	// Go writes, JS reads and tries to go back.
	goKP, goSeed := keyPair(t, b)
	for seq := uint64(1); seq <= 2; seq++ {
		if _, err := w.goNode.MutablePut(ctx, goKP, []byte{'v', byte('0' + seq)}, &dht.MutablePutOptions{Seq: seq}); err != nil {
			t.Fatal(err)
		}
	}
	for _, latest := range []bool{true, false} {
		m, err := w.jsNode.MutableGet(ctx, goKP.PublicKey, 0, latest)
		if err != nil || m == nil || m.Seq != 2 || string(m.Value) != "v2" {
			t.Fatalf("js mutable get (latest=%v) of go puts: %+v %v", latest, m, err)
		}
	}
	if _, err := w.jsNode.MutablePut(ctx, goSeed, []byte("v1 again"), 1); err != nil {
		t.Fatalf("js put of a lower seq: %v (the reference's put itself succeeds)", err)
	}
	if m, err := w.goNode.MutableGet(ctx, goKP.PublicKey, nil); err != nil || m.Seq != 2 || string(m.Value) != "v2" {
		t.Fatalf("after a refused js put: %+v %v", m, err)
	}

	// JS writes, Go reads and tries to go back.
	jsKP, jsSeed := keyPair(t, b+1)
	for seq := uint64(1); seq <= 2; seq++ {
		if _, err := w.jsNode.MutablePut(ctx, jsSeed, []byte{'w', byte('0' + seq)}, seq); err != nil {
			t.Fatal(err)
		}
	}
	for _, first := range []bool{false, true} {
		m, err := w.goNode.MutableGet(ctx, jsKP.PublicKey, &dht.MutableGetOptions{First: first})
		if err != nil || m.Seq != 2 || string(m.Value) != "w2" {
			t.Fatalf("go mutable get (first=%v) of js puts: %+v %v", first, m, err)
		}
	}
	_, err := w.goNode.MutablePut(ctx, jsKP, []byte("w1 again"), &dht.MutablePutOptions{Seq: 1})
	if !errors.Is(err, dht.ErrSeqTooLow) {
		t.Fatalf("go put of a lower seq: %v, want the storing nodes' SEQ_TOO_LOW", err)
	}
	if m, err := w.jsNode.MutableGet(ctx, jsKP.PublicKey, 0, true); err != nil || m == nil || m.Seq != 2 {
		t.Fatalf("after a refused go put: %+v %v", m, err)
	}
}

func TestInteropRecordsMixed(t *testing.T) {
	interop.Require(t)
	ctx := interopCtx(t, 120*time.Second)
	boot := interop.StartHyperDHTBootstrapper(t, interop.FreeUDPPort(t))
	if _, err := boot.WaitEvent(ctx, "bootstrapped", nil); err != nil {
		t.Fatal(err)
	}
	b := boot.Addr()
	for range 3 {
		startJS(t, ctx, false, b)
		startGo(t, ctx, rpc.ModePersistent, b)
	}
	w := workload{t: t, ctx: ctx, goNode: startGo(t, ctx, rpc.ModeEphemeral, b), jsNode: startJS(t, ctx, true, b)}
	w.announceBothWays(10)
	w.immutableBothWays("mixed")
	w.mutableBothWays(20)
}

func TestInteropGoStorage(t *testing.T) {
	interop.Require(t)
	ctx := interopCtx(t, 120*time.Second)
	boot := startGoBootstrapper(t, ctx)
	var storing []*dht.Node
	for range 5 {
		storing = append(storing, startGo(t, ctx, rpc.ModePersistent, boot.LocalAddr()))
	}
	// Two JS clients make a JS-only workload: one writes, the other reads.
	js1 := startJS(t, ctx, true, boot.LocalAddr())
	js2 := startJS(t, ctx, true, boot.LocalAddr())
	kp, seed := keyPair(t, 30)
	topic := records.Hash([]byte("go storage"))
	if _, err := js1.Announce(ctx, topic, seed, nil); err != nil {
		t.Fatal(err)
	}
	replies, err := js2.Lookup(ctx, topic)
	if err != nil || !jsListed(replies, kp.PublicKey) {
		t.Fatalf("js lookup through go storage: %+v %v", replies, err)
	}
	if err := js1.Unannounce(ctx, topic, seed); err != nil {
		t.Fatal(err)
	}
	if replies, err = js2.Lookup(ctx, topic); err != nil || jsListed(replies, kp.PublicKey) {
		t.Fatalf("js lookup after unannounce: %+v %v", replies, err)
	}
	hash, err := js1.ImmutablePut(ctx, []byte("stored by go"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := js2.ImmutableGet(ctx, hash); err != nil || got == nil || string(got.Value) != "stored by go" {
		t.Fatalf("js immutable get through go storage: %+v %v", got, err)
	}
	for seq := uint64(1); seq <= 2; seq++ {
		if _, err := js1.MutablePut(ctx, seed, []byte{byte('a' + seq)}, seq); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := js2.MutableGet(ctx, kp.PublicKey, 0, true); err != nil || m == nil || m.Seq != 2 {
		t.Fatalf("js mutable get through go storage: %+v %v", m, err)
	}
	// The records really live on Go nodes.
	total := 0
	for _, n := range append(storing, boot) {
		s := n.StoreStats()
		total += s.Immutables + s.Mutables
	}
	if total == 0 {
		t.Fatal("no go node stored anything")
	}
	// A raw JS MUTABLE_PUT with a lower seq gets the reference's SEQ_TOO_LOW from a Go node.
	sig := records.SignMutable(kp.SecretKey, 1, []byte{'b'})
	put := records.AppendMutablePut(nil, &records.MutablePut{PublicKey: kp.PublicKey, Seq: 1, Value: []byte{'b'}, Signature: sig})
	target := records.Hash(kp.PublicKey[:])
	node := storing[0].LocalAddr()
	got, err := js1.Request(ctx, node, interop.RequestArgs{Command: records.CmdMutableGet, Target: target[:], Value: compact.AppendUint(nil, 0)})
	if err != nil || len(got.Token) != 32 {
		t.Fatalf("mutable get for a token: %+v %v", got, err)
	}
	res, err := js1.Request(ctx, node, interop.RequestArgs{Command: records.CmdMutablePut, Target: target[:], Value: put, Token: got.Token})
	if err != nil {
		t.Fatal(err)
	}
	if res.Error != records.CodeSeqTooLow && res.Error != rpc.CodeOK {
		t.Fatalf("raw lower-seq put: error %d", res.Error)
	}
	if res.Error == rpc.CodeOK {
		// The node held nothing for the key (it was not among the closest): then it stored seq 1.
		t.Logf("node %v held no value for the key", node)
	}
}

func TestInteropJSStorage(t *testing.T) {
	interop.Require(t)
	ctx := interopCtx(t, 120*time.Second)
	boot := interop.StartHyperDHTBootstrapper(t, interop.FreeUDPPort(t))
	if _, err := boot.WaitEvent(ctx, "bootstrapped", nil); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		startJS(t, ctx, false, boot.Addr())
	}
	g1 := startGo(t, ctx, rpc.ModeEphemeral, boot.Addr())
	g2 := startGo(t, ctx, rpc.ModeEphemeral, boot.Addr())
	kp, _ := keyPair(t, 40)
	topic := records.Hash([]byte("js storage"))
	if _, err := g1.Announce(ctx, topic, kp, nil, nil); err != nil {
		t.Fatal(err)
	}
	replies, err := g2.Lookup(ctx, topic, nil)
	if err != nil || !goListed(replies, kp.PublicKey) {
		t.Fatalf("go lookup through js storage: %+v %v", replies, err)
	}
	if err := g1.Unannounce(ctx, topic, kp); err != nil {
		t.Fatal(err)
	}
	if replies, err = g2.Lookup(ctx, topic, nil); err != nil || goListed(replies, kp.PublicKey) {
		t.Fatalf("go lookup after unannounce: %+v %v", replies, err)
	}
	put, err := g1.ImmutablePut(ctx, []byte("stored by js"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := g2.ImmutableGet(ctx, put.Hash); err != nil || string(got.Value) != "stored by js" {
		t.Fatalf("go immutable get through js storage: %+v %v", got, err)
	}
	for seq := uint64(1); seq <= 2; seq++ {
		if _, err := g1.MutablePut(ctx, kp, []byte{byte('a' + seq)}, &dht.MutablePutOptions{Seq: seq}); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := g2.MutableGet(ctx, kp.PublicKey, nil); err != nil || m.Seq != 2 {
		t.Fatalf("go mutable get through js storage: %+v %v", m, err)
	}
	if _, err := g2.MutablePut(ctx, kp, []byte("x"), &dht.MutablePutOptions{Seq: 1}); !errors.Is(err, dht.ErrSeqTooLow) {
		t.Fatalf("lower seq at js storing nodes: %v, want ErrSeqTooLow", err)
	}
}

// Forged records sent to a Go storing node with a valid token are dropped without a reply and
// are not stored.
func TestInteropForgedRecords(t *testing.T) {
	interop.Require(t)
	ctx := interopCtx(t, 90*time.Second)
	boot := startGoBootstrapper(t, ctx)
	store := startGo(t, ctx, rpc.ModePersistent, boot.LocalAddr())
	js := startJS(t, ctx, true, boot.LocalAddr())
	storeID, _ := store.ID()
	addr := store.LocalAddr()
	kp, _ := keyPair(t, 50)
	other, _ := keyPair(t, 51)
	topic := records.Hash([]byte("forged"))

	token := func(target [32]byte) []byte {
		t.Helper()
		m, err := js.Request(ctx, addr, interop.RequestArgs{Command: records.CmdLookup, Target: target[:]})
		if err != nil || len(m.Token) != 32 {
			t.Fatalf("lookup for a token: %+v %v", m, err)
		}
		return m.Token
	}
	announce := func(target [32]byte, signer dht.KeyPair, peer records.Peer, tamper func([]byte)) []byte {
		tok := [32]byte(token(target))
		ann := records.Announce{Peer: &peer}
		sig, err := records.SignAnnounce(signer.SecretKey, records.NSAnnounce, target, storeID, tok, &ann)
		if err != nil {
			t.Fatal(err)
		}
		ann.Signature = &sig
		v, err := records.AppendAnnounce(nil, &ann)
		if err != nil {
			t.Fatal(err)
		}
		if tamper != nil {
			tamper(v)
		}
		return v
	}
	dropped := func(what string, cmd uint64, target [32]byte, value []byte) {
		t.Helper()
		tok := token(target)
		_, err := js.Request(ctx, addr, interop.RequestArgs{Command: int(cmd), Target: target[:], Value: value, Token: tok})
		var ce *interop.CallError
		if !errors.As(err, &ce) || ce.Code != "REQUEST_TIMEOUT" {
			t.Fatalf("%s: %v, want no reply (REQUEST_TIMEOUT)", what, err)
		}
	}
	peer := records.Peer{PublicKey: kp.PublicKey}
	// Signed by another key than the record's.
	dropped("bad signature", records.CmdAnnounce, topic, announce(topic, other, peer, nil))
	// A valid signature over another topic.
	otherTopic := records.Hash([]byte("elsewhere"))
	v := announce(otherTopic, kp, peer, nil)
	dropped("signature for another topic", records.CmdAnnounce, topic, v)
	// A tampered value: a relay address added after signing.
	dropped("tampered value", records.CmdAnnounce, topic, announce(topic, kp, peer, func(b []byte) { b[len(b)-1] ^= 1 }))
	// A mutable put signed by another key; an immutable put under the wrong hash.
	sig := records.SignMutable(other.SecretKey, 1, []byte("x"))
	mp := records.AppendMutablePut(nil, &records.MutablePut{PublicKey: kp.PublicKey, Seq: 1, Value: []byte("x"), Signature: sig})
	dropped("mutable put with a bad signature", records.CmdMutablePut, records.Hash(kp.PublicKey[:]), mp)
	dropped("immutable put under the wrong hash", records.CmdImmutablePut, records.Hash([]byte("a")), []byte("b"))

	if s := store.StoreStats(); s.Records+s.Mutables+s.Immutables+s.Forwards != 0 {
		t.Fatalf("forged records were stored: %+v", s)
	}
	// A correctly signed announce is accepted and listed.
	tok := [32]byte(token(topic))
	ann := records.Announce{Peer: &peer}
	good, err := records.SignAnnounce(kp.SecretKey, records.NSAnnounce, topic, storeID, tok, &ann)
	if err != nil {
		t.Fatal(err)
	}
	ann.Signature = &good
	val, _ := records.AppendAnnounce(nil, &ann)
	if !ed25519.Verify(kp.SecretKey.Public().(ed25519.PublicKey), func() []byte {
		s := records.AnnounceSignable(records.NSAnnounce, topic, storeID, tok, mustPeer(t, peer), nil)
		return s[:]
	}(), good[:]) {
		t.Fatal("signature does not verify locally")
	}
	res, err := js.Request(ctx, addr, interop.RequestArgs{Command: records.CmdAnnounce, Target: topic[:], Value: val, Token: tok[:]})
	if err != nil || res.Error != 0 {
		t.Fatalf("good announce: %+v %v", res, err)
	}
	replies, err := js.Lookup(ctx, topic)
	if err != nil || !jsListed(replies, kp.PublicKey) {
		t.Fatalf("lookup after the good announce: %+v %v", replies, err)
	}
	_ = ktable.ID{}
}

func mustPeer(t *testing.T, p records.Peer) []byte {
	b, err := records.AppendPeer(nil, &p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
