package records

import (
	"errors"
	"fmt"

	"github.com/hyperlan/hyperlan/dht/compact"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

var (
	// ErrTooMany means a relay address list or a lookup reply holds more elements than the
	// decoder accepts (MaxDecodeRelayAddresses, MaxDecodeLookupPeers). It matches
	// compact.ErrTooLong as well.
	ErrTooMany = fmt.Errorf("records: too many elements: %w", compact.ErrTooLong)

	// ErrNoPeer means an announce to be signed carries no peer.
	ErrNoPeer = errors.New("records: announce has no peer")

	// ErrBadPrivateKey means a private key that is not a 64-byte Ed25519 key.
	ErrBadPrivateKey = errors.New("records: bad ed25519 private key")
)

// Wire errors of MUTABLE_PUT as a response carries them: errors.Is(resp.Err(), ErrSeqTooLow)
// works because rpc.Error matches by code.
var (
	ErrSeqReused error = &rpc.Error{Code: CodeSeqReused, Name: "seq reused"}
	ErrSeqTooLow error = &rpc.Error{Code: CodeSeqTooLow, Name: "seq too low"}
)
