package records

import (
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/rpc"
)

// storeStep is one request the reference's lib/persistent.js answered in testdata/gen.js,
// with its reply. Command -1 is a local Forward lookup, -2 a local Unannounce.
type storeStep struct {
	Name      string
	Command   int
	Target    *string
	Token     *string
	Value     *string
	From      string
	PublicKey string
	Pool      []string // LOOKUP: every record the reply may contain
	Expect    *storeExpect
}

type storeExpect struct {
	Kind        string // drop, reply, error
	Value       *string
	Token       bool
	CloserNodes bool
	Code        uint64

	// Forward steps.
	Relay  string
	Record string
}

// The reference's clock and ids in gen.js.
const refNow = 1700000000000

var refNodeID = [32]byte(slicesRepeat(0xbb))

func slicesRepeat(b byte) []byte { return slices.Repeat([]byte{b}, 32) }

// TestStoreMatchesReference replays the requests gen.js ran through the reference's
// lib/persistent.js and checks every reply: dropped or not, value, token, closer nodes, code.
func TestStoreMatchesReference(t *testing.T) {
	t.Parallel()
	s := NewStore(StoreOptions{
		Now:  func() time.Time { return time.UnixMilli(refNow) },
		Rand: rand.New(rand.NewPCG(1, 2)).IntN,
	})
	for i, st := range testVectors(t).Store {
		switch st.Command {
		case -1:
			relay, record, ok := s.Forward(unhex32(t, *st.Target))
			if st.Expect == nil {
				if ok {
					t.Errorf("step %d %s: forward %v %x, want none", i, st.Name, relay, record)
				}
				continue
			}
			if !ok || relay.String() != st.Expect.Relay || hex.EncodeToString(record) != st.Expect.Record {
				t.Errorf("step %d %s: forward %v %x %v, want %s %s", i, st.Name, relay, record, ok, st.Expect.Relay, st.Expect.Record)
			}
			continue
		case -2:
			s.Unannounce(unhex32(t, *st.Target), unhex32(t, st.PublicKey))
			continue
		}

		req := &rpc.Request{From: netip.MustParseAddrPort(st.From)}
		req.Kind = rpc.KindRequest
		req.Command = uint64(st.Command)
		if st.Target != nil {
			req.Target, req.HasTarget = unhex32(t, *st.Target), true
		}
		if st.Token != nil {
			req.Token, req.HasToken = unhex32(t, *st.Token), true
		}
		if st.Value != nil {
			req.Value = unhex(t, *st.Value)
		}
		o, ok := s.handle(req, refNodeID)
		checkReply(t, i, st, o, ok)
	}
}

func checkReply(t *testing.T, i int, st storeStep, o rpc.ReplyOptions, ok bool) {
	t.Helper()
	e := st.Expect
	switch e.Kind {
	case "drop":
		if ok {
			t.Errorf("step %d %s: replied %+v; the reference drops it", i, st.Name, o)
		}
		return
	case "error":
		if !ok || o.Error != e.Code || o.Value != nil || o.Token != e.Token || o.CloserNodes != e.CloserNodes {
			t.Errorf("step %d %s: reply %+v (sent %v), want error %d token %v closer %v", i, st.Name, o, ok, e.Code, e.Token, e.CloserNodes)
		}
		return
	}
	if !ok {
		t.Errorf("step %d %s: dropped; the reference replies", i, st.Name)
		return
	}
	if o.Error != 0 || o.Token != e.Token || o.CloserNodes != e.CloserNodes {
		t.Errorf("step %d %s: reply error %d token %v closer %v, want 0 %v %v", i, st.Name, o.Error, o.Token, o.CloserNodes, e.Token, e.CloserNodes)
	}
	switch {
	case e.Value == nil:
		if o.Value != nil {
			t.Errorf("step %d %s: value %x, want none", i, st.Name, o.Value)
		}
	case st.Command == CmdLookup:
		checkLookup(t, i, st, o.Value)
	default:
		if o.Value == nil || hex.EncodeToString(o.Value) != *e.Value {
			t.Errorf("step %d %s: value %x (nil %v), want %s", i, st.Name, o.Value, o.Value == nil, *e.Value)
		}
	}
}

// checkLookup compares LOOKUP replies, which carry records picked at random: the same number
// of records and the same bump, every record from the pool, none twice.
func checkLookup(t *testing.T, i int, st storeStep, got []byte) {
	t.Helper()
	want, err := ParseLookupReply(unhex(t, *st.Expect.Value))
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseLookupReply(got)
	if err != nil {
		t.Errorf("step %d %s: reply %x: %v", i, st.Name, got, err)
		return
	}
	if len(g.Peers) != len(want.Peers) || g.Bump != want.Bump {
		t.Errorf("step %d %s: %d records, bump %d; want %d, bump %d", i, st.Name, len(g.Peers), g.Bump, len(want.Peers), want.Bump)
	}
	seen := map[string]bool{}
	for _, p := range g.Peers {
		enc, _ := AppendPeer(nil, &p)
		h := hex.EncodeToString(enc)
		if !slices.Contains(st.Pool, h) || seen[h] {
			t.Errorf("step %d %s: record %s is not in the pool or repeated", i, st.Name, h)
		}
		seen[h] = true
	}
}
