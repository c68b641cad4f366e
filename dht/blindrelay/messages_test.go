package blindrelay

import (
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"

	"github.com/hyperlan/hyperlan/dht/internal/goldentest"
)

// vectorFile is testdata/vectors.json, written by testdata/gen.js from the
// JS reference.
type vectorFile struct {
	Reference string   `json:"reference"`
	Encode    []vector `json:"encode"` // value -> hex, both directions
	Decode    []vector `json:"decode"` // hex -> value, the reference is lenient
	Reject    []vector `json:"reject"` // hex the reference refuses
}

type vector struct {
	Name  string   `json:"name"`
	Codec string   `json:"codec"`
	Value msgValue `json:"value"`
	Hex   string   `json:"hex"`
	Error string   `json:"error"`
}

type msgValue struct {
	IsInitiator bool   `json:"isInitiator"`
	Token       string `json:"token"`
	ID          uint64 `json:"id"`
	Seq         uint64 `json:"seq"`
}

func (v vector) bytes(t testing.TB) []byte {
	t.Helper()
	b, err := hex.DecodeString(v.Hex)
	if err != nil {
		t.Fatalf("%s: bad hex: %v", v.Name, err)
	}
	return b
}

func (m msgValue) token(t testing.TB) Token {
	t.Helper()
	var tok Token
	if b, err := hex.DecodeString(m.Token); err != nil || len(b) != TokenSize {
		t.Fatalf("bad token %q", m.Token)
	} else {
		copy(tok[:], b)
	}
	return tok
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	vf := goldentest.Load[vectorFile](t, filepath.Join("testdata", "vectors.json"))
	if len(vf.Encode) == 0 {
		t.Fatal("testdata/vectors.json has no encode vectors")
	}
	return vf
}

// parse decodes b with the vector's codec into the JSON form.
func parse(codec string, b []byte) (msgValue, error) {
	if codec == "unpair" {
		u, err := ParseUnpair(b)
		return msgValue{Token: hex.EncodeToString(u.Token[:])}, err
	}
	p, err := ParsePair(b)
	return msgValue{IsInitiator: p.IsInitiator, Token: hex.EncodeToString(p.Token[:]), ID: p.ID, Seq: p.Seq}, err
}

func TestGoldenMessages(t *testing.T) {
	vf := loadVectors(t)
	for _, v := range vf.Encode {
		t.Run("encode/"+v.Name, func(t *testing.T) {
			var got []byte
			if v.Codec == "unpair" {
				got = AppendUnpair(nil, Unpair{Token: v.Value.token(t)})
			} else {
				got = AppendPair(nil, Pair{IsInitiator: v.Value.IsInitiator, Token: v.Value.token(t), ID: v.Value.ID, Seq: v.Value.Seq})
			}
			if hex.EncodeToString(got) != v.Hex {
				t.Errorf("encoded %x, want %s", got, v.Hex)
			}
			b := v.bytes(t)
			if m, err := parse(v.Codec, b); err != nil || m != v.Value {
				t.Errorf("decoded %+v, %v; want %+v", m, err, v.Value)
			}
			for i := range b {
				if _, err := parse(v.Codec, b[:i]); !errors.Is(err, ErrTruncated) {
					t.Errorf("%x: err = %v, want ErrTruncated", b[:i], err)
				}
			}
		})
	}
	for _, v := range vf.Decode {
		t.Run("decode/"+v.Name, func(t *testing.T) {
			if m, err := parse(v.Codec, v.bytes(t)); err != nil || m != v.Value {
				t.Errorf("decoded %+v, %v; want %+v", m, err, v.Value)
			}
		})
	}
	for _, v := range vf.Reject {
		t.Run("reject/"+v.Name, func(t *testing.T) {
			if m, err := parse(v.Codec, v.bytes(t)); !errors.Is(err, ErrTruncated) {
				t.Errorf("decoded %+v, %v; want ErrTruncated (the reference says %q)", m, err, v.Error)
			}
		})
	}
}

func FuzzParsePair(f *testing.F) { fuzzMessage(f, "pair") }

func FuzzParseUnpair(f *testing.F) { fuzzMessage(f, "unpair") }

// fuzzMessage checks that the codec's decoder never panics, fails only with
// ErrTruncated, and that what it decodes encodes back to something that
// decodes the same.
func fuzzMessage(f *testing.F, codec string) {
	vf := loadVectors(f)
	for _, set := range [][]vector{vf.Encode, vf.Decode, vf.Reject} {
		for _, v := range set {
			f.Add(v.bytes(f))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parse(codec, b)
		if err != nil {
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("%x: %v", b, err)
			}
			return
		}
		tok := m.token(t)
		var again []byte
		if codec == "unpair" {
			again = AppendUnpair(nil, Unpair{Token: tok})
		} else {
			again = AppendPair(nil, Pair{IsInitiator: m.IsInitiator, Token: tok, ID: m.ID, Seq: m.Seq})
		}
		if m2, err := parse(codec, again); err != nil || m2 != m {
			t.Fatalf("%x decoded as %+v, re-encoded %x decodes as %+v, %v", b, m, again, m2, err)
		}
	})
}

// TestGoldenVectorsUpToDate regenerates testdata/vectors.json from the JS
// reference and compares it to the checked-in copy.
func TestGoldenVectorsUpToDate(t *testing.T) {
	goldentest.Check(t, filepath.Join("testdata", "gen.js"), filepath.Join("testdata", "vectors.json"), "blind-relay")
}
