package rpc

import (
	"errors"
	"net"
	"net/netip"
)

// maxDatagram is the read buffer size: the largest UDP payload.
const maxDatagram = 65536

// udpAddrPortConn is implemented by *net.UDPConn and netsim conns; it avoids an allocation per
// datagram for the source address.
type udpAddrPortConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// socket is one of the node's two UDP sockets.
type socket struct {
	pc     net.PacketConn
	fast   udpAddrPortConn // nil if pc lacks the AddrPort methods
	local  netip.AddrPort
	port   uint16
	server bool
}

// Socket buffer sizes as libudx sets them when it binds (src/udx.c): a receive buffer of
// 1 MiB, falling back to smaller sizes, and a 208 KiB send buffer. The kernel doubles both.
var (
	recvBufferSizes = []int{1 << 20, 512 << 10, 256 << 10, 208 << 10}
	sendBufferSize  = 212992
)

func newSocket(pc net.PacketConn, server bool) *socket {
	if b, ok := pc.(interface {
		SetReadBuffer(int) error
		SetWriteBuffer(int) error
	}); ok {
		for _, size := range recvBufferSizes {
			if b.SetReadBuffer(size) == nil {
				break
			}
		}
		b.SetWriteBuffer(sendBufferSize)
	}
	s := &socket{pc: pc, server: server}
	s.fast, _ = pc.(udpAddrPortConn)
	if ua, ok := pc.LocalAddr().(*net.UDPAddr); ok {
		s.local = ua.AddrPort()
		s.local = netip.AddrPortFrom(s.local.Addr().Unmap(), s.local.Port())
	} else if ap, err := netip.ParseAddrPort(pc.LocalAddr().String()); err == nil {
		s.local = ap
	}
	s.port = s.local.Port()
	return s
}

func (s *socket) read(b []byte) (int, netip.AddrPort, error) {
	if s.fast != nil {
		n, from, err := s.fast.ReadFromUDPAddrPort(b)
		return n, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), err
	}
	n, addr, err := s.pc.ReadFrom(b)
	if err != nil {
		return n, netip.AddrPort{}, err
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, netip.AddrPort{}, nil
	}
	from := ua.AddrPort()
	return n, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), nil
}

// send writes one datagram. UDP send errors (no route, buffer full) are not reported to
// callers: like the reference, a lost datagram is handled by retransmission.
func (s *socket) send(b []byte, to netip.AddrPort) {
	if s.fast != nil {
		s.fast.WriteToUDPAddrPort(b, to)
		return
	}
	s.pc.WriteTo(b, net.UDPAddrFromAddrPort(to))
}

// readLoop reads datagrams until the socket closes.
func (n *Node) readLoop(s *socket) {
	defer n.wg.Done()
	buf := make([]byte, maxDatagram)
	var scratch Message
	var out []byte
	for {
		k, from, err := s.read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || n.closed() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			n.log.Debug("rpc: read", "socket", s.local, "err", err)
			continue
		}
		out = n.onDatagram(s, buf[:k], from, &scratch, out[:0])
	}
}
