package records

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/hyperlan/hyperlan/dht/rpc"
)

// StoreOptions configure a Store. The zero value of every field means the documented default.
type StoreOptions struct {
	// MaxSize bounds the fresh generation of the records, refreshes, bumps and forwards
	// stores; the mutable and immutable stores get MaxSize/2. Each store holds at most twice
	// its bound. Zero means DefaultMaxSize.
	MaxSize int
	// MaxAge: an entry that is not refreshed lives between ⅔ and 4⁄3 of it. Zero means
	// DefaultMaxAge for records, refreshes, bumps and forwards and DefaultValueMaxAge for
	// mutable and immutable values; a non-zero MaxAge applies to all of them.
	MaxAge time.Duration
	// MaxValueBytes bounds the value bytes held by the mutable store and, separately, by the
	// immutable store (their fresh generation rotates at half of it). Zero means
	// DefaultMaxValueBytes. The reference has no such bound: with values up to a datagram in
	// size its count bound alone would allow gigabytes.
	MaxValueBytes int
	// Now is the clock, for expiry and the bump rule; nil means time.Now.
	Now func() time.Time
	// Rand(n) returns a random integer in [0, n) for picking LOOKUP records; nil means
	// math/rand/v2. It is called with the store's lock held.
	Rand func(n int) int
}

// Store is the storage side of a persistent HyperDHT node (hyperdht lib/persistent.js plus
// the forwards of lib/router.js): topic records, refresh chains, bumps, server forwards,
// mutable and immutable values, each bounded in size and age. Serve answers the storage
// commands from it.
//
// A Store is safe for concurrent use. Values passed in are copied; values handed out (reply
// values, Forward's record) are shared and must not be modified.
type Store struct {
	now  func() time.Time
	rand func(n int) int

	mu         sync.Mutex // guards the stores below
	records    *Records
	refreshes  *Cache[[32]byte, refreshEntry] // keyed by the refresh token that revives the entry
	bumps      *Cache[[32]byte, uint64]       // topic -> highest bump seen
	forwards   *Cache[[32]byte, forward]      // server target -> where it announced from
	mutables   *Cache[[32]byte, []byte]       // Hash(publicKey) -> Mutable encoding
	immutables *Cache[[32]byte, []byte]       // Hash(value) -> value
}

// forward is an announceSelf entry: a server announced under the hash of its own key.
type forward struct {
	relay  netip.AddrPort // the announce's source address; invalid for a retained forward
	record []byte         // the encoded Peer
}

// refreshEntry is what a refresh token revives: the announce it came with.
type refreshEntry struct {
	target       [32]byte
	record       []byte
	announceSelf bool
}

// StoreStats counts the entries of each store.
type StoreStats struct {
	Records, Refreshes, Bumps, Forwards, Mutables, Immutables int
}

// NewStore returns an empty Store.
func NewStore(opts StoreOptions) *Store {
	size := opts.MaxSize
	if size <= 0 {
		size = DefaultMaxSize
	}
	age, valueAge := opts.MaxAge, opts.MaxAge
	if age <= 0 {
		age, valueAge = DefaultMaxAge, DefaultValueMaxAge
	}
	valueBytes := opts.MaxValueBytes
	if valueBytes <= 0 {
		valueBytes = DefaultMaxValueBytes
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	rnd := opts.Rand
	if rnd == nil {
		rnd = rand.IntN
	}
	weigh := func(v []byte) int { return len(v) }
	return &Store{
		now:        now,
		rand:       rnd,
		records:    NewRecords(size, age, now),
		refreshes:  NewCache[[32]byte, refreshEntry](size, age, now),
		bumps:      NewCache[[32]byte, uint64](size, age, now),
		forwards:   NewCache[[32]byte, forward](size, age, now),
		mutables:   NewCache[[32]byte, []byte](size/2, valueAge, now).withWeight(valueBytes/2, weigh),
		immutables: NewCache[[32]byte, []byte](size/2, valueAge, now).withWeight(valueBytes/2, weigh),
	}
}

// Serve answers req if its command is one of the storage commands (FIND_PEER, LOOKUP,
// ANNOUNCE, UNANNOUNCE, MUTABLE_PUT, MUTABLE_GET, IMMUTABLE_PUT, IMMUTABLE_GET) and reports
// whether it was; it returns false for any other command and for internal requests. The
// reply follows the reference field for field (value, token, closer nodes, error code), and
// invalid input gets no reply at all, as there. nodeID is this node's current id, which
// announce signatures cover. Serve does not block.
func (s *Store) Serve(req *rpc.Request, nodeID [32]byte) bool {
	if req.Internal {
		return false
	}
	switch req.Command {
	case CmdFindPeer, CmdLookup, CmdAnnounce, CmdUnannounce,
		CmdMutablePut, CmdMutableGet, CmdImmutablePut, CmdImmutableGet:
	default:
		return false
	}
	if o, ok := s.handle(req, nodeID); ok {
		req.Respond(o)
	}
	return true
}

// Forward returns the relay address and record of the server that announced under target
// (its public key's hash), refreshing the entry. The relay is invalid for a forward set with
// RetainForward.
func (s *Store) Forward(target [32]byte) (relay netip.AddrPort, record []byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.forwards.Get(target)
	return f.relay, f.record, ok
}

// RetainForward installs a forward that never expires for a server this node runs itself,
// as the reference's server does when it listens: FIND_PEER and LOOKUP for target return
// record, and announces from elsewhere do not replace it. It lasts until Unannounce of the
// same key or ReleaseForward.
func (s *Store) RetainForward(target [32]byte, record []byte) {
	record = append([]byte(nil), record...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forwards.Retain(target, forward{record: record})
}

// ReleaseForward removes the forward for target, retained or not.
func (s *Store) ReleaseForward(target [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forwards.Delete(target)
}

// Unannounce removes publicKey's record under target, and the forward if target is the
// key's hash (the reference's local removal, also done by lookupAndUnannounce).
func (s *Store) Unannounce(target, publicKey [32]byte) {
	self := Hash(publicKey[:]) == target
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unannounceLocked(target, publicKey, self)
}

func (s *Store) unannounceLocked(target, publicKey [32]byte, self bool) {
	if self {
		s.forwards.Delete(target)
	}
	s.records.Remove(target, publicKey)
}

// Stats returns the number of entries in each store, expired generations dropped.
func (s *Store) Stats() StoreStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return StoreStats{
		Records:    s.records.Len(),
		Refreshes:  s.refreshes.Len(),
		Bumps:      s.bumps.Len(),
		Forwards:   s.forwards.Len(),
		Mutables:   s.mutables.Len(),
		Immutables: s.immutables.Len(),
	}
}
