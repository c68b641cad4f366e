package records

import "time"

// rotor decides when a two-generation cache drops its older generation: every
// ⌈⅔·maxAge⌉, so an entry that is not refreshed lives between ⅔ and 4⁄3 of maxAge (the
// reference's xache and record-cache run the same rotation on an interval timer). Here it
// runs lazily, when the cache is used, so a cache needs no goroutine or timer.
type rotor struct {
	now  func() time.Time
	tick time.Duration // zero: no age limit
	last time.Time     // start of the current fresh generation's time slot
}

func newRotor(maxAge time.Duration, now func() time.Time) rotor {
	if now == nil {
		now = time.Now
	}
	r := rotor{now: now}
	if maxAge > 0 {
		r.tick = (2*maxAge + 2) / 3 // ⌈⅔·maxAge⌉
		r.last = now()
	}
	return r
}

// due reports how many rotations (0, 1 or 2) are owed at the current time and moves the
// schedule on. One rotation keeps the schedule's grid, so that an entry is never kept past
// two ticks from its slot; after two, both generations are empty and the grid restarts now.
func (r *rotor) due() int {
	if r.tick == 0 {
		return 0
	}
	t := r.now()
	switch el := t.Sub(r.last); {
	case el < r.tick:
		return 0
	case el < 2*r.tick:
		r.last = r.last.Add(r.tick)
		return 1
	default:
		r.last = t
		return 2
	}
}

// rotated restarts the schedule after a rotation forced by size, as the reference skips its
// next timer rotation after one.
func (r *rotor) rotated() {
	if r.tick != 0 {
		r.last = r.now()
	}
}

// Cache is a map bounded in size and age with two generations, as the reference's xache: new
// and refreshed entries go into the fresh generation; when the fresh generation reaches the
// size limit, or a rotation tick passes, it becomes the stale generation and the old stale
// one is dropped. So at most 2·maxSize entries are held, and an entry that is neither set nor
// read again lives between ⅔ and 4⁄3 of maxAge. Retained entries sit outside the generations
// and never expire.
//
// Rotation is lazy: every method first applies the rotations that came due since the last
// call, so the cache owns no goroutine or timer. A Cache is not safe for concurrent use.
type Cache[K comparable, V any] struct {
	maxSize  int
	clock    rotor
	fresh    map[K]V
	stale    map[K]V
	retained map[K]V

	// Optional bound on the fresh generation's summed weight, set by the package's stores.
	weigh       func(V) int
	maxWeight   int
	freshWeight int
}

// NewCache returns a cache whose fresh generation holds at most maxSize entries (at least 1)
// and whose generations rotate every ⌈⅔·maxAge⌉; maxAge <= 0 means no age limit. now is the
// clock; nil means time.Now.
func NewCache[K comparable, V any](maxSize int, maxAge time.Duration, now func() time.Time) *Cache[K, V] {
	return &Cache[K, V]{
		maxSize:  max(maxSize, 1),
		clock:    newRotor(maxAge, now),
		fresh:    make(map[K]V),
		stale:    make(map[K]V),
		retained: make(map[K]V),
	}
}

// withWeight adds a second rotation trigger: the fresh generation also rotates once the
// weights of its values sum to maxWeight.
func (c *Cache[K, V]) withWeight(maxWeight int, weigh func(V) int) *Cache[K, V] {
	c.maxWeight, c.weigh = maxWeight, weigh
	return c
}

func (c *Cache[K, V]) expire() {
	for range c.clock.due() {
		c.rotate()
	}
}

func (c *Cache[K, V]) rotate() {
	c.stale = c.fresh
	c.fresh = make(map[K]V)
	c.freshWeight = 0
}

// putFresh stores v in the fresh generation and rotates if that fills it.
func (c *Cache[K, V]) putFresh(k K, v V) {
	if c.weigh != nil {
		if old, ok := c.fresh[k]; ok {
			c.freshWeight -= c.weigh(old)
		}
		c.freshWeight += c.weigh(v)
	}
	c.fresh[k] = v
	if len(c.fresh) >= c.maxSize || (c.weigh != nil && c.freshWeight >= c.maxWeight) {
		c.rotate()
		c.clock.rotated()
	}
}

// Get returns the value stored under k. An entry found in the stale generation moves to the
// fresh one, so reading an entry keeps it alive. Unlike xache, such a move may fill the fresh
// generation and rotate it: otherwise a reader that keeps touching every entry could grow
// the cache without bound.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.expire()
	if v, ok := c.fresh[k]; ok {
		return v, true
	}
	if v, ok := c.stale[k]; ok {
		delete(c.stale, k)
		c.putFresh(k, v)
		return v, true
	}
	v, ok := c.retained[k]
	return v, ok
}

// Has reports whether k is stored, without refreshing it.
func (c *Cache[K, V]) Has(k K) bool {
	c.expire()
	_, a := c.fresh[k]
	_, b := c.stale[k]
	_, r := c.retained[k]
	return a || b || r
}

// Set stores v under k in the fresh generation, replacing any earlier value, unless k is
// retained, in which case Set does nothing (as xache does).
func (c *Cache[K, V]) Set(k K, v V) {
	c.expire()
	if _, ok := c.retained[k]; ok {
		return
	}
	delete(c.stale, k)
	c.putFresh(k, v)
}

// Retain stores v under k outside the generations, where it never expires and does not
// count towards the size limit, until Delete.
func (c *Cache[K, V]) Retain(k K, v V) {
	c.expire()
	c.retained[k] = v
	c.deleteGen(k)
}

// Delete removes k, retained or not.
func (c *Cache[K, V]) Delete(k K) {
	c.expire()
	c.deleteGen(k)
	delete(c.retained, k)
}

func (c *Cache[K, V]) deleteGen(k K) {
	if old, ok := c.fresh[k]; ok {
		if c.weigh != nil {
			c.freshWeight -= c.weigh(old)
		}
		delete(c.fresh, k)
	}
	delete(c.stale, k)
}

// Len returns the number of entries held, retained ones included.
func (c *Cache[K, V]) Len() int {
	c.expire()
	return len(c.fresh) + len(c.stale) + len(c.retained)
}
