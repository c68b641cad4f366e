package configs

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// BurntSushi/toml reports the position of syntax errors but keeps the positions of keys to
// itself (and has one per key name, not per element of an array of tables), so the loader
// finds them with the small scanner below. It records where each key, table header and
// value starts under a path such as "peer[1].routes[0]" (see pathJoin and pathIndex), and
// never fails: on text it does not understand it records less, and an error then points at
// the nearest enclosing key.
//
// It runs before the TOML parser, to enforce limits no config comes near: the parser takes
// time quadratic in the nesting of inline tables and in the parts of a dotted key (80 KB of
// nested inline tables take a minute), so deeper or longer ones are refused unparsed.
// Recording is capped too, so that a large file cannot make the index large.
const (
	maxNesting  = 32      // arrays and inline tables inside each other
	maxKeyParts = 16      // parts of a dotted key or table name
	maxPathLen  = 512     // longest path recorded
	maxEntries  = 1 << 16 // keys and values recorded
)

// A position is a place in the file: 1-based line and column (the column counts bytes).
type position struct{ line, col int }

// positions maps paths to byte offsets in the source.
type positions struct {
	lineStarts []int          // offset of the first byte of each line
	keys       map[string]int // where the key (or the table header) of a path starts
	values     map[string]int // where the value of a path starts

	// limit, when not empty, says which limit the text exceeds, at offset limitAt.
	limit   string
	limitAt int
}

func indexPositions(src []byte) *positions {
	p := &positions{lineStarts: lineStarts(src), keys: map[string]int{}, values: map[string]int{}}
	s := scanner{src: src, p: p, aot: map[string]int{}}
	s.document()
	return p
}

// lineStarts returns the offset of the first byte of each line of src.
func lineStarts(src []byte) []int {
	starts := []int{0}
	for i, c := range src {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// at converts a byte offset to a position.
func (p *positions) at(off int) position {
	line := sort.SearchInts(p.lineStarts, off+1) // lines starting at or before off
	return position{line: line, col: off - p.lineStarts[line-1] + 1}
}

// key returns where path's key is written, falling back to its value, then to the nearest
// enclosing path; the zero position when there is none.
func (p *positions) key(path string) position { return p.find(path, p.keys, p.values) }

// value returns where path's value starts, falling back to its key, then to the nearest
// enclosing path.
func (p *positions) value(path string) position { return p.find(path, p.values, p.keys) }

func (p *positions) find(path string, first, second map[string]int) position {
	if len(path) > maxPathLen { // never recorded; start from an enclosing path that may be
		path = pathParent(path[:maxPathLen+1])
	}
	for path != "" {
		if off, ok := first[path]; ok {
			return p.at(off)
		}
		if off, ok := second[path]; ok {
			return p.at(off)
		}
		path = pathParent(path)
	}
	return position{}
}

// record notes that path's key or value starts at off, within the caps.
func (p *positions) record(m map[string]int, path string, off int) {
	if len(path) <= maxPathLen && len(p.keys)+len(p.values) < maxEntries {
		m[path] = off
	}
}

// pathJoin appends key to parent, quoting a key that is not a bare TOML key.
func pathJoin(parent, key string) string {
	if !isBareKey(key) {
		key = strconv.Quote(key)
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// pathIndex appends an array index to parent.
func pathIndex(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

// pathParent strips the last key or index from path. A quoted key holding '.' or '[' may
// be cut in the wrong place; positions are then looked up further out, which is harmless.
func pathParent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func isBareKey(k string) bool {
	if k == "" {
		return false
	}
	for i := range len(k) {
		if !isBareKeyByte(k[i]) {
			return false
		}
	}
	return true
}

func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

type scanner struct {
	src []byte
	i   int
	p   *positions
	aot map[string]int // path of each array of tables (parents indexed) -> elements so far
}

func (s *scanner) cur() byte {
	if s.i < len(s.src) {
		return s.src[s.i]
	}
	return 0
}

func (s *scanner) has(prefix string) bool {
	return s.i <= len(s.src) && bytes.HasPrefix(s.src[s.i:], []byte(prefix))
}

// skipSpace skips blanks on the current line.
func (s *scanner) skipSpace() {
	for s.i < len(s.src) && (s.src[s.i] == ' ' || s.src[s.i] == '\t') {
		s.i++
	}
}

// skipBlank skips blanks, line ends and comments.
func (s *scanner) skipBlank() {
	for s.i < len(s.src) {
		switch s.src[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		case '#':
			s.skipLine()
		default:
			return
		}
	}
}

// skipLine moves to the start of the next line.
func (s *scanner) skipLine() {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		s.i++
	}
}

func (s *scanner) document() {
	table := ""
	for {
		s.skipBlank()
		if s.i >= len(s.src) {
			return
		}
		start := s.i
		if s.cur() == '[' {
			table = s.header()
			s.p.record(s.p.keys, table, start)
			s.skipLine()
			continue
		}
		if !s.keyValue(table, 0) {
			s.skipLine() // not a key: nothing we understand on this line
			continue
		}
		if s.i == start {
			s.i++
		}
	}
}

// keyValue reads "key = value" in the table at path and records both; false when there is
// no key here.
func (s *scanner) keyValue(path string, depth int) bool {
	start := s.i
	keys := s.keyPath()
	if len(keys) == 0 {
		return false
	}
	for _, k := range keys {
		if len(path) <= maxPathLen {
			path = pathJoin(path, k)
		}
	}
	s.p.record(s.p.keys, path, start)
	s.skipSpace()
	if s.cur() == '=' {
		s.i++
	}
	s.skipSpace()
	s.value(path, depth)
	return true
}

// header reads "[a.b]" or "[[a.b]]" and returns the table's path: keys that name an array
// of tables take the index of its last element, and a "[[...]]" header starts a new one.
func (s *scanner) header() string {
	s.i++
	array := s.cur() == '['
	if array {
		s.i++
	}
	keys := s.keyPath()
	path := ""
	for j, k := range keys {
		path = pathJoin(path, k)
		n, isArray := s.aot[path]
		switch {
		case j == len(keys)-1 && array:
			s.aot[path] = n + 1
			path = pathIndex(path, n)
		case isArray && n > 0:
			path = pathIndex(path, n-1)
		}
	}
	return path
}

// keyPath reads a dotted key and returns its parts; none when there is no key here.
func (s *scanner) keyPath() []string {
	var keys []string
	for {
		s.skipSpace()
		start := s.i
		k, ok := s.simpleKey()
		if !ok {
			return keys
		}
		if len(keys) == maxKeyParts {
			s.exceeded(fmt.Sprintf("dotted key of more than %d parts", maxKeyParts), start)
			return keys
		}
		keys = append(keys, k)
		s.skipSpace()
		if s.cur() != '.' {
			return keys
		}
		s.i++
	}
}

func (s *scanner) simpleKey() (string, bool) {
	start := s.i
	switch s.cur() {
	case '"':
		s.i++
		for s.i < len(s.src) && s.src[s.i] != '"' && s.src[s.i] != '\n' {
			if s.src[s.i] == '\\' {
				s.i++
			}
			s.i++
		}
		s.i = min(s.i+1, len(s.src))
		raw := string(s.src[start:s.i])
		if k, err := strconv.Unquote(raw); err == nil {
			return k, true
		}
		return strings.Trim(raw, `"`), true
	case '\'':
		s.i++
		for s.i < len(s.src) && s.src[s.i] != '\'' && s.src[s.i] != '\n' {
			s.i++
		}
		k := string(s.src[start+1 : s.i])
		s.i = min(s.i+1, len(s.src))
		return k, true
	}
	for s.i < len(s.src) && isBareKeyByte(s.src[s.i]) {
		s.i++
	}
	return string(s.src[start:s.i]), s.i > start
}

// value records where path's value starts and moves past it, following arrays and inline
// tables to record their elements and keys.
func (s *scanner) value(path string, depth int) {
	if depth > maxNesting {
		s.exceeded(fmt.Sprintf("arrays and inline tables nested more than %d deep", maxNesting), s.i)
		return
	}
	s.p.record(s.p.values, path, s.i)
	switch {
	case s.has(`"""`), s.has(`'''`):
		s.multilineString()
	case s.cur() == '"' || s.cur() == '\'':
		q := s.cur()
		s.i++
		for s.i < len(s.src) && s.src[s.i] != q && s.src[s.i] != '\n' {
			if q == '"' && s.src[s.i] == '\\' {
				s.i++
			}
			s.i++
		}
		s.i = min(s.i+1, len(s.src))
	case s.cur() == '[':
		n := 0
		s.items(']', func() {
			p := path // a path too long to record stays so: no need to build longer ones
			if len(path) <= maxPathLen {
				p = pathIndex(path, n)
			}
			s.value(p, depth+1)
			n++
		})
	case s.cur() == '{':
		s.items('}', func() { s.keyValue(path, depth+1) })
	default: // number, boolean, date and time: up to the next separator
		for s.i < len(s.src) && !strings.ContainsRune(",]}#\r\n", rune(s.src[s.i])) {
			s.i++
		}
	}
}

// exceeded records the first limit the text exceeds and ends the scan.
func (s *scanner) exceeded(limit string, at int) {
	if s.p.limit == "" {
		s.p.limit, s.p.limitAt = limit, at
	}
	s.i = len(s.src)
}

// items moves past an array or inline table, from its opening bracket to close, calling
// item at the start of each of its comma-separated items.
func (s *scanner) items(close byte, item func()) {
	s.i++
	for s.i < len(s.src) {
		s.skipBlank()
		switch s.cur() {
		case close:
			s.i++
			return
		case ',':
			s.i++
			continue
		}
		start := s.i
		item()
		if s.i == start {
			s.i++
		}
	}
}

// multilineString moves past a """...""" or ”'...”' string, including up to two quotes
// that end its content right before the closing delimiter.
func (s *scanner) multilineString() {
	q := s.cur()
	delim := string([]byte{q, q, q})
	s.i += 3
	for s.i < len(s.src) {
		if q == '"' && s.src[s.i] == '\\' {
			s.i += 2
			continue
		}
		if s.has(delim) {
			s.i += 3
			for k := 0; k < 2 && s.cur() == q; k++ {
				s.i++
			}
			return
		}
		s.i++
	}
	s.i = len(s.src)
}
