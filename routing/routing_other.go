//go:build !linux

package routing

import (
	"errors"
	"fmt"
)

// newSystem is Linux only; see the package documentation.
func newSystem(iface string) (system, error) {
	return nil, fmt.Errorf("routing: %s: %w on this system", iface, errors.ErrUnsupported)
}
