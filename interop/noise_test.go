package interop_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/noise"
	"github.com/hyperlan/hyperlan/interop"
)

// party is one side of a live handshake: Go or JS.
type party interface {
	send(payload []byte) ([]byte, error)
	recv(msg []byte) ([]byte, error)
}

type goParty struct{ h *noise.Handshake }

func (g goParty) send(p []byte) ([]byte, error) { return g.h.Send(p) }
func (g goParty) recv(m []byte) ([]byte, error) { return g.h.Recv(m) }

type jsParty struct {
	ctx context.Context
	s   *interop.NoiseSession
}

func (j jsParty) send(p []byte) ([]byte, error) {
	msg, _, err := j.s.Send(j.ctx, p)
	return msg, err
}

func (j jsParty) recv(m []byte) ([]byte, error) {
	r, err := j.s.Recv(j.ctx, m)
	return r.Payload, err
}

// liveSetup is one live handshake between a Go side and a JS side with
// random static keys; goInitiator picks the roles.
type liveSetup struct {
	pattern     noise.Pattern
	goInitiator bool
	gh          *noise.Handshake
	js          *interop.NoiseSession
	ini, res    party
}

func newLive(t *testing.T, ctx context.Context, js *interop.NoiseNode, p noise.Pattern, goInitiator bool) *liveSetup {
	t.Helper()
	_, goKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var prologue []byte // XX: none, as secret-stream
	if p == noise.IK {
		prologue = noise.PeerHandshakePrologue[:] // the JS side uses hyperdht's own NS.PEER_HANDSHAKE
	}
	l := &liveSetup{pattern: p, goInitiator: goInitiator}
	opts := interop.NoiseOptions{Pattern: p.String(), Initiator: !goInitiator}
	if goInitiator {
		if l.js, err = js.New(ctx, opts); err != nil {
			t.Fatal(err)
		}
		var remote []byte
		if p == noise.IK {
			remote = l.js.PublicKey[:]
		}
		l.gh, err = noise.NewInitiator(p, goKey, remote, prologue)
	} else {
		if p == noise.IK {
			opts.RemotePublicKey = goKey[32:]
		}
		if l.js, err = js.New(ctx, opts); err != nil {
			t.Fatal(err)
		}
		l.gh, err = noise.NewResponder(p, goKey, nil, prologue)
	}
	if err != nil {
		t.Fatal(err)
	}
	l.ini, l.res = party(goParty{l.gh}), party(jsParty{ctx, l.js})
	if !goInitiator {
		l.ini, l.res = l.res, l.ini
	}
	return l
}

func (l *liveSetup) String() string {
	if l.goInitiator {
		return fmt.Sprintf("%v Go initiator, JS responder", l.pattern)
	}
	return fmt.Sprintf("%v JS initiator, Go responder", l.pattern)
}

func (l *liveSetup) messages() int {
	if l.pattern == noise.IK {
		return 2
	}
	return 3
}

// checkAgree compares the two completed sides.
func checkAgree(t *testing.T, ctx context.Context, name string, gh *noise.Handshake, js *interop.NoiseSession) {
	t.Helper()
	g, err := gh.Result()
	if err != nil {
		t.Fatalf("%s: Go side: %v", name, err)
	}
	j, err := js.Result(ctx)
	if err != nil {
		t.Fatalf("%s: JS side: %v", name, err)
	}
	if g.Tx != j.Rx || g.Rx != j.Tx {
		t.Errorf("%s: keys do not cross: Go tx %x rx %x, JS tx %x rx %x", name, g.Tx, g.Rx, j.Tx, j.Rx)
	}
	if g.Hash != j.Hash {
		t.Errorf("%s: hash: Go %x, JS %x", name, g.Hash, j.Hash)
	}
	if g.RemotePublicKey != j.PublicKey || j.RemotePublicKey != g.PublicKey {
		t.Errorf("%s: static keys do not cross", name)
	}
}

func randomPayload(r *mrand.Rand) []byte {
	p := make([]byte, r.IntN(200))
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// TestNoiseLive completes IK (with hyperdht's prologue on the JS side) and
// XX between Go and the reference, each side in each role, with random keys
// and payloads, and checks that they agree on the keys and the hash.
func TestNoiseLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	js := interop.StartNoise(t)
	r := mrand.New(mrand.NewPCG(mrand.Uint64(), 0))
	for _, p := range []noise.Pattern{noise.IK, noise.XX} {
		for _, goInitiator := range []bool{true, false} {
			for range 3 {
				l := newLive(t, ctx, js, p, goInitiator)
				from, to := l.ini, l.res
				for i := range l.messages() {
					payload := randomPayload(r)
					msg, err := from.send(payload)
					if err != nil {
						t.Fatalf("%v: message %d send: %v", l, i+1, err)
					}
					got, err := to.recv(msg)
					if err != nil {
						t.Fatalf("%v: message %d recv: %v", l, i+1, err)
					}
					if !bytes.Equal(got, payload) {
						t.Fatalf("%v: message %d: payload %x, want %x", l, i+1, got, payload)
					}
					from, to = to, from
				}
				checkAgree(t, ctx, l.String(), l.gh, l.js)
			}
		}
	}
}

// TestNoiseLiveSecretStream runs XX against @hyperswarm/secret-stream's own
// handshake class, which answers each message with its next one.
func TestNoiseLiveSecretStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	js := interop.StartNoise(t)
	_, goKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// JS initiator, Go responder.
	s, err := js.New(ctx, interop.NoiseOptions{Pattern: "XX", Initiator: true, SecretStream: true})
	if err != nil {
		t.Fatal(err)
	}
	gh, err := noise.NewResponder(noise.XX, goKey, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	m1, _, err := s.Send(ctx, nil)
	must(gh.Recv(must(m1, err)))
	r, err := s.Recv(ctx, must(gh.Send(nil)))
	if err != nil || r.Reply == nil || !r.Complete {
		t.Fatalf("secret-stream initiator on message 2: %+v, %v", r, err)
	}
	must(gh.Recv(r.Reply))
	checkAgree(t, ctx, "secret-stream initiator", gh, s)

	// Go initiator, JS responder.
	s, err = js.New(ctx, interop.NoiseOptions{Pattern: "XX", SecretStream: true})
	if err != nil {
		t.Fatal(err)
	}
	if gh, err = noise.NewInitiator(noise.XX, goKey, nil, nil); err != nil {
		t.Fatal(err)
	}
	r, err = s.Recv(ctx, must(gh.Send(nil)))
	if err != nil || r.Reply == nil || r.Complete {
		t.Fatalf("secret-stream responder on message 1: %+v, %v", r, err)
	}
	must(gh.Recv(r.Reply))
	if r, err = s.Recv(ctx, must(gh.Send(nil))); err != nil || !r.Complete {
		t.Fatalf("secret-stream responder on message 3: %+v, %v", r, err)
	}
	checkAgree(t, ctx, "secret-stream responder", gh, s)
}

// TestNoiseLiveTampered flips the last byte of each message in turn, in
// both roles: the receiver refuses it as a decryption failure, Go and JS
// alike. XX message 1 is not encrypted, so its receiver takes the altered
// payload; the initiator then refuses message 2, whose key the altered
// transcript changed.
func TestNoiseLiveTampered(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	js := interop.StartNoise(t)
	for _, p := range []noise.Pattern{noise.IK, noise.XX} {
		for _, goInitiator := range []bool{true, false} {
			for bad := range map[noise.Pattern]int{noise.IK: 2, noise.XX: 3}[p] {
				l := newLive(t, ctx, js, p, goInitiator)
				name := fmt.Sprintf("%v, message %d altered", l, bad+1)
				from, to := l.ini, l.res
				var err error
				i := 0
				for ; i < l.messages() && err == nil; i++ {
					var msg []byte
					if msg, err = from.send([]byte("payload")); err != nil {
						t.Fatalf("%s: message %d send: %v", name, i+1, err)
					}
					if i == bad {
						msg[len(msg)-1] ^= 1
					}
					_, err = to.recv(msg)
					from, to = to, from
				}
				want := bad + 1
				if p == noise.XX && bad == 0 {
					want = 2
				}
				if i != want || !isDecryptError(err) {
					t.Errorf("%s: message %d: %v; want a decryption failure at message %d", name, i, err, want)
				}
			}
		}
	}
}

func isDecryptError(err error) bool {
	var ce *interop.CallError
	if errors.As(err, &ce) {
		return ce.Code == interop.NoiseErrDecrypt
	}
	return errors.Is(err, noise.ErrDecrypt)
}
