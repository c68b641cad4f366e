// Package compact implements the compact-encoding primitives that HyperDHT
// and dht-rpc put on the wire, byte for byte as the npm module
// compact-encoding 3.x (read at 3.5.2) writes and reads them.
//
// Every codec is a pure function over a byte slice: an AppendX function
// appends the encoding of a value to b and returns the extended slice, an XLen
// function (where the size depends on the value) reports how many bytes
// AppendX will add, and a ParseX function decodes one value from the start of
// b and returns it together with the number of bytes it used. Parse functions
// never panic on input and never read past len(b); on error they return zero
// values and n == 0. Bytes after the value are left alone, as the reference
// does. [Reader] chains Parse calls for message decoders.
//
// Integers are little-endian. The variable-length unsigned integer ("uint"),
// used for lengths, counts, flags and commands, has four forms:
//
//	value                     bytes  layout
//	0 .. 0xfc                 1      v
//	0xfd .. 0xffff            3      fd, uint16 LE
//	0x10000 .. 0xffffffff     5      fe, uint32 LE
//	0x100000000 .. 2^53-1     9      ff, uint64 LE
//
// Encoders always choose the shortest form. Decoders, like the reference,
// accept the longer forms too (fd 05 00 reads as 5), so encodings are not
// unique and decoded messages must not be compared as bytes. The reference
// works in JavaScript numbers and refuses 64-bit values above 2^53-1
// ([MaxSafeUint]); so do the decoders here, with [ErrOverflow].
//
// Signed integers are zig-zag mapped to the uint (0, -1, 1, -2 become 0, 1,
// 2, 3). Byte strings and UTF-8 strings are a uint length followed by the
// bytes; arrays are a uint count followed by the elements, with at most
// [MaxArrayLen] elements. Addresses follow the reference's ipv4Address,
// ipv6Address and ipAddress codecs:
//
//	ipv4Address  4 octets, port uint16 LE                   6 bytes
//	ipv6Address  16 octets (network order), port uint16 LE  18 bytes
//	ipAddress    family (4 or 6), the octets, port LE       7 or 19 bytes
//
// dht-rpc itself carries only ipv4Address: it is the 6-byte peer encoding that
// node ids are hashed from.
//
// Decoded byte slices ([ParseBuffer], [ParseFixed], [Reader.Buffer]) alias the
// input; callers that keep them past the life of the input buffer must copy.
package compact
