//go:build !linux

package interop

import (
	"errors"
	"fmt"
)

// Network namespaces are Linux only: RequireNetns skips (or fails) first, so
// these are never reached in a test that checks.

func doIn(path string, f func() error) error {
	return fmt.Errorf("network namespace %s: %w", path, errors.ErrUnsupported)
}

func processExists(pid int) bool { return true }

func killPid(pid int) {}
