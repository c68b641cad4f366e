package records

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/netsim"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// TestServeOverRPC runs a Store behind a real dht-rpc node on an in-memory network and checks
// what a client receives: the reply shapes (token, closer nodes, error codes) and that
// invalid requests get no answer at all.
//
//	10.0.0.1:49737  bootstrapper serving the Store
//	10.0.0.2:49737  persistent node (so the bootstrapper has closer nodes to send)
//	10.0.0.3:49737  ephemeral client
func TestServeOverRPC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		network := netsim.New(netsim.Options{Delay: time.Millisecond})
		defer network.Close()
		boot, err := rpc.Bootstrapper(49737, "10.0.0.1", rpc.Options{Host: "10.0.0.1", ListenPacket: network.ListenPacket})
		if err != nil {
			t.Fatal(err)
		}
		defer boot.Destroy()
		store := NewStore(StoreOptions{})
		for _, cmd := range []uint64{CmdFindPeer, CmdLookup, CmdAnnounce, CmdUnannounce,
			CmdMutablePut, CmdMutableGet, CmdImmutablePut, CmdImmutableGet} {
			boot.Handle(cmd, func(req *rpc.Request) {
				id, ok := boot.ID()
				if !ok || !store.Serve(req, id) {
					t.Errorf("command %d not served", req.Command)
				}
			})
		}
		bootstrap := []rpc.BootstrapNode{{Host: "10.0.0.1", Port: 49737}}
		other, err := rpc.New(rpc.Options{Host: "10.0.0.2", Port: 49737, Mode: rpc.ModePersistent, Bootstrap: bootstrap, ListenPacket: network.ListenPacket})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Destroy()
		client, err := rpc.New(rpc.Options{Host: "10.0.0.3", Port: 49737, Mode: rpc.ModeEphemeral, Bootstrap: bootstrap, ListenPacket: network.ListenPacket})
		if err != nil {
			t.Fatal(err)
		}
		defer client.Destroy()
		for _, n := range []*rpc.Node{boot, other, client} {
			if err := n.Ready(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if boot.TableSize() == 0 {
			t.Fatal("the bootstrapper's table is empty")
		}
		server := netip.MustParseAddrPort("10.0.0.1:49737")
		nodeID, _ := boot.ID()

		send := func(cmd uint64, target [32]byte, token *[32]byte, value []byte) (*rpc.Response, error) {
			id := ktable.ID(target)
			return client.Request(ctx, server, rpc.Outgoing{Command: cmd, Target: &id, Token: token, Value: value}, nil)
		}
		mustSend := func(cmd uint64, target [32]byte, token *[32]byte, value []byte) *rpc.Response {
			t.Helper()
			r, err := send(cmd, target, token, value)
			if err != nil {
				t.Fatalf("command %d: %v", cmd, err)
			}
			return r
		}
		shape := func(what string, r *rpc.Response, value, token, closer bool) {
			t.Helper()
			if (r.Value != nil) != value || r.HasToken != token || (len(r.CloserNodes) > 0) != closer {
				t.Errorf("%s: value %v token %v closer %d; want %v %v %v", what, r.Value != nil, r.HasToken, len(r.CloserNodes), value, token, closer)
			}
		}

		k := newTestKey(1)
		tp := topic(1)
		look := mustSend(CmdLookup, tp, nil, nil)
		shape("empty LOOKUP", look, false, true, true)

		ann := Announce{Peer: &Peer{PublicKey: k.pub, RelayAddresses: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.3:49737")}}}
		sig, err := SignAnnounce(k.priv, NSAnnounce, tp, nodeID, look.Token, &ann)
		if err != nil {
			t.Fatal(err)
		}
		ann.Signature = &sig
		v, _ := AppendAnnounce(nil, &ann)
		shape("ANNOUNCE", mustSend(CmdAnnounce, tp, &look.Token, v), false, false, false)

		look = mustSend(CmdLookup, tp, nil, nil)
		shape("LOOKUP", look, true, true, true)
		if l, err := ParseLookupReply(look.Value); err != nil || len(l.Peers) != 1 || l.Peers[0].PublicKey != k.pub {
			t.Errorf("LOOKUP: %+v %v", l, err)
		}

		// A signature for another node id is dropped: the client times out.
		bad, _ := SignAnnounce(k.priv, NSAnnounce, tp, [32]byte{1}, look.Token, &ann)
		ann.Signature = &bad
		v, _ = AppendAnnounce(nil, &ann)
		if _, err := send(CmdAnnounce, tp, &look.Token, v); !errors.Is(err, rpc.ErrTimeout) {
			t.Errorf("forged ANNOUNCE: %v, want a timeout", err)
		}

		put := func(seq uint64, value string) *rpc.Response {
			s := SignMutable(k.priv, seq, []byte(value))
			return mustSend(CmdMutablePut, k.self(), &look.Token,
				AppendMutablePut(nil, &MutablePut{PublicKey: k.pub, Seq: seq, Value: []byte(value), Signature: s}))
		}
		r := put(2, "two")
		shape("MUTABLE_PUT", r, false, true, true)
		if r.Err() != nil {
			t.Errorf("MUTABLE_PUT: %v", r.Err())
		}
		r = put(1, "one")
		shape("MUTABLE_PUT seq too low", r, false, false, true)
		if !errors.Is(r.Err(), ErrSeqTooLow) {
			t.Errorf("MUTABLE_PUT seq 1 after 2: %v, want ErrSeqTooLow", r.Err())
		}
		if r = put(2, "TWO"); !errors.Is(r.Err(), ErrSeqReused) {
			t.Errorf("MUTABLE_PUT seq 2 again: %v, want ErrSeqReused", r.Err())
		}
		r = mustSend(CmdMutableGet, k.self(), nil, []byte{0})
		if m, err := ParseMutable(r.Value); err != nil || m.Seq != 2 || string(m.Value) != "two" {
			t.Errorf("MUTABLE_GET: %+v %v", m, err)
		}

		val := []byte("immutable")
		shape("IMMUTABLE_PUT", mustSend(CmdImmutablePut, Hash(val), &look.Token, val), false, true, true)
		if r := mustSend(CmdImmutableGet, Hash(val), nil, nil); string(r.Value) != "immutable" {
			t.Errorf("IMMUTABLE_GET: %q", r.Value)
		}
		if _, err := send(CmdImmutablePut, Hash([]byte("other")), &look.Token, val); !errors.Is(err, rpc.ErrTimeout) {
			t.Errorf("IMMUTABLE_PUT with a wrong hash: %v, want a timeout", err)
		}
	})
}
