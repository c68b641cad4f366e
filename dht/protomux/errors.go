package protomux

import (
	"errors"
	"net"
)

var (
	// ErrTruncated means a field ran past the end of its frame (the
	// reference's "Out of bounds"). A frame that fails to parse ends the Mux.
	ErrTruncated = errors.New("protomux: truncated message")

	// ErrProtocol means the peer broke the protocol: it opened a channel
	// under an id that is in use or out of sequence, rejected a channel
	// nobody opened, or nested batches. It ends the Mux.
	ErrProtocol = errors.New("protomux: protocol violation")

	// ErrDuplicateChannel is returned by [Mux.CreateChannel] when a channel
	// of the same protocol and id is already open and
	// [ChannelOptions.Multiple] is not set (the reference returns null).
	ErrDuplicateChannel = errors.New("protomux: channel already open")

	// ErrNotOpen is returned when sending on a channel before [Channel.Open].
	ErrNotOpen = errors.New("protomux: channel not opened yet")

	// ErrAlreadyOpen is returned by a second [Channel.Open].
	ErrAlreadyOpen = errors.New("protomux: channel already opened")

	// ErrChannelClosed is returned when using a channel that either side
	// closed, and is a closed channel's [Channel.Err].
	ErrChannelClosed = errors.New("protomux: channel closed")

	// ErrRejected is the [Channel.Err] of a channel the peer refused: it had
	// no channel of that protocol and id and none was made for it.
	ErrRejected = errors.New("protomux: channel rejected by the peer")

	// ErrFrameTooLarge is returned when a message would not fit in one frame
	// ([Options.MaxFrame]); nothing is sent.
	ErrFrameTooLarge = errors.New("protomux: message too large for a frame")

	// ErrClosed is returned by calls on a Mux that has ended.
	ErrClosed = net.ErrClosed
)
