package ktable

import "math"

// K is the default number of nodes a row holds, as in dht-rpc.
const K = 20

// rows is the number of rows in a table: one per bit of an [ID].
const rows = len(ID{}) * 8

// Table is a Kademlia routing table holding a value of type T for each node
// id. See the package documentation for the row layout and the order of
// [Table.Closest].
//
// A Table is not safe for concurrent use. Its owner serialises access (the
// rpc node does so with its mutex). Values are stored as given; a Table never
// looks inside them. Create tables with [New]; a zero Table accepts no nodes.
type Table[T any] struct {
	id   ID
	k    int
	n    int
	rows [rows]row[T] // nil until the first node arrives in the row
}

// New returns an empty table for the own id id whose rows hold at most k
// nodes. k <= 0 means [K].
func New[T any](id ID, k int) *Table[T] {
	if k <= 0 {
		k = K
	}
	return &Table[T]{id: id, k: k}
}

// ID returns the table's own id.
func (t *Table[T]) ID() ID { return t.id }

// K returns the maximum number of nodes in a row.
func (t *Table[T]) K() int { return t.k }

// Len returns the number of nodes in the table.
func (t *Table[T]) Len() int { return t.n }

// Add stores v for id. If id is already present, its value is replaced and
// Add reports true. Otherwise the node is inserted if its row has fewer than
// K() nodes, and Add reports whether it was. A full row is left unchanged;
// use [Table.Bucket] to pick a member to evict. Adding the table's own id is
// allowed and puts it in row 255, as the reference does.
func (t *Table[T]) Add(id ID, v T) bool {
	ri := RowIndex(t.id, id)
	r := t.rows[ri]
	i, ok := r.search(id, ri>>3)
	if ok {
		r[i].v = v
		return true
	}
	if len(r) >= t.k {
		return false
	}
	t.rows[ri] = r.insert(i, entry[T]{id: id, v: v}, t.k)
	t.n++
	return true
}

// Remove deletes id from the table and reports whether it was there.
func (t *Table[T]) Remove(id ID) bool {
	ri := RowIndex(t.id, id)
	r := t.rows[ri]
	i, ok := r.search(id, ri>>3)
	if !ok {
		return false
	}
	t.rows[ri] = r.delete(i)
	t.n--
	return true
}

// Get returns the value stored for id and whether there is one.
func (t *Table[T]) Get(id ID) (T, bool) {
	ri := RowIndex(t.id, id)
	r := t.rows[ri]
	if i, ok := r.search(id, ri>>3); ok {
		return r[i].v, true
	}
	var zero T
	return zero, false
}

// Has reports whether id is in the table.
func (t *Table[T]) Has(id ID) bool {
	ri := RowIndex(t.id, id)
	_, ok := t.rows[ri].search(id, ri>>3)
	return ok
}

// Bucket returns a copy of the values in the row that id falls in, in id
// order. id itself need not be in the table: this is how a caller whose
// [Table.Add] failed finds the members it may replace.
func (t *Table[T]) Bucket(id ID) []T {
	r := t.rows[RowIndex(t.id, id)]
	if len(r) == 0 {
		return nil
	}
	vs := make([]T, len(r))
	for i := range r {
		vs[i] = r[i].v
	}
	return vs
}

// AppendClosest appends to dst at most k values near target and returns the
// extended slice; k <= 0 means K(). The order is the reference's, not a
// sort by XOR distance: with d = RowIndex(own id, target), rows d, d-1, ...,
// 0 and then d+1, ..., 255, each in id order. It allocates only if dst lacks
// capacity.
func (t *Table[T]) AppendClosest(dst []T, target ID, k int) []T {
	if k <= 0 {
		k = t.k
	}
	return t.appendClosest(dst, target, k)
}

func (t *Table[T]) appendClosest(dst []T, target ID, k int) []T {
	k = min(k, t.n)
	d := RowIndex(t.id, target)
	for i := d; i >= 0 && k > 0; i-- {
		dst, k = t.rows[i].appendValues(dst, k)
	}
	for i := d + 1; i < rows && k > 0; i++ {
		dst, k = t.rows[i].appendValues(dst, k)
	}
	return dst
}

// Closest returns at most k values near target in the order described at
// [Table.AppendClosest]; k <= 0 means K(). The slice is new.
func (t *Table[T]) Closest(target ID, k int) []T {
	if k <= 0 {
		k = t.k
	}
	n := min(k, t.n)
	if n == 0 {
		return nil
	}
	return t.appendClosest(make([]T, 0, n), target, n)
}

// All returns every value in the table, in the order of Closest(own id,
// unlimited): rows 255 down to 0, each in id order.
func (t *Table[T]) All() []T {
	if t.n == 0 {
		return nil
	}
	return t.appendClosest(make([]T, 0, t.n), t.id, math.MaxInt)
}

// Random returns a node chosen uniformly among all nodes, or false if the
// table is empty. intn(n) must return a number in [0, n), as
// math/rand/v2.IntN does. The walk is over rows 0 to 255, each in id order,
// as in the reference.
func (t *Table[T]) Random(intn func(n int) int) (T, bool) {
	var zero T
	if t.n == 0 {
		return zero, false
	}
	j := intn(t.n)
	if j < 0 || j >= t.n {
		panic("ktable: intn returned a value out of range")
	}
	for _, r := range t.rows {
		if j < len(r) {
			return r[j].v, true
		}
		j -= len(r)
	}
	panic("ktable: internal error: node count does not match rows")
}
