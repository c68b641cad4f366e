//go:build !linux

package udx

import (
	"net"
	"net/netip"
)

// batchConn is the batched socket I/O of socket_linux.go; elsewhere there is none and every
// Socket uses the portable path (one read or write call per datagram, no send queue).
type batchConn struct{}

func newBatchConn(net.PacketConn) *batchConn { return nil }

func (*batchConn) readBatch() (int, error)               { panic("udx: no batched I/O") }
func (*batchConn) datagram(int) ([]byte, netip.AddrPort) { panic("udx: no batched I/O") }
func (*batchConn) writeBatch(*sendBatch)                 { panic("udx: no batched I/O") }

// routeMTU is the route MTU the kernel reports (socket_linux.go); elsewhere it is unknown, as
// it is to libudx on macOS, and MTU probing goes up to MTUMax.
func routeMTU(netip.AddrPort) int { return 0 }
