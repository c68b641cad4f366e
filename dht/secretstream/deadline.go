package secretstream

import (
	"sync"
	"time"
)

// deadline is a settable point in time after which a channel is closed, for
// blocking calls to select on.
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer   // guarded by mu; pending expiry, if any
	expired chan struct{} // guarded by mu; closed once the deadline has passed
}

func newDeadline() deadline {
	return deadline{expired: make(chan struct{})}
}

// set moves the deadline to t; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if isClosed(d.expired) {
		d.expired = make(chan struct{})
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		close(d.expired)
		return
	}
	ch := d.expired
	d.timer = time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.expired == ch && !isClosed(ch) {
			close(ch)
		}
	})
}

// wait returns a channel that is closed when the current deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

// stop cancels a pending expiry.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
