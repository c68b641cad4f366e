package interop

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// HyperNode is one running hyperdht.js process, that is one JS hyperdht node
// on 127.0.0.1 (or [NodeOptions.Host]). It embeds the [Node] that runs it:
// the dht-rpc methods (Info, Table, Ping, FindNode, Query, Request, AddNode),
// [Node.Call], [Node.WaitEvent] and [Node.Stop] work as they do for
// dhtrpc.js, and the methods below add hyperdht's record operations. Key pairs are named by their
// 32-byte ed25519 seed, so a Go test derives the same pair with
// ed25519.NewKeyFromSeed. Like [Node], it is safe for concurrent use and is
// stopped in t.Cleanup.
type HyperNode struct {
	*Node
}

// PeerRecord is an announced peer as hyperdht stores it: a public key and up
// to three relay addresses.
type PeerRecord struct {
	PublicKey      Hex              `json:"publicKey"`
	RelayAddresses []netip.AddrPort `json:"relayAddresses"`
}

// LookupReply is one node's answer to a LOOKUP that held at least one record.
type LookupReply struct {
	From   netip.AddrPort `json:"from"`   // the responder
	FromID Hex            `json:"fromId"` // its id; nil if it sent none
	Token  Hex            `json:"token"`  // its token for us, for a later ANNOUNCE or UNANNOUNCE
	Peers  []PeerRecord   `json:"peers"`  // at most 20
	Bump   uint64         `json:"bump"`   // the topic's bump (a time in ms), 0 if none
}

// FindPeerReply is one node's answer to a FIND_PEER: the record the peer
// announced to it under hash(publicKey).
type FindPeerReply struct {
	From   netip.AddrPort `json:"from"`
	FromID Hex            `json:"fromId"`
	Token  Hex            `json:"token"`
	Peer   PeerRecord     `json:"peer"`
}

// ImmutableResult is a value found by [HyperNode.ImmutableGet].
type ImmutableResult struct {
	Value  Hex            `json:"value"`
	From   netip.AddrPort `json:"from"` // the node that returned it
	FromID Hex            `json:"fromId"`
}

// MutableResult is a signed mutable value. [HyperNode.MutablePut] sets
// PublicKey, Seq, Value, Signature and ClosestNodes; [HyperNode.MutableGet]
// sets Seq, Value, Signature, From and FromID.
type MutableResult struct {
	PublicKey    Hex            `json:"publicKey"`
	Seq          uint64         `json:"seq"`
	Value        Hex            `json:"value"`
	Signature    Hex            `json:"signature"`    // 64 bytes
	ClosestNodes []string       `json:"closestNodes"` // "host:port" the put was committed to
	From         netip.AddrPort `json:"from"`
	FromID       Hex            `json:"fromId"`
}

// StartHyperDHTBootstrapper starts a JS hyperdht bootstrapper
// (HyperDHT.bootstrapper(port, '127.0.0.1', {host: '127.0.0.1'})) bound to
// 127.0.0.1:port and returns once its sockets are bound. It must be called from
// the test goroutine; it fails the test if the driver does not start.
func StartHyperDHTBootstrapper(t testing.TB, port int) *HyperNode {
	t.Helper()
	requireHyperDHT(t)
	if port <= 0 || port > 65535 {
		t.Fatalf("interop: bootstrapper port %d out of range", port)
	}
	name := "js hyperdht bootstrapper 127.0.0.1:" + strconv.Itoa(port)
	return &HyperNode{startScript(t, "hyperdht.js", name, "bootstrapper", strconv.Itoa(port))}
}

// StartHyperDHTBootstrapperAt is [StartHyperDHTBootstrapper] on addr (IPv4;
// HyperDHT.bootstrapper(port, host, {host})) inside network namespace netns,
// which must have the address ("" means the test's own namespace).
func StartHyperDHTBootstrapperAt(t testing.TB, addr netip.AddrPort, netns string) *HyperNode {
	t.Helper()
	requireHyperDHT(t)
	if !addr.Addr().Is4() || addr.Port() == 0 {
		t.Fatalf("interop: bootstrapper address %v: want IPv4 and a port", addr)
	}
	p := placement{netns: netns, host: addr.Addr()}
	args := []string{"bootstrapper", strconv.Itoa(int(addr.Port())), "--host", addr.Addr().String()}
	return &HyperNode{startPlaced(t, p, "hyperdht.js", "js hyperdht bootstrapper "+addr.String(), args...)}
}

// StartHyperDHTNode starts a JS hyperdht node that bootstraps from the given
// IPv4 addresses (none is allowed) and returns once its sockets are bound; wait
// for the "bootstrapped" or "persistent" event to know it has joined. The node
// always gets an explicit port: opts.Port, or else one from [FreeUDPPort]
// (from [FreeUDPPortIn] with opts.Netns), because hyperdht turns port 0 into
// 49737. It must be called from the test goroutine.
func StartHyperDHTNode(t testing.TB, bootstrap []netip.AddrPort, opts NodeOptions) *HyperNode {
	t.Helper()
	requireHyperDHT(t)
	flags := nodeFlags(t, bootstrap, opts)
	p := placeOf(opts)
	port := opts.Port
	switch {
	case port != 0:
	case p.netns != "":
		port = FreeUDPPortIn(t, p.netns, p.addr())
	default:
		port = FreeUDPPort(t)
	}
	args := append([]string{"node", "--port", strconv.Itoa(port)}, flags...)
	return &HyperNode{startPlaced(t, p, "hyperdht.js", "js hyperdht node", args...)}
}

// requireHyperDHT is [Require] plus a check that the installed hyperdht is the
// version package.json pins.
func requireHyperDHT(t testing.TB) {
	t.Helper()
	Require(t)
	skipOrFail(t, checkHyperDHT())
}

var checkHyperDHT = sync.OnceValue(func() string {
	want, err := pinnedVersion(filepath.Join(Dir(), "package.json"), "hyperdht")
	if err != nil {
		return fmt.Sprintf("cannot read the pinned hyperdht version: %v", err)
	}
	return checkInstalled("hyperdht", want, "package.json")
})

// KeyPair returns the public key of HyperDHT.keyPair(seed), which is the
// ed25519 key pair of that seed.
func (n *HyperNode) KeyPair(ctx context.Context, seed [32]byte) ([32]byte, error) {
	var res struct {
		PublicKey Hex `json:"publicKey"`
	}
	if err := n.Call(ctx, "keyPair", struct {
		Seed Hex `json:"seed"`
	}{seed[:]}, &res); err != nil {
		return [32]byte{}, err
	}
	return to32(n, "keyPair", "publicKey", res.PublicKey)
}

// Announce runs dht.announce(topic, keyPair(seed), relays) to completion and
// returns the "host:port" of the closest nodes it committed the record to.
// relays must be IPv4; hyperdht keeps at most three.
func (n *HyperNode) Announce(ctx context.Context, topic, seed [32]byte, relays []netip.AddrPort) ([]string, error) {
	list, err := hostPorts(relays)
	if err != nil {
		return nil, err
	}
	var res struct {
		ClosestNodes []string `json:"closestNodes"`
	}
	err = n.Call(ctx, "announce", struct {
		Topic          Hex      `json:"topic"`
		Seed           Hex      `json:"seed"`
		RelayAddresses []string `json:"relayAddresses"`
	}{topic[:], seed[:], list}, &res)
	return res.ClosestNodes, err
}

// Unannounce runs dht.unannounce(topic, keyPair(seed)): a lookup that sends a
// signed UNANNOUNCE to every node that returned the record.
func (n *HyperNode) Unannounce(ctx context.Context, topic, seed [32]byte) error {
	return n.Call(ctx, "unannounce", struct {
		Topic Hex `json:"topic"`
		Seed  Hex `json:"seed"`
	}{topic[:], seed[:]}, nil)
}

// Lookup runs dht.lookup(topic) and returns every reply that held records, in
// arrival order.
func (n *HyperNode) Lookup(ctx context.Context, topic [32]byte) ([]LookupReply, error) {
	var res struct {
		Replies []LookupReply `json:"replies"`
	}
	err := n.Call(ctx, "lookup", struct {
		Topic Hex `json:"topic"`
	}{topic[:]}, &res)
	return res.Replies, err
}

// FindPeer runs dht.findPeer(publicKey), which looks up hash(publicKey), and
// returns every reply that held the peer's record.
func (n *HyperNode) FindPeer(ctx context.Context, publicKey [32]byte) ([]FindPeerReply, error) {
	var res struct {
		Replies []FindPeerReply `json:"replies"`
	}
	err := n.Call(ctx, "findPeer", struct {
		PublicKey Hex `json:"publicKey"`
	}{publicKey[:]}, &res)
	return res.Replies, err
}

// ImmutablePut stores value with dht.immutablePut and returns its hash
// (BLAKE2b-256 of value), under which it is stored.
func (n *HyperNode) ImmutablePut(ctx context.Context, value []byte) ([32]byte, error) {
	var res struct {
		Hash Hex `json:"hash"`
	}
	if err := n.Call(ctx, "immutablePut", struct {
		Value Hex `json:"value"`
	}{Hex(nonNil(value))}, &res); err != nil {
		return [32]byte{}, err
	}
	return to32(n, "immutablePut", "hash", res.Hash)
}

// ImmutableGet runs dht.immutableGet(hash). It returns nil, and no error, when
// no node had a value that hashes to hash.
func (n *HyperNode) ImmutableGet(ctx context.Context, hash [32]byte) (*ImmutableResult, error) {
	var res *ImmutableResult
	err := n.Call(ctx, "immutableGet", struct {
		Hash Hex `json:"hash"`
	}{hash[:]}, &res)
	return res, err
}

// MutablePut signs value at seq with keyPair(seed) and stores it with
// dht.mutablePut. Like the reference, it succeeds when nodes answered the
// commit with an error (SEQ_REUSED, SEQ_TOO_LOW); check with [HyperNode.MutableGet]
// or a raw [Node.Request]. seq must be below 2^53 (a JSON number in JS).
func (n *HyperNode) MutablePut(ctx context.Context, seed [32]byte, value []byte, seq uint64) (MutableResult, error) {
	var res MutableResult
	err := n.Call(ctx, "mutablePut", struct {
		Seed  Hex    `json:"seed"`
		Value Hex    `json:"value"`
		Seq   uint64 `json:"seq"`
	}{seed[:], Hex(nonNil(value)), seq}, &res)
	return res, err
}

// MutableGet runs dht.mutableGet(publicKey, {seq, latest}). Only values with a
// valid signature and at least seq count. With latest it returns the highest
// seq any node had; without, the first valid value. It returns nil, and no
// error, when there is none.
func (n *HyperNode) MutableGet(ctx context.Context, publicKey [32]byte, seq uint64, latest bool) (*MutableResult, error) {
	var res *MutableResult
	err := n.Call(ctx, "mutableGet", struct {
		PublicKey Hex    `json:"publicKey"`
		Seq       uint64 `json:"seq"`
		Latest    bool   `json:"latest"`
	}{publicKey[:], seq, latest}, &res)
	return res, err
}

// to32 checks that a result field is 32 bytes.
func to32(n *HyperNode, op, field string, b Hex) ([32]byte, error) {
	if len(b) != 32 {
		return [32]byte{}, fmt.Errorf("interop: %s: %s: %s has %d bytes, want 32", n.name, op, field, len(b))
	}
	return [32]byte(b), nil
}

// nonNil makes an empty value present (hex "") rather than absent (null).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
