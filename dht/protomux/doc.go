// Package protomux multiplexes protocol channels over one framed stream,
// wire-compatible with npm protomux 3.12 (index.js), which hyperdht uses
// to run blind-relay and other protocols on a connection. The frames are
// the stream's own (in hyperdht, secret-stream frames); protomux adds no
// length of its own.
//
// # Wire format
//
// Every field is a compact-encoding uint ([AppendUint]) unless said
// otherwise. A frame is one message:
//
//	channel | type | payload
//
// channel is the sender's own id for the channel, which the receiver maps
// to its side through the open messages; type numbers the channel's message
// types in the order both sides added them. Channel 0 carries control
// messages:
//
//	0 | 0 batch  | channel | len | body | len | body | 0 | channel | len | body ...
//	0 | 1 open   | channel | protocol (uint length, UTF-8) | id (uint length, 0: none) | handshake...
//	0 | 2 reject | channel (the receiver's id, of a channel it opened)
//	0 | 3 close  | channel (the sender's id)
//
// A batch body is a whole message without its channel (type, payload); a
// zero length switches the channel for the bodies that follow, and control
// messages may be batched on channel 0 too. The handshake is the rest of the
// open message, in an encoding the protocol picks. Empty frames are ignored.
//
// # Channels
//
// Each side numbers its channels from 1 and reuses freed numbers. A channel
// opens when both sides have sent open for the same protocol and id: the
// first open of a kind pairs with the peer's oldest waiting one. An open
// for which nothing waits goes to the [Mux.Pair] handler, and is rejected
// if that makes no channel. Either side's close closes both. Messages that
// arrive before a channel has opened locally are held, and reading stops
// while more than 32 KiB are held.
//
// A Mux runs three goroutines: a reader, a writer and a dispatcher that
// runs every callback. See [Mux] for the rules.
package protomux
