package udx

import (
	"container/heap"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// pathSim is a discrete-event simulation, in virtual time, of UDX flows
// sharing one bottleneck. Each flow is a pair of protocol engines (conn,
// sans-IO) driven directly, without sockets, goroutines or a clock:
//
//	sender i --> bottleneck: rate bytes/s, drop-tail queue of queueMax bytes --> delay --> receiver i
//	sender i <------------------------------ delay ---------------------------- receiver i
//
// Senders always have data to send once started; receivers read at once.
// Runs are deterministic, so tests can assert on the state machine's path
// through time.
type pathSim struct {
	t        testing.TB
	now      time.Time
	events   simEvents
	n        uint64 // events scheduled, for FIFO order among equal times
	rate     float64
	queueMax int
	delay    time.Duration
	busy     time.Time // the bottleneck has sent everything queued by then
	dropped  int
	flows    []*simFlow
}

// simFlow is one sender-receiver pair of a pathSim.
type simFlow struct {
	sim        *pathSim
	i          int
	snd, rcv   *conn
	sndAddr    netip.AddrPort
	rcvAddr    netip.AddrPort
	timer      [2]simTimer // sender, receiver
	started    bool
	received   int64 // bytes the receiver read
	maxQueued  time.Duration
	onAck      func(f *simFlow) // called after every event at the sender
	chunk, buf []byte
}

type simTimer struct {
	at  time.Time
	gen uint64
}

type simEvent struct {
	at time.Time
	n  uint64
	fn func()
}

type simEvents []simEvent

func (q simEvents) Len() int { return len(q) }
func (q simEvents) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].n < q[j].n
}
func (q simEvents) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simEvents) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *simEvents) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// newPathSim makes a bottleneck of rate bytes per second with a drop-tail
// queue of queueMax bytes, and a one-way propagation delay.
func newPathSim(t testing.TB, rate float64, queueMax int, delay time.Duration) *pathSim {
	return &pathSim{
		t: t, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		rate: rate, queueMax: queueMax, delay: delay,
	}
}

func (s *pathSim) at(t time.Time, fn func()) {
	s.n++
	heap.Push(&s.events, simEvent{at: t, n: s.n, fn: fn})
}

// addFlow adds a flow whose sender starts sending at start.
func (s *pathSim) addFlow(start time.Duration) *simFlow {
	i := len(s.flows)
	f := &simFlow{
		sim: s, i: i,
		sndAddr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 1}), uint16(1000+i)),
		rcvAddr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, 1}), uint16(2000+i)),
		chunk:   make([]byte, 64<<10),
		buf:     make([]byte, 64<<10),
	}
	f.snd = newConn(func(b []byte, to netip.AddrPort) { s.bottleneck(f, b) })
	f.rcv = newConn(func(b []byte, to netip.AddrPort) {
		b = append([]byte(nil), b...)
		s.at(s.now.Add(s.delay), func() { f.deliver(0, b) })
	})
	s.flows = append(s.flows, f)
	s.at(s.now.Add(start), func() {
		f.rcv.connect(1, f.sndAddr, s.now)
		f.snd.connect(2, f.rcvAddr, s.now)
		f.started = true
		f.after(0)
		f.after(1)
	})
	return f
}

// bottleneck queues a datagram from f's sender, or drops it when the queue
// is full.
func (s *pathSim) bottleneck(f *simFlow, b []byte) {
	backlog := max(s.busy.Sub(s.now), 0)
	if float64(len(b))+backlog.Seconds()*s.rate > float64(s.queueMax) {
		s.dropped++
		return
	}
	f.maxQueued = max(f.maxQueued, backlog)
	s.busy = s.now.Add(backlog + time.Duration(float64(len(b))/s.rate*float64(time.Second)))
	b = append([]byte(nil), b...)
	s.at(s.busy.Add(s.delay), func() { f.deliver(1, b) })
}

// deliver hands a datagram to the receiver (side 1) or the sender (side 0).
func (f *simFlow) deliver(side int, b []byte) {
	h, err := ParseHeader(b)
	if err != nil {
		f.sim.t.Fatalf("flow %d: bad packet: %v", f.i, err)
	}
	c := f.snd
	if side == 1 {
		c = f.rcv
	}
	c.onPacket(h, b, f.sim.now)
	f.after(side)
}

// after runs the application and re-arms the timer of one side after the
// engine did something.
func (f *simFlow) after(side int) {
	s := f.sim
	c := f.snd
	if side == 1 {
		c = f.rcv
		for c.rcv.buffered() > 0 {
			f.received += int64(c.rcv.read(f.buf))
		}
		c.afterRead()
	} else {
		for f.started && !c.closed && c.writeRoom() > 0 {
			c.write(f.chunk[:min(c.writeRoom(), len(f.chunk))], s.now)
		}
		if f.onAck != nil {
			f.onAck(f)
		}
	}
	tm := &f.timer[side]
	at := c.deadline()
	if at.IsZero() || at.Equal(tm.at) {
		return
	}
	tm.at = at
	tm.gen++
	gen := tm.gen
	s.at(at, func() {
		if tm.gen != gen {
			return
		}
		tm.at = time.Time{}
		c.onTimer(s.now)
		f.after(side)
	})
}

// run advances virtual time by d.
func (s *pathSim) run(d time.Duration) {
	end := s.now.Add(d)
	for len(s.events) > 0 && !s.events[0].at.After(end) {
		e := heap.Pop(&s.events).(simEvent)
		s.now = e.at
		e.fn()
	}
	s.now = end
}

// received returns the bytes each flow's receiver has read.
func (s *pathSim) received() []int64 {
	r := make([]int64, len(s.flows))
	for i, f := range s.flows {
		r[i] = f.received
	}
	return r
}

// shares runs the simulation for d and returns each flow's bytes received
// during it.
func (s *pathSim) shares(d time.Duration) []int64 {
	before := s.received()
	s.run(d)
	after := s.received()
	for i := range after {
		after[i] -= before[i]
	}
	return after
}

// jain returns Jain's fairness index of xs: 1 when all are equal, 1/n when
// one takes everything.
func jain(xs []int64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += float64(x)
		sq += float64(x) * float64(x)
	}
	if sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(xs)) * sq)
}

func (f *simFlow) String() string {
	b := &f.snd.snd.cc.bbr
	return fmt.Sprintf("flow %d: %s bw %.2f MB/s minRTT %v cwnd %d pacing %.2f MB/s retx %d",
		f.i, b.state, b.bandwidth()*float64(f.snd.mss)/1e6, b.minRTT, b.cwnd, b.pacingRate/1e6, f.snd.stats.Retransmits)
}
