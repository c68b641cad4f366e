package udx

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

// wireLog records the time and type of every UDX packet the network carries,
// by sender.
type wireLog struct {
	mu   sync.Mutex
	pkts []wirePkt
}

type wirePkt struct {
	at   time.Time
	from netip.AddrPort
	h    Header
}

func (l *wireLog) filter(from, _ netip.AddrPort, b []byte) bool {
	if h, err := ParseHeader(b); err == nil {
		l.mu.Lock()
		l.pkts = append(l.pkts, wirePkt{time.Now(), from, h})
		l.mu.Unlock()
	}
	return true
}

// since returns the packets carried from t on.
func (l *wireLog) since(t time.Time) []wirePkt {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []wirePkt
	for _, p := range l.pkts {
		if !p.at.Before(t) {
			out = append(out, p)
		}
	}
	return out
}

// A stream with keepalive sends a HEARTBEAT every interval while idle and the
// peer acks each; none goes out while data is in flight, the interval starts
// over once the last packet is acked, and 0 turns it off.
func TestStreamKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = 300 * time.Millisecond
		const delay = 10 * time.Millisecond
		log := &wireLog{}
		p := newStreamPair(t, netsim.Options{Delay: delay, Filter: log.filter}, StreamOptions{}, StreamOptions{})
		aAddr, bAddr := p.sa.LocalAddrPort(), p.sb.LocalAddrPort()
		start := time.Now()
		if err := p.a.SetKeepAlive(d); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3*d + 2*delay) // 3 heartbeats, at d, 2d, 3d, and their acks
		synctest.Wait()
		got := log.since(start)
		if len(got) != 6 {
			t.Fatalf("idle for %v: %d packets, want 3 heartbeats and 3 acks: %v", 3*d+2*delay, len(got), got)
		}
		for i := range 3 {
			hb, ack := got[2*i], got[2*i+1]
			if hb.from != aAddr || hb.h.Type != TypeHeartbeat || !hb.at.Equal(start.Add(time.Duration(i+1)*d)) {
				t.Errorf("packet %d: %v from %v at +%v, want a HEARTBEAT from a at +%v", 2*i, hb.h.Type, hb.from, hb.at.Sub(start), time.Duration(i+1)*d)
			}
			if ack.from != bAddr || ack.h.Type != 0 || !ack.at.Equal(hb.at.Add(delay)) {
				t.Errorf("packet %d: %v from %v at +%v, want an ACK from b %v after the heartbeat", 2*i+1, ack.h.Type, ack.from, ack.at.Sub(start), delay)
			}
		}

		// Data in flight: no heartbeat until d after the last ack.
		sent := time.Now()
		if _, err := p.a.Write(make([]byte, 10000)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10000)
		for n := 0; n < len(buf); {
			k, err := p.b.Read(buf[n:])
			if err != nil {
				t.Fatal(err)
			}
			n += k
		}
		time.Sleep(2 * d)
		synctest.Wait()
		var lastAck, firstHB time.Time
		for _, pk := range log.since(sent) {
			switch {
			case pk.from == bAddr && pk.h.Type == 0 && firstHB.IsZero():
				lastAck = pk.at
			case pk.from == aAddr && pk.h.Type == TypeHeartbeat && firstHB.IsZero():
				firstHB = pk.at
			}
		}
		// The filter sees a packet as it is sent; the ack reaches a delay later.
		if lastAck.IsZero() || !firstHB.Equal(lastAck.Add(delay+d)) {
			t.Errorf("after a write acked at +%v, the first heartbeat at +%v, want %v later", lastAck.Sub(start), firstHB.Sub(start), delay+d)
		}

		if err := p.a.SetKeepAlive(0); err != nil {
			t.Fatal(err)
		}
		off := time.Now()
		time.Sleep(3 * d)
		synctest.Wait()
		if n := len(log.since(off)); n != 0 {
			t.Errorf("%d packets after SetKeepAlive(0), want none", n)
		}
		p.a.Close()
		if err := p.a.SetKeepAlive(d); err != net.ErrClosed {
			t.Errorf("SetKeepAlive after Close: %v, want net.ErrClosed", err)
		}
	})
}

// Keepalive set before Connect starts with the connection; a stream that has
// closed cleanly sends no heartbeat.
func TestStreamKeepAliveConnectAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = 200 * time.Millisecond
		log := &wireLog{}
		n := netsim.New(netsim.Options{Delay: time.Millisecond, Filter: log.filter})
		t.Cleanup(func() { n.Close() })
		ua, ub := NewInstance(), NewInstance()
		sa := listen(t, ua, n, "10.0.0.1:1000")
		sb := listen(t, ub, n, "10.0.0.2:2000")
		a := newTestStream(t, ua, 1, StreamOptions{})
		b := newTestStream(t, ub, 2, StreamOptions{})
		a.SetKeepAlive(d)
		time.Sleep(2 * d)
		if got := log.since(time.Time{}); len(got) != 0 {
			t.Fatalf("%d packets before Connect", len(got))
		}
		start := time.Now()
		a.Connect(sa, 2, sb.LocalAddrPort())
		b.Connect(sb, 1, sa.LocalAddrPort())
		time.Sleep(d + d/2)
		synctest.Wait()
		if got := log.since(start); len(got) != 2 || got[0].h.Type != TypeHeartbeat || !got[0].at.Equal(start.Add(d)) {
			t.Fatalf("after Connect: %v, want a heartbeat at +%v and its ack", got, d)
		}
		// Both ends: END, acks, closed cleanly; then silence.
		a.CloseWrite()
		b.CloseWrite()
		waitDone(t, a, nil)
		waitDone(t, b, nil)
		closed := time.Now()
		time.Sleep(3 * d)
		synctest.Wait()
		for _, pk := range log.since(closed) {
			if pk.h.Type == TypeHeartbeat {
				t.Fatalf("heartbeat at +%v after a clean close", pk.at.Sub(closed))
			}
		}
	})
}
