//go:build !linux

package udx

import (
	"net"
	"net/netip"
)

// batchConn is the batched socket I/O of socket_linux.go; elsewhere there is none and every
// Socket uses the portable path (one read or write call per datagram).
type batchConn struct{}

func newBatchConn(net.PacketConn) *batchConn { return nil }

func (*batchConn) readBatch(func([]byte, netip.AddrPort)) error { panic("udx: no batched I/O") }
func (*batchConn) writeTo([]byte, netip.AddrPort) bool          { return false }
