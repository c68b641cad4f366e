package interop_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/blake2b"

	"github.com/hyperlan/hyperlan/interop"
)

// hyperdht commands (hyperdht lib/constants.js COMMANDS) and errors (ERROR).
const (
	cmdMutablePut = 6
	cmdMutableGet = 7
	errSeqTooLow  = 17
)

// TestHyperDHTReferenceNetwork proves the hyperdht driver against the JS
// reference alone: a bootstrapper and four persistent JS hyperdht nodes on
// 127.0.0.1, exercising every record operation.
//
//	          bootstrapper (127.0.0.1:P)
//	     /        |          |        \
//	nodes[0]   nodes[1]   nodes[2]   nodes[3]
func TestHyperDHTReferenceNetwork(t *testing.T) {
	interop.Require(t)
	t.Cleanup(func() { checkNoReaders(t) }) // registered first, so it runs after the nodes' cleanups
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	boot := interop.StartHyperDHTBootstrapper(t, interop.FreeUDPPort(t))
	nodes := make([]*interop.HyperNode, 4)
	for i := range nodes {
		nodes[i] = interop.StartHyperDHTNode(t, []netip.AddrPort{boot.Addr()}, interop.NodeOptions{})
	}
	for _, n := range append([]*interop.HyperNode{boot}, nodes...) {
		if _, err := n.WaitEvent(ctx, "bootstrapped", nil); err != nil {
			t.Fatal(err)
		}
		info, err := n.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Ephemeral || info.Firewalled || info.ServerPort != int(n.Addr().Port()) || info.ServerPort == 49737 {
			t.Fatalf("%v: ephemeral=%v firewalled=%v server port %d: want a persistent node on its own port",
				n, info.Ephemeral, info.Firewalled, info.ServerPort)
		}
	}

	t.Run("KeyPair", func(t *testing.T) {
		seed := randomKey(t)
		got, err := nodes[0].KeyPair(ctx, seed)
		if err != nil {
			t.Fatal(err)
		}
		if want := publicKeyOf(seed); got != want {
			t.Errorf("KeyPair(%x) = %x, want the ed25519 key %x", seed, got, want)
		}
	})

	t.Run("AnnounceLookupUnannounce", func(t *testing.T) {
		seed, topic := randomKey(t), randomKey(t)
		pk := publicKeyOf(seed)
		relays := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:10001"), netip.MustParseAddrPort("127.0.0.1:10002")}

		closest, err := nodes[0].Announce(ctx, topic, seed, relays)
		if err != nil {
			t.Fatal(err)
		}
		if len(closest) == 0 {
			t.Fatal("Announce committed to no node")
		}

		replies, err := nodes[1].Lookup(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		holders := 0
		for _, r := range replies {
			for _, p := range r.Peers {
				if !bytes.Equal(p.PublicKey, pk[:]) {
					continue
				}
				holders++
				if !slices.Equal(p.RelayAddresses, relays) {
					t.Errorf("record from %v has relays %v, want %v", r.From, p.RelayAddresses, relays)
				}
			}
			if len(r.FromID) != 32 || len(r.Token) != 32 {
				t.Errorf("lookup reply from %v: id %x, token %x: want 32 bytes each", r.From, r.FromID, r.Token)
			}
		}
		if holders == 0 {
			t.Fatalf("lookup after announce: no reply holds %x (replies %+v)", pk, replies)
		}
		t.Logf("announce committed to %v; %d lookup replies hold the record", closest, holders)

		if err := nodes[0].Unannounce(ctx, topic, seed); err != nil {
			t.Fatal(err)
		}
		replies, err = nodes[2].Lookup(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range replies {
			for _, p := range r.Peers {
				if bytes.Equal(p.PublicKey, pk[:]) {
					t.Errorf("after unannounce, %v still returns the record", r.From)
				}
			}
		}
	})

	t.Run("FindPeer", func(t *testing.T) {
		seed := randomKey(t)
		pk := publicKeyOf(seed)
		relays := []netip.AddrPort{nodes[1].Addr()}
		// announcing under hash(publicKey) is hyperdht's announce-self
		if _, err := nodes[1].Announce(ctx, blake2b.Sum256(pk[:]), seed, relays); err != nil {
			t.Fatal(err)
		}
		replies, err := nodes[3].FindPeer(ctx, pk)
		if err != nil {
			t.Fatal(err)
		}
		if len(replies) == 0 {
			t.Fatal("findPeer after announce-self: no replies")
		}
		t.Logf("findPeer: %d replies hold the record", len(replies))

		// a lookup of that topic returns the announce-self record too
		lookups, err := nodes[2].Lookup(ctx, blake2b.Sum256(pk[:]))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(lookups, func(r interop.LookupReply) bool {
			return slices.ContainsFunc(r.Peers, func(p interop.PeerRecord) bool { return bytes.Equal(p.PublicKey, pk[:]) })
		}) {
			t.Errorf("lookup of hash(publicKey) after announce-self: no reply holds %x", pk)
		}
		for _, r := range replies {
			if !bytes.Equal(r.Peer.PublicKey, pk[:]) || !slices.Equal(r.Peer.RelayAddresses, relays) {
				t.Errorf("findPeer reply from %v: %x %v, want %x %v", r.From, r.Peer.PublicKey, r.Peer.RelayAddresses, pk, relays)
			}
		}
	})

	t.Run("Immutable", func(t *testing.T) {
		value := []byte("hyperlan interop immutable value")
		hash, err := nodes[0].ImmutablePut(ctx, value)
		if err != nil {
			t.Fatal(err)
		}
		if want := blake2b.Sum256(value); hash != want {
			t.Errorf("ImmutablePut hash = %x, want BLAKE2b-256 %x", hash, want)
		}
		got, err := nodes[3].ImmutableGet(ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil || !bytes.Equal(got.Value, value) || !got.From.IsValid() {
			t.Fatalf("ImmutableGet = %+v, want %q from some node", got, value)
		}
		missing, err := nodes[3].ImmutableGet(ctx, randomKey(t))
		if err != nil || missing != nil {
			t.Errorf("ImmutableGet(unknown hash) = %+v, %v; want nil, nil", missing, err)
		}
	})

	t.Run("Mutable", func(t *testing.T) {
		seed := randomKey(t)
		pk := publicKeyOf(seed)
		values := map[uint64][]byte{1: []byte("mutable one"), 2: []byte("mutable two")}

		put1, err := nodes[0].MutablePut(ctx, seed, values[1], 1)
		if err != nil {
			t.Fatal(err)
		}
		put2, err := nodes[0].MutablePut(ctx, seed, values[2], 2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(put2.PublicKey, pk[:]) || put2.Seq != 2 || len(put2.Signature) != 64 || len(put2.ClosestNodes) == 0 {
			t.Fatalf("MutablePut seq 2 = %+v", put2)
		}

		checkLatest := func(what string) {
			t.Helper()
			got, err := nodes[2].MutableGet(ctx, pk, 0, true)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil || got.Seq != 2 || !bytes.Equal(got.Value, values[2]) {
				t.Fatalf("%s: MutableGet latest = %+v, want seq 2 %q", what, got, values[2])
			}
		}
		checkLatest("after seq 1, 2")

		first, err := nodes[3].MutableGet(ctx, pk, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil || (first.Seq != 1 && first.Seq != 2) || !bytes.Equal(first.Value, values[first.Seq]) {
			t.Errorf("MutableGet latest=false = %+v, want seq 1 or 2 with its value", first)
		} else {
			t.Logf("MutableGet latest=false: seq %d from %v", first.Seq, first.From)
		}
		if none, err := nodes[3].MutableGet(ctx, pk, 3, true); err != nil || none != nil {
			t.Errorf("MutableGet(seq >= 3) = %+v, %v; want nil, nil", none, err)
		}

		// The reference's mutablePut succeeds even when every node refuses.
		if _, err := nodes[1].MutablePut(ctx, seed, values[1], 1); err != nil {
			t.Fatalf("MutablePut seq 1 after seq 2: %v", err)
		}
		checkLatest("after seq 1 again")

		// A raw MUTABLE_PUT of the old record gets SEQ_TOO_LOW.
		target := blake2b.Sum256(pk[:])
		to := netip.MustParseAddrPort(put2.ClosestNodes[0])
		get, err := nodes[0].Request(ctx, to, interop.RequestArgs{Command: cmdMutableGet, Target: target[:], Value: []byte{0}})
		if err != nil {
			t.Fatal(err)
		}
		if get.Error != 0 || len(get.Token) != 32 || len(get.Value) == 0 || get.Value[0] != 2 {
			t.Fatalf("raw MUTABLE_GET to %v = %+v, want seq 2 and a token", to, get)
		}
		put, err := nodes[0].Request(ctx, to, interop.RequestArgs{
			Command: cmdMutablePut,
			Target:  target[:],
			Token:   get.Token,
			Value:   mutablePutRequest(pk, 1, values[1], put1.Signature),
		})
		if err != nil {
			t.Fatal(err)
		}
		if put.Error != errSeqTooLow {
			t.Errorf("raw MUTABLE_PUT seq 1 after seq 2: error %d, want %d (SEQ_TOO_LOW)", put.Error, errSeqTooLow)
		}
	})
}

// mutablePutRequest encodes hyperdht's mutablePutRequest (lib/messages.js)
// for small seq and value: publicKey, uint seq, length-prefixed value,
// 64-byte signature.
func mutablePutRequest(pk [32]byte, seq uint64, value, sig []byte) []byte {
	if seq > 0xfc || len(value) > 0xfc {
		panic("mutablePutRequest: only one-byte uints")
	}
	b := append([]byte(nil), pk[:]...)
	b = append(b, byte(seq), byte(len(value)))
	b = append(b, value...)
	return append(b, sig...)
}

func randomKey(t *testing.T) [32]byte {
	t.Helper()
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	return k
}

func publicKeyOf(seed [32]byte) [32]byte {
	return [32]byte(ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey))
}
