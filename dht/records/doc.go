// Package records implements the HyperDHT storage layer above dht-rpc: the record messages
// and their signatures, and the bounded stores a persistent node answers the storage
// commands from. It matches npm hyperdht 6.34 (interop/node_modules/hyperdht): the codecs of
// lib/messages.js, the namespaces of lib/constants.js, the signing and the request handling
// of lib/persistent.js, the client-side signing of index.js, and the two-generation caches of
// the record-cache and xache modules.
//
// # Messages
//
// Integers are compact-encoding uints, buffer is a uint length and the bytes, ipv4Address is
// 4 octets and a little-endian port (see package compact):
//
//	peer                publicKey:32  relayAddresses:array(ipv4Address)
//	announce            flags:uint  [peer]  [refresh:32]  [signature:64]  [bump:uint]
//	                    flags: 1 peer, 2 refresh, 4 signature, 8 bump (bump written only if non-zero)
//	lookupRawReply      count:uint  peer...  bump:uint   (stored peer encodings back to back;
//	                    a missing bump reads as 0)
//	mutablePutRequest   publicKey:32  seq:uint  value:buffer  signature:64
//	mutableGetResponse  seq:uint  value:buffer  signature:64   (also the stored form)
//
// # Signatures
//
// All are Ed25519 over 64 bytes, a namespace and a BLAKE2b-256 hash:
//
//	announce, unannounce  NS ‖ H(target ‖ storing node id ‖ its token ‖ peer ‖ refresh?)
//	mutable               NSMutablePut ‖ H(seq:uint ‖ value:buffer)
//
// where NS[cmd] = H(H("hyperswarm/dht") ‖ byte(cmd)). An announce signature is bound to one
// storing node, so an announcer signs again for every node it stores on. Verification
// follows libsodium's rules, stricter than crypto/ed25519's (no small-order keys).
//
// # Serving
//
// [Store.Serve] answers FIND_PEER, LOOKUP, ANNOUNCE, UNANNOUNCE, MUTABLE_PUT, MUTABLE_GET,
// IMMUTABLE_PUT and IMMUTABLE_GET as lib/persistent.js does. Replies take one of three
// shapes: a value (or none) with a token and closer nodes; a bare reply with neither
// (ANNOUNCE, UNANNOUNCE); or an error code with closer nodes (MUTABLE_PUT's
// [CodeSeqReused], [CodeSeqTooLow]). A request that lacks a needed target, token or value, or
// that fails to decode or verify, gets no reply at all: the sender times out.
//
// # Stores
//
// Every store keeps two generations, like xache ([Cache]) and record-cache ([Records]): the
// fresh generation rotates into the stale one when it fills up or every ⌈⅔·maxAge⌉, and the
// stale one is then dropped. A store thus holds at most twice its size bound, and an entry
// not refreshed lives between ⅔ and 4⁄3 of maxAge. Rotation happens lazily on use; no store
// runs a goroutine.
package records
