//go:build !linux

package tun

import (
	"errors"
	"fmt"
)

// Open is Linux only; see the package documentation.
func Open(opts Options) (Device, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("tun: %w on this system", errors.ErrUnsupported)
}
