//go:build !linux

package driver

import "syscall"

// On other systems a driver process is not tied to this process's life.
func sysProcAttr() *syscall.SysProcAttr { return nil }
