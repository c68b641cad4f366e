package records

import (
	"fmt"
	"time"
)

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

// Firewall is how a peer describes its reachability in noise and holepunch payloads
// (hyperdht lib/constants.js FIREWALL). The reference orders them: RANDOM and above is
// treated as random.
type Firewall uint64

const (
	FirewallUnknown    Firewall = 0 // not known yet, or behind a NAT whose kind is not known
	FirewallOpen       Firewall = 1 // reachable at its public address without punching
	FirewallConsistent Firewall = 2 // NAT maps one port to every destination
	FirewallRandom     Firewall = 3 // NAT maps a new port per destination
)

var firewallNames = [...]string{
	FirewallUnknown:    "unknown",
	FirewallOpen:       "open",
	FirewallConsistent: "consistent",
	FirewallRandom:     "random",
}

func (f Firewall) String() string { return enumString(firewallNames[:], "firewall", uint64(f)) }

// ConnError is the error code of a noise or holepunch payload (the connection half of hyperdht
// lib/constants.js ERROR). The storage codes CodeSeqReused and CodeSeqTooLow travel in the
// dht-rpc error field instead. The reference's user-facing errors (lib/errors.js) are string
// codes that never go on the wire.
type ConnError uint64

const (
	ConnErrorNone            ConnError = 0
	ConnErrorAborted         ConnError = 1 // the sender gives up (a server: the handshake had no udx info)
	ConnErrorVersionMismatch ConnError = 2 // a server: the noise payload version was not NoisePayloadVersion
	ConnErrorTryLater        ConnError = 3 // a server: too many random-NAT punches at once; not fatal with a blind relay
)

var connErrorNames = [...]string{
	ConnErrorNone:            "none",
	ConnErrorAborted:         "aborted",
	ConnErrorVersionMismatch: "version mismatch",
	ConnErrorTryLater:        "try later",
}

func (e ConnError) String() string { return enumString(connErrorNames[:], "error", uint64(e)) }

// Mode says which hop sent a PEER_HANDSHAKE or PEER_HOLEPUNCH value (hyperdht lib/router.js).
// A router drops values whose mode it does not expect.
type Mode uint64

const (
	ModeFromClient      Mode = 0 // client to a relay, or straight to the server
	ModeFromServer      Mode = 1 // server back to the relay that forwarded the request
	ModeFromRelay       Mode = 2 // relay to the server, carrying the client's address
	ModeFromSecondRelay Mode = 3 // a relay to the server through a second relay (handshake only)
	ModeReply           Mode = 4 // the response the client receives
)

var modeNames = [...]string{
	ModeFromClient:      "from client",
	ModeFromServer:      "from server",
	ModeFromRelay:       "from relay",
	ModeFromSecondRelay: "from second relay",
	ModeReply:           "reply",
}

func (m Mode) String() string { return enumString(modeNames[:], "mode", uint64(m)) }

// enumString returns the name of v, or kind(v) for a value without one.
func enumString(names []string, kind string, v uint64) string {
	if v < uint64(len(names)) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", kind, v)
}

// NoisePayloadVersion is the version the encoders write in a noise payload and in its udx,
// secretStream and relayThrough parts (hyperdht lib/messages.js). Only the top-level version is
// acted on: ParseNoisePayload reads nothing after another one.
const NoisePayloadVersion = 1
