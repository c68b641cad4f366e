// Package goldentest checks golden files that a Node.js script generates from the JS
// reference pinned in interop/: the protocol packages' tests keep their vectors current
// with it. It is for tests only.
package goldentest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Load reads the JSON golden file at path into a T; a missing or malformed file fails the
// test.
func Load[T any](t testing.TB, path string) T {
	t.Helper()
	var v T
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// RequireNode returns the node binary, after checking that each of modules is installed in
// interop/node_modules. Without them the test is skipped, with the reason; under
// HYPERLAN_REQUIRE_INTEROP=1 it fails instead.
func RequireNode(t testing.TB, modules ...string) string {
	t.Helper()
	fail := func(reason string) {
		t.Helper()
		if os.Getenv("HYPERLAN_REQUIRE_INTEROP") == "1" {
			t.Fatalf("HYPERLAN_REQUIRE_INTEROP=1 but %s", reason)
		}
		t.Skip(reason)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		fail("node is not on PATH")
	}
	root, err := moduleRoot()
	if err != nil {
		fail(err.Error())
	}
	for _, m := range modules {
		if _, err := os.Stat(filepath.Join(root, "interop", "node_modules", m)); err != nil {
			fail("the JS reference is not installed (run npm ci in interop/): " + err.Error())
		}
	}
	return node
}

// Check runs `node script` in the test's directory (the package's) and compares its
// output with the golden file; it fails with the command that regenerates a stale file. It
// skips as RequireNode does.
func Check(t testing.TB, script, golden string, modules ...string) {
	t.Helper()
	node := RequireNode(t, modules...)
	cmd := exec.Command(node, script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, stderr.Bytes())
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, want) {
		return
	}
	line := 1 + bytes.Count(got[:commonPrefix(got, want)], []byte("\n"))
	t.Errorf("%s is stale from line %d; regenerate it with\n\tnode %s > %s", golden, line, script, golden)
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// moduleRoot finds the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
