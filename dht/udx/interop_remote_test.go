package udx_test

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/udx"
)

// The Go stream moves, mid-transfer to udx-native, from one path to the JS
// socket (a delaying proxy) to another (a second proxy), as hyperdht moves a
// relayed connection to a direct one. RemoteChanged closes once the old
// path's packets are acked, and from then on Go sends nothing more on the old
// path, not even retransmissions; the data arrives whole. (Datagrams Go had
// queued before it closed may still be on their way through the socket and
// the proxy: the old path is counted from a grace time after.)
func TestInteropRemoteChangedFromGo(t *testing.T) {
	p := newLossPair(t, 30*time.Second)
	var oldToJS atomic.Int64 // datagrams from Go on the old path
	slow := func(dir proxyDir, b []byte, r *rand.Rand) proxyAction {
		if dir == toServer {
			oldToJS.Add(1)
		}
		return proxyAction{Delay: 20 * time.Millisecond}
	}
	oldPath := newUDPProxy(t, p.jsAddr, 3, slow)
	newPath := newUDPProxy(t, p.jsAddr, 4, nil)
	p.goConnectsVia(t, oldPath.Addr())

	const grace = 100 * time.Millisecond
	changed := make(chan int64, 1) // datagrams on the old path a grace time after RemoteChanged closed
	move := func() {
		if err := p.s.ChangeRemote(p.sock, udx.StreamID(jsID), newPath.Addr()); err != nil {
			t.Errorf("ChangeRemote: %v", err)
			return
		}
		rc := p.s.RemoteChanged()
		select {
		case <-rc:
			t.Error("RemoteChanged closed at once, with the old path's packets in flight")
		default:
		}
		go func() {
			select {
			case <-rc:
				time.Sleep(grace)
				changed <- oldToJS.Load()
			case <-p.s.Done():
			case <-p.ctx.Done():
			}
		}()
	}
	n := int64(8 << 20)
	p.goToJS(t, n, 21, transferHook{n / 2, move})
	var atChange int64
	select {
	case atChange = <-changed:
	case <-p.ctx.Done():
		t.Fatal("RemoteChanged never closed")
	}
	time.Sleep(grace)
	if after := oldToJS.Load(); after != atChange {
		t.Errorf("the old path carried %d datagrams from Go after RemoteChanged closed", after-atChange)
	}
	t.Logf("old path: %d datagrams from Go, none after the change completed", atChange)
}
