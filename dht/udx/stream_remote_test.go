package udx

import (
	"io"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// RemoteChanged is closed before any change and at once for a change with
// nothing in flight; with packets in flight it closes when the ack of the
// last one sent before the change arrives, and a second change while one is
// pending moves that to the later change's flight.
func TestStreamRemoteChanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 50 * time.Millisecond
		log := &wireLog{}
		p := newStreamPair(t, netsim.Options{Delay: delay, Filter: log.filter}, StreamOptions{}, StreamOptions{})
		go io.Copy(io.Discard, p.b)
		if !isClosed(p.a.RemoteChanged()) {
			t.Fatal("RemoteChanged open before any change")
		}
		if err := p.a.ChangeRemote(p.sa, 2, p.sb.LocalAddrPort()); err != nil {
			t.Fatal(err)
		}
		if !isClosed(p.a.RemoteChanged()) {
			t.Fatal("RemoteChanged open after a change with nothing in flight")
		}

		// With data in flight: closed by the ack that covers it.
		if _, err := p.a.Write(make([]byte, 3000)); err != nil { // 3 packets, seq 0-2
			t.Fatal(err)
		}
		changed := time.Now()
		if err := p.a.ChangeRemote(p.sa, 2, p.sb.LocalAddrPort()); err != nil {
			t.Fatal(err)
		}
		first := p.a.RemoteChanged()
		synctest.Wait()
		if isClosed(first) {
			t.Fatal("RemoteChanged closed with the old flight unacked")
		}
		// A second change, after more data: the same channel, now waiting
		// for the later flight too.
		time.Sleep(delay / 2)
		if _, err := p.a.Write(make([]byte, 2000)); err != nil { // seq 3-4
			t.Fatal(err)
		}
		if err := p.a.ChangeRemote(p.sa, 2, p.sb.LocalAddrPort()); err != nil {
			t.Fatal(err)
		}
		if p.a.RemoteChanged() != first {
			t.Fatal("a change while one is pending made a new channel")
		}
		select {
		case <-first:
		case <-time.After(time.Second):
			t.Fatal("RemoteChanged not closed a second after the changes")
		}
		// The ack that closed it covers seq 4, sent by b when it got seq 4.
		var ackAt time.Time
		for _, pk := range log.since(changed) {
			if pk.from == p.sb.LocalAddrPort() && pk.h.Ack == 5 {
				ackAt = pk.at
				break
			}
		}
		if now := time.Now(); ackAt.IsZero() || !now.Equal(ackAt.Add(delay)) {
			t.Errorf("closed at +%v, want when the ack of seq 4 arrived (+%v)", now.Sub(changed), ackAt.Add(delay).Sub(changed))
		}
	})
}

// MoveRemote, unlike ChangeRemote, takes the packets in flight along: data sent to a path
// that delivers nothing (here an address nobody listens on) arrives at the new remote at
// once, not retransmitted on the old path forever; RemoteChanged closes when it is acked.
func TestStreamMoveRemote(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 20 * time.Millisecond
		p := newStreamPair(t, netsim.Options{Delay: delay}, StreamOptions{}, StreamOptions{})
		hole := netip.MustParseAddrPort("10.0.0.9:9")
		if err := p.a.ChangeRemote(p.sa, 7, hole); err != nil {
			t.Fatal(err)
		}
		data := randomBytes(3, 3000)
		if _, err := p.a.Write(data); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * delay) // sent into the hole, and no ack
		if err := p.a.MoveRemote(p.sa, 2, p.sb.LocalAddrPort()); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got := make([]byte, len(data))
		if _, err := io.ReadFull(p.b, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != string(data) {
			t.Fatal("b read other bytes than a wrote")
		}
		if d := time.Since(start); d > 2*delay {
			t.Errorf("the data arrived %v after the move, want one trip (%v): retransmitted late?", d, delay)
		}
		select {
		case <-p.a.RemoteChanged():
		case <-time.After(time.Second):
			t.Error("RemoteChanged not closed after the moved data was acked")
		}
	})
}
