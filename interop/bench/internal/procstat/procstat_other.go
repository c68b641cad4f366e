//go:build !linux

package procstat

import (
	"errors"
	"time"
)

// On other systems neither memory nor CPU time is measured.

func Memory(int) (rssKB, hwmKB int64, err error) { return 0, 0, errors.ErrUnsupported }

func CPU(int) (total, user time.Duration, err error) { return 0, 0, errors.ErrUnsupported }

func SelfCPU() (time.Duration, error) { return 0, errors.ErrUnsupported }

func LoadAverage() string { return "unknown" }
