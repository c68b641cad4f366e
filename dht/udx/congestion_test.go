package udx

import "testing"

func TestNewReno(t *testing.T) {
	c := newNewReno()
	if c.cwnd != initialCwnd {
		t.Fatalf("initial cwnd %d", c.cwnd)
	}
	c.onAck(10, true) // slow start doubles per window
	if c.cwnd != 20 {
		t.Fatalf("slow start: cwnd %d", c.cwnd)
	}
	c.onAck(10, false) // application-limited: no growth
	if c.cwnd != 20 {
		t.Fatalf("app-limited growth: cwnd %d", c.cwnd)
	}
	c.onLoss(20)
	if c.cwnd != 10 || c.ssthresh != 10 || !c.inRecovery {
		t.Fatalf("loss: %+v", c)
	}
	c.onAck(5, true) // no growth in recovery
	c.exitRecovery()
	if c.cwnd != 10 {
		t.Fatalf("after recovery: %+v", c)
	}
	c.onAck(10, true) // congestion avoidance: +1 per window
	if c.cwnd != 11 {
		t.Fatalf("congestion avoidance: cwnd %d", c.cwnd)
	}
	c.onRTO(11, true)
	if c.cwnd != 1 || c.ssthresh != 5 {
		t.Fatalf("RTO: %+v", c)
	}
	c.onRTO(1, false) // later expiries of the same outage keep ssthresh
	if c.ssthresh != 5 {
		t.Fatalf("second RTO: %+v", c)
	}
	c.onAck(10, true)
	if c.cwnd != 5 {
		t.Fatalf("slow start capped at ssthresh: cwnd %d", c.cwnd)
	}
}
