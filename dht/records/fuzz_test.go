package records

import (
	"bytes"
	"reflect"
	"testing"
)

// seed adds every vector of codec (encodings, lenient decodes and rejects) to f's corpus.
func seed(f *testing.F, codec string) {
	v := testVectors(f)
	for _, list := range [][]codecVector{v.Codecs, v.Decode, v.Reject} {
		for _, c := range list {
			if c.Codec == codec {
				f.Add(unhex(f, c.Hex))
			}
		}
	}
}

// roundTrip checks that what a parser accepted encodes to at most the input's length and
// parses back to the same value.
func roundTrip(t *testing.T, codec string, in []byte, got any) {
	t.Helper()
	enc := appendValue(t, got)
	if len(enc) > len(in) {
		t.Fatalf("%x parsed as %+v, which encodes to the longer %x", in, got, enc)
	}
	back, err := parse(codec, enc)
	if err != nil {
		t.Fatalf("re-encoding %x of %+v does not parse: %v", enc, got, err)
	}
	if !reflect.DeepEqual(back, got) {
		t.Fatalf("round trip changed %+v into %+v", got, back)
	}
}

func FuzzParsePeer(f *testing.F) {
	seed(f, "peer")
	f.Fuzz(func(t *testing.T, b []byte) {
		p, n, err := ParsePeer(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n = %d", err, n)
			}
			return
		}
		if n < minPeerLen || n > len(b) || len(p.RelayAddresses) > MaxDecodeRelayAddresses {
			t.Fatalf("n = %d of %d, %d relays", n, len(b), len(p.RelayAddresses))
		}
		roundTrip(t, "peer", b[:n], p)
	})
}

func FuzzParseAnnounce(f *testing.F) {
	seed(f, "announce")
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAnnounce(b)
		if err != nil {
			return
		}
		if (a.Peer == nil) != (a.PeerRaw == nil) {
			t.Fatalf("peer %v, PeerRaw %x", a.Peer, a.PeerRaw)
		}
		if a.Peer != nil {
			p, n, err := ParsePeer(a.PeerRaw)
			if err != nil || n != len(a.PeerRaw) || !reflect.DeepEqual(p, *a.Peer) {
				t.Fatalf("PeerRaw %x is not the peer %+v", a.PeerRaw, a.Peer)
			}
		}
		a.PeerRaw = nil
		roundTrip(t, "announce", b, a)
	})
}

func FuzzParseLookupReply(f *testing.F) {
	seed(f, "lookupReply")
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseLookupReply(b)
		if err != nil {
			return
		}
		if len(l.Peers) > MaxDecodeLookupPeers {
			t.Fatalf("%d peers", len(l.Peers))
		}
		// A reply without a bump re-encodes with one; allow for its byte.
		roundTrip(t, "lookupReply", append(bytes.Clone(b), 0), l)
	})
}

func FuzzParseMutable(f *testing.F) {
	seed(f, "mutable")
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := ParseMutable(b); err == nil {
			roundTrip(t, "mutable", b, m)
		}
	})
}

func FuzzParseMutablePut(f *testing.F) {
	seed(f, "mutablePut")
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := ParseMutablePut(b); err == nil {
			roundTrip(t, "mutablePut", b, m)
		}
	})
}

// FuzzStoreHandle throws arbitrary requests at a store that holds a little of everything: it
// must never panic, and whatever it stores must stay within its bounds.
func FuzzStoreHandle(f *testing.F) {
	for _, st := range testVectors(f).Store {
		if st.Command >= 0 && st.Value != nil {
			f.Add(uint8(st.Command), unhex(f, *st.Value), st.Token != nil)
		}
	}
	f.Fuzz(func(t *testing.T, cmd uint8, value []byte, hasToken bool) {
		s := NewStore(StoreOptions{MaxSize: 8})
		k := newTestKey(1)
		for _, r := range []struct {
			cmd    uint64
			target [32]byte
		}{{CmdLookup, topic(1)}, {CmdFindPeer, k.self()}, {CmdMutableGet, k.self()}, {CmdImmutableGet, Hash(value)}, {uint64(cmd), topic(1)}, {uint64(cmd), k.self()}, {uint64(cmd), Hash(value)}} {
			req := request(r.cmd, r.target, value)
			req.HasToken = hasToken
			if o, ok := s.handle(req, testNodeID); ok && o.Error != 0 && o.Error != CodeSeqReused && o.Error != CodeSeqTooLow {
				t.Fatalf("error code %d", o.Error)
			}
		}
		if st := s.Stats(); st.Records > 16 || st.Forwards > 16 || st.Mutables > 8 || st.Immutables > 8 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// seedConnect adds every connect-path vector of codec (encodings, lenient decodes and
// rejects) to f's corpus.
func seedConnect(f *testing.F, codec string) {
	v := testConnectVectors(f)
	for _, list := range [][]codecVector{v.Codecs, v.Decode, v.Reject} {
		for _, c := range list {
			if c.Codec == codec {
				f.Add(unhex(f, c.Hex))
			}
		}
	}
}

// fuzzConnect checks that a connect-path parser never panics, reports n = 0 with its errors
// and a length within b otherwise, and that what it accepts round-trips.
func fuzzConnect(f *testing.F, codec string) {
	seedConnect(f, codec)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := parseConnect(codec, b)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n = %d", err, n)
			}
			return
		}
		if n < 1 || n > len(b) {
			t.Fatalf("n = %d of %d", n, len(b))
		}
		connectRoundTrip(t, codec, b[:n], v)
	})
}

func FuzzParseHandshake(f *testing.F)        { fuzzConnect(f, "handshake") }
func FuzzParseHolepunch(f *testing.F)        { fuzzConnect(f, "holepunch") }
func FuzzParseNoisePayload(f *testing.F)     { fuzzConnect(f, "noisePayload") }
func FuzzParseHolepunchPayload(f *testing.F) { fuzzConnect(f, "holepunchPayload") }

// FuzzSecurePayloadOpen throws arbitrary bytes at Open under the vectors' key: it must never
// panic, and what opens must seal and open again to the same payload.
func FuzzSecurePayloadOpen(f *testing.F) {
	v := testConnectVectors(f)
	for _, s := range v.Sealed {
		f.Add(unhex(f, s.Hex))
	}
	for _, s := range v.OpenLenient {
		f.Add(unhex(f, s.Hex))
	}
	for _, s := range v.OpenReject {
		f.Add(unhex(f, s.Hex))
	}
	s := vectorPayload(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := s.Open(b)
		if err != nil {
			return
		}
		if len(b) <= SealOverhead {
			t.Fatalf("opened %d bytes", len(b))
		}
		sealed, err := s.Seal(nil, &p)
		if err != nil {
			t.Fatalf("%+v does not seal: %v", p, err)
		}
		if back, err := s.Open(sealed); err != nil || !reflect.DeepEqual(back, p) {
			t.Fatalf("%+v sealed and opened as %+v, %v", p, back, err)
		}
	})
}
