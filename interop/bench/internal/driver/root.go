package driver

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// ModuleRoot finds the directory of the hyperlan go.mod, under which the JS drivers are:
// walking up from the working directory, else from `go env GOMOD`. tool names the
// benchmark in the error.
func ModuleRoot(tool string) (string, error) {
	isRoot := func(dir string) bool {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		return err == nil && bytes.Contains(b, []byte("module github.com/hyperlan/hyperlan\n"))
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			if isRoot(dir) {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if dir := filepath.Dir(strings.TrimSpace(string(out))); err == nil && isRoot(dir) {
		return dir, nil
	}
	return "", fmt.Errorf("cannot find the hyperlan module root; run %s from inside the repository", tool)
}

// Targets returns the implementations a run measures, in order, for the value of the -only flag:
// "go" and "js" when it is empty, else that one.
func Targets(only string) ([]string, error) {
	switch only {
	case "":
		return []string{"go", "js"}, nil
	case "go", "js":
		return []string{only}, nil
	}
	return nil, fmt.Errorf("-only %q: want go or js", only)
}

// Pairs reads the value of a -pairs flag: comma-separated pairs "a-b" of "go" and "js", in
// order, without repeats; empty items are skipped.
func Pairs(s string) ([][2]string, error) {
	var out [][2]string
	for _, name := range strings.Split(s, ",") {
		if name == "" {
			continue
		}
		a, b, ok := strings.Cut(name, "-")
		if !ok || (a != "go" && a != "js") || (b != "go" && b != "js") {
			return nil, fmt.Errorf("-pairs: %q: want go-go, js-js, go-js or js-go", name)
		}
		if p := [2]string{a, b}; !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Rounds runs measure for every target in turn, rounds times, and returns the results by
// target, one per round in order. The first error ends it, prefixed with its target.
func Rounds[R any](rounds int, targets []string, measure func(target string) (R, error)) (map[string][]R, error) {
	results := map[string][]R{}
	for range rounds {
		for _, target := range targets {
			res, err := measure(target)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", target, err)
			}
			results[target] = append(results[target], res)
		}
	}
	return results, nil
}
