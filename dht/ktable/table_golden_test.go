package ktable

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hyperlan/hyperlan/dht/internal/goldentest"
)

// goldenFile is the output of testdata/gen.js, which runs a fixed scenario
// through the JS reference (npm kademlia-routing-table).
const goldenFile = "testdata/closest.json"

type golden struct {
	K    int    `json:"k"`
	Own  string `json:"own"`
	Size int    `json:"size"`
	Ops  []struct {
		Op  string `json:"op"` // "add" or "remove"
		ID  string `json:"id"`
		Tag int    `json:"tag"`
		OK  bool   `json:"ok"` // what the reference returned
	} `json:"ops"`
	All     goldenResult `json:"all"`
	Queries []struct {
		Target string `json:"target"`
		K      int    `json:"k"`
		goldenResult
	} `json:"queries"`
}

type goldenResult struct {
	IDs  []string `json:"ids"`
	Tags []int    `json:"tags"`
}

func (r goldenResult) check(t *testing.T, what string, got []node) {
	t.Helper()
	ids := make([]string, len(got))
	tags := make([]int, len(got))
	for i, n := range got {
		ids[i], tags[i] = n.id.String(), n.tag
	}
	if !slices.Equal(ids, r.IDs) {
		t.Errorf("%s ids:\n got %q\nwant %q", what, ids, r.IDs)
	}
	if !slices.Equal(tags, r.Tags) {
		t.Errorf("%s tags: got %v, want %v", what, tags, r.Tags)
	}
}

// TestGolden replays the reference scenario and compares every return value
// and every closest list, in order.
func TestGolden(t *testing.T) {
	data, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("%s: %v", goldenFile, err)
	}
	if len(g.Ops) < 300 || len(g.Queries) < 20 {
		t.Fatalf("%s holds %d ops and %d queries; expected at least 300 and 20", goldenFile, len(g.Ops), len(g.Queries))
	}
	tb := New[node](mustID(t, g.Own), g.K)
	for i, op := range g.Ops {
		id := mustID(t, op.ID)
		var ok bool
		switch op.Op {
		case "add":
			ok = tb.Add(id, node{id, op.Tag})
		case "remove":
			ok = tb.Remove(id)
		default:
			t.Fatalf("op %d: unknown op %q", i, op.Op)
		}
		if ok != op.OK {
			t.Fatalf("op %d: %s(%s) = %v, reference returned %v", i, op.Op, op.ID, ok, op.OK)
		}
	}
	if tb.Len() != g.Size {
		t.Fatalf("Len = %d, reference size %d", tb.Len(), g.Size)
	}
	g.All.check(t, "All", tb.All())
	for i, q := range g.Queries {
		q.check(t, "query "+q.Target[:8]+"…", tb.Closest(mustID(t, q.Target), q.K))
		if t.Failed() {
			t.Fatalf("query %d (k=%d) differs from the reference", i, q.K)
		}
	}
}

// TestGoldenUpToDate regenerates the golden file with node and the pinned
// reference, and checks that it matches the checked-in copy. It is skipped
// when either is missing, unless HYPERLAN_REQUIRE_INTEROP=1.
func TestGoldenUpToDate(t *testing.T) {
	goldentest.Check(t, filepath.Join("testdata", "gen.js"), goldenFile, "kademlia-routing-table")
}
