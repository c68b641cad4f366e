package secretstream

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"sync"

	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/chacha20poly1305"
	//lint:ignore SA1019 secretstream needs raw Poly1305: its MAC input is not the AEAD layout (see State.Push).
	"golang.org/x/crypto/poly1305"
)

// Sizes of crypto_secretstream_xchacha20poly1305 (libsodium's
// crypto_secretstream_xchacha20poly1305_KEYBYTES, _HEADERBYTES, _ABYTES).
const (
	KeySize    = 32 // a stream key
	HeaderSize = 24 // the header the sender draws and the receiver initialises from
	Overhead   = 17 // added to every message: the encrypted tag byte and a 16-byte MAC
)

// Tag is the tag byte of a secretstream message. It is encrypted and
// authenticated with the message. Values other than the four below are
// carried unchanged; only the TagRekey bit has an effect on the state.
type Tag uint8

// Tags of crypto_secretstream_xchacha20poly1305.
const (
	TagMessage Tag = 0x00 // an ordinary message; the only tag secret-stream sends
	TagPush    Tag = 0x01 // end of a set of messages; no effect on the state
	TagRekey   Tag = 0x02 // derive a new key after this message
	TagFinal   Tag = 0x03 // TagPush|TagRekey: the last message
)

// State is one direction of a crypto_secretstream_xchacha20poly1305 stream:
// libsodium's state without its padding. The same type pushes (encrypts) and
// pulls (decrypts); each message moves it forward, so the two ends stay in
// step only while every message is pulled once and in order.
//
// The zero State is not usable: call [State.Init] or [State.InitPush] first.
// A State is a plain value that may be copied to save and restore a position.
// It is not safe for concurrent use.
type State struct {
	k     [32]byte // the subkey
	nonce [12]byte // the 32-bit counter (little-endian), then the 8-byte inonce
}

// InitPush initialises s for sending with key and a header drawn from
// crypto/rand, which it returns for the receiver.
func (s *State) InitPush(key *[KeySize]byte) (header [HeaderSize]byte) {
	rand.Read(header[:])
	s.Init(key, &header)
	return header
}

// Init initialises s from key and header. A receiver calls it with the
// sender's header (libsodium init_pull); a sender that chose its header itself
// calls it too, the state being the same (init_push).
func (s *State) Init(key *[KeySize]byte, header *[HeaderSize]byte) {
	k, _ := chacha20.HChaCha20(key[:], header[:16])
	copy(s.k[:], k)
	s.resetCounter()
	copy(s.nonce[4:], header[16:])
}

func (s *State) resetCounter() { binary.LittleEndian.PutUint32(s.nonce[:4], 1) }

// Rekey replaces the key and inonce with ones derived from them, as happens
// after a message tagged with TagRekey and when the counter wraps. Both ends
// must rekey at the same message.
func (s *State) Rekey() {
	var buf [40]byte
	copy(buf[:32], s.k[:])
	copy(buf[32:], s.nonce[4:])
	c, _ := chacha20.NewUnauthenticatedCipher(s.k[:], s.nonce[:])
	c.XORKeyStream(buf[:], buf[:])
	copy(s.k[:], buf[:32])
	copy(s.nonce[4:], buf[32:])
	s.resetCounter()
}

// advance moves s past a message whose MAC was mac and whose tag was tag.
func (s *State) advance(mac []byte, tag Tag) {
	subtle.XORBytes(s.nonce[4:], s.nonce[4:], mac[:8])
	n := binary.LittleEndian.Uint32(s.nonce[:4]) + 1
	binary.LittleEndian.PutUint32(s.nonce[:4], n)
	if tag&TagRekey != 0 || n == 0 {
		s.Rekey()
	}
}

// Push encrypts m with the associated data ad and tag, appends the result
// (len(m)+Overhead bytes: the encrypted tag, the ciphertext, the MAC) to dst
// and returns the extended slice. To encrypt in place, put m exactly where
// its ciphertext goes, one byte after the end of dst: m == dst[len(dst)+1 :
// len(dst)+1+len(m)] with the capacity for the rest. Any other overlap of m
// and the output is a bug (it panics, on the generic path).
func (s *State) Push(dst, m, ad []byte, tag Tag) []byte {
	if useFast(len(m)) {
		return s.pushFast(dst, m, ad, tag)
	}
	return s.pushGeneric(dst, m, ad, tag)
}

func (s *State) pushGeneric(dst, m, ad []byte, tag Tag) []byte {
	ret, out := grow(dst, len(m)+Overhead)
	var (
		cipher  chacha20.Cipher
		polyKey [32]byte
	)
	s.startCipher(&cipher, &polyKey)
	mac := poly1305.New(&polyKey)
	writeAD(mac, ad)
	out[0] = tagBlock(&cipher, mac, byte(tag), true)
	c := out[1 : 1+len(m)]
	cipher.XORKeyStream(c, m)
	mac.Write(c)
	finishMAC(mac, len(ad), len(m))
	mac.Sum(out[1+len(m) : 1+len(m)])
	s.advance(out[1+len(m):], tag)
	return ret
}

// pushPieces is Push with a TagMessage and no ad for a message too long to
// encrypt in one buffer. It fills buf, after the first head bytes that the
// caller has already written there, with the output, and hands it to emit
// each time it is full and once at the end: the first piece starts with the
// head bytes, the last one ends with the MAC. buf must have room for head+1
// bytes and the 16-byte MAC. The state moves only after the last emit has
// succeeded; an emit error stops pushPieces and is returned as it is.
func (s *State) pushPieces(buf []byte, head int, m []byte, emit func(piece []byte) error) error {
	if len(buf) < head+1+16 {
		panic("secretstream: internal error: pushPieces buffer too small")
	}
	var (
		cipher  chacha20.Cipher
		polyKey [32]byte
	)
	s.startCipher(&cipher, &polyKey)
	mac := poly1305.New(&polyKey)
	buf[head] = tagBlock(&cipher, mac, byte(TagMessage), true)
	n := head + 1
	for rest := m; len(rest) > 0; {
		if n == len(buf) {
			if err := emit(buf); err != nil {
				return err
			}
			n = 0
		}
		c := buf[n : n+min(len(rest), len(buf)-n)]
		cipher.XORKeyStream(c, rest[:len(c)])
		mac.Write(c)
		rest = rest[len(c):]
		n += len(c)
	}
	finishMAC(mac, 0, len(m))
	var sum [16]byte
	mac.Sum(sum[:0])
	if len(buf)-n < len(sum) {
		if err := emit(buf[:n]); err != nil {
			return err
		}
		n = 0
	}
	n += copy(buf[n:], sum[:])
	if err := emit(buf[:n]); err != nil {
		return err
	}
	s.advance(sum[:], TagMessage)
	return nil
}

// Pull checks and decrypts in (as made by Push), appends the message to dst
// and returns the extended slice and the message's tag. It fails with
// [ErrShortMessage] when in is shorter than Overhead and with [ErrDecrypt]
// when the MAC does not match (a forged, damaged, replayed or skipped
// message, or the wrong key or ad); then neither s nor dst's spare capacity
// has changed. To decrypt in place pass dst = in[1:1]; any other overlap of
// in and the output is a bug (it panics, on the generic path).
//
// Like libsodium, Pull accepts every tag value and leaves acting on TagFinal
// to the caller.
func (s *State) Pull(dst, in, ad []byte) ([]byte, Tag, error) {
	if len(in) >= Overhead && useFast(len(in)-Overhead) {
		return s.pullFast(dst, in, ad)
	}
	return s.pullGeneric(dst, in, ad)
}

func (s *State) pullGeneric(dst, in, ad []byte) ([]byte, Tag, error) {
	if len(in) < Overhead {
		return nil, 0, ErrShortMessage
	}
	mLen := len(in) - Overhead
	c, sum := in[1:1+mLen], in[1+mLen:]

	var (
		cipher  chacha20.Cipher
		polyKey [32]byte
	)
	s.startCipher(&cipher, &polyKey)
	mac := poly1305.New(&polyKey)
	writeAD(mac, ad)
	tag := Tag(tagBlock(&cipher, mac, in[0], false))
	mac.Write(c)
	finishMAC(mac, len(ad), mLen)
	if !mac.Verify(sum) {
		return nil, 0, ErrDecrypt
	}
	ret, out := grow(dst, mLen)
	cipher.XORKeyStream(out, c)
	s.advance(sum, tag)
	return ret, tag, nil
}

var zeros [16]byte

// startCipher sets cipher to s's key and nonce and consumes keystream block
// 0, whose first 32 bytes are the Poly1305 key. Callers make the MAC from
// the key themselves: created in a helper, it would escape to the heap, one
// allocation per message.
func (s *State) startCipher(cipher *chacha20.Cipher, polyKey *[32]byte) {
	c, _ := chacha20.NewUnauthenticatedCipher(s.k[:], s.nonce[:])
	*cipher = *c
	var block [64]byte
	cipher.XORKeyStream(block[:], block[:])
	copy(polyKey[:], block[:32])
}

// writeAD writes the associated data and its padding to a block boundary.
func writeAD(mac *poly1305.MAC, ad []byte) {
	mac.Write(ad)
	mac.Write(zeros[:(16-len(ad))&15])
}

// tagBlock handles keystream block 1, which carries the tag: the tag byte
// padded with zeros to 64 bytes is encrypted, and the MAC covers all 64
// bytes. When pushing, b is the tag and the encrypted tag is returned; when
// pulling, b is the encrypted tag as received and the tag is returned, the
// MAC covering the received byte.
func tagBlock(cipher *chacha20.Cipher, mac *poly1305.MAC, b byte, push bool) byte {
	var block [64]byte
	block[0] = b
	cipher.XORKeyStream(block[:], block[:])
	other := block[0]
	if !push {
		block[0] = b
	}
	mac.Write(block[:])
	return other
}

// finishMAC writes the padding after the ciphertext and the two lengths.
// libsodium pads by mLen mod 16 rather than to a block boundary of the
// 64-byte tag block plus the ciphertext (its source says so); that is the
// wire format now, and the reason an AEAD implementation cannot be reused.
func finishMAC(mac *poly1305.MAC, adLen, mLen int) {
	mac.Write(zeros[:mLen&15])
	var lens [16]byte
	binary.LittleEndian.PutUint64(lens[:8], uint64(adLen))
	binary.LittleEndian.PutUint64(lens[8:], 64+uint64(mLen))
	mac.Write(lens[:])
}

// grow extends b by n bytes, reallocating only when its capacity is short,
// and returns the whole slice and the n new bytes.
func grow(b []byte, n int) (whole, tail []byte) {
	total := len(b) + n
	if cap(b) >= total {
		whole = b[:total]
	} else {
		whole = make([]byte, total, total+total/4)
		copy(whole, b)
	}
	return whole, whole[len(b):]
}

// The fast path. A secretstream message is an IETF ChaCha20-Poly1305 AEAD
// message (RFC 8439: Poly1305 key from keystream block 0, encryption from
// block 1, MAC over ad, pad16, ciphertext, pad16, the two lengths) of the
// plaintext tag || 63 zero bytes || m under the state's key and 12-byte
// nonce, with ciphertext bytes 1..63 left out, except for one difference:
// libsodium pads the MAC input after the ciphertext with
// (0x10 - 64 + mLen) & 0xf = mLen mod 16 zeros (finishMAC), the AEAD to a
// block boundary of its 64+mLen bytes of ciphertext, -mLen mod 16 zeros.
// The two agree exactly when mLen mod 16 is 0 or 8, that is when mLen is a
// multiple of 8 (also the lengths, ad's and 64+mLen, agree); for those lengths Push and Pull can use
// x/crypto's chacha20poly1305, which has amd64 assembly (over three times
// the generic ChaCha20 that the rest of this file runs on). Open needs the
// 63 left-out bytes back: they are bytes 1..63 of keystream block 1, the
// ciphertext of the zeros, one ChaCha20 block. TestFastPathMatchesGeneric
// checks the two paths byte for byte.

// fastMax is the longest message the fast path takes, bounding the scratch
// buffer; Conn's bulk frames are at most 64 KiB. Longer messages take the
// generic path.
const fastMax = 64 << 10

func useFast(mLen int) bool {
	return fastArch && mLen&7 == 0 && mLen >= 64 && mLen <= fastMax
}

// fastAEAD is the fast path's AEAD, made for key, and its scratch buffer,
// where the AEAD's contiguous plaintext or ciphertext is laid out.
type fastAEAD struct {
	key   [32]byte
	nonce [12]byte // s.nonce, copied here: passed to the AEAD, it escapes
	aead  cipher.AEAD
	buf   []byte
}

// fastPool holds fastAEADs, kept out of State so that a State stays a small
// comparable value. A stream that runs alone gets back the entry with its own
// key, so its messages allocate nothing.
var fastPool = sync.Pool{New: func() any { return new(fastAEAD) }}

// fastBuffer returns a fastAEAD from the pool, which the caller puts back,
// with the AEAD for s's key (made again only when the key differs) and a
// scratch buffer of n bytes.
func (s *State) fastBuffer(n int) (f *fastAEAD, buf []byte) {
	f = fastPool.Get().(*fastAEAD)
	if f.aead == nil || f.key != s.k {
		f.key = s.k
		f.aead, _ = chacha20poly1305.New(s.k[:])
	}
	if cap(f.buf) < n {
		f.buf = make([]byte, min(max(n, 2*cap(f.buf), 4<<10), fastMax+64+16))
	}
	f.nonce = s.nonce
	return f, f.buf[:n]
}

// pushFast is Push for a length useFast accepts.
func (s *State) pushFast(dst, m, ad []byte, tag Tag) []byte {
	mLen := len(m)
	f, buf := s.fastBuffer(64 + mLen + 16)
	defer fastPool.Put(f)
	buf[0] = byte(tag)
	clear(buf[1:64])
	copy(buf[64:], m)
	sealed := f.aead.Seal(buf[:0], f.nonce[:], buf[:64+mLen], ad)
	ret, out := grow(dst, mLen+Overhead)
	out[0] = sealed[0]
	copy(out[1:], sealed[64:])
	s.advance(out[1+mLen:], tag)
	return ret
}

// pullFast is Pull for a length useFast accepts.
func (s *State) pullFast(dst, in, ad []byte) ([]byte, Tag, error) {
	mLen := len(in) - Overhead
	f, buf := s.fastBuffer(64 + mLen + 16)
	defer fastPool.Put(f)
	c, _ := chacha20.NewUnauthenticatedCipher(s.k[:], s.nonce[:])
	c.SetCounter(1)
	clear(buf[:64])
	c.XORKeyStream(buf[:64], buf[:64])
	buf[0] = in[0]
	copy(buf[64:], in[1:])
	var sum [16]byte
	copy(sum[:], in[1+mLen:])
	plain, err := f.aead.Open(buf[:0], f.nonce[:], buf, ad)
	if err != nil {
		return nil, 0, ErrDecrypt
	}
	ret, out := grow(dst, mLen)
	copy(out, plain[64:])
	tag := Tag(plain[0])
	s.advance(sum[:], tag)
	return ret, tag, nil
}
