package secretstream

import (
	"bytes"
	"testing"

	"golang.org/x/crypto/blake2b"
)

func TestNamespacesAndIDs(t *testing.T) {
	v := testVectors(t).IDs
	base := blake2b.Sum256([]byte("hyperswarm/secret-stream"))
	for _, c := range []struct {
		name      string
		got, want []byte
	}{
		{"namespace base", base[:], v.NSBase},
		{"initiator namespace", nsInitiator[:], v.NSInitiator},
		{"responder namespace", nsResponder[:], v.NSResponder},
		{"send namespace", nsSend[:], v.NSSend},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s = %x, want %x", c.name, c.got, c.want)
		}
	}
	hash := (*[HashSize]byte)(v.Hash)
	for _, c := range []struct {
		name string
		got  [32]byte
		want []byte
	}{
		{"StreamID(initiator)", StreamID(hash, true), v.InitiatorID},
		{"StreamID(responder)", StreamID(hash, false), v.ResponderID},
		{"messageKey(initiator)", messageKey(hash, true), v.SendKeyInitiator},
		{"messageKey(responder)", messageKey(hash, false), v.SendKeyResponder},
	} {
		if !bytes.Equal(c.got[:], c.want) {
			t.Errorf("%s = %x, want %x", c.name, c.got, c.want)
		}
	}
}
