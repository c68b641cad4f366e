package udx

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

// A window of 10 packets over a 20 ms path, from idle: the first flight
// leaves 1 ms apart and each ack, 20 ms after its packet, releases the next
// packet. Samples of the first flight span the time since the flight
// began; once the window is in flight each one covers 10 packets over 20 ms
// (500 packets/s).
func TestRateSampleFlight(t *testing.T) {
	r := newRateSampler()
	var snaps [20]rateSnapshot
	at := func(n int) time.Time { return t0.Add(ms(float64(n))) }
	for i := range 10 {
		r.onSend(&snaps[i], at(i), i == 0)
	}
	if !snaps[0].appLimited {
		t.Error("the first flight is not marked application-limited")
	}
	for i := range 20 {
		rs := newRateSample()
		sentAt := at(i)
		if i >= 10 {
			sentAt = at(i + 10)
		}
		r.onDelivered(&rs, &snaps[i], Seq(i), false)
		r.generate(&rs, sentAt.Add(ms(20)), 1, 0, ms(20))
		wantN, wantD := int64(i+1), ms(float64(20+i))
		if i >= 10 {
			wantN, wantD = 10, ms(20)
		}
		if rs.delivered != wantN || rs.interval != wantD {
			t.Fatalf("ack %d: %d packets over %v, want %d over %v", i, rs.delivered, rs.interval, wantN, wantD)
		}
		if i == 0 && r.appLimited {
			t.Error("still application-limited after the first ack")
		}
		if i >= 10 && rs.appLimited {
			t.Errorf("ack %d: steady-state sample marked application-limited", i)
		}
		if i+10 < len(snaps) {
			r.onSend(&snaps[i+10], sentAt.Add(ms(20)), false)
		}
	}
}

// A sample over less than the min RTT comes from bunched acks: it is
// dropped.
func TestRateSampleTooShort(t *testing.T) {
	r := newRateSampler()
	var p rateSnapshot
	r.onSend(&p, t0, true)
	rs := newRateSample()
	r.onDelivered(&rs, &p, 0, false)
	r.generate(&rs, t0.Add(ms(5)), 1, 0, ms(10))
	if rs.interval != 0 {
		t.Fatalf("interval %v, want none (under the 10ms min RTT)", rs.interval)
	}
	rs = newRateSample()
	r.generate(&rs, t0.Add(ms(6)), 0, 0, ms(10))
	if rs.delivered != -1 {
		t.Fatalf("an ack that delivered nothing gave a sample of %d packets", rs.delivered)
	}
}

// An ack covering several packets measures from the most recently sent.
func TestRateSampleNewestPacket(t *testing.T) {
	r := newRateSampler()
	var a, b rateSnapshot
	r.onSend(&a, t0, true)
	r.delivered = 5 // as if 5 packets had been acked meanwhile
	r.onSend(&b, t0.Add(ms(3)), false)
	rs := newRateSample()
	r.onDelivered(&rs, &b, 1, false)
	r.onDelivered(&rs, &a, 0, false) // older: ignored for the sample
	if rs.seq != 1 || rs.priorDelivered != 5 {
		t.Fatalf("sample from seq %d (prior delivered %d), want seq 1 (5)", rs.seq, rs.priorDelivered)
	}
	r.generate(&rs, t0.Add(ms(30)), 2, 0, ms(1))
	if rs.delivered != 2 || rs.acked != 2 {
		t.Fatalf("delivered %d acked %d, want 2 and 2", rs.delivered, rs.acked)
	}
}

func TestRateSamplerAppLimited(t *testing.T) {
	r := newRateSampler()
	var p rateSnapshot
	r.onSend(&p, t0, true)
	rs := newRateSample()
	r.onDelivered(&rs, &p, 0, false)
	r.generate(&rs, t0.Add(ms(10)), 1, 0, 0)
	if r.appLimited {
		t.Fatal("the initial mark survived the first ack")
	}
	// Out of data with 3 packets in flight: packets sent until those 3 are
	// delivered carry the mark.
	r.checkAppLimited(true, 3)
	var q rateSnapshot
	r.onSend(&q, t0.Add(ms(11)), false)
	if !q.appLimited {
		t.Fatal("packet sent in the bubble not marked")
	}
	for i := range 3 {
		rs := newRateSample()
		r.onDelivered(&rs, &rateSnapshot{}, Seq(i), false)
		r.generate(&rs, t0.Add(ms(20)), 1, 0, 0)
		if !r.appLimited {
			t.Fatalf("mark cleared after %d of the 3 packets", i+1)
		}
	}
	rs = newRateSample()
	r.onDelivered(&rs, &q, 4, false)
	r.generate(&rs, t0.Add(ms(21)), 1, 0, 0)
	if r.appLimited || !rs.appLimited {
		t.Fatalf("after the bubble: sampler limited %v, sample limited %v; want false, true", r.appLimited, rs.appLimited)
	}
}
