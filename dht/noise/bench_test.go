package noise

import (
	"crypto/ed25519"
	"testing"
)

func benchmarkHandshake(b *testing.B, p Pattern) {
	is, rs := keyFromByte(1), keyFromByte(2)
	var remote []byte
	if p == IK {
		remote = rs[32:]
	}
	payload := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		ini, err := NewInitiator(p, is, remote, PeerHandshakePrologue[:])
		if err != nil {
			b.Fatal(err)
		}
		res, err := NewResponder(p, rs, nil, PeerHandshakePrologue[:])
		if err != nil {
			b.Fatal(err)
		}
		from, to := ini, res
		for !ini.Complete() || !res.Complete() {
			msg, err := from.Send(payload)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := to.Recv(msg); err != nil {
				b.Fatal(err)
			}
			from, to = to, from
		}
	}
}

// BenchmarkHandshakeIK is one full IK handshake, both sides, as hyperdht's
// PEER_HANDSHAKE runs it (100-byte payloads, random ephemeral keys).
func BenchmarkHandshakeIK(b *testing.B) { benchmarkHandshake(b, IK) }

// BenchmarkHandshakeXX is one full XX handshake, both sides.
func BenchmarkHandshakeXX(b *testing.B) { benchmarkHandshake(b, XX) }

// BenchmarkDH is one Ed25519 DH with the checks on the public key; a full IK
// handshake does eight.
func BenchmarkDH(b *testing.B) {
	sk := keyFromByte(1)
	pub := ed25519.NewKeyFromSeed(make([]byte, 32))[32:]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dh(sk, pub); err != nil {
			b.Fatal(err)
		}
	}
}
