// Package udx implements UDX, the reliable transport over UDP that HyperDHT
// runs every connection on: ordered byte streams with half-close, unreliable
// messages sent on a stream, and one UDP socket shared by many streams and by
// the dht-rpc traffic of the node. It interoperates with libudx, the C core of
// the npm module udx-native, as pinned by udx-native 1.21.3 (the version
// hyperdht 6.34.0 installs). Behaviour that follows libudx names the function
// it matches, in src/udx.c, so the two can be read side by side.
//
// # Packets
//
// Every UDX packet is one UDP datagram: a fixed 20-byte header, then a body
// whose length is what is left of the datagram. There are no lengths,
// checksums or options. All integers are little-endian:
//
//	 0        1        2        3
//	+--------+--------+--------+--------+
//	|  0xFF  |  0x01  |  type  | doff   |  magic, version, type bits, data_offset
//	+--------+--------+--------+--------+
//	|                id                 |  the receiver's stream id
//	+-----------------------------------+
//	|               rwnd                |  the sender's receive window, in bytes
//	+-----------------------------------+
//	|                seq                |  packet sequence number
//	+-----------------------------------+
//	|                ack                |  cumulative ack: next seq expected
//	+-----------------------------------+
//	|  body: SACK blocks, or data_offset bytes of padding then the payload ...
//
// The id is the stream id chosen by the receiver: a sender writes its peer's
// id, never its own. seq numbers packets, not bytes: DATA and END packets
// consume one each, every other packet carries the sender's next unused seq
// without consuming it. ack is carried, and processed, in every packet but a
// HEARTBEAT, whose only effect is the ack it asks for. Sequence numbers wrap
// and are compared in serial arithmetic ([Seq.Less]).
//
// The type byte is a set of flags ([Type]), each tested on its own:
//
//	0x01 DATA       the payload is stream data at seq
//	0x02 END        the sender has finished writing; consumes a seq, may carry data
//	0x04 SACK       the body is selective-ack blocks (SACKBlock); only on pure acks
//	0x08 MESSAGE    the payload is an unreliable datagram; does not consume a seq
//	0x10 DESTROY    the sender aborts the stream
//	0x20 HEARTBEAT  asks the receiver for an ack (keepalive, zero-window probe)
//
// A type of 0 is a pure ack. Bits 0x40 and 0x80 are unused and ignored.
// data_offset is the number of bytes between the header and the payload;
// libudx sets it only on MTU probes, whose padding is zeros ([Payload]).
//
// # Sharing the socket
//
// A datagram is a UDX packet only if it is at least [HeaderSize] bytes long,
// its first byte is [Magic] and its second is [Version] ([IsUDX]); a different
// version byte makes it a plain datagram, not an error. A UDX packet belongs
// to the stream whose id is in bytes 4-7 ([PeekID]). A datagram that fails
// the test, or names a stream the receiving side does not know (or has
// closed), is handed on unchanged as a plain datagram, which is how dht-rpc
// messages (first byte 0x03 or 0x13) and holepunch probes share the port.
// Nobody answers a packet for an unknown stream.
package udx
