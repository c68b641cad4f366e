package udx_test

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/udx"
)

// heartbeatCounter is a proxy callback that counts, on an idle stream, the
// HEARTBEATs going one way and the pure acks coming back.
type heartbeatCounter struct {
	beatDir proxyDir // the direction heartbeats travel

	mu    sync.Mutex
	beats []time.Time
	acks  int
}

func (c *heartbeatCounter) handle(dir proxyDir, b []byte, _ *rand.Rand) proxyAction {
	h, err := udx.ParseHeader(b)
	if err != nil {
		return proxyAction{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case dir == c.beatDir && h.Type == udx.TypeHeartbeat:
		c.beats = append(c.beats, time.Now())
	case dir != c.beatDir && h.Type == 0:
		c.acks++
	}
	return proxyAction{}
}

func (c *heartbeatCounter) get() ([]time.Time, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.beats...), c.acks
}

// check waits for at least min heartbeats, turns keepalive off with stop,
// and checks that every heartbeat got its ack and none came sooner than half
// the interval after the one before.
func (c *heartbeatCounter) check(t *testing.T, p *lossPair, d time.Duration, min int, stop func() error) {
	t.Helper()
	for {
		if beats, _ := c.get(); len(beats) >= min {
			break
		}
		select {
		case <-p.ctx.Done():
			beats, acks := c.get()
			t.Fatalf("%d heartbeats and %d acks before the deadline, want %d heartbeats", len(beats), acks, min)
		case <-time.After(d / 4):
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d) // for the last ack, and a heartbeat that was already under way
	beats, acks := c.get()
	if acks != len(beats) {
		t.Errorf("%d heartbeats, %d acks: want one ack per heartbeat", len(beats), acks)
	}
	for i := 1; i < len(beats); i++ {
		if gap := beats[i].Sub(beats[i-1]); gap < d/2 {
			t.Errorf("heartbeat %d came %v after the one before, with keepalive at %v", i, gap, d)
		}
	}
	t.Logf("%d heartbeats, each acked", len(beats))
}

// The Go stream's keepalive: udx-native answers each HEARTBEAT with an ack.
func TestInteropKeepAliveFromGo(t *testing.T) {
	p := newLossPair(t, 20*time.Second)
	hb := &heartbeatCounter{beatDir: toServer}
	px := newUDPProxy(t, p.jsAddr, 1, hb.handle)
	p.goConnectsVia(t, px.Addr())
	const d = 100 * time.Millisecond
	if err := p.s.SetKeepAlive(d); err != nil {
		t.Fatal(err)
	}
	hb.check(t, p, d, 5, func() error { return p.s.SetKeepAlive(0) })
}

// udx-native's setKeepalive: the Go stream answers each HEARTBEAT with an
// ack (udx.md §11.2, L9). The JS keepalive is stopped by destroying the
// stream: setKeepalive(0) while its timer is armed makes libudx 1.21.3 send
// heartbeats back to back (its timer re-arms itself at 0 ms).
func TestInteropKeepAliveFromJS(t *testing.T) {
	p := newLossPair(t, 20*time.Second)
	hb := &heartbeatCounter{beatDir: toServer}
	px := newUDPProxy(t, p.sock.LocalAddrPort(), 2, hb.handle)
	p.jsConnectsVia(t, px.Addr())
	const d = 100 * time.Millisecond
	if err := p.js.SetKeepalive(p.ctx, jsID, d); err != nil {
		t.Fatal(err)
	}
	hb.check(t, p, d, 5, func() error { return p.js.Destroy(p.ctx, jsID) })
}
