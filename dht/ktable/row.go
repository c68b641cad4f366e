package ktable

import "bytes"

// entry is one node in a row.
type entry[T any] struct {
	id ID
	v  T
}

// row is the members of one row, sorted by id. All ids in row r share their
// first r bits with the table id, so ordering compares only from byte r/8 on
// (the reference does the same); the order equals that of whole ids.
type row[T any] []entry[T]

// search returns the position of id in r and whether it is there; if it is
// not, the position is where it would be inserted. off is the row's byte
// offset.
func (r row[T]) search(id ID, off int) (int, bool) {
	lo, hi := 0, len(r)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := bytes.Compare(id[off:], r[m].id[off:]); {
		case c == 0:
			return m, true
		case c < 0:
			hi = m
		default:
			lo = m + 1
		}
	}
	return lo, false
}

// insert puts e at position i. The row never grows past limit entries of
// capacity, so a full row of a table with k = 20 costs 20 entries, not the
// 32 that append would reserve.
func (r row[T]) insert(i int, e entry[T], limit int) row[T] {
	if len(r) == cap(r) {
		n := min(max(2*cap(r), 4), limit)
		grown := make(row[T], len(r), n)
		copy(grown, r)
		r = grown
	}
	r = r[:len(r)+1]
	copy(r[i+1:], r[i:])
	r[i] = e
	return r
}

// delete removes the entry at position i, clearing the freed slot so that
// the row does not keep its value reachable.
func (r row[T]) delete(i int) row[T] {
	copy(r[i:], r[i+1:])
	r[len(r)-1] = entry[T]{}
	return r[:len(r)-1]
}

// appendValues appends up to k values of r to dst, returning the extended
// slice and how many values are still wanted.
func (r row[T]) appendValues(dst []T, k int) ([]T, int) {
	n := min(k, len(r))
	for i := range n {
		dst = append(dst, r[i].v)
	}
	return dst, k - n
}
