package secretstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// stateBytes is the state as the vectors record it: k, counter, inonce.
func stateBytes(s *State) []byte {
	return append(s.k[:], s.nonce[:]...)
}

// vectorState returns the initial state of a vector case.
func vectorState(t *testing.T, key, header []byte, counter *uint32) State {
	t.Helper()
	if len(key) != KeySize || len(header) != HeaderSize {
		t.Fatalf("vector key %d bytes, header %d", len(key), len(header))
	}
	var s State
	s.Init((*[KeySize]byte)(key), (*[HeaderSize]byte)(header))
	if counter != nil {
		binary.LittleEndian.PutUint32(s.nonce[:4], *counter)
	}
	return s
}

// TestStateVectors pushes every libsodium vector and pulls it back, checking
// the output and the state after each step, on the push side and the pull
// side.
func TestStateVectors(t *testing.T) {
	v := testVectors(t)
	if len(v.SecretStream) == 0 {
		t.Fatal("no secretstream vectors")
	}
	for _, tc := range v.SecretStream {
		t.Run(tc.Name, func(t *testing.T) {
			push := vectorState(t, tc.Key, tc.Header, tc.Counter)
			pull := push
			if got := stateBytes(&push); !bytes.Equal(got, tc.Init) {
				t.Fatalf("state after init = %x, want %x", got, tc.Init)
			}
			for i, op := range tc.Ops {
				if op.Op == "rekey" {
					push.Rekey()
					pull.Rekey()
				} else {
					out := push.Push(nil, op.M, op.AD, op.Tag)
					if !bytes.Equal(out, op.Out) {
						t.Fatalf("op %d: Push(%x, ad %x, tag %#x) = %x, want %x", i, op.M, op.AD, op.Tag, out, op.Out)
					}
					m, tag, err := pull.Pull(nil, op.Out, op.AD)
					if err != nil || tag != op.Tag || !bytes.Equal(m, op.M) {
						t.Fatalf("op %d: Pull = %x, tag %#x, %v; want %x, tag %#x", i, m, tag, err, op.M, op.Tag)
					}
				}
				if got := stateBytes(&push); !bytes.Equal(got, op.State) {
					t.Fatalf("op %d (%s): push state %x, want %x", i, op.Op, got, op.State)
				}
				if got := stateBytes(&pull); !bytes.Equal(got, op.State) {
					t.Fatalf("op %d (%s): pull state %x, want %x", i, op.Op, got, op.State)
				}
			}
		})
	}
}

// TestPullRejects checks that Pull refuses every single-bit change, every
// truncation, a replay and a skipped message, leaving the state and the
// output buffer alone.
func TestPullRejects(t *testing.T) {
	var key [KeySize]byte
	key[0] = 1
	var push State
	header := push.InitPush(&key)
	var pull State
	pull.Init(&key, &header)

	msgs := [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte{7}, 100)}
	var outs [][]byte
	for _, m := range msgs {
		outs = append(outs, push.Push(nil, m, nil, TagMessage))
	}
	dst := make([]byte, 0, 256)
	for i := range dst[:cap(dst)] {
		dst[:cap(dst)][i] = 0xee
	}
	check := func(what string, in []byte, want error) {
		t.Helper()
		before := pull
		got, _, err := pull.Pull(dst, in, nil)
		if !errors.Is(err, want) || got != nil {
			t.Fatalf("%s: Pull = %x, %v; want %v", what, got, err, want)
		}
		if pull != before {
			t.Fatalf("%s: the state changed", what)
		}
		for _, b := range dst[:cap(dst)] {
			if b != 0xee {
				t.Fatalf("%s: dst's capacity was written", what)
			}
		}
	}
	// A skipped message does not authenticate.
	check("skipped first message", outs[1], ErrDecrypt)

	in := outs[0]
	for i := range in {
		for bit := range 8 {
			bad := bytes.Clone(in)
			bad[i] ^= 1 << bit
			check("bit flip", bad, ErrDecrypt)
		}
	}
	for n := range in {
		want := ErrDecrypt
		if n < Overhead {
			want = ErrShortMessage
		}
		check("truncated", in[:n], want)
	}
	if _, _, err := pull.Pull(nil, in, []byte("x")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("Pull with ad the push had not: %v", err)
	}
	if m, _, err := pull.Pull(nil, in, nil); err != nil || string(m) != "hello" {
		t.Fatalf("Pull after the failures = %q, %v", m, err)
	}
	check("replay", in, ErrDecrypt)
	for i, out := range outs[1:] {
		if m, _, err := pull.Pull(nil, out, nil); err != nil || !bytes.Equal(m, msgs[i+1]) {
			t.Fatalf("message %d: %x, %v", i+1, m, err)
		}
	}
}

// TestInPlace encrypts and decrypts in place as the framing does, and checks
// that appending to a non-empty dst keeps its prefix.
func TestInPlace(t *testing.T) {
	var key [KeySize]byte
	var a, b, ref State
	header := a.InitPush(&key)
	b.Init(&key, &header)
	ref.Init(&key, &header)
	for _, n := range []int{0, 1, 63, 64, 65, 1000} {
		m := bytes.Repeat([]byte{byte(n)}, n)
		want := ref.Push([]byte("prefix"), m, nil, TagMessage)

		buf := make([]byte, 6+Overhead+n)
		copy(buf, "prefix")
		copy(buf[7:], m)
		got := a.Push(buf[:6], buf[7:7+n], nil, TagMessage)
		if !bytes.Equal(got, want) || &got[0] != &buf[0] {
			t.Fatalf("in-place Push of %d bytes = %x, want %x", n, got, want)
		}
		body := got[6:]
		plain, _, err := b.Pull(body[1:1], body, nil)
		if err != nil || !bytes.Equal(plain, m) || (n > 0 && &plain[0] != &body[1]) {
			t.Fatalf("in-place Pull of %d bytes = %x, %v", n, plain, err)
		}
	}
}

// TestPushPieces checks that encrypting in pieces gives Push's bytes for
// every split, and that an emit error leaves the state alone.
func TestPushPieces(t *testing.T) {
	var key [KeySize]byte
	key[5] = 5
	var a, b State
	header := a.InitPush(&key)
	b.Init(&key, &header)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := rng.IntN(3000)
		head := rng.IntN(4)
		size := head + 1 + 16 + rng.IntN(200)
		m := make([]byte, n)
		for i := range m {
			m[i] = byte(rng.Uint32())
		}
		prefix := bytes.Repeat([]byte{0xaa}, head)
		want := b.Push(bytes.Clone(prefix), m, nil, TagMessage)

		buf := make([]byte, size)
		copy(buf, prefix)
		var got []byte
		if err := a.pushPieces(buf, head, m, func(p []byte) error {
			if len(p) == 0 || len(p) > size {
				t.Fatalf("piece of %d bytes with a buffer of %d", len(p), size)
			}
			got = append(got, p...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("pushPieces(%d bytes, buffer %d, head %d) differs from Push", n, size, head)
		}
		if a != b {
			t.Fatal("states differ after pushPieces")
		}
	}
	before := a
	boom := errors.New("boom")
	err := a.pushPieces(make([]byte, 40), 3, make([]byte, 100), func([]byte) error { return boom })
	if err != boom || a != before {
		t.Fatalf("pushPieces with a failing emit: %v, state changed %v", err, a != before)
	}
}

// TestRekeyAgreement checks that both sides stay in step across rekeys and
// the 32-bit counter wrap.
func TestRekeyAgreement(t *testing.T) {
	var key [KeySize]byte
	var a, b State
	header := a.InitPush(&key)
	b.Init(&key, &header)
	binary.LittleEndian.PutUint32(a.nonce[:4], 0xfffffffd)
	binary.LittleEndian.PutUint32(b.nonce[:4], 0xfffffffd)
	for i, tag := range []Tag{TagMessage, TagRekey, TagMessage, TagMessage, TagMessage, TagFinal, TagPush, TagMessage} {
		m := []byte{byte(i)}
		out := a.Push(nil, m, nil, tag)
		got, gotTag, err := b.Pull(nil, out, nil)
		if err != nil || gotTag != tag || !bytes.Equal(got, m) {
			t.Fatalf("message %d: %x, tag %#x, %v", i, got, gotTag, err)
		}
		if a != b {
			t.Fatalf("message %d: states differ", i)
		}
	}
}
