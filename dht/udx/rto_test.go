package udx

import (
	"testing"
	"time"
)

func TestRTTEstimator(t *testing.T) {
	var e rttEstimator
	if e.timeout() != time.Second {
		t.Fatalf("initial RTO %v", e.timeout())
	}
	e.sample(100 * time.Millisecond)
	if e.srtt != 100*time.Millisecond || e.rttvar != 50*time.Millisecond || e.timeout() != time.Second {
		t.Fatalf("after one sample: srtt %v rttvar %v rto %v", e.srtt, e.rttvar, e.timeout())
	}
	for range 20 {
		e.sample(2 * time.Second)
	}
	if rto := e.timeout(); rto <= 2*time.Second || rto > maxRTO {
		t.Fatalf("RTO %v for 2 s samples", rto)
	}
	// A huge outlier is clamped, and the RTO never exceeds 30 s.
	e.sample(time.Hour)
	if e.srtt > 10*time.Second || e.timeout() > maxRTO {
		t.Fatalf("outlier: srtt %v rto %v", e.srtt, e.timeout())
	}
	var f rttEstimator
	f.sample(time.Hour)
	if f.timeout() != maxRTO {
		t.Fatalf("first sample of an hour: RTO %v", f.timeout())
	}
}
