//go:build !linux

package main

import (
	"errors"
	"syscall"
	"time"
)

// On other systems the network processes are not tied to this process's life, and neither
// memory nor CPU time is measured.

func sysProcAttr() *syscall.SysProcAttr { return nil }

func procMemory(int) (rssKB, hwmKB int64, err error) { return 0, 0, errors.ErrUnsupported }

func procCPU(int) (total, user time.Duration, err error) { return 0, 0, errors.ErrUnsupported }

func loadAverage() string { return "unknown" }
