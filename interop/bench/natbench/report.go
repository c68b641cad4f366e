package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"text/tabwriter"
	"time"
)

// report is everything one run measured.
type report struct {
	cfg        config
	cpus       int
	loadavg    string // at the start
	loadavgEnd string
	results    map[cell]*result
}

// result is one cell's connects.
type result struct {
	times    []time.Duration // of the successful connects, in order
	direct   int             // successes straight to the server's router
	relayed  int             // successes through the relay when they opened
	failures map[string]int  // by code
	failTime []time.Duration // how long the failed connects took
}

func (r *report) add(c cell, t trial) {
	res := r.results[c]
	if res == nil {
		res = &result{failures: map[string]int{}}
		r.results[c] = res
	}
	if !t.ok {
		res.failures[t.err]++
		res.failTime = append(res.failTime, t.time)
		return
	}
	res.times = append(res.times, t.time)
	if t.direct {
		res.direct++
	}
	if t.relayed {
		res.relayed++
	}
}

// stats summarises a sample of durations.
type stats struct {
	n                           int
	median, p90, min, max, mean time.Duration
}

// summarize returns the sample's statistics: the median (the mean of the middle two for an
// even count) and the 90th percentile by the nearest rank.
func summarize(d []time.Duration) stats {
	s := stats{n: len(d)}
	if s.n == 0 {
		return s
	}
	sorted := slices.Clone(d)
	slices.Sort(sorted)
	s.min, s.max = sorted[0], sorted[s.n-1]
	if s.n%2 == 1 {
		s.median = sorted[s.n/2]
	} else {
		s.median = (sorted[s.n/2-1] + sorted[s.n/2]) / 2
	}
	s.p90 = percentile(sorted, 90)
	var sum time.Duration
	for _, v := range sorted {
		sum += v
	}
	s.mean = sum / time.Duration(s.n)
	return s
}

// percentile returns the p-th percentile of sorted by the nearest rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fmtDur prints a duration with three significant digits or so.
func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", ms(d))
}

// failureText lists a cell's failures as "3x HOLEPUNCH_ABORTED".
func (res *result) failureText() string {
	codes := make([]string, 0, len(res.failures))
	for c := range res.failures {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	out := ""
	for i, c := range codes {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%dx %s", res.failures[c], c)
	}
	if out == "" {
		return "-"
	}
	return out
}

// ratioRow is one comparison of JS-JS with Go-Go: the name of the row and the two cells.
type ratioRow struct {
	name           string
	jsCell, goCell cell
}

// ratioRows returns the comparisons of the run, per NAT pair: without a relay (named for the
// NAT pair alone), each through a relay of its own implementation ("… via own relays"), and
// both through the same relay ("… via go relay", "… via js relay").
func (r *report) ratioRows() []ratioRow {
	var rows []ratioRow
	gg, jj := pair{"go", "go"}, pair{"js", "js"}
	for _, np := range r.cfg.nats {
		rows = append(rows,
			ratioRow{np.String(), cell{np, jj, ""}, cell{np, gg, ""}},
			ratioRow{np.String() + " via own relays", cell{np, jj, "js"}, cell{np, gg, "go"}},
			ratioRow{np.String() + " via go relay", cell{np, jj, "go"}, cell{np, gg, "go"}},
			ratioRow{np.String() + " via js relay", cell{np, jj, "js"}, cell{np, gg, "js"}})
	}
	return rows
}

// ratios returns, per row of ratioRows, the JS-JS figure over the Go-Go one (above 1: Go is
// faster), for the rows where both connected.
func (r *report) ratios() map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, row := range r.ratioRows() {
		g, j := r.results[row.goCell], r.results[row.jsCell]
		if g == nil || j == nil || len(g.times) == 0 || len(j.times) == 0 {
			continue
		}
		gs, js := summarize(g.times), summarize(j.times)
		out[row.name] = map[string]float64{
			"median": ms(js.median) / ms(gs.median),
			"p90":    ms(js.p90) / ms(gs.p90),
			"mean":   ms(js.mean) / ms(gs.mean),
		}
	}
	return out
}

func (r *report) print(w io.Writer) {
	impair := "no impairment"
	if r.cfg.delay > 0 || r.cfg.loss > 0 {
		impair = fmt.Sprintf("%v one way and %g%% loss on every packet through the internet router", r.cfg.delay, r.cfg.loss)
	}
	fmt.Fprintf(w, "Connects through the NAT lab, server behind NAT A and client behind NAT B, %d per cell, fresh nodes each; %s.\n", r.cfg.connects, impair)
	fmt.Fprintf(w, "Time: from the connect call until the server's secret-stream header was read. %d CPUs shared by everything (load average %s at the start, %s at the end).\n\n",
		r.cpus, r.loadavg, r.loadavgEnd)
	relays := len(r.cfg.relays) > 0
	if relays {
		fmt.Fprintln(w, "Relay: the blind relay both sides named (- none); relayed: connects whose stream went to the relay when they opened.")
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if relays {
		fmt.Fprintln(tw, "NAT A+B\tclient-server\trelay\tok\tdirect\trelayed\tmedian\tp90\tmin\tmax\tfailures\t")
	} else {
		fmt.Fprintln(tw, "NAT A+B\tclient-server\tok\tdirect\tmedian\tp90\tmin\tmax\tfailures\t")
	}
	for _, np := range r.cfg.nats {
		for _, c := range r.cfg.cells(np) {
			res := r.results[c]
			if res == nil {
				continue
			}
			// The columns up to the times.
			head := fmt.Sprintf("%v\t%v\t", np, c.pair)
			if relays {
				rel := c.relay
				if rel == "" {
					rel = "-"
				}
				head += rel + "\t"
			}
			s := summarize(res.times)
			n := s.n + len(res.failTime)
			head += fmt.Sprintf("%d/%d\t%d\t", s.n, n, res.direct)
			if relays {
				head += fmt.Sprintf("%d\t", res.relayed)
			}
			if s.n == 0 {
				f := summarize(res.failTime)
				fmt.Fprintf(tw, "%s-\t-\t-\t-\t%s (median %s)\t\n", head, res.failureText(), fmtDur(f.median))
				continue
			}
			fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t\n", head,
				fmtDur(s.median), fmtDur(s.p90), fmtDur(s.min), fmtDur(s.max), res.failureText())
		}
	}
	tw.Flush()

	ratio := r.ratios()
	if len(ratio) > 0 {
		fmt.Fprintln(w, "\nJS-JS over Go-Go (above 1: Go connects faster); goal: Go never slower, faster where the reference takes seconds:")
		width := 22
		for name := range ratio {
			width = max(width, len(name))
		}
		for _, row := range r.ratioRows() {
			v, ok := ratio[row.name]
			if !ok {
				continue
			}
			verdict := "Go not slower"
			if v["median"] < 1 {
				verdict = "Go slower"
			}
			fmt.Fprintf(w, "  %-*s median %.2fx  p90 %.2fx  mean %.2fx  (%s)\n", width, row.name, v["median"], v["p90"], v["mean"], verdict)
		}
	}
	fmt.Fprintln(w)
	line, _ := json.Marshal(r.json(ratio))
	fmt.Fprintln(w, string(line))
}

func (r *report) json(ratio map[string]map[string]float64) map[string]any {
	cells := map[string]map[string]any{}
	for c, res := range r.results {
		s := summarize(res.times)
		times := make([]float64, len(res.times))
		for i, d := range res.times {
			times[i] = ms(d)
		}
		if cells[c.nat.String()] == nil {
			cells[c.nat.String()] = map[string]any{}
		}
		v := map[string]any{
			"connects": s.n + len(res.failTime), "ok": s.n, "direct": res.direct, "failures": res.failures,
			"median_ms": ms(s.median), "p90_ms": ms(s.p90), "min_ms": ms(s.min), "max_ms": ms(s.max), "mean_ms": ms(s.mean),
			"times_ms": times,
		}
		if c.relay != "" {
			v["relay"], v["relayed"] = c.relay, res.relayed
		}
		cells[c.nat.String()][c.pair.key(c.relay)] = v
	}
	out := map[string]any{
		"cells": cells, "ratio": ratio, "connects": r.cfg.connects,
		"delay_ms": ms(r.cfg.delay), "loss_percent": r.cfg.loss,
		"cpus": r.cpus, "loadavg": r.loadavg, "loadavg_end": r.loadavgEnd,
	}
	if len(r.cfg.relays) > 0 {
		out["relays"] = r.cfg.relays
	}
	return out
}
