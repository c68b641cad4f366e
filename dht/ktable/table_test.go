package ktable

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

// node is the value type the tests store: it carries its id so results can
// be checked without a reverse lookup.
type node struct {
	id  ID
	tag int
}

func TestNewDefaults(t *testing.T) {
	own := ID{1, 2, 3}
	for _, k := range []int{0, -5} {
		tb := New[int](own, k)
		if tb.K() != K {
			t.Errorf("New(k=%d).K() = %d, want %d", k, tb.K(), K)
		}
	}
	tb := New[int](own, 3)
	if tb.K() != 3 || tb.ID() != own || tb.Len() != 0 {
		t.Fatalf("New(own, 3): K %d ID %v Len %d", tb.K(), tb.ID(), tb.Len())
	}
	if got := tb.Closest(own, 0); got != nil {
		t.Errorf("Closest on empty table = %v, want nil", got)
	}
	if got := tb.All(); got != nil {
		t.Errorf("All on empty table = %v, want nil", got)
	}
	if _, ok := tb.Random(rand.IntN); ok {
		t.Error("Random on empty table reported a node")
	}
	if _, ok := tb.Get(own); ok || tb.Has(own) || tb.Remove(own) {
		t.Error("empty table claims to hold its own id")
	}
}

func TestAddGetReplace(t *testing.T) {
	rnd := rand.New(rand.NewPCG(10, 11))
	own := randomID(rnd)
	tb := New[string](own, 4)
	a := idAt(own, 3, rnd)
	if !tb.Add(a, "first") {
		t.Fatal("Add to empty row failed")
	}
	if v, ok := tb.Get(a); !ok || v != "first" {
		t.Fatalf("Get = %q, %v; want first, true", v, ok)
	}
	if !tb.Add(a, "second") {
		t.Fatal("Add of a present id failed")
	}
	if v, _ := tb.Get(a); v != "second" {
		t.Fatalf("Get after replace = %q, want second", v)
	}
	if tb.Len() != 1 {
		t.Fatalf("Len after replace = %d, want 1", tb.Len())
	}
	if !tb.Has(a) || tb.Has(idAt(own, 3, rnd)) {
		t.Fatal("Has is wrong")
	}
}

func TestAddKeepsRowSorted(t *testing.T) {
	rnd := rand.New(rand.NewPCG(12, 13))
	own := randomID(rnd)
	tb := New[node](own, 20)
	var ids []ID
	for i := range 20 {
		id := idAt(own, 9, rnd)
		ids = append(ids, id)
		tb.Add(id, node{id, i})
	}
	slices.SortFunc(ids, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	got := tb.Bucket(ids[0])
	for i, n := range got {
		if n.id != ids[i] {
			t.Fatalf("row position %d holds %v, want %v", i, n.id, ids[i])
		}
	}
	if len(got) != 20 {
		t.Fatalf("row has %d nodes, want 20", len(got))
	}
}

func TestAddFullRow(t *testing.T) {
	rnd := rand.New(rand.NewPCG(14, 15))
	own := randomID(rnd)
	tb := New[node](own, 3)
	var in []ID
	for i := range 3 {
		id := idAt(own, 0, rnd)
		in = append(in, id)
		if !tb.Add(id, node{id, i}) {
			t.Fatalf("Add %d to a row with room failed", i)
		}
	}
	before := tb.Bucket(in[0])
	extra := idAt(own, 0, rnd)
	if tb.Add(extra, node{extra, 99}) {
		t.Fatal("Add to a full row succeeded")
	}
	if tb.Has(extra) || tb.Len() != 3 || !slices.Equal(tb.Bucket(in[0]), before) {
		t.Fatal("failed Add changed the table")
	}
	// Replacing a member of a full row still works.
	if !tb.Add(in[1], node{in[1], 7}) {
		t.Fatal("replace in a full row failed")
	}
	if v, _ := tb.Get(in[1]); v.tag != 7 {
		t.Fatalf("replaced value tag %d, want 7", v.tag)
	}
	// Another row is independent.
	other := idAt(own, 1, rnd)
	if !tb.Add(other, node{other, 8}) {
		t.Fatal("Add to another row failed")
	}
	// Freeing room lets the newcomer in.
	if !tb.Remove(in[0]) || !tb.Add(extra, node{extra, 99}) {
		t.Fatal("Add after Remove in a full row failed")
	}
}

func TestAddOwnID(t *testing.T) {
	rnd := rand.New(rand.NewPCG(16, 17))
	own := randomID(rnd)
	tb := New[node](own, 2)
	last := idAt(own, 255, rnd) // differs from own only in the last bit
	if !tb.Add(own, node{own, 1}) || !tb.Add(last, node{last, 2}) {
		t.Fatal("Add of own id or last-bit neighbour failed")
	}
	got := tb.Bucket(own)
	if len(got) != 2 {
		t.Fatalf("row 255 has %d nodes, want 2", len(got))
	}
	// Row 255 can only ever hold these two ids.
	if again := idAt(own, 255, rnd); again != last {
		t.Fatalf("a second row-255 id %v besides %v", again, last)
	}
	if v, ok := tb.Get(own); !ok || v.tag != 1 {
		t.Fatalf("Get(own) = %v, %v", v, ok)
	}
	if all := tb.Closest(idAt(own, 0, rnd), 5); len(all) != 2 {
		t.Fatalf("Closest from row 0 = %d nodes, want 2", len(all))
	}
}

func TestRemove(t *testing.T) {
	rnd := rand.New(rand.NewPCG(18, 19))
	own := randomID(rnd)
	tb := New[*node](own, 5)
	var ids []ID
	for i := range 5 {
		id := idAt(own, 2, rnd)
		ids = append(ids, id)
		tb.Add(id, &node{id, i})
	}
	if tb.Remove(idAt(own, 2, rnd)) || tb.Remove(idAt(own, 7, rnd)) {
		t.Fatal("Remove of an absent id reported true")
	}
	if !tb.Remove(ids[2]) || tb.Remove(ids[2]) {
		t.Fatal("Remove of a present id is wrong")
	}
	if tb.Len() != 4 || tb.Has(ids[2]) {
		t.Fatalf("after Remove: Len %d, Has %v", tb.Len(), tb.Has(ids[2]))
	}
	// The freed slot must not keep the removed value reachable.
	r := tb.rows[2]
	if tail := r[:cap(r)][len(r):]; len(tail) > 0 && tail[0].v != nil {
		t.Fatal("removed value still referenced by the row")
	}
	for _, id := range ids {
		tb.Remove(id)
	}
	if tb.Len() != 0 || len(tb.All()) != 0 {
		t.Fatalf("table not empty after removing everything: Len %d", tb.Len())
	}
}

func TestBucket(t *testing.T) {
	rnd := rand.New(rand.NewPCG(20, 21))
	own := randomID(rnd)
	tb := New[node](own, 20)
	a, b := idAt(own, 4, rnd), idAt(own, 4, rnd)
	tb.Add(a, node{a, 1})
	tb.Add(b, node{b, 2})
	tb.Add(idAt(own, 5, rnd), node{})
	probe := idAt(own, 4, rnd) // absent id in the same row
	got := tb.Bucket(probe)
	if len(got) != 2 {
		t.Fatalf("Bucket has %d nodes, want 2", len(got))
	}
	got[0].tag = 100 // a copy: the table must not change
	if v, _ := tb.Get(got[0].id); v.tag == 100 {
		t.Fatal("Bucket returned the table's own storage")
	}
	if tb.Bucket(idAt(own, 6, rnd)) != nil {
		t.Fatal("Bucket of an empty row is not nil")
	}
}

func TestClosestOrder(t *testing.T) {
	rnd := rand.New(rand.NewPCG(22, 23))
	own := randomID(rnd)
	tb := New[node](own, 3)
	// Two nodes in each of rows 0..5.
	for p := range 6 {
		for j := range 2 {
			id := idAt(own, p, rnd)
			tb.Add(id, node{id, p*10 + j})
		}
	}
	rowsOf := func(ns []node) []int {
		var rs []int
		for _, n := range ns {
			rs = append(rs, RowIndex(own, n.id))
		}
		return rs
	}
	tests := []struct {
		name   string
		target ID
		k      int
		rows   []int
	}{
		{"own id", own, 100, []int{5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0}},
		{"row 2 target", idAt(own, 2, rnd), 100, []int{2, 2, 1, 1, 0, 0, 3, 3, 4, 4, 5, 5}},
		{"row 0 target", idAt(own, 0, rnd), 5, []int{0, 0, 1, 1, 2}},
		{"row 3 target, k cuts a row", idAt(own, 3, rnd), 3, []int{3, 3, 2}},
		{"empty row target", idAt(own, 40, rnd), 7, []int{5, 5, 4, 4, 3, 3, 2}},
		{"k 0 means K", idAt(own, 1, rnd), 0, []int{1, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tb.Closest(tt.target, tt.k)
			if rs := rowsOf(got); !slices.Equal(rs, tt.rows) {
				t.Fatalf("rows of Closest = %v, want %v", rs, tt.rows)
			}
			for i := 1; i < len(got); i++ {
				a, b := got[i-1].id, got[i].id
				if RowIndex(own, a) == RowIndex(own, b) && bytes.Compare(a[:], b[:]) >= 0 {
					t.Fatalf("row members out of id order at %d", i)
				}
			}
			app := tb.AppendClosest([]node{{tag: -1}}, tt.target, tt.k)
			if app[0].tag != -1 || !slices.Equal(app[1:], got) {
				t.Fatal("AppendClosest differs from Closest or lost dst")
			}
		})
	}
}

// TestClosestSetWhenSmall checks the property that, whatever its order,
// Closest(target, k) returns every node when the table holds at most k.
func TestClosestSetWhenSmall(t *testing.T) {
	rnd := rand.New(rand.NewPCG(24, 25))
	for round := range 300 {
		own := randomID(rnd)
		tb := New[node](own, 1+rnd.IntN(6))
		want := map[ID]bool{}
		size := rnd.IntN(40)
		for range size {
			var id ID
			if rnd.IntN(2) == 0 {
				id = randomID(rnd)
			} else {
				id = idAt(own, rnd.IntN(256), rnd)
			}
			if tb.Add(id, node{id: id}) {
				want[id] = true
			}
		}
		k := tb.Len() + rnd.IntN(5)
		if k == 0 {
			k = 1
		}
		target := randomID(rnd)
		if rnd.IntN(3) == 0 {
			target = idAt(own, rnd.IntN(256), rnd)
		}
		got := tb.Closest(target, k)
		if len(got) != len(want) {
			t.Fatalf("round %d: Closest returned %d nodes, table has %d", round, len(got), len(want))
		}
		seen := map[ID]bool{}
		for _, n := range got {
			if !want[n.id] || seen[n.id] {
				t.Fatalf("round %d: Closest returned %v unexpectedly or twice", round, n.id)
			}
			seen[n.id] = true
		}
	}
}

func TestRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(26, 27))
	own := randomID(rnd)
	tb := New[node](own, 4)
	for _, p := range []int{0, 0, 3, 9, 9, 9, 255} {
		id := idAt(own, p, rnd)
		tb.Add(id, node{id: id})
	}
	// The walk is rows 0..255, each in id order: the reverse row order of All.
	var walk []node
	for p := range 256 {
		walk = append(walk, tb.Bucket(idAt(own, p, rnd))...)
	}
	if len(walk) != tb.Len() {
		t.Fatalf("walk has %d nodes, table %d", len(walk), tb.Len())
	}
	for i := range walk {
		got, ok := tb.Random(func(n int) int {
			if n != tb.Len() {
				t.Fatalf("intn called with %d, want %d", n, tb.Len())
			}
			return i
		})
		if !ok || got.id != walk[i].id {
			t.Fatalf("Random with index %d = %v, want %v", i, got.id, walk[i].id)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Random with an out-of-range intn did not panic")
		}
	}()
	tb.Random(func(n int) int { return n })
}
