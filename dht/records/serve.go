package records

import (
	"net/netip"

	"github.com/hyperlan/hyperlan/dht/compact"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// The three reply shapes of hyperdht lib/persistent.js, in dht-rpc terms.

// replyValue is req.reply(value): the value (nil for none), a token and closer nodes.
func replyValue(value []byte) rpc.ReplyOptions {
	return rpc.ReplyOptions{Value: value, Token: true, CloserNodes: true}
}

// replyBare is req.reply(null, {token: false, closerNodes: false}), the answer to ANNOUNCE and
// UNANNOUNCE.
func replyBare() rpc.ReplyOptions { return rpc.ReplyOptions{} }

// replyError is req.error(code): closer nodes but no token.
func replyError(code uint64) rpc.ReplyOptions {
	return rpc.ReplyOptions{Error: code, CloserNodes: true}
}

// handle decides the reply to a storage command. ok false means no reply: the request is
// dropped, as the reference drops invalid input. It reads only the exported fields of req,
// so tests can call it with a Request they built. Parsing and signature checks run before
// the lock is taken.
func (s *Store) handle(req *rpc.Request, nodeID [32]byte) (o rpc.ReplyOptions, ok bool) {
	switch req.Command {
	case CmdFindPeer:
		return s.onFindPeer(req)
	case CmdLookup:
		return s.onLookup(req)
	case CmdAnnounce:
		return s.onAnnounce(req, nodeID)
	case CmdUnannounce:
		return s.onUnannounce(req, nodeID)
	case CmdMutablePut:
		return s.onMutablePut(req)
	case CmdMutableGet:
		return s.onMutableGet(req)
	case CmdImmutablePut:
		return s.onImmutablePut(req)
	case CmdImmutableGet:
		return s.onImmutableGet(req)
	}
	return rpc.ReplyOptions{}, false
}

// onFindPeer returns the forward's record: only servers announcing under their own key's
// hash are visible to FIND_PEER, topic records are not.
func (s *Store) onFindPeer(req *rpc.Request) (rpc.ReplyOptions, bool) {
	if !req.HasTarget {
		return rpc.ReplyOptions{}, false
	}
	s.mu.Lock()
	f, ok := s.forwards.Get(req.Target)
	s.mu.Unlock()
	if !ok {
		return replyValue(nil), true
	}
	return replyValue(f.record), true
}

// onLookup returns up to MaxLookupRecords topic records picked at random, plus the forward's
// record if there is one and room for it, and the topic's bump; no value when there is
// nothing.
func (s *Store) onLookup(req *rpc.Request) (rpc.ReplyOptions, bool) {
	if !req.HasTarget {
		return rpc.ReplyOptions{}, false
	}
	s.mu.Lock()
	recs := s.records.Random(req.Target, MaxLookupRecords, s.rand)
	bump, _ := s.bumps.Get(req.Target)
	f, ok := s.forwards.Get(req.Target)
	s.mu.Unlock()
	if ok && len(recs) < MaxLookupRecords {
		recs = append(recs, f.record)
	}
	if len(recs) == 0 {
		return replyValue(nil), true
	}
	size := compact.UintLen(uint64(len(recs))) + compact.UintLen(bump)
	for _, r := range recs {
		size += len(r)
	}
	return replyValue(AppendLookupReply(make([]byte, 0, size), recs, bump)), true
}

// onAnnounce stores a signed record: as the forward when the key announces under its own
// hash (announceSelf), as a topic record otherwise. A request with a refresh token and no
// peer revives the record an earlier announce left under that token's hash.
func (s *Store) onAnnounce(req *rpc.Request, nodeID [32]byte) (rpc.ReplyOptions, bool) {
	if !req.HasTarget || !req.HasToken || req.Value == nil {
		return rpc.ReplyOptions{}, false
	}
	ann, err := ParseAnnounce(req.Value)
	if err != nil {
		return rpc.ReplyOptions{}, false
	}
	if ann.Peer == nil {
		if ann.Refresh == nil {
			return rpc.ReplyOptions{}, false
		}
		return s.onRefresh(*ann.Refresh, req.From)
	}
	if !VerifyAnnounce(NSAnnounce, req.Target, nodeID, req.Token, &ann) {
		return rpc.ReplyOptions{}, false
	}

	p := *ann.Peer
	if len(p.RelayAddresses) > MaxRelayAddresses {
		p.RelayAddresses = p.RelayAddresses[:MaxRelayAddresses]
	}
	record, err := AppendPeer(make([]byte, 0, minPeerLen+len(p.RelayAddresses)*compact.IPv4AddrLen), &p)
	if err != nil {
		return rpc.ReplyOptions{}, false // cannot happen: decoded addresses are IPv4
	}
	self := Hash(p.PublicKey[:]) == req.Target
	bumpLimit := uint64(max(s.now().UnixMilli()+MaxBumpDrift.Milliseconds(), 0))

	s.mu.Lock()
	s.storeAnnounceLocked(req.Target, p.PublicKey, record, self, req.From)
	if !self {
		if cur, _ := s.bumps.Get(req.Target); ann.Bump > cur && ann.Bump <= bumpLimit {
			s.bumps.Set(req.Target, ann.Bump)
		}
	}
	if ann.Refresh != nil {
		s.refreshes.Set(*ann.Refresh, refreshEntry{target: req.Target, record: record, announceSelf: self})
	}
	s.mu.Unlock()
	return replyBare(), true
}

func (s *Store) storeAnnounceLocked(target, publicKey [32]byte, record []byte, self bool, from netip.AddrPort) {
	if self {
		s.forwards.Set(target, forward{relay: from, record: record})
		s.records.Remove(target, publicKey)
	} else {
		s.records.Add(target, publicKey, record)
	}
}

// onRefresh revives the record stored under Hash(token) and moves it to token, so the next
// refresh must reveal the next preimage of the chain. The revived record goes back under the
// target it was announced to, whatever the request's target.
func (s *Store) onRefresh(token [32]byte, from netip.AddrPort) (rpc.ReplyOptions, bool) {
	active := Hash(token[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.refreshes.Get(active)
	if !ok {
		return rpc.ReplyOptions{}, false
	}
	s.storeAnnounceLocked(r.target, [32]byte(r.record[:32]), r.record, r.announceSelf, from)
	s.refreshes.Delete(active)
	s.refreshes.Set(token, r)
	return replyBare(), true
}

// onUnannounce removes the signer's record; the signature is under NSUnannounce.
func (s *Store) onUnannounce(req *rpc.Request, nodeID [32]byte) (rpc.ReplyOptions, bool) {
	if !req.HasTarget || !req.HasToken || req.Value == nil {
		return rpc.ReplyOptions{}, false
	}
	ann, err := ParseAnnounce(req.Value)
	if err != nil || !VerifyAnnounce(NSUnannounce, req.Target, nodeID, req.Token, &ann) {
		return rpc.ReplyOptions{}, false
	}
	pk := ann.Peer.PublicKey
	self := Hash(pk[:]) == req.Target
	s.mu.Lock()
	s.unannounceLocked(req.Target, pk, self)
	s.mu.Unlock()
	return replyBare(), true
}

// onMutablePut stores a signed value under Hash(publicKey). A value already stored wins
// against a lower seq (SEQ_TOO_LOW) and against a different value at the same seq
// (SEQ_REUSED); the same value at the same seq is stored again.
func (s *Store) onMutablePut(req *rpc.Request) (rpc.ReplyOptions, bool) {
	if !req.HasTarget || !req.HasToken || req.Value == nil {
		return rpc.ReplyOptions{}, false
	}
	p, err := ParseMutablePut(req.Value)
	if err != nil || Hash(p.PublicKey[:]) != req.Target ||
		!VerifyMutable(p.PublicKey, p.Seq, p.Value, p.Signature) {
		return rpc.ReplyOptions{}, false
	}
	enc := AppendMutable(nil, &Mutable{Seq: p.Seq, Value: p.Value, Signature: p.Signature})

	s.mu.Lock()
	defer s.mu.Unlock()
	if local, ok := s.mutables.Get(req.Target); ok {
		old, err := ParseMutable(local)
		if err == nil {
			if old.Seq == p.Seq && string(old.Value) != string(p.Value) {
				return replyError(CodeSeqReused), true
			}
			if p.Seq < old.Seq {
				return replyError(CodeSeqTooLow), true
			}
		}
	}
	s.mutables.Set(req.Target, enc)
	return replyValue(nil), true
}

// onMutableGet returns the stored value if its seq is at least the one asked for.
func (s *Store) onMutableGet(req *rpc.Request) (rpc.ReplyOptions, bool) {
	if !req.HasTarget || req.Value == nil {
		return rpc.ReplyOptions{}, false
	}
	seq, _, err := compact.ParseUint(req.Value)
	if err != nil {
		return rpc.ReplyOptions{}, false
	}
	s.mu.Lock()
	local, ok := s.mutables.Get(req.Target)
	s.mu.Unlock()
	if !ok {
		return replyValue(nil), true
	}
	if have, _, err := compact.ParseUint(local); err != nil || have < seq {
		return replyValue(nil), true
	}
	return replyValue(local), true
}

// onImmutablePut stores a value under its hash.
func (s *Store) onImmutablePut(req *rpc.Request) (rpc.ReplyOptions, bool) {
	if !req.HasTarget || !req.HasToken || req.Value == nil || Hash(req.Value) != req.Target {
		return rpc.ReplyOptions{}, false
	}
	v := append(make([]byte, 0, len(req.Value)), req.Value...) // non-nil even when empty
	s.mu.Lock()
	s.immutables.Set(req.Target, v)
	s.mu.Unlock()
	return replyValue(nil), true
}

// onImmutableGet returns the stored value, which may be present and empty.
func (s *Store) onImmutableGet(req *rpc.Request) (rpc.ReplyOptions, bool) {
	if !req.HasTarget {
		return rpc.ReplyOptions{}, false
	}
	s.mu.Lock()
	v, ok := s.immutables.Get(req.Target)
	s.mu.Unlock()
	if !ok {
		return replyValue(nil), true
	}
	return replyValue(v), true
}
