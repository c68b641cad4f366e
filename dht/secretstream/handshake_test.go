package secretstream

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"
)

func testKey(b byte) ed25519.PrivateKey {
	var seed [ed25519.SeedSize]byte
	seed[0] = b
	return ed25519.NewKeyFromSeed(seed[:])
}

// TestHandshakeXX runs secret-stream's XX handshake between two Conns and
// moves data both ways.
func TestHandshakeXX(t *testing.T) {
	ri, rr := newPipe(t, 1<<16)
	ki, kr := testKey(1), testKey(2)
	type result struct {
		c   *Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := Handshake(t.Context(), rr, false, kr, Options{})
		done <- result{c, err}
	}()
	ci, err := Handshake(t.Context(), ri, true, ki, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ci.Close()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	cr := r.c
	defer cr.Close()

	if !ci.IsInitiator() || cr.IsInitiator() {
		t.Error("roles wrong")
	}
	if ci.HandshakeHash() != cr.HandshakeHash() {
		t.Error("hashes differ")
	}
	pubI, pubR := [32]byte(ki.Public().(ed25519.PublicKey)), [32]byte(kr.Public().(ed25519.PublicKey))
	if ci.PublicKey() != pubI || ci.RemotePublicKey() != pubR || cr.RemotePublicKey() != pubI {
		t.Error("public keys wrong")
	}
	if _, err := ci.Write([]byte("over xx")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, cr, 7); string(got) != "over xx" {
		t.Fatalf("read %q", got)
	}
	if _, err := cr.Write([]byte("back")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, ci, 4); string(got) != "back" {
		t.Fatalf("read %q", got)
	}
}

// TestHandshakeFailures: a peer that says nothing (the context ends the
// wait), a peer that sends garbage, and two initiators.
func TestHandshakeFailures(t *testing.T) {
	t.Run("silent peer", func(t *testing.T) {
		raw, _ := newPipe(t, 1<<16)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if _, err := Handshake(ctx, raw, true, testKey(1), Options{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Handshake = %v, want the context's error", err)
		}
		if !raw.aborted() {
			t.Fatal("raw stream not closed")
		}
	})
	t.Run("garbage", func(t *testing.T) {
		raw, fake := newPipe(t, 1<<16)
		fake.Write([]byte{5, 0, 0, 1, 2, 3, 4, 5})
		if _, err := Handshake(t.Context(), raw, false, testKey(1), Options{}); !errors.Is(err, ErrHandshake) {
			t.Fatalf("Handshake = %v, want ErrHandshake", err)
		}
		if !raw.aborted() {
			t.Fatal("raw stream not closed")
		}
	})
	t.Run("ended", func(t *testing.T) {
		raw, fake := newPipe(t, 1<<16)
		fake.CloseWrite()
		if _, err := Handshake(t.Context(), raw, false, testKey(1), Options{}); !errors.Is(err, ErrHandshake) {
			t.Fatalf("Handshake = %v, want ErrHandshake", err)
		}
	})
	t.Run("two initiators", func(t *testing.T) {
		a, b := newPipe(t, 1<<16)
		errc := make(chan error, 1)
		go func() {
			_, err := Handshake(t.Context(), b, true, testKey(2), Options{})
			errc <- err
		}()
		if _, err := Handshake(t.Context(), a, true, testKey(1), Options{}); !errors.Is(err, ErrHandshake) && !errors.Is(err, errPipeReset) {
			t.Fatalf("Handshake = %v, want a failure", err)
		}
		<-errc
	})
}
