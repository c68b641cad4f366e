package udx_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/udx"
	"github.com/hyperlan/hyperlan/interop"
)

// A Go relay between two udx-native streams on one JS socket:
//
//	JS stream 1 <-> Go leg 100 (RelayTo 200)  Go leg 200 (RelayTo 100) <-> JS stream 2
//
// Data goes both ways end to end, the JS streams close cleanly (their acks
// crossed the relay), and a DESTROY from one end resets the other.
func TestInteropGoRelay(t *testing.T) {
	js := interop.StartUDX(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sockID, port, err := js.Socket(ctx)
	if err != nil {
		t.Fatal(err)
	}
	jsAddr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port))
	u := udx.NewInstance()
	pc, err := u.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := pc.(*udx.Socket)
	defer sock.Close()
	var legs [2]*udx.Stream
	for i, id := range []udx.StreamID{100, 200} {
		if legs[i], err = u.NewStream(id, udx.StreamOptions{}); err != nil {
			t.Fatal(err)
		}
		defer legs[i].Destroy()
	}
	for _, err := range []error{
		legs[0].RelayTo(legs[1]),
		legs[1].RelayTo(legs[0]),
		legs[0].Connect(sock, 1, jsAddr),
		legs[1].Connect(sock, 2, jsAddr),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	relay := sock.LocalAddrPort()
	for _, s := range []struct{ id, remote uint32 }{{1, 100}, {2, 200}} {
		if err := js.Stream(ctx, s.id, interop.StreamOpts{}); err != nil {
			t.Fatal(err)
		}
		if err := js.Connect(ctx, s.id, sockID, s.remote, relay); err != nil {
			t.Fatal(err)
		}
	}

	const size = 2 << 20
	for _, dir := range []struct{ from, to uint32 }{{1, 2}, {2, 1}} {
		sum, err := js.WriteFile(ctx, dir.from, size, dir.from)
		if err != nil {
			t.Fatal(err)
		}
		if err := js.End(ctx, dir.from); err != nil {
			t.Fatal(err)
		}
		end, err := js.WaitStreamEnd(ctx, dir.to)
		if err != nil {
			t.Fatal(err)
		}
		if end.Bytes != size || end.SHA256 != sum {
			t.Fatalf("JS %d got %d bytes, sha256 %v; want %d, %x", dir.to, end.Bytes, end.SHA256, size, sum)
		}
	}
	for _, id := range []uint32{1, 2} {
		if c, err := js.WaitStreamClose(ctx, id); err != nil || c.Code != "" {
			t.Fatalf("JS stream %d close %+v, %v; want a clean close", id, c, err)
		}
	}
	t.Logf("relay legs %+v / %+v", legs[0].Stats(), legs[1].Stats())

	// A second pair through two new legs: a DESTROY crosses the relay and
	// tears it down.
	var legs2 [2]*udx.Stream
	for i, id := range []udx.StreamID{101, 201} {
		if legs2[i], err = u.NewStream(id, udx.StreamOptions{}); err != nil {
			t.Fatal(err)
		}
		defer legs2[i].Destroy()
	}
	for _, err := range []error{
		legs2[0].RelayTo(legs2[1]),
		legs2[1].RelayTo(legs2[0]),
		legs2[0].Connect(sock, 3, jsAddr),
		legs2[1].Connect(sock, 4, jsAddr),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []struct{ id, remote uint32 }{{3, 101}, {4, 201}} {
		if err := js.Stream(ctx, s.id, interop.StreamOpts{}); err != nil {
			t.Fatal(err)
		}
		if err := js.Connect(ctx, s.id, sockID, s.remote, relay); err != nil {
			t.Fatal(err)
		}
	}
	if err := js.Write(ctx, 3, []byte("via-relay")); err != nil {
		t.Fatal(err)
	}
	if err := js.Flush(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := js.Destroy(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if c, err := js.WaitStreamClose(ctx, 4); err != nil || c.Code != "ECONNRESET" {
		t.Fatalf("JS stream 4 close %+v, %v; want ECONNRESET", c, err)
	}
	for i, leg := range legs2 {
		select {
		case <-leg.Done():
		case <-ctx.Done():
			t.Fatalf("relay leg %d not torn down", i)
		}
	}
	if err := legs2[0].Err(); err != udx.ErrReset {
		t.Errorf("leg 101: Err %v, want ErrReset", err)
	}
}
