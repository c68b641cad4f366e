package netsim_test

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

func Example() {
	n := netsim.New(netsim.Options{})
	defer n.Close()

	server, _ := n.ListenPacket("udp4", "192.0.2.1:49737")
	client, _ := n.ListenPacket("udp4", "198.51.100.7:0")

	client.WriteTo([]byte("ping"), server.LocalAddr())
	buf := make([]byte, 1500)
	k, from, _ := server.ReadFrom(buf)
	fmt.Printf("%s from %v\n", buf[:k], from)

	// Hot paths use the netip methods, as on a *net.UDPConn.
	type udpConn interface {
		net.PacketConn
		WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	}
	server.(udpConn).WriteToUDPAddrPort([]byte("pong"), from.(*net.UDPAddr).AddrPort())
	k, _, _ = client.ReadFrom(buf)
	fmt.Printf("%s\n", buf[:k])
	fmt.Printf("%+v\n", n.Stats())
	// Output:
	// ping from 198.51.100.7:32768
	// pong
	// {Sent:2 Delivered:2 Dropped:0}
}
