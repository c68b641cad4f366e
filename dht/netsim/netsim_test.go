package netsim_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

// The netip methods have the signatures of *net.UDPConn, so callers can
// assert this interface on either.
type udpAddrPortConn interface {
	net.PacketConn
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

var (
	_ udpAddrPortConn = (*net.UDPConn)(nil)
	_ udpAddrPortConn = (*netsim.Conn)(nil)
)

// listen binds address on n with network "udp" and closes it at cleanup.
func listen(t *testing.T, n *netsim.Network, address string) *netsim.Conn {
	t.Helper()
	pc, err := n.ListenPacket("udp", address)
	if err != nil {
		t.Fatalf("ListenPacket(%q): %v", address, err)
	}
	c := pc.(*netsim.Conn)
	t.Cleanup(func() { c.Close() })
	return c
}

func addrOf(c net.PacketConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func send(t *testing.T, from *netsim.Conn, to netip.AddrPort, b []byte) {
	t.Helper()
	n, err := from.WriteToUDPAddrPort(b, to)
	if err != nil || n != len(b) {
		t.Fatalf("WriteToUDPAddrPort(%d bytes, %v) = %d, %v; want %d, nil", len(b), to, n, err, len(b))
	}
}

// recv reads one packet, failing the test on error.
func recv(t *testing.T, c *netsim.Conn) ([]byte, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 70000)
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("ReadFromUDPAddrPort: %v", err)
	}
	return buf[:n], from
}

// drain reads every packet already queued at c and returns their 2-byte
// big-endian sequence numbers (see seqPacket). It must run in a synctest
// bubble: the read deadline one nanosecond ahead is reached only when the
// queue is empty and the read blocks.
func drain(t *testing.T, c *netsim.Conn) []int {
	t.Helper()
	var got []int
	buf := make([]byte, 100)
	c.SetReadDeadline(time.Now().Add(time.Nanosecond))
	defer c.SetReadDeadline(time.Time{})
	for {
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return got
		}
		if err != nil {
			t.Fatalf("ReadFromUDPAddrPort: %v", err)
		}
		if n != 2 {
			t.Fatalf("packet of %d bytes, want a 2-byte sequence number", n)
		}
		got = append(got, int(buf[0])<<8|int(buf[1]))
	}
}

func seqPacket(i int) []byte { return []byte{byte(i >> 8), byte(i)} }
