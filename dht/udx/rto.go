package udx

import "time"

// RTO bounds, as libudx: RFC 6298 with a 1 s floor and a 30 s cap.
const (
	minRTO     = time.Second
	maxRTO     = 30 * time.Second
	initialRTO = time.Second
)

// rttEstimator keeps the smoothed RTT and the retransmission timeout of one
// stream (RFC 6298, as libudx ack_packet and clamp_rtt). The zero value has
// no sample yet and an RTO of initialRTO. Samples come only from packets that
// were never retransmitted (Karn).
type rttEstimator struct {
	srtt, rttvar time.Duration
	minRTT       time.Duration // lowest sample seen; RACK's reorder window uses it
	rto          time.Duration
	samples      int
}

// sample feeds one RTT measurement.
func (e *rttEstimator) sample(r time.Duration) {
	if r < 0 {
		r = 0
	}
	if e.samples == 0 {
		r = min(r, maxRTO)
		e.srtt, e.rttvar, e.minRTT = r, r/2, r
	} else {
		// A sample far above the estimate (a suspended machine, say) would
		// wreck it; cap such outliers as libudx clamp_rtt does.
		if limit := e.srtt + 5*e.rttvar; r > 5*time.Second && r > limit {
			r = min(limit, maxRTO)
		}
		d := e.srtt - r
		if d < 0 {
			d = -d
		}
		e.rttvar = (3*e.rttvar + d) / 4
		e.srtt = (7*e.srtt + r) / 8
		e.minRTT = min(e.minRTT, r)
	}
	e.samples++
	e.rto = min(max(e.srtt+4*e.rttvar, minRTO), maxRTO)
}

// timeout returns the current RTO.
func (e *rttEstimator) timeout() time.Duration {
	if e.samples == 0 {
		return initialRTO
	}
	return e.rto
}
