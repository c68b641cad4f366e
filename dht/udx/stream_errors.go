package udx

import "errors"

// Errors of [Stream]. After a local Close or Destroy, blocking calls return
// [net.ErrClosed] instead.
var (
	// ErrReset means the peer destroyed the stream (a DESTROY packet whose seq
	// was not stale): libudx's ECONNRESET. Unread data is discarded.
	ErrReset = errors.New("udx: connection reset by peer")

	// ErrTimeout means a packet went unacknowledged through the whole RTO
	// schedule (six retransmissions, about 13 s at the 1 s RTO floor):
	// libudx's ETIMEDOUT. Nothing is sent to the peer.
	ErrTimeout = errors.New("udx: connection timed out")

	// ErrNotConnected is returned by Send and TrySend before Connect.
	ErrNotConnected = errors.New("udx: stream not connected")

	// ErrAlreadyConnected is returned by a second Connect (libudx EISCONN);
	// use ChangeRemote to move a connected stream.
	ErrAlreadyConnected = errors.New("udx: stream already connected")

	// ErrMessageTooLarge is returned by Send and TrySend for a message longer
	// than the stream's maximum payload: what fits an IP packet of the
	// confirmed MTU, at first MTUBase (1152 bytes towards IPv4, 1132 towards
	// IPv6).
	ErrMessageTooLarge = errors.New("udx: message larger than the maximum payload")

	// ErrStreamIDTaken is returned by NewStream when the instance already has
	// a stream with that id.
	ErrStreamIDTaken = errors.New("udx: stream id in use")

	// ErrRelaying is returned by a second RelayTo (libudx EINVAL).
	ErrRelaying = errors.New("udx: stream already relays")

	// ErrWriteAfterEnd is returned by Write after CloseWrite.
	ErrWriteAfterEnd = errors.New("udx: write after CloseWrite")
)
