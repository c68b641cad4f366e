package udx

// maxFilter tracks the largest value seen over a sliding window of time,
// where time is any increasing counter (BBR uses packet-timed round trips).
// It is Kathleen Nichols' three-sample estimator, the one Linux's
// lib/win_minmax.c and libudx src/win_filter_f64.c use: it keeps the best
// value in the window and the best values of its later quarter and half, so
// that when the best one ages out a good successor is at hand. Memory and
// work per update are constant; the result can lag the true windowed maximum
// by up to a quarter of the window after the best sample expires.
//
// The zero value holds 0 at time 0.
type maxFilter struct {
	s [3]filterSample // s[0] best; s[1] best after s[0]; s[2] best after s[1]
}

type filterSample struct {
	t uint64
	v float64
}

// get returns the windowed maximum.
func (f *maxFilter) get() float64 { return f.s[0].v }

// reset forgets everything and holds v, seen at t.
func (f *maxFilter) reset(t uint64, v float64) {
	f.s = [3]filterSample{{t, v}, {t, v}, {t, v}}
}

// update adds v, seen at t, to a filter whose window is win long, and
// returns the new maximum. t must not go backwards.
func (f *maxFilter) update(t, win uint64, v float64) float64 {
	cur := filterSample{t, v}
	// A new best, or nothing left in the window: start over from v.
	if v >= f.s[0].v || t-f.s[2].t > win {
		f.reset(t, v)
		return v
	}
	switch {
	case v >= f.s[1].v:
		f.s[1], f.s[2] = cur, cur
	case v >= f.s[2].v:
		f.s[2] = cur
	}
	age := t - f.s[0].t
	switch {
	case age > win:
		// The best sample expired: promote the runners-up, and once more
		// if the new best is also out of the window.
		f.s[0], f.s[1], f.s[2] = f.s[1], f.s[2], cur
		if t-f.s[0].t > win {
			f.s[0], f.s[1], f.s[2] = f.s[1], f.s[2], cur
		}
	case f.s[1].t == f.s[0].t && age > win/4:
		// A quarter of the window passed with no second choice of its own:
		// take the current sample for the second and third.
		f.s[1], f.s[2] = cur, cur
	case f.s[2].t == f.s[1].t && age > win/2:
		f.s[2] = cur
	}
	return f.s[0].v
}
