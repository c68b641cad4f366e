package secretstream

import (
	"fmt"
	"io"
	"testing"
)

var benchSizes = []int{64, 1 << 10, 64 << 10}

func BenchmarkPush(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var key [KeySize]byte
			var s State
			s.InitPush(&key)
			m := make([]byte, n)
			out := make([]byte, 0, n+Overhead)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				out = s.Push(out[:0], m, nil, TagMessage)
			}
		})
	}
}

func BenchmarkPull(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var key [KeySize]byte
			var push, pull State
			header := push.InitPush(&key)
			pull.Init(&key, &header)
			in := push.Push(nil, make([]byte, n), nil, TagMessage)
			out := make([]byte, 0, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				// Pull the same message from the same state each time: the
				// work is that of a fresh message.
				s := pull
				out, _, _ = s.Pull(out[:0], in, nil)
			}
		})
	}
}

// BenchmarkConnThroughput moves data through two Conns over an in-memory
// pipe, in writes of the given size: framing, encryption, decryption and
// the hand-over to the reader, both ends on this machine.
func BenchmarkConnThroughput(b *testing.B) {
	for _, n := range []int{1 << 10, 16 << 10, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ri, rr := newPipe(b, 4<<20)
			hi, hr := testResults()
			ci, err := New(ri, &hi, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer ci.Close()
			cr, err := New(rr, &hr, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer cr.Close()
			done := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, cr)
				done <- err
			}()
			buf := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ci.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			ci.CloseWrite()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

func BenchmarkSealMessage(b *testing.B) {
	var key [32]byte
	m := make([]byte, 1<<10)
	out := make([]byte, 0, len(m)+MessageOverhead)
	b.SetBytes(int64(len(m)))
	b.ReportAllocs()
	for i := range uint64(b.N) {
		out = SealMessage(out[:0], i, m, &key)
	}
}

func BenchmarkOpenMessage(b *testing.B) {
	var key [32]byte
	env := SealMessage(nil, 1, make([]byte, 1<<10), &key)
	out := make([]byte, 0, len(env))
	b.SetBytes(1 << 10)
	b.ReportAllocs()
	for b.Loop() {
		out, _, _ = OpenMessage(out[:0], env, &key)
	}
}

// hookStream is a raw stream whose datagrams go straight into a hook, on
// the sender's goroutine.
type hookStream struct {
	*pipeEnd
	peer *MessageHook
}

func (h hookStream) Send(b []byte) error { h.peer.Deliver(b); return nil }

// BenchmarkConnMessage is Send on one Conn through delivery on the other:
// sealing, opening, the replay window and the callback.
func BenchmarkConnMessage(b *testing.B) {
	ri, rr := newPipe(b, 1<<16)
	hi, hr := testResults()
	hook := new(MessageHook)
	ci, err := New(hookStream{ri, hook}, &hi, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer ci.Close()
	got := 0
	cr, err := New(rr, &hr, Options{Messages: hook, OnMessage: func([]byte) { got++ }})
	if err != nil {
		b.Fatal(err)
	}
	defer cr.Close()
	m := make([]byte, 1100)
	b.SetBytes(int64(len(m)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ci.Send(m); err != nil {
			b.Fatal(err)
		}
	}
	if got != b.N {
		b.Fatalf("delivered %d of %d", got, b.N)
	}
}
