package secretstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestMessageVectors(t *testing.T) {
	v := testVectors(t)
	if len(v.Boxes) == 0 {
		t.Fatal("no envelope vectors")
	}
	for i, b := range v.Boxes {
		key := (*[32]byte)(b.Key)
		counter := binary.LittleEndian.Uint64(b.Counter)
		env := SealMessage([]byte("x"), counter, b.M, key)
		if !bytes.Equal(env[1:], b.Envelope) || env[0] != 'x' {
			t.Errorf("envelope %d: SealMessage = %x, want %x", i, env[1:], b.Envelope)
		}
		m, got, err := OpenMessage([]byte("y"), b.Envelope, key)
		if err != nil || got != counter || !bytes.Equal(m[1:], b.M) || m[0] != 'y' {
			t.Errorf("envelope %d: OpenMessage = %x, counter %#x, %v", i, m, got, err)
		}
	}
}

func TestOpenMessageRejects(t *testing.T) {
	var key [32]byte
	key[3] = 3
	env := SealMessage(nil, 42, []byte("ping"), &key)
	for n := range env {
		want := ErrDecrypt
		if n < MessageOverhead {
			want = ErrShortMessage
		}
		if _, _, err := OpenMessage(nil, env[:n], &key); !errors.Is(err, want) {
			t.Errorf("truncated to %d bytes: %v, want %v", n, err, want)
		}
	}
	for i := range env {
		bad := bytes.Clone(env)
		bad[i] ^= 0x10
		if _, _, err := OpenMessage(nil, bad, &key); !errors.Is(err, ErrDecrypt) {
			t.Errorf("byte %d changed: %v", i, err)
		}
	}
	other := key
	other[0] ^= 1
	if _, _, err := OpenMessage(nil, env, &other); !errors.Is(err, ErrDecrypt) {
		t.Errorf("wrong key: %v", err)
	}
	if _, _, err := OpenMessage(nil, make([]byte, MessageOverhead), &key); !errors.Is(err, ErrDecrypt) {
		t.Errorf("24 zero bytes: %v", err)
	}
}
