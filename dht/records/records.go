package records

import "time"

// Records holds topic records: for each topic, the encoded peer record of each announcing
// public key, as the reference's record-cache does for a storing node. It has two
// generations like Cache: the fresh one rotates into the stale one when it reaches maxSize
// records or a rotation tick passes, so at most 2·maxSize records are held and an
// unrefreshed record lives between ⅔ and 4⁄3 of maxAge. (record-cache rotates one record
// later, at maxSize+1; nothing on the wire depends on the difference.)
//
// Unlike a Cache, adding a key that is already fresh changes nothing, not even its value:
// the first record stays until it ages out. A key found only in the stale generation moves
// to the fresh one with the new value. Reads do not refresh records.
//
// Records is not safe for concurrent use; stored records are kept, not copied, and must not
// be modified afterwards.
type Records struct {
	maxSize int
	clock   rotor
	fresh   recordGen
	stale   recordGen
}

// recordKey names one record: the topic and the announcer's public key.
type recordKey struct {
	topic, publicKey [32]byte
}

// recordGen is one generation: per-topic lists, for picking records at random, and an
// index of every record's position in its topic's list.
type recordGen struct {
	topics map[[32]byte][]recordEntry
	index  map[recordKey]int
}

type recordEntry struct {
	publicKey [32]byte
	record    []byte
}

func newRecordGen() recordGen {
	return recordGen{topics: make(map[[32]byte][]recordEntry), index: make(map[recordKey]int)}
}

func (g *recordGen) has(k recordKey) bool {
	_, ok := g.index[k]
	return ok
}

func (g *recordGen) add(k recordKey, record []byte) {
	list := g.topics[k.topic]
	g.index[k] = len(list)
	g.topics[k.topic] = append(list, recordEntry{k.publicKey, record})
}

// remove deletes k by moving its topic's last record into its place.
func (g *recordGen) remove(k recordKey) {
	i, ok := g.index[k]
	if !ok {
		return
	}
	delete(g.index, k)
	list := g.topics[k.topic]
	last := len(list) - 1
	if i != last {
		list[i] = list[last]
		g.index[recordKey{k.topic, list[i].publicKey}] = i
	}
	list[last] = recordEntry{}
	if last == 0 {
		delete(g.topics, k.topic)
	} else {
		g.topics[k.topic] = list[:last]
	}
}

// NewRecords returns a record store whose fresh generation holds at most maxSize records
// (at least 1) and whose generations rotate every ⌈⅔·maxAge⌉; maxAge <= 0 means no age
// limit. now is the clock; nil means time.Now.
func NewRecords(maxSize int, maxAge time.Duration, now func() time.Time) *Records {
	return &Records{
		maxSize: max(maxSize, 1),
		clock:   newRotor(maxAge, now),
		fresh:   newRecordGen(),
		stale:   newRecordGen(),
	}
}

func (s *Records) expire() {
	for range s.clock.due() {
		s.rotate()
	}
}

func (s *Records) rotate() {
	s.stale = s.fresh
	s.fresh = newRecordGen()
}

// Add stores record for publicKey under topic, unless the fresh generation already has one
// (see Records).
func (s *Records) Add(topic, publicKey [32]byte, record []byte) {
	s.expire()
	k := recordKey{topic, publicKey}
	s.stale.remove(k)
	if s.fresh.has(k) {
		return
	}
	s.fresh.add(k, record)
	if len(s.fresh.index) >= s.maxSize {
		s.rotate()
		s.clock.rotated()
	}
}

// Remove deletes publicKey's record under topic from both generations.
func (s *Records) Remove(topic, publicKey [32]byte) {
	s.expire()
	k := recordKey{topic, publicKey}
	s.fresh.remove(k)
	s.stale.remove(k)
}

// Random returns up to max records of topic, chosen uniformly at random without repetition
// from both generations, in random order. rand(n) must return an integer in [0, n). The
// returned slices are the stored records.
func (s *Records) Random(topic [32]byte, max int, rand func(n int) int) [][]byte {
	s.expire()
	a, b := s.fresh.topics[topic], s.stale.topics[topic]
	n := len(a) + len(b)
	if max > n {
		max = n
	}
	if max <= 0 {
		return nil
	}
	at := func(i int) []byte {
		if i < len(a) {
			return a[i].record
		}
		return b[i-len(a)].record
	}
	// Robert Floyd's sampling: max distinct indices of [0, n) with max calls to rand, each
	// placed at a random position so the order is random too.
	var buf [MaxLookupRecords]int
	picked := buf[:0]
	if max > len(buf) {
		picked = make([]int, 0, max)
	}
	for j := n - max; j < n; j++ {
		t := rand(j + 1)
		for _, p := range picked {
			if p == t {
				t = j
				break
			}
		}
		picked = append(picked, t)
		if k := rand(len(picked)); k != len(picked)-1 {
			picked[k], picked[len(picked)-1] = picked[len(picked)-1], picked[k]
		}
	}
	out := make([][]byte, max, max+1)
	for i, p := range picked {
		out[i] = at(p)
	}
	return out
}

// Len returns the number of records held in both generations.
func (s *Records) Len() int {
	s.expire()
	return len(s.fresh.index) + len(s.stale.index)
}

// topicCount returns the number of topics with at least one record, counting a topic present
// in both generations twice.
func (s *Records) topicCount() int {
	return len(s.fresh.topics) + len(s.stale.topics)
}
