package records

import (
	"math/rand/v2"
	"testing"
	"time"
)

// fakeClock is a settable clock for the caches' now func.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock               { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }
func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestCacheBasics(t *testing.T) {
	t.Parallel()
	c := NewCache[string, int](10, 0, nil)
	if _, ok := c.Get("a"); ok {
		t.Fatal("empty cache has a")
	}
	c.Set("a", 1)
	c.Set("a", 2)
	if v, ok := c.Get("a"); !ok || v != 2 {
		t.Fatalf("Get(a) = %v %v, want 2 (Set overwrites)", v, ok)
	}
	if !c.Has("a") || c.Len() != 1 {
		t.Fatalf("Has %v Len %d", c.Has("a"), c.Len())
	}
	c.Delete("a")
	if c.Has("a") || c.Len() != 0 {
		t.Fatal("Delete left a")
	}
}

// The fresh generation rotates when it reaches maxSize; the next rotation drops it.
func TestCacheSizeRotation(t *testing.T) {
	t.Parallel()
	c := NewCache[int, int](3, 0, nil)
	for i := range 3 { // the third Set fills the fresh generation: 0..2 become stale
		c.Set(i, i)
	}
	if c.Len() != 3 || len(c.fresh) != 0 {
		t.Fatalf("after 3 sets: Len %d, fresh %d; want 3, 0", c.Len(), len(c.fresh))
	}
	c.Set(3, 3)
	c.Set(4, 4)
	c.Set(5, 5) // rotates again: 0..2 dropped
	for i := range 3 {
		if c.Has(i) {
			t.Errorf("%d survived two rotations", i)
		}
	}
	for i := 3; i < 6; i++ {
		if !c.Has(i) {
			t.Errorf("%d missing", i)
		}
	}
}

// Get moves a stale entry into the fresh generation, so it survives the next rotation.
func TestCacheGetRefreshes(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	c := NewCache[string, int](100, 30*time.Minute, clk.now)
	c.Set("read", 1)
	c.Set("unread", 2)
	clk.advance(20 * time.Minute) // one rotation: both stale
	if _, ok := c.Get("read"); !ok {
		t.Fatal("read entry gone after one rotation")
	}
	clk.advance(20 * time.Minute) // second rotation
	if !c.Has("read") {
		t.Error("the entry read in the stale generation expired with it")
	}
	if c.Has("unread") {
		t.Error("the unread entry survived two rotations")
	}
}

// An entry that is neither set nor read again lives between ⅔ and 4⁄3 of maxAge, whenever
// in the rotation period it was set; Has does not refresh it.
func TestCacheLifetime(t *testing.T) {
	t.Parallel()
	const maxAge = 30 * time.Minute
	const step = 10 * time.Second
	var shortest, longest time.Duration
	for off := time.Duration(0); off < maxAge; off += 47 * time.Second {
		clk := newFakeClock()
		c := NewCache[int, int](100, maxAge, clk.now)
		clk.advance(off)
		c.Set(1, 1)
		born := clk.t
		if clk.advance(maxAge * 2 / 3); !c.Has(1) {
			t.Fatalf("set at +%v: gone after ⅔ maxAge", off)
		}
		for c.Has(1) {
			clk.advance(step)
		}
		life := clk.t.Sub(born)
		if life > maxAge*4/3+step {
			t.Fatalf("set at +%v: lived %v, more than 4⁄3 maxAge", off, life)
		}
		if shortest == 0 || life < shortest {
			shortest = life
		}
		longest = max(longest, life)
	}
	if shortest > maxAge || longest < maxAge {
		t.Errorf("lifetimes span [%v, %v]; expected them to straddle maxAge %v", shortest, longest, maxAge)
	}
}

// A long idle gap rotates twice: everything is gone, and the schedule restarts.
func TestCacheIdleGap(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	c := NewCache[int, int](100, 30*time.Minute, clk.now)
	c.Set(1, 1)
	clk.advance(10 * time.Hour)
	if c.Len() != 0 {
		t.Fatal("entries survived a long idle gap")
	}
	c.Set(2, 2)
	clk.advance(20*time.Minute - time.Nanosecond)
	if !c.Has(2) {
		t.Fatal("entry set after the gap expired early")
	}
}

func TestCacheRetain(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	c := NewCache[string, int](2, time.Minute, clk.now)
	c.Set("k", 1)
	c.Retain("k", 7)
	c.Set("k", 8) // no effect on a retained key
	if v, _ := c.Get("k"); v != 7 {
		t.Fatalf("retained value %d, want 7", v)
	}
	for i := range 10 { // fill and rotate around it
		c.Set(string(rune('a'+i)), i)
	}
	clk.advance(time.Hour)
	if v, ok := c.Get("k"); !ok || v != 7 || c.Len() != 1 {
		t.Fatalf("retained entry after an hour: %v %v, Len %d", v, ok, c.Len())
	}
	c.Delete("k")
	if c.Has("k") {
		t.Fatal("Delete kept a retained entry")
	}
}

// Random operations against a map of the latest values: a cache never returns a value that
// was overwritten, never holds more than 2·maxSize entries, and Get-heavy traffic (which
// moves stale entries into the fresh generation) does not break the bound.
func TestCacheRandomOps(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	clk := newFakeClock()
	const maxSize = 16
	c := NewCache[int, int](maxSize, time.Minute, clk.now)
	latest := map[int]int{}
	for i := range 20000 {
		k := rng.IntN(100)
		switch op := rng.IntN(10); {
		case op < 4:
			c.Set(k, i)
			latest[k] = i
		case op < 9:
			if v, ok := c.Get(k); ok && v != latest[k] {
				t.Fatalf("op %d: Get(%d) = %d, latest %d", i, k, v, latest[k])
			}
		default:
			c.Delete(k)
			delete(latest, k)
		}
		if rng.IntN(50) == 0 {
			clk.advance(time.Duration(rng.IntN(30)) * time.Second)
		}
		if n := c.Len(); n > 2*maxSize {
			t.Fatalf("op %d: %d entries, bound %d", i, n, 2*maxSize)
		}
	}
	// Read every stale entry back into the fresh generation, then set one more: still bounded.
	c = NewCache[int, int](maxSize, 0, nil)
	for round := range 50 {
		for k := range 1000 {
			c.Get(k)
		}
		c.Set(round*maxSize, 0)
		for i := range maxSize {
			c.Set(round*maxSize+i, 0)
		}
		if n := c.Len(); n > 2*maxSize {
			t.Fatalf("round %d: %d entries under reads, bound %d", round, n, 2*maxSize)
		}
	}
}

func TestCacheWeightBound(t *testing.T) {
	t.Parallel()
	const budget = 1000
	c := NewCache[int, []byte](1<<20, 0, nil).withWeight(budget, func(v []byte) int { return len(v) })
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 5000 {
		c.Set(rng.IntN(3000), make([]byte, rng.IntN(100)))
		if rng.IntN(3) == 0 {
			c.Get(rng.IntN(3000))
		}
		total := 0
		for _, m := range []map[int][]byte{c.fresh, c.stale} {
			for _, v := range m {
				total += len(v)
			}
		}
		if total > 2*(budget+100) {
			t.Fatalf("op %d: %d bytes held, bound %d", i, total, 2*(budget+100))
		}
		fw := 0
		for _, v := range c.fresh {
			fw += len(v)
		}
		if fw != c.freshWeight {
			t.Fatalf("op %d: fresh weight %d, tracked %d", i, fw, c.freshWeight)
		}
	}
}
