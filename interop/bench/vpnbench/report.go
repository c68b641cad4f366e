package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// report is what a run measured.
type report struct {
	cfg        *config
	cpus       int
	loadavg    string
	loadavgEnd string
	elapsed    time.Duration
	results    map[string]map[string][]*result // test key, VPN name: one per round
	memory     map[string]*memory              // VPN name
}

func (rep *report) add(key, vpn string, r *result) {
	if rep.results[key] == nil {
		rep.results[key] = map[string][]*result{}
	}
	rep.results[key][vpn] = append(rep.results[key][vpn], r)
}

// median returns the round of test key and vpn with the median primary figure, or nil.
func (rep *report) median(key, vpn string) *result {
	rs := slices.Clone(rep.results[key][vpn])
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b *result) int {
		switch {
		case a.primary() < b.primary():
			return -1
		case a.primary() > b.primary():
			return 1
		}
		return 0
	})
	return rs[len(rs)/2]
}

// ratio returns a/b, or 0 when either is missing.
func ratio(a, b float64) float64 {
	if a == 0 || b == 0 {
		return 0
	}
	return a / b
}

func fmtRatio(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", x)
}

// summary is one line of progress for r.
func (r *result) summary(t test) string {
	switch t.kind {
	case kindTCP:
		return fmt.Sprintf("%7.0f Mbit/s   VPN CPU %4.0f%%  %5.2f s/GB", r.Mbps, 100*r.VPNCPU/r.Seconds, r.CPUPerGB)
	case kindUDP:
		return fmt.Sprintf("%7.0f Mbit/s   of %.0f offered, %.2f%% lost, VPN CPU %.0f%%", r.Mbps, r.OfferedMbps, r.LossPct, 100*r.VPNCPU/r.Seconds)
	}
	return fmt.Sprintf("p50 %.0f µs, p99 %.0f µs, avg %.0f µs, min %.0f µs (%d round trips, %d lost)",
		r.RTT.P50, r.RTT.P99, r.RTT.Avg, r.RTT.Min, r.RTT.Count, r.RTT.Lost)
}

// row is one line of the comparison: a figure of each VPN and the ratio.
type row struct {
	name, key  string // key names the ratio in the JSON line
	hl, wg     string
	hlVal, wgV float64
}

// rows returns the comparison's lines for test t.
func (rep *report) rows(t test) []row {
	hl, wg := rep.median(t.key, hyperlanName), rep.median(t.key, wireguardName)
	val := func(r *result, f func(*result) float64) float64 {
		if r == nil {
			return 0
		}
		return f(r)
	}
	str := func(r *result, f func(*result) string) string {
		if r == nil {
			return "-"
		}
		return f(r)
	}
	mk := func(name, key string, v func(*result) float64, s func(*result) string) row {
		return row{name: name, key: key, hl: str(hl, s), wg: str(wg, s), hlVal: val(hl, v), wgV: val(wg, v)}
	}
	switch t.kind {
	case kindTCP:
		return []row{mk(t.title, "mbps", func(r *result) float64 { return r.Mbps },
			func(r *result) string { return fmt.Sprintf("%.0f Mbit/s", r.Mbps) })}
	case kindUDP:
		return []row{mk(t.title+": received", "mbps", func(r *result) float64 { return r.Mbps },
			func(r *result) string {
				return fmt.Sprintf("%.0f Mbit/s, %.2f%% lost", r.Mbps, r.LossPct)
			})}
	}
	us := func(name string, f func(*rrResult) float64) row {
		return mk(t.title+", "+name, name+"_us", func(r *result) float64 { return f(r.RTT) },
			func(r *result) string { return fmt.Sprintf("%.0f µs", f(r.RTT)) })
	}
	return []row{
		us("min", func(r *rrResult) float64 { return r.Min }),
		us("avg", func(r *rrResult) float64 { return r.Avg }),
		us("p50", func(r *rrResult) float64 { return r.P50 }),
		us("p99", func(r *rrResult) float64 { return r.P99 }),
	}
}

// sum2 adds a's and b's figure.
func sum2(x [2]int64) int64 { return x[0] + x[1] }

func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

// print writes the tables and the JSON line.
func (rep *report) print(w io.Writer) {
	cfg := rep.cfg
	fmt.Fprintf(w, "\nvpnbench: hyperlan against wireguard-go, both ends on this machine (%d CPUs, load average %s at the start, %s at the end)\n",
		rep.cpus, rep.loadavg, rep.loadavgEnd)
	fmt.Fprintf(w, "MTU %d for both; %v per throughput measurement, %v of latency loop; median of %d round(s); run took %v\n",
		cfg.mtu, cfg.duration, cfg.latency, cfg.rounds, rep.elapsed.Round(time.Second))
	fmt.Fprintf(w, "ratio = hyperlan / wireguard-go: above 1 is faster for throughput, slower for latency, more for CPU and memory\n\n")

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\thyperlan\twireguard-go\tratio\t")
	for _, t := range cfg.tests() {
		for _, r := range rep.rows(t) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", r.name, r.hl, r.wg, fmtRatio(ratio(r.hlVal, r.wgV)))
		}
	}
	tw.Flush()

	fmt.Fprintf(w, "\nCPU of the VPN processes (both ends; %% of one CPU, and CPU seconds per GB received):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\thyperlan\twireguard-go\tratio (s/GB)\t")
	for _, t := range cfg.tests() {
		if t.kind == kindRR {
			continue
		}
		hl, wg := rep.median(t.key, hyperlanName), rep.median(t.key, wireguardName)
		cell := func(r *result) string {
			if r == nil {
				return "-"
			}
			return fmt.Sprintf("%.0f%% (a %.0f%%, b %.0f%%), %.2f s/GB", 100*r.VPNCPU/r.Seconds,
				100*r.VPNCPUA/r.Seconds, 100*r.VPNCPUB/r.Seconds, r.CPUPerGB)
		}
		var hv, wv float64
		if hl != nil && wg != nil {
			hv, wv = hl.CPUPerGB, wg.CPUPerGB
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", t.title, cell(hl), cell(wg), fmtRatio(ratio(hv, wv)))
	}
	tw.Flush()

	fmt.Fprintf(w, "\nmemory (RSS of both ends' VPN processes together; a + b):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\thyperlan\twireguard-go\tratio\t")
	hm, wm := rep.memory[hyperlanName], rep.memory[wireguardName]
	for _, m := range []struct {
		name string
		f    func(*memory) [2]int64
	}{
		{"idle, after setup", func(m *memory) [2]int64 { return m.IdleKB }},
		{"under load (highest sample)", func(m *memory) [2]int64 { return m.LoadKB }},
		{"peak (VmHWM at the end)", func(m *memory) [2]int64 { return m.PeakKB }},
	} {
		cell := func(mm *memory) (string, float64) {
			if mm == nil {
				return "-", 0
			}
			x := m.f(mm)
			return fmt.Sprintf("%s (%s + %s)", mib(sum2(x)), mib(x[0]), mib(x[1])), float64(sum2(x))
		}
		hs, hv := cell(hm)
		ws, wv := cell(wm)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", m.name, hs, ws, fmtRatio(ratio(hv, wv)))
	}
	tw.Flush()
	fmt.Fprintln(w)

	b, _ := json.Marshal(rep.jsonLine())
	fmt.Fprintln(w, string(b))
}

// jsonLine is the report as one JSON object.
func (rep *report) jsonLine() map[string]any {
	tests := map[string]any{}
	for _, t := range rep.cfg.tests() {
		entry := map[string]any{"title": t.title}
		for _, name := range []string{hyperlanName, wireguardName} {
			if r := rep.median(t.key, name); r != nil {
				entry[name] = r
			}
		}
		ratios := map[string]float64{}
		for _, r := range rep.rows(t) {
			ratios[r.key] = ratio(r.hlVal, r.wgV)
		}
		hl, wg := rep.median(t.key, hyperlanName), rep.median(t.key, wireguardName)
		if hl != nil && wg != nil && t.kind != kindRR {
			ratios["cpu_per_gb"] = ratio(hl.CPUPerGB, wg.CPUPerGB)
		}
		entry["ratio"] = ratios
		tests[t.key] = entry
	}
	mem := map[string]any{}
	for name, m := range rep.memory {
		mem[name] = m
	}
	if hm, wm := rep.memory[hyperlanName], rep.memory[wireguardName]; hm != nil && wm != nil {
		mem["ratio"] = map[string]float64{
			"idle": ratio(float64(sum2(hm.IdleKB)), float64(sum2(wm.IdleKB))),
			"load": ratio(float64(sum2(hm.LoadKB)), float64(sum2(wm.LoadKB))),
			"peak": ratio(float64(sum2(hm.PeakKB)), float64(sum2(wm.PeakKB))),
		}
	}
	return map[string]any{
		"tests": tests, "memory": mem, "mtu": rep.cfg.mtu, "duration_s": rep.cfg.duration.Seconds(),
		"latency_s": rep.cfg.latency.Seconds(), "streams": rep.cfg.streams, "rounds": rep.cfg.rounds,
		"cpus": rep.cpus, "loadavg": rep.loadavg, "loadavg_end": rep.loadavgEnd, "elapsed_s": rep.elapsed.Seconds(),
	}
}
