package noise

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

func keyFromByte(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

// pair starts both sides of pattern p with the static keys of seeds 1 and 2.
func pair(t testing.TB, p Pattern, prologue []byte) (ini, res *Handshake) {
	t.Helper()
	is, rs := keyFromByte(1), keyFromByte(2)
	var remote []byte
	if p == IK {
		remote = rs[32:]
	}
	ini, err := NewInitiator(p, is, remote, prologue)
	if err != nil {
		t.Fatal(err)
	}
	res, err = NewResponder(p, rs, nil, prologue)
	if err != nil {
		t.Fatal(err)
	}
	return ini, res
}

// drive runs a handshake until both sides complete or a Recv fails, sending
// payloads[i] as message i and checking that each payload arrives. It
// returns the Recv error; a Send error fails the test.
func drive(t testing.TB, ini, res *Handshake, payloads ...[]byte) error {
	t.Helper()
	from, to := ini, res
	for i := 0; !ini.Complete() || !res.Complete(); i++ {
		var payload []byte
		if i < len(payloads) {
			payload = payloads[i]
		}
		if !from.ShouldSend() || to.ShouldSend() {
			t.Fatalf("message %d: ShouldSend = %v for the sender, %v for the receiver", i+1, from.ShouldSend(), to.ShouldSend())
		}
		msg, err := from.Send(payload)
		if err != nil {
			t.Fatal(err)
		}
		got, err := to.Recv(msg)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, payload) || got == nil {
			t.Fatalf("message %d: payload %x, want %x", i+1, got, payload)
		}
		from, to = to, from
	}
	return nil
}

// run completes a handshake like drive, and fails the test on an error.
func run(t testing.TB, ini, res *Handshake, payloads ...[]byte) {
	t.Helper()
	if err := drive(t, ini, res, payloads...); err != nil {
		t.Fatal(err)
	}
}

func TestHandshakeAgrees(t *testing.T) {
	for _, p := range []Pattern{IK, XX} {
		t.Run(p.String(), func(t *testing.T) {
			ini, res := pair(t, p, []byte("prologue"))
			run(t, ini, res, []byte("one"), nil, []byte("three"))
			a, err := ini.Result()
			if err != nil {
				t.Fatal(err)
			}
			b, err := res.Result()
			if err != nil {
				t.Fatal(err)
			}
			if a.Tx != b.Rx || a.Rx != b.Tx || a.Hash != b.Hash || a.Tx == a.Rx {
				t.Errorf("keys do not cross: initiator %+v, responder %+v", a, b)
			}
			if !a.Initiator || b.Initiator {
				t.Errorf("Initiator = %v, %v", a.Initiator, b.Initiator)
			}
			if a.PublicKey != b.RemotePublicKey || b.PublicKey != a.RemotePublicKey {
				t.Errorf("static keys do not cross")
			}
			if a.PublicKey != [32]byte(keyFromByte(1)[32:]) {
				t.Errorf("initiator public key %x", a.PublicKey)
			}
		})
	}
}

func TestPrologueMismatch(t *testing.T) {
	for _, p := range []Pattern{IK, XX} {
		ini, _ := pair(t, p, []byte("a"))
		_, res := pair(t, p, []byte("b"))
		if err := drive(t, ini, res); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%v: err = %v, want ErrDecrypt", p, err)
		}
	}
}

func TestOutOfTurn(t *testing.T) {
	ini, res := pair(t, IK, nil)
	if _, err := res.Send(nil); !errors.Is(err, ErrState) {
		t.Errorf("responder Send first: %v", err)
	}
	if _, err := ini.Recv(make([]byte, 100)); !errors.Is(err, ErrState) {
		t.Errorf("initiator Recv first: %v", err)
	}
	if _, err := ini.Result(); !errors.Is(err, ErrState) {
		t.Errorf("Result before completion: %v", err)
	}
	run(t, ini, res)
	if _, err := ini.Send(nil); !errors.Is(err, ErrState) {
		t.Errorf("Send after completion: %v", err)
	}
	if _, err := res.Recv(nil); !errors.Is(err, ErrState) {
		t.Errorf("Recv after completion: %v", err)
	}
	if err := ini.SetEphemeral([32]byte{}); !errors.Is(err, ErrState) {
		t.Errorf("SetEphemeral after completion: %v", err)
	}
}

func TestTamperEndsHandshake(t *testing.T) {
	ini, res := pair(t, IK, nil)
	msg, err := ini.Send([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(msg)
	bad[len(bad)-1] ^= 1
	_, err = res.Recv(bad)
	var e *Error
	if !errors.Is(err, ErrDecrypt) || !errors.As(err, &e) || e.Op != "recv" || e.Message != 1 || e.Pattern != IK {
		t.Fatalf("tampered message: %v", err)
	}
	if _, err := res.Recv(msg); !errors.Is(err, ErrState) {
		t.Errorf("Recv after a failure: %v, want ErrState", err)
	}
	if res.ShouldSend() || res.Complete() {
		t.Errorf("failed handshake: ShouldSend %v, Complete %v", res.ShouldSend(), res.Complete())
	}
}

func TestShortMessageLeavesStateAlone(t *testing.T) {
	ini, res := pair(t, XX, nil)
	msg, err := ini.Send(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Recv(msg[:31]); !errors.Is(err, ErrMessageSize) {
		t.Fatalf("short message: %v", err)
	}
	if _, err := res.Recv(msg); err != nil {
		t.Fatalf("the real message after a short one: %v", err)
	}
}

func TestPayloadLimits(t *testing.T) {
	ini, res := pair(t, XX, nil)
	if _, err := ini.Send(make([]byte, 65536)); !errors.Is(err, ErrMessageSize) {
		t.Errorf("XX message 1 with 65536 bytes: %v", err)
	}
	msg, err := ini.Send(make([]byte, 65535))
	if err != nil {
		t.Fatalf("XX message 1 with 65535 bytes: %v", err)
	}
	if _, err := res.Recv(msg); err != nil {
		t.Fatal(err)
	}
	if _, err := res.Send(make([]byte, MaxPayload+1)); !errors.Is(err, ErrMessageSize) {
		t.Errorf("XX message 2 with %d bytes: %v", MaxPayload+1, err)
	}
	msg, err = res.Send(make([]byte, MaxPayload))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) != 80+65535 {
		t.Errorf("message 2 is %d bytes", len(msg))
	}
	if _, err := ini.Recv(append(bytes.Clone(msg), 0)); !errors.Is(err, ErrMessageSize) {
		t.Errorf("ciphertext of 65536 bytes: %v", err)
	}
	if _, err := ini.Recv(msg); err != nil {
		t.Errorf("ciphertext of 65535 bytes: %v", err)
	}
}

func TestRemoteStaticExpectation(t *testing.T) {
	for _, p := range []Pattern{IK, XX} {
		is, rs, other := keyFromByte(1), keyFromByte(2), keyFromByte(3)
		var remote []byte
		if p == IK {
			remote = rs[32:]
		}
		ini, err := NewInitiator(p, is, remote, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := NewResponder(p, rs, other[32:], nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := drive(t, ini, res); !errors.Is(err, ErrRemoteStatic) {
			t.Errorf("%v: responder expecting another key: %v", p, err)
		}
	}
}

func TestRemotePublicKeyTiming(t *testing.T) {
	ini, res := pair(t, IK, nil)
	if k, ok := ini.RemotePublicKey(); !ok || k != [32]byte(keyFromByte(2)[32:]) {
		t.Errorf("IK initiator: %x, %v", k, ok)
	}
	if _, ok := res.RemotePublicKey(); ok {
		t.Error("IK responder knows the key before message 1")
	}
	msg, _ := ini.Send(nil)
	if _, err := res.Recv(msg); err != nil {
		t.Fatal(err)
	}
	if k, ok := res.RemotePublicKey(); !ok || k != [32]byte(keyFromByte(1)[32:]) {
		t.Errorf("IK responder after message 1: %x, %v", k, ok)
	}
}

func TestConstructorErrors(t *testing.T) {
	k := keyFromByte(1)
	tests := []struct {
		name   string
		p      Pattern
		static ed25519.PrivateKey
		remote []byte
	}{
		{"unknown pattern", 7, k, nil},
		{"short static key", XX, k[:32], nil},
		{"short remote key", XX, k, k[32:40]},
		{"IK without remote key", IK, k, nil},
	}
	for _, tt := range tests {
		if _, err := NewInitiator(tt.p, tt.static, tt.remote, nil); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestInvalidRemoteStaticFailsSend(t *testing.T) {
	h, err := NewInitiator(IK, keyFromByte(1), make([]byte, 32), nil) // y = 0: small order
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Send(nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Send to a small-order key: %v", err)
	}
}

func TestPatternString(t *testing.T) {
	if IK.String() != "IK" || XX.String() != "XX" || Pattern(9).String() != "Pattern(9)" {
		t.Error(IK, XX, Pattern(9))
	}
}
