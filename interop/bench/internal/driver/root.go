package driver

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
