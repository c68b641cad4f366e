package protomux

import (
	"bytes"
	"errors"
	"testing"
)

// goldenFrames returns every frame of the golden scenarios, written or
// injected.
func goldenFrames(t testing.TB) [][]byte {
	var out [][]byte
	for _, sc := range loadVectors(t).Scenarios {
		for _, st := range sc.Steps {
			for _, f := range append(append([]string{st.Frame}, st.Out.A...), st.Out.B...) {
				out = append(out, unhex(t, f))
			}
		}
	}
	return out
}

func FuzzParseUint(f *testing.F) {
	for _, fr := range goldenFrames(f) {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := ParseUint(b)
		if err != nil {
			if !errors.Is(err, ErrTruncated) || v != 0 || n != 0 {
				t.Fatalf("ParseUint(%x) = %d, %d, %v", b, v, n, err)
			}
			return
		}
		if n < UintLen(v) || n > len(b) {
			t.Fatalf("ParseUint(%x) took %d bytes for %d", b, n, v)
		}
		if w, m, _ := ParseUint(AppendUint(nil, v)); w != v || m != UintLen(v) {
			t.Fatalf("round trip of %d gave %d", v, w)
		}
	})
}

// FuzzFrame runs every frame decoder on the input: none may panic, and
// what parses re-encodes to something that parses the same.
func FuzzFrame(f *testing.F) {
	for _, fr := range goldenFrames(f) {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		channel, typ, p, err := frameHead(b)
		if err != nil {
			return
		}
		if channel != 0 {
			return
		}
		switch typ {
		case controlOpen:
			o, err := parseOpen(p)
			if err != nil {
				return
			}
			o2, err := parseOpen(appendOpen(nil, o)[1:])
			if err != nil || o2.channel != o.channel || o2.protocol != o.protocol ||
				!bytes.Equal(o2.id, o.id) || !bytes.Equal(o2.handshake, o.handshake) {
				t.Fatalf("open %+v re-parsed as %+v, %v", o, o2, err)
			}
		case controlReject, controlClose:
			parseControlID(p)
		case controlBatch:
			var bt batch
			err := parseBatch(p, func(channel uint64, body []byte, _ bool) error {
				if len(body) > 0 { // an entry cut to nothing has no encoding
					bt.push(channel, body)
				}
				return nil
			})
			if err != nil || len(bt.items) == 0 {
				return
			}
			var again []batchItem
			_, _, q, _ := frameHead(bt.frame())
			parseBatch(q, func(channel uint64, body []byte, _ bool) error {
				again = append(again, batchItem{channel, body})
				return nil
			})
			if len(again) != len(bt.items) {
				t.Fatalf("batch of %d re-parsed as %d", len(bt.items), len(again))
			}
			for i := range again {
				if again[i].channel != bt.items[i].channel || !bytes.Equal(again[i].body, bt.items[i].body) {
					t.Fatalf("batch item %d changed", i)
				}
			}
		}
	})
}

// FuzzMux feeds a Mux with channels in every state a sequence of frames,
// each a uint length then the frame. It must not panic, and its tables must
// stay consistent.
func FuzzMux(f *testing.F) {
	for _, sc := range loadVectors(f).Scenarios {
		var in []byte
		for _, st := range sc.Steps {
			for _, fr := range append(st.Out.B, st.Frame) {
				b := unhex(f, fr)
				in = append(AppendUint(in, uint64(len(b))), b...)
			}
		}
		f.Add(in)
	}
	f.Fuzz(fuzzMuxBody)
}

func fuzzMuxBody(t *testing.T, in []byte) {
	{
		p := newPlayer(t, "a")
		p.m.Pair("test-proto", nil, func(id []byte) {
			n := len(p.channels)
			if p.create(n, "test-proto", id, true, 2, true) {
				p.open(n, nil)
			}
		})
		p.create(0, "test-proto", nil, false, 2, false)
		p.open(0, nil)
		p.create(1, "test-proto", []byte{0xbe, 0xef}, true, 1, false)
		p.open(1, nil)
		p.create(2, "other", nil, false, 1, false) // never opened
		for len(in) > 0 && !p.dead {
			n, k, err := ParseUint(in)
			if err != nil {
				break
			}
			in = in[k:]
			fr := in[:min(n, uint64(len(in)))]
			in = in[len(fr):]
			p.receive(fr)
			p.out()
		}
		m := p.m
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.buffered < 0 {
			t.Fatalf("buffered = %d", m.buffered)
		}
		for i, r := range m.remote {
			if r != nil && r.ch != nil && !r.ch.isClosed && r.ch.remoteID != uint64(i+1) {
				t.Fatalf("remote slot %d holds channel paired with %d", i+1, r.ch.remoteID)
			}
		}
		for i, ch := range m.local {
			if ch != nil && ch.localID != uint64(i+1) {
				t.Fatalf("local slot %d holds channel %d", i+1, ch.localID)
			}
		}
		for _, idx := range m.free {
			if m.local[idx] != nil {
				t.Fatalf("free id %d is in use", idx+1)
			}
		}
	}
}
