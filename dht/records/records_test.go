package records

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func key(i int) [32]byte { return [32]byte{byte(i), byte(i >> 8), byte(i >> 16), 0xee} }

func TestRecordsFirstRecordStays(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	s := NewRecords(100, 30*time.Minute, clk.now)
	topic, pk := key(1), key(2)
	s.Add(topic, pk, []byte("first"))
	s.Add(topic, pk, []byte("second"))
	if got := s.Random(topic, 20, rand.IntN); len(got) != 1 || string(got[0]) != "first" {
		t.Fatalf("records %q, want the first one kept", got)
	}
	clk.advance(20 * time.Minute) // now stale: an add moves it with the new value
	s.Add(topic, pk, []byte("third"))
	if got := s.Random(topic, 20, rand.IntN); len(got) != 1 || string(got[0]) != "third" {
		t.Fatalf("records %q, want the stale record replaced", got)
	}
	clk.advance(20 * time.Minute)
	if s.Len() != 1 {
		t.Fatal("the moved record expired with the old generation")
	}
	s.Remove(topic, pk)
	if s.Len() != 0 || s.topicCount() != 0 {
		t.Fatalf("after Remove: %d records, %d topics", s.Len(), s.topicCount())
	}
}

// Random picks distinct records across both generations, every record about equally often.
func TestRecordsRandom(t *testing.T) {
	t.Parallel()
	s := NewRecords(20, 0, nil)
	topic := key(1)
	const n = 30 // 20 go stale when the fresh generation fills, 10 stay fresh
	for i := range n {
		s.Add(topic, key(i), []byte{byte(i)})
	}
	if len(s.fresh.index) == 0 || len(s.stale.index) == 0 {
		t.Fatal("test wants records in both generations")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	counts := make([]int, n)
	const rounds = 6000
	for range rounds {
		got := s.Random(topic, MaxLookupRecords, rng.IntN)
		if len(got) != MaxLookupRecords {
			t.Fatalf("%d records, want %d", len(got), MaxLookupRecords)
		}
		seen := map[byte]bool{}
		for _, r := range got {
			if seen[r[0]] {
				t.Fatalf("record %d twice", r[0])
			}
			seen[r[0]] = true
			counts[r[0]]++
		}
	}
	want := rounds * MaxLookupRecords / n // 4000
	for i, c := range counts {
		if c < want*9/10 || c > want*11/10 {
			t.Errorf("record %d picked %d times, expected about %d", i, c, want)
		}
	}
	if got := s.Random(topic, 0, rng.IntN); got != nil {
		t.Errorf("max 0: %q", got)
	}
	if got := s.Random(key(99), 20, rng.IntN); got != nil {
		t.Errorf("unknown topic: %q", got)
	}
}

// Random operations against a naive model (no rotation: maxAge 0, maxSize beyond the test).
func TestRecordsModel(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 10))
	s := NewRecords(1<<20, 0, nil)
	type rk struct{ topic, pk int }
	model := map[rk][]byte{}
	for i := range 20000 {
		k := rk{rng.IntN(4), rng.IntN(40)}
		switch rng.IntN(3) {
		case 0:
			v := []byte{byte(i), byte(i >> 8)}
			s.Add(key(k.topic), key(k.pk), v)
			if _, ok := model[k]; !ok {
				model[k] = v
			}
		case 1:
			s.Remove(key(k.topic), key(k.pk))
			delete(model, k)
		default:
			var want [][]byte
			for mk, v := range model {
				if mk.topic == k.topic {
					want = append(want, v)
				}
			}
			got := s.Random(key(k.topic), 1<<20, rng.IntN)
			slices.SortFunc(got, bytes.Compare)
			slices.SortFunc(want, bytes.Compare)
			if !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("op %d: topic %d holds %x, model %x", i, k.topic, got, want)
			}
		}
		if s.Len() != len(model) {
			t.Fatalf("op %d: Len %d, model %d", i, s.Len(), len(model))
		}
	}
}

func TestRecordsBound(t *testing.T) {
	t.Parallel()
	const maxSize = 50
	s := NewRecords(maxSize, 0, nil)
	for i := range 10 * maxSize {
		s.Add(key(i%7), key(i), []byte{1})
		if s.Len() > 2*maxSize || s.topicCount() > 2*7 {
			t.Fatalf("after %d adds: %d records, %d topics", i+1, s.Len(), s.topicCount())
		}
	}
	if got := s.Random(key(0), 1000, rand.IntN); len(got) > 2*maxSize/7+2 {
		t.Fatalf("topic 0 kept %d records", len(got))
	}
}

func TestRecordsLifetime(t *testing.T) {
	t.Parallel()
	const maxAge = 30 * time.Minute
	for off := time.Duration(0); off < maxAge; off += 3 * time.Minute {
		clk := newFakeClock()
		s := NewRecords(100, maxAge, clk.now)
		clk.advance(off)
		s.Add(key(1), key(2), []byte{1})
		clk.advance(maxAge * 2 / 3)
		if s.Len() != 1 {
			t.Fatalf("added at +%v: gone after ⅔ maxAge", off)
		}
		clk.advance(maxAge * 2 / 3)
		if s.Len() != 0 {
			t.Fatalf("added at +%v: alive after 4⁄3 maxAge", off)
		}
	}
}
