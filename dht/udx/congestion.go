package udx

// Congestion window bounds, in packets.
const (
	initialCwnd = 10   // as libudx (and RFC 6928)
	minCwnd     = 2    // after a loss in recovery
	maxCwnd     = 8192 // far above what a 4 MiB receive window allows
)

// newReno is a NewReno congestion controller counting packets (RFC 5681 and
// RFC 6582, with loss detected by SACK and RACK rather than duplicate acks).
// libudx runs BBR v1; the receiver only acks, so any sane controller
// interoperates (udx.md §4). The zero value is not ready: use newNewReno.
//
// The caller owns the recovery episode: it calls onLoss once when it first
// declares a packet lost outside recovery, remembers the seq that ends the
// episode, and calls exitRecovery when the cumulative ack passes it.
type newReno struct {
	cwnd       int // packets allowed in flight
	ssthresh   int
	acked      int // packets acked since the last increase in congestion avoidance
	inRecovery bool
}

func newNewReno() newReno {
	return newReno{cwnd: initialCwnd, ssthresh: maxCwnd}
}

// onAck grows the window for n newly delivered packets. limited reports
// that the sender used most of the window; an application-limited sender
// does not grow it (RFC 7661 in spirit).
func (c *newReno) onAck(n int, limited bool) {
	if n <= 0 || c.inRecovery || !limited {
		return
	}
	if c.cwnd < c.ssthresh {
		c.cwnd = min(c.cwnd+n, c.ssthresh, maxCwnd)
		return
	}
	c.acked += n
	for c.acked >= c.cwnd {
		c.acked -= c.cwnd
		c.cwnd = min(c.cwnd+1, maxCwnd)
	}
}

// onLoss starts a recovery episode: halve the window from the flight size.
func (c *newReno) onLoss(inflight int) {
	c.ssthresh = max(inflight/2, minCwnd)
	c.cwnd = c.ssthresh
	c.acked = 0
	c.inRecovery = true
}

// onRTO collapses the window after a retransmission timeout and slow-starts
// again (RFC 5681's loss window of one; libudx instead feeds BBR a loss
// round). first is false for the later expiries of one outage, which keep
// ssthresh.
func (c *newReno) onRTO(inflight int, first bool) {
	if first && !c.inRecovery { // a recovery episode already halved it
		c.ssthresh = max(inflight/2, minCwnd)
	}
	c.cwnd = 1
	c.acked = 0
	c.inRecovery = false
}

// exitRecovery ends the episode: everything sent before it was acked.
func (c *newReno) exitRecovery() {
	if c.inRecovery {
		c.inRecovery = false
		c.cwnd = max(c.cwnd, min(c.ssthresh, maxCwnd))
	}
}
