package dht

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/hyperlan/hyperlan/dht/compact"
	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// MaxValueSize is the largest value [Node.ImmutablePut] and [Node.MutablePut] store. The
// reference sets no limit, but a put travels in one UDP datagram and larger datagrams are
// fragmented or dropped on real paths; storing nodes accept whatever arrives.
const MaxValueSize = 1000

// ImmutablePutResult tells where a value was stored and under which hash.
type ImmutablePutResult struct {
	Hash         [32]byte
	ClosestNodes []netip.AddrPort
}

// ImmutablePut stores value under BLAKE2b-256(value) at the nodes closest to that hash. It
// fails when no storing node accepted the value (the reference also counts replies that carry
// an error code as stored).
func (n *Node) ImmutablePut(ctx context.Context, value []byte) (*ImmutablePutResult, error) {
	if len(value) > MaxValueSize {
		return nil, fmt.Errorf("dht: immutable put of %d bytes (max %d): %w", len(value), MaxValueSize, ErrValueTooLarge)
	}
	hash := records.Hash(value)
	target := ktable.ID(hash)
	res, err := n.rpc.Query(ctx, target, records.CmdImmutableGet, nil, &rpc.QueryOptions{
		CommitFunc: func(ctx context.Context, r *rpc.Response) error {
			return n.commit(ctx, r, records.CmdImmutablePut, target, value)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("dht: immutable put %x: %w", hash[:4], err)
	}
	return &ImmutablePutResult{Hash: hash, ClosestNodes: res.ClosestNodes()}, nil
}

// commit sends cmd with value to the node of reply r, echoing its token. A reply with an
// error code is returned as that error.
func (n *Node) commit(ctx context.Context, r *rpc.Response, cmd uint64, target ktable.ID, value []byte) error {
	out := rpc.Outgoing{Command: cmd, Target: &target, Value: value}
	if r.HasToken {
		tok := r.Token
		out.Token = &tok
	}
	res, err := n.rpc.Request(ctx, r.From, out, nil)
	if err != nil {
		return err
	}
	switch res.Error {
	case records.CodeSeqTooLow:
		return ErrSeqTooLow
	case records.CodeSeqReused:
		return ErrSeqReused
	}
	return res.Err()
}

// ValueResult is a value found in the DHT.
type ValueResult struct {
	Value []byte
	From  netip.AddrPort
}

// ImmutableGet finds the value stored under hash, verified against it, or [ErrNotFound].
func (n *Node) ImmutableGet(ctx context.Context, hash [32]byte) (*ValueResult, error) {
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var found *ValueResult
	_, err := n.rpc.Query(qctx, ktable.ID(hash), records.CmdImmutableGet, nil, &rpc.QueryOptions{
		OnReply: func(r *rpc.Response) {
			if found != nil || r.Value == nil || records.Hash(r.Value) != hash {
				return
			}
			found = &ValueResult{Value: r.Value, From: r.From}
			cancel()
		},
	})
	if found != nil {
		return found, nil
	}
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("dht: immutable get %x: %w", hash[:4], err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, ErrNotFound
}

// MutablePutOptions tune [Node.MutablePut].
type MutablePutOptions struct {
	// Seq orders versions: storing nodes refuse a lower seq than they hold, and another value
	// under the same seq.
	Seq uint64
}

// MutablePutResult describes a stored mutable value.
type MutablePutResult struct {
	PublicKey    [32]byte
	ClosestNodes []netip.AddrPort
	Seq          uint64
	Signature    [64]byte
}

// MutablePut signs value with kp under seq and stores it at the nodes closest to
// BLAKE2b-256(publicKey). Unlike the reference, whose put "succeeds" whatever the storing nodes
// answer, it returns [ErrSeqTooLow] or [ErrSeqReused] when any of them refused the value
// because it holds a newer one or another value under the same seq: a later MutableGet would
// not return this value. Nodes that held nothing may still have stored it.
func (n *Node) MutablePut(ctx context.Context, kp KeyPair, value []byte, opts *MutablePutOptions) (*MutablePutResult, error) {
	var o MutablePutOptions
	if opts != nil {
		o = *opts
	}
	if len(value) > MaxValueSize {
		return nil, fmt.Errorf("dht: mutable put of %d bytes (max %d): %w", len(value), MaxValueSize, ErrValueTooLarge)
	}
	sig := records.SignMutable(kp.SecretKey, o.Seq, value)
	put := records.AppendMutablePut(nil, &records.MutablePut{PublicKey: kp.PublicKey, Seq: o.Seq, Value: value, Signature: sig})
	target := ktable.ID(records.Hash(kp.PublicKey[:]))
	var mu sync.Mutex
	var refused error
	res, err := n.rpc.Query(ctx, target, records.CmdMutableGet, compact.AppendUint(nil, 0), &rpc.QueryOptions{
		CommitFunc: func(ctx context.Context, r *rpc.Response) error {
			err := n.commit(ctx, r, records.CmdMutablePut, target, put)
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, ErrSeqTooLow) || (errors.Is(err, ErrSeqReused) && refused == nil) {
				refused = err
			}
			return err
		},
	})
	if refused != nil {
		return nil, fmt.Errorf("dht: mutable put %x seq %d: %w", kp.PublicKey[:4], o.Seq, refused)
	}
	if err != nil {
		return nil, fmt.Errorf("dht: mutable put %x: %w", kp.PublicKey[:4], err)
	}
	return &MutablePutResult{PublicKey: kp.PublicKey, ClosestNodes: res.ClosestNodes(), Seq: o.Seq, Signature: sig}, nil
}

// MutableGetOptions tune [Node.MutableGet].
type MutableGetOptions struct {
	// Seq is the lowest seq wanted.
	Seq uint64
	// First returns the first valid value instead of querying on for the highest seq (the
	// reference's latest: false; its code defaults to latest).
	First bool
}

// MutableResult is a verified mutable value.
type MutableResult struct {
	Value     []byte
	From      netip.AddrPort
	Seq       uint64
	Signature [64]byte
}

// MutableGet finds the value publicKey signed, checking every signature; by default the
// highest seq any node returned, or [ErrNotFound].
func (n *Node) MutableGet(ctx context.Context, publicKey [32]byte, opts *MutableGetOptions) (*MutableResult, error) {
	var o MutableGetOptions
	if opts != nil {
		o = *opts
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var best *MutableResult
	_, err := n.rpc.Query(qctx, ktable.ID(records.Hash(publicKey[:])), records.CmdMutableGet, compact.AppendUint(nil, o.Seq), &rpc.QueryOptions{
		OnReply: func(r *rpc.Response) {
			if r.Value == nil || (o.First && best != nil) {
				return
			}
			m, err := records.ParseMutable(r.Value)
			if err != nil || m.Seq < o.Seq || (best != nil && m.Seq <= best.Seq) {
				return
			}
			if !records.VerifyMutable(publicKey, m.Seq, m.Value, m.Signature) {
				return
			}
			best = &MutableResult{Value: m.Value, From: r.From, Seq: m.Seq, Signature: m.Signature}
			if o.First {
				cancel()
			}
		},
	})
	if best != nil && (err == nil || o.First) {
		return best, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("dht: mutable get %x: %w", publicKey[:4], err)
	}
	return nil, ErrNotFound
}
