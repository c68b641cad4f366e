package ktable

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"
)

// fullIDs returns n ids (n <= 20*256) that fill rows 0, 1, 2, ... of a
// table with id own, 20 per row, so that a table with k = 20 accepts all.
func fullIDs(own ID, n int, seed uint64) []ID {
	rnd := rand.New(rand.NewPCG(seed, seed))
	ids := make([]ID, n)
	for i := range ids {
		ids[i] = idAt(own, i/K, rnd)
	}
	return ids
}

// footprint is the memory the table structure itself holds: the Table value
// and the row backing arrays, not the values' pointees.
func (t *Table[T]) footprint() uintptr {
	size := unsafe.Sizeof(*t)
	for _, r := range t.rows {
		size += uintptr(cap(r)) * unsafe.Sizeof(entry[T]{})
	}
	return size
}

func TestMemory1000(t *testing.T) {
	own := ID{0x42}
	ids := fullIDs(own, 1000, 1)
	vals := make([]*node, len(ids))
	for i, id := range ids {
		vals[i] = &node{id: id, tag: i}
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC() // the first cycle after start-up still reports garbage as live
	runtime.ReadMemStats(&before)
	tb := New[*node](own, K)
	for i, id := range ids {
		if !tb.Add(id, vals[i]) {
			t.Fatalf("Add %d failed", i)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(tb)
	runtime.KeepAlive(ids)
	runtime.KeepAlive(vals)

	live := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	total := after.TotalAlloc - before.TotalAlloc // includes outgrown row arrays
	t.Logf("1000-entry table: %d bytes by layout, live heap +%d bytes, %d bytes allocated while building",
		tb.footprint(), live, total)
	if fp := tb.footprint(); fp > 64<<10 {
		t.Errorf("table structure holds %d bytes, want at most 64 KiB", fp)
	}
	if live > 256<<10 || total > 1<<20 {
		t.Errorf("live heap +%d bytes, %d bytes allocated; want well under 1 MiB", live, total)
	}
}

func BenchmarkAdd(b *testing.B) {
	own := ID{0x42}
	ids := fullIDs(own, 1000, 2)
	tb := New[*node](own, K)
	v := &node{}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// Alternate insert and remove so rows keep room; the row arrays
		// are reused after the first round.
		id := ids[i%len(ids)]
		if !tb.Add(id, v) {
			b.Fatal("Add failed")
		}
		if i%2 == 1 {
			tb.Remove(id)
		}
		i++
	}
}

func BenchmarkGet(b *testing.B) {
	own := ID{0x42}
	ids := fullIDs(own, 1000, 3)
	tb := New[*node](own, K)
	for _, id := range ids {
		tb.Add(id, &node{id: id})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := tb.Get(ids[i%len(ids)]); !ok {
			b.Fatal("Get missed")
		}
		i++
	}
}

func BenchmarkAppendClosest(b *testing.B) {
	own := ID{0x42}
	ids := fullIDs(own, 1000, 4)
	tb := New[*node](own, K)
	for _, id := range ids {
		tb.Add(id, &node{id: id})
	}
	rnd := rand.New(rand.NewPCG(5, 5))
	targets := make([]ID, 64)
	for i := range targets {
		targets[i] = randomID(rnd)
	}
	dst := make([]*node, 0, K)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dst = tb.AppendClosest(dst[:0], targets[i%len(targets)], K)
		if len(dst) != K {
			b.Fatalf("got %d nodes", len(dst))
		}
		i++
	}
}

func TestAppendClosestDoesNotAllocate(t *testing.T) {
	own := ID{0x42}
	tb := New[*node](own, K)
	for _, id := range fullIDs(own, 300, 6) {
		tb.Add(id, &node{id: id})
	}
	dst := make([]*node, 0, K)
	target := ID{0x99}
	allocs := testing.AllocsPerRun(100, func() {
		dst = tb.AppendClosest(dst[:0], target, K)
	})
	if allocs != 0 {
		t.Fatalf("AppendClosest into a reused slice: %v allocs, want 0", allocs)
	}
}
