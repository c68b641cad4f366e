package udx

// ringChunk is the size of the chunks a byteRing is made of.
const ringChunk = 16 << 10

// byteRing is a FIFO of bytes kept in fixed-size chunks: the write queue of
// a stream's sender and the in-order bytes waiting for Read. A chunk that
// has been emptied is kept for reuse, so a ring never holds more chunks than
// it needed at its fullest, and once it has reached that size it allocates
// nothing however many bytes pass through it. Growing allocates only the new
// chunks: nothing is copied and no garbage is left behind, which keeps the
// heap, and so the process, at the size of the bytes actually queued. The
// zero value is empty and ready.
type byteRing struct {
	chunks [][]byte // chunks[first:] hold the bytes, each ringChunk long
	first  int      // index of the oldest chunk in use
	head   int      // offset of the first byte in chunks[first]
	n      int      // bytes held
	spare  [][]byte // emptied chunks
}

func (r *byteRing) len() int { return r.n }

// tail returns the offset in the last chunk where the next byte goes.
func (r *byteRing) tail() int {
	return (r.head+r.n-1)%ringChunk + 1
}

// write appends b.
func (r *byteRing) write(b []byte) {
	for len(b) > 0 {
		at := ringChunk // no chunk in use: as if the last were full
		if r.n > 0 {
			at = r.tail()
		}
		if at == ringChunk {
			r.addChunk()
			at = 0
			if r.n == 0 {
				r.head = 0
			}
		}
		k := copy(r.chunks[len(r.chunks)-1][at:], b)
		b = b[k:]
		r.n += k
	}
}

// addChunk appends an empty chunk, a spare one if there is one.
func (r *byteRing) addChunk() {
	var c []byte
	if k := len(r.spare); k > 0 {
		c, r.spare = r.spare[k-1], r.spare[:k-1]
	} else {
		c = make([]byte, ringChunk)
	}
	if r.first > 0 && len(r.chunks) == cap(r.chunks) {
		// Move the chunks in use to the front instead of growing the array.
		k := copy(r.chunks, r.chunks[r.first:])
		clear(r.chunks[k:])
		r.chunks, r.first = r.chunks[:k], 0
	}
	r.chunks = append(r.chunks, c)
}

// copyOut copies the first n bytes held (n <= r.n) to dst without consuming them.
func (r *byteRing) copyOut(dst []byte, n int) {
	off := r.head
	for i := r.first; n > 0; i++ {
		k := copy(dst[:n], r.chunks[i][off:])
		dst, n, off = dst[k:], n-k, 0
	}
}

// discard consumes the first n bytes held (n <= r.n).
func (r *byteRing) discard(n int) {
	r.n -= n
	r.head += n
	for r.head >= ringChunk || (r.n == 0 && r.first < len(r.chunks)) {
		r.spare = append(r.spare, r.chunks[r.first])
		r.chunks[r.first] = nil
		r.first++
		r.head = max(r.head-ringChunk, 0)
	}
	if r.first == len(r.chunks) {
		r.chunks, r.first, r.head = r.chunks[:0], 0, 0
	}
}

// read moves up to len(b) bytes into b and returns how many.
func (r *byteRing) read(b []byte) int {
	n := min(len(b), r.n)
	r.copyOut(b, n)
	r.discard(n)
	return n
}

// appendTo moves the first n bytes (n <= r.len()) to the end of dst.
func (r *byteRing) appendTo(dst []byte, n int) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	r.copyOut(dst[start:], n)
	r.discard(n)
	return dst
}

// release empties the ring and lets its chunks go.
func (r *byteRing) release() { *r = byteRing{} }
