package noise

import (
	"bytes"
	"errors"
	"testing"
)

// transcript is a deterministic handshake of pattern p: fixed static and
// ephemeral keys and payloads, so that every run sends the same bytes.
type transcript struct {
	p        Pattern
	messages [][]byte
}

var transcriptPayloads = [][]byte{[]byte("first"), {}, bytes.Repeat([]byte{7}, 40)}

func newTranscript(t testing.TB, p Pattern) transcript {
	t.Helper()
	ini, res := fixedPair(t, p)
	tr := transcript{p: p}
	from, to := ini, res
	for i := range p.messages() {
		msg, err := from.Send(transcriptPayloads[i])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := to.Recv(msg); err != nil {
			t.Fatal(err)
		}
		tr.messages = append(tr.messages, msg)
		from, to = to, from
	}
	return tr
}

// fixedPair starts both sides of p with fixed static and ephemeral keys.
func fixedPair(t testing.TB, p Pattern) (ini, res *Handshake) {
	t.Helper()
	ini, res = pair(t, p, []byte("fuzz"))
	if err := ini.SetEphemeral([32]byte{3}); err != nil {
		t.Fatal(err)
	}
	if err := res.SetEphemeral([32]byte{4}); err != nil {
		t.Fatal(err)
	}
	return ini, res
}

// receiver returns the side that receives message k (0-based), with the
// messages before it exchanged.
func (tr transcript) receiver(t testing.TB, k int) *Handshake {
	t.Helper()
	ini, res := fixedPair(t, tr.p)
	h := ini
	if k%2 == 0 {
		h = res
	}
	for i, msg := range tr.messages[:k] {
		var err error
		if h.ShouldSend() {
			var sent []byte
			if sent, err = h.Send(transcriptPayloads[i]); err == nil && !bytes.Equal(sent, msg) {
				t.Fatalf("message %d is not deterministic", i+1)
			}
		} else {
			_, err = h.Recv(msg)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// fuzzRecv feeds arbitrary bytes as message k of pattern p. Recv must not
// panic; it accepts or refuses with one of the package's errors; a payload
// it accepts is the message minus the keys and tag; and after a size error
// the handshake still takes the real message.
func fuzzRecv(f *testing.F, p Pattern, k int) {
	tr := newTranscript(f, p)
	valid := tr.messages[k]
	f.Add(valid)
	f.Add([]byte{})
	f.Add(valid[:len(valid)-1])
	f.Add(append(bytes.Clone(valid), 0))
	flipped := bytes.Clone(valid)
	flipped[0] ^= 1
	f.Add(flipped)
	l := p.messages()[k]
	f.Fuzz(func(t *testing.T, msg []byte) {
		h := tr.receiver(t, k)
		payload, err := h.Recv(msg)
		if err == nil {
			overhead := l.prefix
			if l.keyed {
				overhead += tagSize
			}
			if len(payload) != len(msg)-overhead {
				t.Fatalf("payload of %d bytes from a message of %d", len(payload), len(msg))
			}
			if h.Complete() != (k == len(tr.messages)-1) {
				t.Fatalf("Complete() = %v after message %d", h.Complete(), k+1)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || !(errors.Is(err, ErrMessageSize) || errors.Is(err, ErrDecrypt) || errors.Is(err, ErrInvalidKey)) {
			t.Fatalf("unexpected error %v", err)
		}
		if errors.Is(err, ErrMessageSize) {
			if _, err := h.Recv(valid); err != nil {
				t.Fatalf("after a size error, the real message: %v", err)
			}
		} else if _, err := h.Recv(valid); !errors.Is(err, ErrState) {
			t.Fatalf("after a failure, Recv: %v", err)
		}
	})
}

func FuzzRecvIK1(f *testing.F) { fuzzRecv(f, IK, 0) }
func FuzzRecvIK2(f *testing.F) { fuzzRecv(f, IK, 1) }
func FuzzRecvXX1(f *testing.F) { fuzzRecv(f, XX, 0) }
func FuzzRecvXX2(f *testing.F) { fuzzRecv(f, XX, 1) }
func FuzzRecvXX3(f *testing.F) { fuzzRecv(f, XX, 2) }
