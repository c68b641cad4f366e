package secretstream

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// fuzzState is the state of the "messages" vector case.
func fuzzState(f *testing.F) State {
	v := testVectors(f).SecretStream[0]
	var s State
	s.Init((*[KeySize]byte)(v.Key), (*[HeaderSize]byte)(v.Header))
	return s
}

// FuzzPull: Pull of arbitrary bytes never panics; it fails without moving
// the state, or succeeds with a message of the right length, in place too.
func FuzzPull(f *testing.F) {
	for _, c := range testVectors(f).SecretStream {
		for _, op := range c.Ops {
			f.Add([]byte(op.Out), []byte(op.AD))
		}
	}
	f.Add([]byte{}, []byte{})
	start := fuzzState(f)
	f.Fuzz(func(t *testing.T, in, ad []byte) {
		s := start
		m, _, err := s.Pull(nil, in, ad)
		if err != nil {
			if s != start || m != nil {
				t.Fatalf("failed Pull changed the state or returned %x", m)
			}
			if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrShortMessage) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(m) != len(in)-Overhead {
			t.Fatalf("Pull of %d bytes gave %d", len(in), len(m))
		}
		s2 := start
		buf := bytes.Clone(in)
		m2, _, err := s2.Pull(buf[1:1], buf, ad)
		if err != nil || !bytes.Equal(m2, m) || s2 != s {
			t.Fatalf("in-place Pull differs: %v", err)
		}
	})
}

func FuzzParseFrame(f *testing.F) {
	for _, w := range testVectors(f).Session.Initiator.Wrote {
		f.Add([]byte(w.Data))
	}
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		body, n, err := ParseFrame(b)
		if err != nil {
			if !errors.Is(err, ErrTruncated) || n != 0 || body != nil {
				t.Fatalf("ParseFrame error %v with n %d", err, n)
			}
			return
		}
		if n != LengthSize+len(body) || n > len(b) || len(body) > MaxFrame || frameSize(b) != len(body) {
			t.Fatalf("ParseFrame = %d bytes, n %d, of %d", len(body), n, len(b))
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	first := testVectors(f).Session.Initiator.Wrote[0].Data
	f.Add([]byte(first[LengthSize:]))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, header, err := ParseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrHeaderSize) || len(b) == headerBody {
				t.Fatalf("ParseHeader(%d bytes): %v", len(b), err)
			}
			return
		}
		if !bytes.Equal(AppendHeader(nil, &id, &header)[LengthSize:], b) {
			t.Fatal("ParseHeader does not round-trip")
		}
	})
}

// FuzzOpenMessage: opening arbitrary envelopes never panics and accepts only
// what the key sealed.
func FuzzOpenMessage(f *testing.F) {
	boxes := testVectors(f).Boxes
	for _, b := range boxes {
		f.Add([]byte(b.Envelope))
	}
	f.Add([]byte{})
	key := (*[32]byte)(boxes[0].Key)
	f.Fuzz(func(t *testing.T, env []byte) {
		m, counter, err := OpenMessage(nil, env, key)
		if err != nil {
			if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrShortMessage) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !bytes.Equal(SealMessage(nil, counter, m, key), env) {
			t.Fatal("an envelope opened that does not seal back")
		}
	})
}

// FuzzConnInput feeds arbitrary bytes to a Conn as what the peer sent,
// after a valid header when withHeader is set. The Conn must not panic, and
// must end with io.EOF, io.ErrUnexpectedEOF or one of its protocol errors.
func FuzzConnInput(f *testing.F) {
	v := testVectors(f).Session
	var stream []byte
	for _, w := range v.Responder.Wrote {
		if w.Kind == "frame" {
			stream = append(stream, w.Data...)
		}
	}
	f.Add(stream, false)
	f.Add(stream[headerLen:], true)
	f.Add([]byte{17, 0, 0}, true)
	hs := noiseResult(v.Initiator, v.Hash, true)
	header := v.Responder.Wrote[0].Data
	f.Fuzz(func(t *testing.T, in []byte, withHeader bool) {
		raw, fake := newPipe(t, 1<<20)
		c, err := New(raw, &hs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			if withHeader {
				fake.Write(header)
			}
			fake.Write(in)
			fake.CloseWrite()
		}()
		_, err = io.Copy(io.Discard, c)
		switch {
		case err == nil, errors.Is(err, io.ErrUnexpectedEOF),
			errors.Is(err, ErrHeaderSize), errors.Is(err, ErrStreamID),
			errors.Is(err, ErrShortMessage), errors.Is(err, ErrDecrypt):
		default:
			t.Fatalf("Read ended with %v", err)
		}
	})
}
