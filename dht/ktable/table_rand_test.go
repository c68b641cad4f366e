package ktable

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// oracle is a deliberately naive routing table: a map plus brute force.
// Rows are found bit by bit, row members are found by scanning the whole
// map, and every query sorts from scratch.
type oracle struct {
	own ID
	k   int
	m   map[ID]int
}

func naiveRow(own, id ID) int {
	for i := range 256 {
		if bit(own, i) != bit(id, i) {
			return i
		}
	}
	return 255
}

// rows groups the ids by row, each row sorted as whole ids.
func (o *oracle) rows() [256][]ID {
	var rs [256][]ID
	for id := range o.m {
		r := naiveRow(o.own, id)
		rs[r] = append(rs[r], id)
	}
	for _, ids := range rs {
		slices.SortFunc(ids, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	}
	return rs
}

// row returns the ids in row r, sorted as whole ids.
func (o *oracle) row(r int) []ID {
	return o.rows()[r]
}

func (o *oracle) add(id ID, v int) bool {
	if _, ok := o.m[id]; ok {
		o.m[id] = v
		return true
	}
	if len(o.row(naiveRow(o.own, id))) >= o.k {
		return false
	}
	o.m[id] = v
	return true
}

func (o *oracle) remove(id ID) bool {
	_, ok := o.m[id]
	delete(o.m, id)
	return ok
}

// closest lists the ids in the reference order: row d, then rows d-1 down
// to 0, then rows d+1 up to 255, truncated to k.
func (o *oracle) closest(target ID, k int) []ID {
	d := naiveRow(o.own, target)
	var order []int
	for r := d; r >= 0; r-- {
		order = append(order, r)
	}
	for r := d + 1; r < 256; r++ {
		order = append(order, r)
	}
	rs := o.rows()
	var ids []ID
	for _, r := range order {
		ids = append(ids, rs[r]...)
	}
	return ids[:min(k, len(ids))]
}

// walk lists every id in the order Random indexes: rows 0 up to 255.
func (o *oracle) walk() []ID {
	var ids []ID
	for _, row := range o.rows() {
		ids = append(ids, row...)
	}
	return ids
}

// values maps ids to the values the oracle holds for them.
func (o *oracle) values(ids []ID) []int {
	vs := make([]int, len(ids))
	for i, id := range ids {
		vs[i] = o.m[id]
	}
	return vs
}

// entryIDs returns the ids of the entries the table holds for vs, using
// the reverse map from values (each Add uses a fresh value).
func entryIDs(vs []int, byValue map[int]ID) []ID {
	ids := make([]ID, len(vs))
	for i, v := range vs {
		ids[i] = byValue[v]
	}
	return ids
}

func TestTableAgainstOracle(t *testing.T) {
	for _, k := range []int{1, 2, 5, 20} {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) {
			t.Parallel()
			runAgainstOracle(t, k, uint64(k), 4000)
		})
	}
}

func runAgainstOracle(t *testing.T, k int, seed uint64, ops int) {
	rnd := rand.New(rand.NewPCG(seed, 0x6b7461626c65))
	own := randomID(rnd)
	tb := New[int](own, k)
	o := &oracle{own: own, k: k, m: map[ID]int{}}
	byValue := map[int]ID{}
	var pool []ID
	var refused, removed int

	// pick returns an id: often one added before, else a new one in a row
	// chosen to make the first rows crowded and reach the last ones.
	pick := func() ID {
		switch x := rnd.IntN(20); {
		case x < 7 && len(pool) > 0:
			return pool[rnd.IntN(len(pool))]
		case x == 7:
			return own
		case x < 10:
			return randomID(rnd)
		default:
			p := rnd.IntN(10)
			if rnd.IntN(4) == 0 {
				p = rnd.IntN(256)
			}
			return idAt(own, p, rnd)
		}
	}

	for step := range ops {
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("step %d: %s", step, fmt.Sprintf(format, args...))
		}
		switch op := rnd.IntN(100); {
		case op < 45:
			id := pick()
			byValue[step] = id
			got, want := tb.Add(id, step), o.add(id, step)
			if got != want {
				fail("Add(%v) = %v, want %v", id, got, want)
			}
			if got {
				pool = append(pool, id)
			} else {
				refused++
			}
		case op < 65:
			id := pick()
			got, want := tb.Remove(id), o.remove(id)
			if got != want {
				fail("Remove(%v) = %v, want %v", id, got, want)
			}
			if got {
				removed++
			}
		case op < 75:
			id := pick()
			v, ok := tb.Get(id)
			wv, wok := o.m[id]
			if v != wv || ok != wok || tb.Has(id) != wok {
				fail("Get(%v) = %d, %v; want %d, %v", id, v, ok, wv, wok)
			}
		case op < 90:
			target := pick()
			n := rnd.IntN(3*k+5) - 2 // includes k <= 0
			want := o.values(o.closest(target, cmpOr(n, k)))
			got := tb.Closest(target, n)
			if !slices.Equal(got, want) {
				fail("Closest(%v, %d):\n got %v\nwant %v", target, n, entryIDs(got, byValue), entryIDs(want, byValue))
			}
		case op < 95:
			id := pick()
			want := o.values(o.row(naiveRow(own, id)))
			if got := tb.Bucket(id); !slices.Equal(got, want) {
				fail("Bucket(%v) = %v, want %v", id, got, want)
			}
		default:
			walk := o.walk()
			if len(walk) == 0 {
				if _, ok := tb.Random(rnd.IntN); ok {
					fail("Random on an empty table reported a node")
				}
				break
			}
			j := rnd.IntN(len(walk))
			v, ok := tb.Random(func(int) int { return j })
			if !ok || v != o.m[walk[j]] {
				fail("Random(index %d) = %d, %v; want %d", j, v, ok, o.m[walk[j]])
			}
		}
		if tb.Len() != len(o.m) {
			fail("Len = %d, want %d", tb.Len(), len(o.m))
		}
		if step%500 == 499 {
			if got, want := tb.All(), o.values(o.closest(own, len(o.m))); !slices.Equal(got, want) {
				fail("All = %v, want %v", got, want)
			}
		}
	}
	t.Logf("%d ops: %d adds refused by full rows, %d removes hit, %d nodes left", ops, refused, removed, tb.Len())
	if tb.Len() < k || refused == 0 || removed == 0 {
		t.Fatal("the random walk did not exercise full rows and removals; the test is too weak")
	}
}

// cmpOr maps a non-positive k to the default, as the table does.
func cmpOr(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}
