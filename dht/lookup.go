package dht

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"sync"

	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// Reply is what every HyperDHT query reply carries besides its payload.
type Reply struct {
	From   netip.AddrPort // the answering node
	FromID ktable.ID      // its id (valid when HasID)
	HasID  bool
	To     netip.AddrPort // our address as it saw us
	Token  *[32]byte      // the round-trip token it issued, if any
}

func replyOf(r *rpc.Response) Reply {
	out := Reply{From: r.From, To: r.To, HasID: r.HasID, FromID: ktable.ID(r.ID)}
	if r.HasToken {
		tok := r.Token
		out.Token = &tok
	}
	return out
}

// LookupReply is one node's answer to a lookup: the peers announced on the topic there.
type LookupReply struct {
	Reply
	Peers []records.Peer
	Bump  uint64
}

// LookupOptions tune [Node.Lookup].
type LookupOptions struct {
	// OnReply is called for every reply that carries a peer list, as it arrives, one at a time
	// on the goroutine that called Lookup.
	OnReply func(LookupReply)
	// Nodes seed the query instead of the routing table.
	Nodes []netip.AddrPort
}

// Lookup asks the nodes closest to topic which peers announced on it. It returns the replies
// that listed peers (in arrival order) when the query is done.
func (n *Node) Lookup(ctx context.Context, topic [32]byte, opts *LookupOptions) ([]LookupReply, error) {
	var o LookupOptions
	if opts != nil {
		o = *opts
	}
	var out []LookupReply
	_, err := n.rpc.Query(ctx, ktable.ID(topic), records.CmdLookup, nil, &rpc.QueryOptions{
		Nodes: o.Nodes,
		OnReply: func(r *rpc.Response) {
			lr, ok := mapLookup(r)
			if !ok {
				return
			}
			out = append(out, lr)
			if o.OnReply != nil {
				o.OnReply(lr)
			}
		},
	})
	if err != nil {
		return out, fmt.Errorf("dht: lookup %x: %w", topic[:4], err)
	}
	return out, nil
}

func mapLookup(r *rpc.Response) (LookupReply, bool) {
	if r.Value == nil {
		return LookupReply{}, false
	}
	l, err := records.ParseLookupReply(r.Value)
	if err != nil {
		return LookupReply{}, false
	}
	return LookupReply{Reply: replyOf(r), Peers: l.Peers, Bump: l.Bump}, true
}

// FindPeerReply is one node's answer to FIND_PEER: the record a server announced for itself.
type FindPeerReply struct {
	Reply
	Peer records.Peer
}

// FindPeer asks the nodes closest to BLAKE2b-256(publicKey) for the record of the server
// listening on publicKey. It returns the replies that carried one, or [ErrNotFound].
func (n *Node) FindPeer(ctx context.Context, publicKey [32]byte) ([]FindPeerReply, error) {
	var out []FindPeerReply
	_, err := n.rpc.Query(ctx, ktable.ID(records.Hash(publicKey[:])), records.CmdFindPeer, nil, &rpc.QueryOptions{
		OnReply: func(r *rpc.Response) {
			if r.Value == nil {
				return
			}
			p, _, err := records.ParsePeer(r.Value)
			if err != nil {
				return
			}
			out = append(out, FindPeerReply{Reply: replyOf(r), Peer: p})
		},
	})
	if err != nil {
		return out, fmt.Errorf("dht: find peer %x: %w", publicKey[:4], err)
	}
	if len(out) == 0 {
		return nil, ErrNotFound
	}
	return out, nil
}

// AnnounceOptions tune [Node.Announce].
type AnnounceOptions struct {
	// Bump, when non-zero, asks storing nodes to raise the topic's bump counter (a
	// millisecond timestamp; nodes ignore values more than a minute in the future).
	Bump uint64
	// Clear first removes our earlier announcements from the nodes that still list us.
	Clear bool
}

// AnnounceResult tells where an announcement was stored.
type AnnounceResult struct {
	// ClosestNodes are the nodes the announcement was committed to.
	ClosestNodes []netip.AddrPort
}

// Announce stores a record {kp.PublicKey, relayAddresses} under topic at the nodes closest to
// it, signed for each storing node (it binds the node's id and token). Storing nodes keep at
// most 3 relay addresses. Announcing on BLAKE2b-256(publicKey) makes the record what
// [Node.FindPeer] returns (a server announcing itself).
func (n *Node) Announce(ctx context.Context, topic [32]byte, kp KeyPair, relayAddresses []netip.AddrPort, opts *AnnounceOptions) (*AnnounceResult, error) {
	var o AnnounceOptions
	if opts != nil {
		o = *opts
	}
	peer := records.Peer{PublicKey: kp.PublicKey, RelayAddresses: relayAddresses}
	commit := func(ctx context.Context, r *rpc.Response) error {
		return n.requestAnnounce(ctx, records.CmdAnnounce, topic, kp, peer, o.Bump, r)
	}
	var res *rpc.QueryResult
	var err error
	if o.Clear {
		res, err = n.lookupAndUnannounce(ctx, topic, kp, commit)
	} else {
		res, err = n.rpc.Query(ctx, ktable.ID(topic), records.CmdLookup, nil, &rpc.QueryOptions{CommitFunc: commit})
	}
	if err != nil {
		return nil, fmt.Errorf("dht: announce %x: %w", topic[:4], err)
	}
	return &AnnounceResult{ClosestNodes: res.ClosestNodes()}, nil
}

// requestAnnounce sends a signed ANNOUNCE or UNANNOUNCE to the node of reply r, with the
// token it issued.
func (n *Node) requestAnnounce(ctx context.Context, cmd uint64, topic [32]byte, kp KeyPair, peer records.Peer, bump uint64, r *rpc.Response) error {
	if !r.HasToken || !r.HasID {
		return fmt.Errorf("dht: %v gave no token", r.From)
	}
	ns := records.NSAnnounce
	if cmd == records.CmdUnannounce {
		ns = records.NSUnannounce
	}
	ann := records.Announce{Peer: &peer, Bump: bump}
	sig, err := records.SignAnnounce(kp.SecretKey, ns, topic, r.ID, r.Token, &ann)
	if err != nil {
		return err
	}
	ann.Signature = &sig
	value, err := records.AppendAnnounce(nil, &ann)
	if err != nil {
		return err
	}
	target, tok := ktable.ID(topic), r.Token
	_, err = n.rpc.Request(ctx, r.From, rpc.Outgoing{Command: cmd, Target: &target, Value: value, Token: &tok}, nil)
	return err
}

// Unannounce removes kp's record under topic from the nodes that list it (and from this
// node's own store).
func (n *Node) Unannounce(ctx context.Context, topic [32]byte, kp KeyPair) error {
	if _, err := n.lookupAndUnannounce(ctx, topic, kp, nil); err != nil {
		return fmt.Errorf("dht: unannounce %x: %w", topic[:4], err)
	}
	return nil
}

// lookupAndUnannounce looks topic up and sends a signed UNANNOUNCE to every node that lists
// kp (or lists 20 peers, which may hide it); then runs commit, if any, over the closest
// replies once those unannounces are done.
func (n *Node) lookupAndUnannounce(ctx context.Context, topic [32]byte, kp KeyPair, commit func(context.Context, *rpc.Response) error) (*rpc.QueryResult, error) {
	n.mu.Lock()
	store := n.store
	n.mu.Unlock()
	if store != nil {
		store.Unannounce(topic, kp.PublicKey)
	}
	var wg sync.WaitGroup
	defer wg.Wait() // also when the query ends without a commit phase
	unannounce := records.Peer{PublicKey: kp.PublicKey}
	return n.rpc.Query(ctx, ktable.ID(topic), records.CmdLookup, nil, &rpc.QueryOptions{
		OnReply: func(r *rpc.Response) {
			lr, ok := mapLookup(r)
			if !ok || !r.HasToken || !r.HasID {
				return
			}
			found := len(lr.Peers) >= 20
			for _, p := range lr.Peers {
				found = found || bytes.Equal(p.PublicKey[:], kp.PublicKey[:])
			}
			if !found {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.requestAnnounce(ctx, records.CmdUnannounce, topic, kp, unannounce, 0, r)
			}()
		},
		CommitFunc: func(ctx context.Context, r *rpc.Response) error {
			wg.Wait()
			if commit == nil {
				return nil
			}
			return commit(ctx, r)
		},
	})
}
