package rpc

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

// An attached socket carries requests both ways, answers from itself, hands one-byte
// datagrams over, and is closed by Destroy.
func TestAttach(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{})
		ctx := context.Background()
		n := tn.add(ModePersistent)
		pc, err := tn.net.ListenPacket("udp4", "10.9.0.1:7000")
		if err != nil {
			t.Fatal(err)
		}
		extra := netip.MustParseAddrPort("10.9.0.1:7000")
		type punch struct {
			b    []byte
			from netip.AddrPort
		}
		punches := make(chan punch, 1)
		if err := n.Attach(pc, func(b []byte, from netip.AddrPort) { punches <- punch{append([]byte(nil), b...), from} }); err != nil {
			t.Fatal(err)
		}
		if err := n.Attach(pc, nil); err == nil {
			t.Error("a socket attached twice")
		}
		if err := n.Attach(n.ServerSocket(), nil); err == nil {
			t.Error("the server socket attached")
		}

		// A request from the attached socket: the responder saw it there.
		res, err := n.Request(ctx, tn.boot.LocalAddr(), Outgoing{Command: CmdPing, Internal: true}, &RequestOptions{Socket: pc})
		if err != nil {
			t.Fatal(err)
		}
		if res.To != extra {
			t.Errorf("responder saw the request from %v, want %v", res.To, extra)
		}

		// A request to the attached socket is served and answered from it.
		var sock net.PacketConn
		served := make(chan struct{})
		n.Handle(77, func(req *Request) {
			sock = req.Socket()
			req.Reply([]byte("ok"))
			close(served)
		})
		res, err = tn.boot.Request(ctx, extra, Outgoing{Command: 77}, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-served
		if sock != pc || res.From != extra || string(res.Value) != "ok" {
			t.Errorf("served on %v, answered from %v with %q", sock.LocalAddr(), res.From, res.Value)
		}

		// One byte is a punch.
		other, _ := tn.net.ListenPacket("udp4", "10.9.0.2:7000")
		defer other.Close()
		other.WriteTo([]byte{0}, net.UDPAddrFromAddrPort(extra))
		if p := <-punches; len(p.b) != 1 || p.from != netip.MustParseAddrPort("10.9.0.2:7000") {
			t.Errorf("punch %x from %v", p.b, p.from)
		}

		n.Destroy()
		if _, err := pc.WriteTo([]byte{0}, net.UDPAddrFromAddrPort(extra)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("write on the attached socket after Destroy: %v", err)
		}
		if err := n.Attach(other, nil); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Attach after Destroy: %v", err)
		}
	})
}
