package configs

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// A table is one TOML table of the file while the loader walks it against the schema: each
// accessor consumes a key, reports a value of the wrong type, and remembers the key as known
// so that finish can report every key the schema does not have. This is what
// toml.MetaData.Undecoded gives for a struct decode, which stops at the first bad value; the
// walk goes on and reports them all.
type table struct {
	d     *decoder
	path  string         // "" for the top level
	m     map[string]any // nil when the table is absent (or was not a table)
	known []string
}

// get consumes key and returns its value and path.
func (t *table) get(key string) (v any, path string, ok bool) {
	t.known = append(t.known, key)
	path = pathJoin(t.path, key)
	v, ok = t.m[key]
	return v, path, ok
}

// str returns key's string value. example, such as `mtu = 1280`, goes into the hint of a
// type error.
func (t *table) str(key, example string) (s, path string, ok bool) {
	v, path, present := t.get(key)
	if !present {
		return "", path, false
	}
	s, ok = v.(string)
	if !ok {
		t.d.typeError(path, "a string", v, example)
	}
	return s, path, ok
}

// integer returns key's integer value.
func (t *table) integer(key, example string) (n int64, path string, ok bool) {
	v, path, present := t.get(key)
	if !present {
		return 0, path, false
	}
	n, ok = v.(int64)
	if !ok {
		t.d.typeError(path, "an integer", v, example)
	}
	return n, path, ok
}

// boolean returns key's boolean value.
func (t *table) boolean(key, example string) (b bool, path string, ok bool) {
	v, path, present := t.get(key)
	if !present {
		return false, path, false
	}
	b, ok = v.(bool)
	if !ok {
		t.d.typeError(path, "a boolean", v, example)
	}
	return b, path, ok
}

// strings returns key's array of strings and the path of each element; present is true for
// an empty array too. Elements of another type are reported and left out.
func (t *table) strings(key, example string) (vals, paths []string, present bool) {
	v, path, present := t.get(key)
	if !present {
		return nil, nil, false
	}
	arr, ok := v.([]any)
	if !ok {
		t.d.typeError(path, "an array of strings", v, example)
		return nil, nil, false
	}
	vals = []string{} // non-nil: the key is present
	for i, e := range arr {
		p := pathIndex(path, i)
		s, ok := e.(string)
		if !ok {
			t.d.typeError(p, "a string", e, example)
			continue
		}
		vals, paths = append(vals, s), append(paths, p)
	}
	return vals, paths, true
}

// sub returns the table under key; its map is nil when absent or not a table.
func (t *table) sub(key, example string) *table {
	v, path, present := t.get(key)
	sub := &table{d: t.d, path: path}
	if present {
		m, ok := v.(map[string]any)
		if !ok {
			t.d.typeError(path, "a table", v, example)
		}
		sub.m = m
	}
	return sub
}

// tables returns the array of tables under key ([[key]] sections or an array of inline
// tables).
func (t *table) tables(key, example string) []*table {
	v, path, present := t.get(key)
	if !present {
		return nil
	}
	var out []*table
	switch arr := v.(type) {
	case []map[string]any:
		for i, m := range arr {
			out = append(out, &table{d: t.d, path: pathIndex(path, i), m: m})
		}
	case []any:
		for i, e := range arr {
			p := pathIndex(path, i)
			m, ok := e.(map[string]any)
			if !ok {
				t.d.typeError(p, "a table", e, example)
				continue
			}
			out = append(out, &table{d: t.d, path: p, m: m})
		}
	default:
		t.d.typeError(path, "an array of tables", v, example)
	}
	return out
}

// finish reports the keys of the table that no accessor consumed.
func (t *table) finish() {
	var unknown []string
	for k := range t.m {
		if !slices.Contains(t.known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		path := pathJoin(t.path, k)
		t.d.errorf(t.d.pos.key(path), path, ClassUnknownKey, t.suggest(k), "unknown key")
	}
}

// suggest returns the hint for the unknown key k: the nearest known key when one is close,
// else the list of known keys.
func (t *table) suggest(k string) string {
	best, bestDist := "", 3
	for _, known := range t.known {
		if d := editDistance(strings.ToLower(k), known); d < bestDist {
			best, bestDist = known, d
		}
	}
	where := "top level"
	switch {
	case strings.HasSuffix(t.path, "]"):
		where = "[[" + pathParent(t.path) + "]]"
	case t.path != "":
		where = "[" + t.path + "]"
	}
	if best != "" && strings.EqualFold(best, k) {
		return fmt.Sprintf("did you mean %q? Keys are case-sensitive", best)
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	if t.path == "" {
		return "the tables of a config are [node], [network], [dht], [[peer]] and [log]"
	}
	return fmt.Sprintf("the keys of %s are: %s", where, strings.Join(t.known, ", "))
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// tomlType names the TOML type of a decoded value, with its article.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date or time"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}
