package dht

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/netsim"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// testnet: a bootstrapper and persistent nodes on an in-memory network, inside a bubble.
type testnet struct {
	t     *testing.T
	net   *netsim.Network
	nodes []*Node
}

func newTestnet(t *testing.T, size int) *testnet {
	t.Helper()
	tn := &testnet{t: t, net: netsim.New(netsim.Options{Delay: time.Millisecond})}
	t.Cleanup(func() {
		for _, n := range tn.nodes {
			n.Destroy(context.Background(), DestroyOptions{Force: true})
		}
		tn.net.Close()
	})
	boot, err := Bootstrapper(49737, "10.0.0.1", Options{Host: "10.0.0.1", ListenPacket: tn.net.ListenPacket})
	if err != nil {
		t.Fatal(err)
	}
	tn.nodes = append(tn.nodes, boot)
	for range size {
		tn.add(rpc.ModePersistent)
	}
	return tn
}

func (tn *testnet) add(mode rpc.Mode) *Node {
	tn.t.Helper()
	n, err := New(Options{
		Host: fmt.Sprintf("10.0.1.%d", len(tn.nodes)+1), Mode: mode, ListenPacket: tn.net.ListenPacket,
		Bootstrap: []rpc.BootstrapNode{{Host: "10.0.0.1", Port: 49737}},
	})
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.nodes = append(tn.nodes, n)
	if err := n.Ready(context.Background()); err != nil {
		tn.t.Fatal(err)
	}
	return n
}

func seed(b byte) []byte {
	s := make([]byte, SeedSize)
	for i := range s {
		s[i] = b
	}
	return s
}

func TestKeyPairMatchesReference(t *testing.T) {
	kp, err := NewKeyPair(seed(1))
	if err != nil {
		t.Fatal(err)
	}
	// Vector from shared/protocol/hyperdht.md §2.1, checked there against libsodium.
	if got, want := kp.String(), "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"; got != want {
		t.Fatalf("public key %s, want %s", got, want)
	}
	if _, err := NewKeyPair(make([]byte, 5)); err == nil {
		t.Fatal("short seed accepted")
	}
	a, _ := NewKeyPair(nil)
	b, _ := NewKeyPair(nil)
	if a.PublicKey == b.PublicKey {
		t.Fatal("random key pairs are equal")
	}
}

func TestAnnounceLookupUnannounce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, 8)
		ctx := context.Background()
		kp, _ := NewKeyPair(seed(2))
		topic := records.Hash([]byte("hyperlan test topic"))
		relay := netip.MustParseAddrPort("10.0.1.2:49737")
		if _, err := tn.nodes[1].Announce(ctx, topic, kp, []netip.AddrPort{relay}, nil); err != nil {
			t.Fatal(err)
		}
		replies, err := tn.nodes[5].Lookup(ctx, topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !listed(replies, kp.PublicKey) {
			t.Fatalf("lookup does not list the announced key: %+v", replies)
		}
		for _, r := range replies {
			for _, p := range r.Peers {
				if len(p.RelayAddresses) != 1 || p.RelayAddresses[0] != relay {
					t.Fatalf("relay addresses %v, want [%v]", p.RelayAddresses, relay)
				}
			}
		}
		// A topic announce is not a server record.
		if _, err := tn.nodes[3].FindPeer(ctx, kp.PublicKey); !errors.Is(err, ErrNotFound) {
			t.Fatalf("find peer after topic announce: %v", err)
		}
		if err := tn.nodes[1].Unannounce(ctx, topic, kp); err != nil {
			t.Fatal(err)
		}
		replies, err = tn.nodes[6].Lookup(ctx, topic, nil)
		if err != nil {
			t.Fatal(err)
		}
		if listed(replies, kp.PublicKey) {
			t.Fatal("still listed after unannounce")
		}
		// Announcing on hash(publicKey) makes a server record.
		self := records.Hash(kp.PublicKey[:])
		if _, err := tn.nodes[2].Announce(ctx, self, kp, nil, nil); err != nil {
			t.Fatal(err)
		}
		found, err := tn.nodes[4].FindPeer(ctx, kp.PublicKey)
		if err != nil || found[0].Peer.PublicKey != kp.PublicKey {
			t.Fatalf("find peer: %v %v", found, err)
		}
	})
}

func listed(replies []LookupReply, pk [32]byte) bool {
	for _, r := range replies {
		for _, p := range r.Peers {
			if p.PublicKey == pk {
				return true
			}
		}
	}
	return false
}

func TestImmutable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, 6)
		ctx := context.Background()
		put, err := tn.nodes[2].ImmutablePut(ctx, []byte("hello immutable"))
		if err != nil {
			t.Fatal(err)
		}
		if len(put.ClosestNodes) == 0 {
			t.Fatal("stored nowhere")
		}
		got, err := tn.nodes[5].ImmutableGet(ctx, put.Hash)
		if err != nil || string(got.Value) != "hello immutable" {
			t.Fatalf("get: %v %v", got, err)
		}
		if _, err := tn.nodes[5].ImmutableGet(ctx, records.Hash([]byte("nothing"))); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing value: %v", err)
		}
		if _, err := tn.nodes[5].ImmutablePut(ctx, make([]byte, MaxValueSize+1)); !errors.Is(err, ErrValueTooLarge) {
			t.Fatalf("oversized put: %v", err)
		}
	})
}

func TestMutable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, 6)
		ctx := context.Background()
		kp, _ := NewKeyPair(seed(3))
		// The writer is in no routing table, so every persistent node stores its puts: then
		// the conflicting puts below are refused everywhere. (A persistent writer does not
		// store its own put; the "other" put could land there and win a later get.)
		writer := tn.add(rpc.ModeEphemeral)
		for seq, v := range []string{"one", "two"} {
			if _, err := writer.MutablePut(ctx, kp, []byte(v), &MutablePutOptions{Seq: uint64(seq + 1)}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := tn.nodes[4].MutableGet(ctx, kp.PublicKey, nil)
		if err != nil || got.Seq != 2 || string(got.Value) != "two" {
			t.Fatalf("latest: %+v %v", got, err)
		}
		first, err := tn.nodes[4].MutableGet(ctx, kp.PublicKey, &MutableGetOptions{First: true})
		if err != nil || first.Seq != 2 {
			t.Fatalf("first: %+v %v", first, err)
		}
		_, err = tn.nodes[2].MutablePut(ctx, kp, []byte("old"), &MutablePutOptions{Seq: 1})
		if !errors.Is(err, ErrSeqTooLow) {
			t.Fatalf("lower seq: %v, want ErrSeqTooLow", err)
		}
		_, err = tn.nodes[2].MutablePut(ctx, kp, []byte("other"), &MutablePutOptions{Seq: 2})
		if !errors.Is(err, ErrSeqReused) {
			t.Fatalf("reused seq: %v, want ErrSeqReused", err)
		}
		got, err = tn.nodes[5].MutableGet(ctx, kp.PublicKey, nil)
		if err != nil || got.Seq != 2 || string(got.Value) != "two" {
			t.Fatalf("after refused puts: %+v %v", got, err)
		}
		if _, err := tn.nodes[5].MutableGet(ctx, kp.PublicKey, &MutableGetOptions{Seq: 3}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("seq above stored: %v", err)
		}
	})
}

// Until a node is persistent it answers storage commands with UNKNOWN_COMMAND.
func TestEphemeralNodesDoNotStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, 3)
		eph := tn.add(rpc.ModeEphemeral)
		target := ktable.ID(records.Hash([]byte("x")))
		r, err := tn.nodes[1].RPC().Request(context.Background(), eph.LocalAddr(),
			rpc.Outgoing{Command: records.CmdImmutableGet, Target: &target}, nil)
		if err != nil || r.Error != rpc.CodeUnknownCommand {
			t.Fatalf("ephemeral node: %v %v, want UNKNOWN_COMMAND", r, err)
		}
	})
}
