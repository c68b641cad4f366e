package records

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/rpc"
)

var (
	testNodeID = [32]byte{0xbb, 0xbb, 0xbb}
	testToken  = [32]byte{0xaa, 0xaa, 0xaa}
	testFrom   = netip.MustParseAddrPort("10.0.0.1:4000")
)

type testKey struct {
	priv ed25519.PrivateKey
	pub  [32]byte
}

func newTestKey(i int) testKey {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(i)+1)
	priv := ed25519.NewKeyFromSeed(seed[:])
	return testKey{priv, [32]byte(priv.Public().(ed25519.PublicKey))}
}

func (k testKey) self() [32]byte { return Hash(k.pub[:]) }

func topic(i int) [32]byte { return Hash([]byte(fmt.Sprint("topic ", i))) }

// request builds an incoming request with a target and the test token.
func request(cmd uint64, target [32]byte, value []byte) *rpc.Request {
	req := &rpc.Request{From: testFrom}
	req.Kind = rpc.KindRequest
	req.Command = cmd
	req.Target, req.HasTarget = target, true
	req.Token, req.HasToken = testToken, true
	req.Value = value
	return req
}

// signedAnnounce signs ann (its Peer set to k with relays) for the test node and returns the
// ANNOUNCE (or UNANNOUNCE) request.
func signedAnnounce(t testing.TB, k testKey, cmd uint64, target [32]byte, ann Announce, relays ...string) *rpc.Request {
	t.Helper()
	p := &Peer{PublicKey: k.pub}
	for _, r := range relays {
		p.RelayAddresses = append(p.RelayAddresses, netip.MustParseAddrPort(r))
	}
	ann.Peer = p
	ns := NSAnnounce
	if cmd == CmdUnannounce {
		ns = NSUnannounce
	}
	sig, err := SignAnnounce(k.priv, ns, target, testNodeID, testToken, &ann)
	if err != nil {
		t.Fatal(err)
	}
	ann.Signature = &sig
	v, err := AppendAnnounce(nil, &ann)
	if err != nil {
		t.Fatal(err)
	}
	return request(cmd, target, v)
}

func mutablePut(k testKey, seq uint64, value []byte) *rpc.Request {
	sig := SignMutable(k.priv, seq, value)
	return request(CmdMutablePut, k.self(), AppendMutablePut(nil, &MutablePut{PublicKey: k.pub, Seq: seq, Value: value, Signature: sig}))
}

// mustServe runs req and fails unless it got a reply.
func mustServe(t testing.TB, s *Store, req *rpc.Request) rpc.ReplyOptions {
	t.Helper()
	o, ok := s.handle(req, testNodeID)
	if !ok {
		t.Fatalf("command %d dropped", req.Command)
	}
	return o
}

func lookup(t testing.TB, s *Store, target [32]byte) LookupReply {
	t.Helper()
	o := mustServe(t, s, request(CmdLookup, target, nil))
	if o.Value == nil {
		return LookupReply{}
	}
	l, err := ParseLookupReply(o.Value)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestServeIgnoresOtherCommands(t *testing.T) {
	t.Parallel()
	s := NewStore(StoreOptions{})
	for _, cmd := range []uint64{CmdPeerHandshake, CmdPeerHolepunch, CmdPlugin, 11, 1 << 40} {
		if s.Serve(request(cmd, [32]byte{}, nil), testNodeID) {
			t.Errorf("Serve took command %d", cmd)
		}
	}
	internal := request(CmdLookup, [32]byte{}, nil)
	internal.Internal = true // dht-rpc's DOWN_HINT has the same number
	if s.Serve(internal, testNodeID) {
		t.Error("Serve took an internal command")
	}
}

// LOOKUP returns at most 20 records picked at random, and the forward only if there is room.
func TestStoreLookupLimit(t *testing.T) {
	t.Parallel()
	s := NewStore(StoreOptions{Rand: rand.New(rand.NewPCG(1, 1)).IntN})
	server := newTestKey(1000)
	target := server.self()
	mustServe(t, s, signedAnnounce(t, server, CmdAnnounce, target, Announce{}))
	for i := range 19 {
		mustServe(t, s, signedAnnounce(t, newTestKey(i), CmdAnnounce, target, Announce{}))
	}
	l := lookup(t, s, target)
	if len(l.Peers) != 20 || l.Peers[19].PublicKey != server.pub {
		t.Fatalf("19 records + forward: %d peers, last %x", len(l.Peers), l.Peers[len(l.Peers)-1].PublicKey[:4])
	}
	for i := 19; i < 30; i++ {
		mustServe(t, s, signedAnnounce(t, newTestKey(i), CmdAnnounce, target, Announce{}))
	}
	seen := map[[32]byte]bool{}
	for range 50 {
		l := lookup(t, s, target)
		if len(l.Peers) != MaxLookupRecords {
			t.Fatalf("%d peers, want %d", len(l.Peers), MaxLookupRecords)
		}
		for _, p := range l.Peers {
			if p.PublicKey == server.pub {
				t.Fatal("forward included although 20 records were picked")
			}
			seen[p.PublicKey] = true
		}
	}
	if len(seen) != 30 {
		t.Errorf("50 lookups saw %d of 30 records", len(seen))
	}
	// FIND_PEER sees only the server.
	if o := mustServe(t, s, request(CmdFindPeer, target, nil)); o.Value == nil {
		t.Fatal("no forward")
	} else if p, _, _ := ParsePeer(o.Value); p.PublicKey != server.pub {
		t.Fatalf("FIND_PEER returned %x", p.PublicKey[:4])
	}
}

// The bump is monotonic, bounded by the clock plus MaxBumpDrift, and ignored for
// announceSelf.
func TestStoreBump(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := NewStore(StoreOptions{Now: clk.now})
	now := uint64(clk.t.UnixMilli())
	k := newTestKey(1)
	tp := topic(1)
	for _, tc := range []struct {
		bump, want uint64
	}{
		{0, 0},
		{now - 10, now - 10},
		{now - 20, now - 10},
		{now + 60_001, now - 10},
		{now + 60_000, now + 60_000},
		{now + 59_000, now + 60_000},
	} {
		mustServe(t, s, signedAnnounce(t, k, CmdAnnounce, tp, Announce{Bump: tc.bump}))
		if got := lookup(t, s, tp).Bump; got != tc.want {
			t.Errorf("after bump %d: %d, want %d", tc.bump, got, tc.want)
		}
	}
	mustServe(t, s, signedAnnounce(t, k, CmdAnnounce, k.self(), Announce{Bump: now}))
	if got := lookup(t, s, k.self()).Bump; got != 0 {
		t.Errorf("announceSelf stored bump %d", got)
	}
}

func TestStoreRetainForward(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := NewStore(StoreOptions{Now: clk.now})
	k := newTestKey(1)
	own, _ := AppendPeer(nil, &Peer{PublicKey: k.pub})
	s.RetainForward(k.self(), own)
	if relay, rec, ok := s.Forward(k.self()); !ok || relay.IsValid() || string(rec) != string(own) {
		t.Fatalf("Forward = %v %x %v", relay, rec, ok)
	}
	// An announce from elsewhere does not replace this node's own server.
	mustServe(t, s, signedAnnounce(t, k, CmdAnnounce, k.self(), Announce{}, "1.2.3.4:5"))
	clk.advance(24 * time.Hour)
	if o := mustServe(t, s, request(CmdFindPeer, k.self(), nil)); string(o.Value) != string(own) {
		t.Fatalf("FIND_PEER %x, want the retained record", o.Value)
	}
	if l := lookup(t, s, k.self()); len(l.Peers) != 1 {
		t.Fatalf("LOOKUP %d peers, want the retained record", len(l.Peers))
	}
	s.ReleaseForward(k.self())
	if _, _, ok := s.Forward(k.self()); ok {
		t.Fatal("forward kept after ReleaseForward")
	}
}

// Every store vanishes between ⅔ and 4⁄3 of MaxAge, wherever in the rotation period its entry
// was written. Stats does not refresh entries.
func TestStoreExpiry(t *testing.T) {
	t.Parallel()
	const maxAge = 30 * time.Minute
	k := newTestKey(1)
	for off := time.Duration(0); off < maxAge; off += 5 * time.Minute {
		clk := newFakeClock()
		s := NewStore(StoreOptions{MaxAge: maxAge, Now: clk.now})
		clk.advance(off)
		mustServe(t, s, signedAnnounce(t, k, CmdAnnounce, topic(1), Announce{Refresh: &[32]byte{1}, Bump: 1}))
		mustServe(t, s, signedAnnounce(t, k, CmdAnnounce, k.self(), Announce{}))
		mustServe(t, s, mutablePut(k, 1, []byte("v")))
		mustServe(t, s, request(CmdImmutablePut, Hash([]byte("v")), []byte("v")))
		all := StoreStats{Records: 1, Refreshes: 1, Bumps: 1, Forwards: 1, Mutables: 1, Immutables: 1}
		if got := s.Stats(); got != all {
			t.Fatalf("+%v: stats %+v", off, got)
		}
		clk.advance(maxAge * 2 / 3)
		if got := s.Stats(); got != all {
			t.Fatalf("+%v: after ⅔ maxAge: %+v", off, got)
		}
		clk.advance(maxAge * 2 / 3)
		if got := s.Stats(); got != (StoreStats{}) {
			t.Fatalf("+%v: after 4⁄3 maxAge: %+v", off, got)
		}
	}
	// Without MaxAge, values keep for DefaultValueMaxAge, the rest for DefaultMaxAge.
	clk := newFakeClock()
	s := NewStore(StoreOptions{Now: clk.now})
	mustServe(t, s, signedAnnounce(t, k, CmdAnnounce, topic(1), Announce{}))
	mustServe(t, s, request(CmdImmutablePut, Hash([]byte("v")), []byte("v")))
	clk.advance(DefaultMaxAge * 4 / 3)
	if got := s.Stats(); got.Records != 0 || got.Immutables != 1 {
		t.Fatalf("after 4⁄3 of %v: %+v", DefaultMaxAge, got)
	}
	clk.advance(DefaultValueMaxAge * 4 / 3)
	if got := s.Stats(); got.Immutables != 0 {
		t.Fatalf("after 4⁄3 of %v: %+v", DefaultValueMaxAge, got)
	}
}

// A flood of distinct valid entries never makes a store hold more than twice its bound, and
// the oldest entries are the ones that go.
func TestStoreFlood(t *testing.T) {
	t.Parallel()
	const maxSize = 1000
	s := NewStore(StoreOptions{MaxSize: maxSize})
	check := func(when string) {
		t.Helper()
		st := s.Stats()
		for name, n := range map[string]int{"records": st.Records, "refreshes": st.Refreshes, "bumps": st.Bumps, "forwards": st.Forwards} {
			if n > 2*maxSize {
				t.Fatalf("%s: %d %s, bound %d", when, n, name, 2*maxSize)
			}
		}
		if st.Mutables > maxSize || st.Immutables > maxSize {
			t.Fatalf("%s: %d mutables, %d immutables, bound %d", when, st.Mutables, st.Immutables, maxSize)
		}
	}
	k := newTestKey(0)
	now := uint64(time.Now().UnixMilli())
	const n = 3 * maxSize
	for i := range n {
		refresh := Hash([]byte(fmt.Sprint(i)))
		mustServe(t, s, signedAnnounce(t, k, CmdAnnounce, topic(i), Announce{Refresh: &refresh, Bump: now}, "1.2.3.4:5"))
		mustServe(t, s, request(CmdImmutablePut, Hash([]byte(fmt.Sprint(i))), []byte(fmt.Sprint(i))))
		if i%100 == 0 {
			check(fmt.Sprintf("after %d announces", i))
		}
	}
	for i := range n {
		sk := newTestKey(i + 1)
		mustServe(t, s, signedAnnounce(t, sk, CmdAnnounce, sk.self(), Announce{}))
		mustServe(t, s, mutablePut(sk, 0, []byte("m")))
		if i%100 == 0 {
			check(fmt.Sprintf("after %d servers", i))
		}
	}
	check("at the end")
	if l := lookup(t, s, topic(0)); len(l.Peers) != 0 {
		t.Error("the first topic record survived the flood")
	}
	if l := lookup(t, s, topic(n-1)); len(l.Peers) != 1 {
		t.Error("the last topic record was evicted")
	}
	if _, _, ok := s.Forward(newTestKey(1).self()); ok {
		t.Error("the first forward survived the flood")
	}
	if _, _, ok := s.Forward(newTestKey(n).self()); !ok {
		t.Error("the last forward was evicted")
	}
}

// Heap use stays bounded however many values arrive: a flood ten times the bound costs no
// more than one twice the bound, and the byte budget caps large values.
func TestStoreHeapBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	flood := func(s *Store, from, to, size int) {
		v := make([]byte, size)
		for i := from; i < to; i++ {
			binary.LittleEndian.PutUint64(v, uint64(i))
			mustServe(t, s, request(CmdImmutablePut, Hash(v), v))
		}
	}

	const maxSize = 1000 // immutables: 500 per generation
	base := heap()
	s := NewStore(StoreOptions{MaxSize: maxSize})
	flood(s, 0, 2*maxSize, 1024)
	small := heap()
	flood(s, 2*maxSize, 20*maxSize, 1024) // 18 MB more
	large := heap()
	if st := s.Stats(); st.Immutables > maxSize {
		t.Fatalf("%d immutables held", st.Immutables)
	}
	held := int64(small) - int64(base)
	grew := int64(large) - int64(small)
	t.Logf("after 2000 values: +%d KB; after 20000: +%d KB more", held>>10, grew>>10)
	if grew > 2<<20 {
		t.Errorf("heap grew %d KB from 2000 to 20000 values of 1 KB", grew>>10)
	}
	runtime.KeepAlive(s)

	// 64 KB values, a 1 MB budget: no more than about 1 MB is held.
	s = NewStore(StoreOptions{MaxValueBytes: 1 << 20})
	base = heap()
	flood(s, 0, 200, 64<<10) // 12.5 MB sent
	grew = int64(heap()) - int64(base)
	t.Logf("200 values of 64 KB under a 1 MB budget: +%d KB", grew>>10)
	if grew > 3<<20 {
		t.Errorf("heap grew %d KB under a 1 MB value budget", grew>>10)
	}
	runtime.KeepAlive(s)
}

// Concurrent requests of every kind, for the race detector.
func TestStoreConcurrent(t *testing.T) {
	t.Parallel()
	s := NewStore(StoreOptions{MaxSize: 64})
	keys := make([]testKey, 8)
	reqs := make([][]*rpc.Request, len(keys))
	for i := range keys {
		keys[i] = newTestKey(i)
		k := keys[i]
		reqs[i] = []*rpc.Request{
			signedAnnounce(t, k, CmdAnnounce, topic(i%3), Announce{}),
			signedAnnounce(t, k, CmdAnnounce, k.self(), Announce{}),
			signedAnnounce(t, k, CmdUnannounce, topic(i%3), Announce{}),
			mutablePut(k, uint64(i), []byte("x")),
			request(CmdMutableGet, k.self(), []byte{0}),
			request(CmdImmutablePut, Hash([]byte{byte(i)}), []byte{byte(i)}),
			request(CmdImmutableGet, Hash([]byte{byte(i)}), nil),
			request(CmdLookup, topic(i%3), nil),
			request(CmdFindPeer, k.self(), nil),
		}
	}
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			for r := range 200 {
				s.handle(reqs[i][r%len(reqs[i])], testNodeID)
				if r%50 == 0 {
					s.Stats()
					s.Forward(keys[i].self())
					s.Unannounce(topic(i%3), keys[i].pub)
				}
			}
		})
	}
	wg.Wait()
}
