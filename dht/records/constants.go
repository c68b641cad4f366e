package records

import "time"

// HyperDHT command numbers (hyperdht lib/constants.js COMMANDS). They travel with dht-rpc's
// internal flag clear, which is all that tells them apart from dht-rpc's own commands 0..4.
const (
	CmdPeerHandshake = 0
	CmdPeerHolepunch = 1
	CmdFindPeer      = 2
	CmdLookup        = 3
	CmdAnnounce      = 4
	CmdUnannounce    = 5
	CmdMutablePut    = 6
	CmdMutableGet    = 7
	CmdImmutablePut  = 8
	CmdImmutableGet  = 9
	CmdPlugin        = 10
)

// Application error codes a storing node puts in the dht-rpc error field (hyperdht
// lib/constants.js ERROR). They sit beside dht-rpc's own codes 1 and 2.
const (
	CodeSeqReused = 16 // MUTABLE_PUT: same seq, different value
	CodeSeqTooLow = 17 // MUTABLE_PUT: seq below the stored one
)

// Limits of a storing node (hyperdht lib/persistent.js and index.js defaultCacheOpts).
const (
	// MaxRelayAddresses is how many relay addresses a storing node keeps of an announced peer.
	MaxRelayAddresses = 3
	// MaxLookupRecords is how many topic records one LOOKUP reply carries at most.
	MaxLookupRecords = 20
	// MaxBumpDrift is how far past the storing node's clock an announce bump may lie.
	MaxBumpDrift = 60 * time.Second

	// DefaultMaxSize bounds each store's fresh generation (records, refreshes, bumps,
	// forwards); mutables and immutables get half of it.
	DefaultMaxSize = 65536
	// DefaultMaxAge is the age bound of records, refreshes, bumps and forwards.
	DefaultMaxAge = 20 * time.Minute
	// DefaultValueMaxAge is the age bound of mutable and immutable values when
	// StoreOptions.MaxAge is not set.
	DefaultValueMaxAge = 48 * time.Hour
	// DefaultMaxValueBytes bounds the value bytes each of the mutable and immutable stores
	// holds. The reference has no such bound; see StoreOptions.MaxValueBytes.
	DefaultMaxValueBytes = 32 << 20
)

// Decoder bounds. The reference accepts any count up to compact-encoding's array limit; these
// are far above what any reference peer sends (an announcer lists at most 3 relays, a storing
// node returns at most 20 records) and keep a hostile datagram from sizing large allocations.
const (
	// MaxDecodeRelayAddresses is the most relay addresses ParsePeer accepts in one peer.
	MaxDecodeRelayAddresses = 64
	// MaxDecodeLookupPeers is the most peers ParseLookupReply accepts in one reply.
	MaxDecodeLookupPeers = 256
)
