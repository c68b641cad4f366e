package records

import (
	"testing"
)

func BenchmarkParseAnnounce(b *testing.B) {
	v := unhex(b, testVectors(b).Signing.Announce.Value)
	b.ReportAllocs()
	b.SetBytes(int64(len(v)))
	for b.Loop() {
		if _, err := ParseAnnounce(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyAnnounce(b *testing.B) {
	s := testVectors(b).Signing.Announce
	a, err := ParseAnnounce(unhex(b, s.Value))
	if err != nil {
		b.Fatal(err)
	}
	target, id, token := unhex32(b, s.Target), unhex32(b, s.NodeID), unhex32(b, s.Token)
	b.ReportAllocs()
	for b.Loop() {
		if !VerifyAnnounce(NSAnnounce, target, id, token, &a) {
			b.Fatal("does not verify")
		}
	}
}

// BenchmarkStoreLookup serves LOOKUP for a topic with 30 records (20 picked) and a forward.
func BenchmarkStoreLookup(b *testing.B) {
	s := NewStore(StoreOptions{})
	server := newTestKey(100)
	target := server.self()
	if _, ok := s.handle(signedAnnounce(b, server, CmdAnnounce, target, Announce{}, "1.2.3.4:5"), testNodeID); !ok {
		b.Fatal("announce dropped")
	}
	for i := range 30 {
		if _, ok := s.handle(signedAnnounce(b, newTestKey(i), CmdAnnounce, target, Announce{Bump: 1}, "1.2.3.4:5", "5.6.7.8:9"), testNodeID); !ok {
			b.Fatal("announce dropped")
		}
	}
	req := request(CmdLookup, target, nil)
	b.ReportAllocs()
	for b.Loop() {
		if o, ok := s.handle(req, testNodeID); !ok || o.Value == nil {
			b.Fatal("no records")
		}
	}
}

// BenchmarkStoreAnnounce serves a signed topic ANNOUNCE; signature verification dominates.
func BenchmarkStoreAnnounce(b *testing.B) {
	s := NewStore(StoreOptions{})
	req := signedAnnounce(b, newTestKey(1), CmdAnnounce, topic(1), Announce{}, "1.2.3.4:5")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.handle(req, testNodeID); !ok {
			b.Fatal("dropped")
		}
	}
}
