package blindrelay

import (
	"errors"

	"github.com/hyperlan/hyperlan/dht/protomux"
)

var (
	// ErrTruncated means a message ended before its fields did. It is
	// protomux's, so that a channel ends with the same error either way.
	ErrTruncated = protomux.ErrTruncated

	// ErrChannelClosed means the blind-relay channel closed (the
	// reference's CHANNEL_CLOSED): the connection to the relay ended, or
	// either side closed the channel.
	ErrChannelClosed = errors.New("blind-relay: channel closed")

	// ErrAlreadyPairing is returned by [Client.Pair] for a token that is
	// being paired already on this client (ALREADY_PAIRING).
	ErrAlreadyPairing = errors.New("blind-relay: already pairing")

	// ErrPairingCancelled is returned by a [Client.Pair] that
	// [Client.Unpair] cancelled (PAIRING_CANCELLED).
	ErrPairingCancelled = errors.New("blind-relay: pairing cancelled")

	// ErrBadStreamID means the relay answered with a stream id that is not
	// a UDX id (above 2^32-1).
	ErrBadStreamID = errors.New("blind-relay: relay sent an invalid stream id")

	// ErrServerClosed is returned by [Server.Accept] after [Server.Close].
	ErrServerClosed = errors.New("blind-relay: server closed")
)
