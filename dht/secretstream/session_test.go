package secretstream

import (
	"bytes"
	"sync"
	"testing"

	"github.com/hyperlan/hyperlan/dht/noise"
)

// TestSessionTranscript runs each side of the reference's session transcript
// (testdata/gen.js: two NoiseSecretStreams with the header and message seed
// fixed) as a Conn against a fake peer: with the same header and seed, the
// Conn must write the same bytes for the same calls, and read what the
// reference's peer wrote.
func TestSessionTranscript(t *testing.T) {
	v := testVectors(t).Session
	for _, side := range []string{"initiator", "responder"} {
		t.Run(side, func(t *testing.T) {
			me, peer, other := v.Initiator, v.Responder, "responder"
			if side == "responder" {
				me, peer, other = v.Responder, v.Initiator, "initiator"
			}
			hs := noiseResult(me, v.Hash, side == "initiator")
			raw, fake := newPipe(t, 1<<20)
			var mu sync.Mutex
			var sent [][]byte
			fake.onMessage = func(b []byte) {
				mu.Lock()
				sent = append(sent, b)
				mu.Unlock()
			}
			var received [][]byte
			gotMessage := make(chan struct{}, 8)
			hook := new(MessageHook)
			c, err := New(raw, &hs, Options{
				Messages:  hook,
				OnMessage: func(b []byte) { received = append(received, bytes.Clone(b)); gotMessage <- struct{}{} },
				rand:      bytes.NewReader(append(bytes.Clone(me.Header), me.Seed...)),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			// What the reference's peer received from this side is what this
			// side was asked to write and send.
			for _, p := range v.Received[other].Data {
				if err := c.WriteFrame(p); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range v.Received[other].Messages {
				if err := c.Send(m); err != nil {
					t.Fatal(err)
				}
			}
			var wantFrames, wantSent [][]byte
			for _, w := range me.Wrote {
				if w.Kind == "frame" {
					wantFrames = append(wantFrames, w.Data)
				} else {
					wantSent = append(wantSent, w.Data)
				}
			}
			for i, want := range wantFrames {
				got := make([]byte, len(want))
				if _, err := readFull(fake, got); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("frame %d = %x, want %x", i, got, want)
				}
			}
			waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sent) == len(wantSent) })
			for i := range wantSent {
				if !bytes.Equal(sent[i], wantSent[i]) {
					t.Fatalf("message %d = %x, want %x", i, sent[i], wantSent[i])
				}
			}

			// Now the reference peer's bytes go the other way.
			for _, w := range peer.Wrote {
				if w.Kind == "frame" {
					if _, err := fake.Write(w.Data); err != nil {
						t.Fatal(err)
					}
				} else {
					hook.Deliver(w.Data)
					<-gotMessage
				}
			}
			for i, want := range v.Received[side].Data {
				got, err := c.ReadFrame()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("frame %d read %x, %v; want %x", i, got, err, want)
				}
			}
			want := v.Received[side].Messages
			if len(received) != len(want) {
				t.Fatalf("received %d messages, want %d", len(received), len(want))
			}
			for i := range want {
				if !bytes.Equal(received[i], want[i]) {
					t.Fatalf("message %d = %x, want %x", i, received[i], want[i])
				}
			}
		})
	}
}

func readFull(r *pipeEnd, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := r.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// noiseResult is the handshake result of one side of the transcript.
func noiseResult(side sessionSide, hash []byte, initiator bool) noise.Result {
	return noise.Result{
		Initiator: initiator,
		Hash:      [HashSize]byte(hash),
		Tx:        [32]byte(side.Tx),
		Rx:        [32]byte(side.Rx),
		PublicKey: [32]byte(side.PublicKey),
	}
}
