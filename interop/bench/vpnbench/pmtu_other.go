//go:build !linux

package main

import (
	"errors"
	"net"
)

// ignorePMTU is Linux-only, like the benchmark.
func ignorePMTU(*net.UDPConn) error { return errors.ErrUnsupported }
