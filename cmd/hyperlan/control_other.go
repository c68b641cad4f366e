//go:build !linux

package main

import (
	"errors"
	"net"
)

// peerUID is not implemented here: the daemon runs on Linux only, and without a peer's
// credentials the control socket refuses every client.
func peerUID(*net.UnixConn) (uint32, error) {
	return 0, errors.ErrUnsupported
}
