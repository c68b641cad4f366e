package rpc

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

// A flood of DELAYED_PING requests must not hold more than maxDelayedPings goroutines.
func TestDelayedPingFloodIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{})
		n := tn.add(ModePersistent)
		pc, err := tn.net.ListenPacket("udp4", "10.7.0.1:1000")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		synctest.Wait()
		before := runtime.NumGoroutine()
		val := binary.LittleEndian.AppendUint32(nil, uint32(DefaultMaxPingDelay/time.Millisecond))
		to := n.LocalAddr()
		const flood = 3 * maxDelayedPings
		for i := range flood {
			m := Message{Kind: KindRequest, TID: uint16(i), To: to, Internal: true, Command: CmdDelayedPing, Value: val}
			b, err := AppendMessage(nil, &m)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pc.WriteTo(b, net.UDPAddrFromAddrPort(to)); err != nil {
				t.Fatal(err)
			}
			if i%64 == 63 {
				synctest.Wait() // let the node read, so the receive queue does not drop
			}
		}
		synctest.Wait()
		if grew := runtime.NumGoroutine() - before; grew > maxDelayedPings+16 {
			t.Fatalf("%d DELAYED_PINGs left %d more goroutines, want at most about %d", flood, grew, maxDelayedPings)
		}
		// After the delay the slots are free again.
		time.Sleep(DefaultMaxPingDelay + time.Second)
		if _, err := n.Ping(context.Background(), tn.boot.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		n.mu.Lock()
		left := n.delayedPings
		n.mu.Unlock()
		if left != 0 {
			t.Fatalf("%d delayed pings still counted after their delay", left)
		}
	})
}

// FilterNode is a user callback: it must run without the node's lock held, so that it may
// call the node's methods.
func TestFilterNodeRunsWithoutLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tn := newTestnet(t, netsim.Options{Delay: time.Millisecond})
		for range 3 {
			tn.add(ModePersistent)
		}
		var self atomic.Pointer[Node]
		var calls, locked atomic.Int64
		filter := func(netip.AddrPort) bool {
			n := self.Load()
			if n == nil {
				return true
			}
			calls.Add(1)
			// If another goroutine holds the lock it lets go soon; if this goroutine
			// holds it, TryLock never succeeds.
			for range 1000 {
				if n.mu.TryLock() {
					n.mu.Unlock()
					return true
				}
				runtime.Gosched()
			}
			locked.Add(1)
			return true
		}
		n, err := New(Options{
			Host: "10.0.5.1", Port: 49737, Mode: ModePersistent, Bootstrap: tn.bootstrapList(),
			ListenPacket: tn.net.ListenPacket, FilterNode: filter,
		})
		if err != nil {
			t.Fatal(err)
		}
		tn.nodes = append(tn.nodes, n)
		self.Store(n)
		if err := n.Ready(context.Background()); err != nil {
			t.Fatal(err)
		}
		target, _ := tn.nodes[0].ID()
		if _, err := n.FindNode(context.Background(), target, nil); err != nil {
			t.Fatal(err)
		}
		if calls.Load() == 0 {
			t.Fatal("FilterNode never called")
		}
		if k := locked.Load(); k > 0 {
			t.Fatalf("FilterNode called with the node's lock held %d of %d times", k, calls.Load())
		}
	})
}
