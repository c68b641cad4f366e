package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/hyperlan/hyperlan/interop/bench/internal/procstat"
)

// Phases, in the order they run.
const (
	phaseAnnounce = iota
	phaseLookup
	numPhases
)

var phaseNames = [numPhases]string{"announce", "lookup"}

// result is what was measured of one network in one round.
type result struct {
	ready                 readyEvent
	infoBefore, infoAfter netInfo // before the warm-up, after the lookups
	phases                [numPhases]*phase
	rssKB, hwmKB          int64 // at the end of the round
}

type report struct {
	cfg     config
	cpus    int
	loadavg string               // when the run started
	results map[string][]*result // by target, one per round
}

// summary is one target over all rounds: per phase the round with the median wall time, the
// median startup time, and the largest memory figures seen.
type summary struct {
	phases       [numPhases]*phase
	startupMs    float64
	tables       netInfo // of the last round, after the lookups
	rssKB, hwmKB int64
}

func (r *report) summary(target string) *summary {
	rounds := r.results[target]
	if len(rounds) == 0 {
		return nil
	}
	s := &summary{tables: rounds[len(rounds)-1].infoAfter}
	for ph := range numPhases {
		var ps []*phase
		for _, res := range rounds {
			ps = append(ps, res.phases[ph])
		}
		slices.SortFunc(ps, func(a, b *phase) int { return cmp.Compare(a.WallMs, b.WallMs) })
		s.phases[ph] = ps[len(ps)/2]
	}
	var startups []float64
	for _, res := range rounds {
		startups = append(startups, res.ready.StartupMs)
		s.rssKB, s.hwmKB = max(s.rssKB, res.rssKB), max(s.hwmKB, res.hwmKB)
	}
	slices.Sort(startups)
	s.startupMs = startups[len(startups)/2]
	return s
}

// percentile returns the q-quantile (0 < q <= 1) of xs by the nearest-rank method: the
// smallest value that at least q of the values do not exceed. xs is not modified.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// slowOp is the latency above which an operation counts as slow: ten times a typical one on
// loopback. Operations this slow have almost always waited for dht-rpc's congestion window
// (a 750 ms drain tick), not for the work itself.
const slowOp = 100 // ms

// slow counts the operations slower than slowOp.
func (p *phase) slow() int {
	n := 0
	for _, ms := range p.LatencyMs {
		if ms > slowOp {
			n++
		}
	}
	return n
}

// opsPerSecond is the phase's throughput.
func (p *phase) opsPerSecond() float64 {
	if p.WallMs <= 0 {
		return 0
	}
	return float64(len(p.LatencyMs)) / (p.WallMs / 1000)
}

// cpuPercent is the network process's CPU time over the phase's wall time, in percent of one
// CPU: above 100 means it ran on more than one.
func (p *phase) cpuPercent() float64 {
	if !p.cpuOK || p.WallMs <= 0 {
		return 0
	}
	return 100 * p.cpu.Seconds() / (p.WallMs / 1000)
}

// ratio is a/b, or 0 when b was not measured.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func (r *report) print(w io.Writer) {
	cfg := r.cfg
	fmt.Fprintf(w, "\nHyperDHT announce + lookup: %d topics, %d in flight, on a local network of %d nodes\n", cfg.topics, cfg.concurrency, cfg.nodes)
	fmt.Fprintf(w, "(a bootstrapper, %d persistent nodes and one ephemeral client node, all in one process per implementation, 127.0.0.1 only).\n", cfg.nodes-1)
	fmt.Fprintf(w, "Everything shares this %d-CPU machine (load average %s at the start): the network process under test\n"+
		"(its nodes and the client) and this benchmark process, idle while a phase runs. One network at a time.\n", r.cpus, r.loadavg)
	procs := "default GOMAXPROCS"
	if cfg.goProcs > 0 {
		procs = fmt.Sprintf("GOMAXPROCS=%d", cfg.goProcs)
	}
	fmt.Fprintf(w, "The Go network runs with %s; the JS network on one Node.js thread. %d warm-up topics per round are not counted.\n", procs, cfg.warmup)
	if cfg.rounds > 1 {
		fmt.Fprintf(w, "%d rounds, targets alternating, a fresh network each time; per phase the round with the median time is shown.\n", cfg.rounds)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "phase\ttarget\ttime s\tops/s\tp50 ms\tp90 ms\tmax ms\t>%d ms\tok\tholders/op\tnet cpu s\tnet cpu%%\t\n", slowOp)
	for ph := range numPhases {
		for _, target := range cfg.targets {
			p := r.summary(target).phases[ph]
			fmt.Fprintf(tw, "%s\t%s\t%.3f\t%.0f\t%.1f\t%.1f\t%.1f\t%d\t%d/%d\t%.1f\t%.2f\t%.0f\t\n",
				phaseNames[ph], target, p.WallMs/1000, p.opsPerSecond(),
				percentile(p.LatencyMs, 0.5), percentile(p.LatencyMs, 0.9), percentile(p.LatencyMs, 1),
				p.slow(), p.OK, len(p.LatencyMs), float64(p.Holders)/float64(max(p.OK, 1)), p.cpu.Seconds(), p.cpuPercent())
		}
		if rt := r.ratios(); rt != nil {
			pr := rt.phases[ph]
			fmt.Fprintf(tw, "%s\tjs/go\t%.2fx\t\t%.2fx\t%.2fx\t\t\t\t\t%.2fx\t\t\n", phaseNames[ph], pr.Time, pr.P50, pr.P90, pr.CPU)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "network process\tstartup s\ttable min/median/max\tRSS MiB\tpeak MiB\t")
	for _, target := range cfg.targets {
		s := r.summary(target)
		fmt.Fprintf(tw, "%s\t%.2f\t%d/%d/%d\t%.1f\t%.1f\t\n", target, s.startupMs/1000,
			s.tables.TableMin, s.tables.TableMedian, s.tables.TableMax, float64(s.rssKB)/1024, float64(s.hwmKB)/1024)
	}
	if rt := r.ratios(); rt != nil {
		fmt.Fprintf(tw, "js/go\t%.2fx\t\t%.2fx\t%.2fx\t\n", rt.Startup, rt.RSS, rt.HWM)
	}
	tw.Flush()

	fmt.Fprintln(w)
	for _, target := range cfg.targets {
		for i, res := range r.results[target] {
			a, l := res.phases[phaseAnnounce], res.phases[phaseLookup]
			fmt.Fprintf(w, "%s round %d: up in %.2f s; announce %.3f s (%d failed), lookup %.3f s (%d failed); cpu %.2f + %.2f s (user %.2f + %.2f); client table %d, node tables %d..%d after%s\n",
				target, i+1, res.ready.StartupMs/1000, a.WallMs/1000, a.Failed, l.WallMs/1000, l.Failed,
				a.cpu.Seconds(), l.cpu.Seconds(), a.cpuUser.Seconds(), l.cpuUser.Seconds(),
				res.infoAfter.ClientTable, res.infoAfter.TableMin, res.infoAfter.TableMax, errNote(cmp.Or(a.Error, l.Error)))
		}
	}
	if r.ratios() != nil {
		fmt.Fprintln(w, "js/go above 1 means Go is faster (time, latency) or cheaper (cpu, memory).")
		fmt.Fprintln(w, "net cpu s is what the phase cost the network process whatever the parallelism; net cpu% above 100 means")
		fmt.Fprintln(w, "it used more than one CPU, which only the Go runtime can.")
		fmt.Fprintf(w, "ops over %d ms almost always waited for dht-rpc's request window, which both implementations share: when a\n", slowOp)
		fmt.Fprintln(w, "node has sent 80 requests in the current 750 ms slot (or 160 in the last four), further ones wait for the next")
		fmt.Fprintln(w, "drain tick. Phase times therefore move in steps of up to 0.75 s; p50/p90 and cpu s are the steadier figures.")
	}

	b, _ := json.Marshal(r.jsonReport())
	fmt.Fprintf(w, "%s\n", b)
}

// ratios are JS's figures over Go's.
type ratios struct {
	phases       [numPhases]phaseRatio
	Startup      float64 `json:"startup"`
	RSS          float64 `json:"rss"`
	HWM          float64 `json:"peak_rss"`
	AnnounceTime float64 `json:"announce_time"`
	LookupTime   float64 `json:"lookup_time"`
	AnnounceCPU  float64 `json:"announce_cpu"`
	LookupCPU    float64 `json:"lookup_cpu"`
	AnnounceP50  float64 `json:"announce_p50"`
	LookupP50    float64 `json:"lookup_p50"`
	AnnounceP90  float64 `json:"announce_p90"`
	LookupP90    float64 `json:"lookup_p90"`
}

type phaseRatio struct{ Time, P50, P90, CPU float64 }

// ratios returns JS's figures over Go's when both ran.
func (r *report) ratios() *ratios {
	g, j := r.summary("go"), r.summary("js")
	if g == nil || j == nil {
		return nil
	}
	rt := &ratios{
		Startup: round2(ratio(j.startupMs, g.startupMs)),
		RSS:     round2(ratio(float64(j.rssKB), float64(g.rssKB))),
		HWM:     round2(ratio(float64(j.hwmKB), float64(g.hwmKB))),
	}
	for ph := range numPhases {
		gp, jp := g.phases[ph], j.phases[ph]
		rt.phases[ph] = phaseRatio{
			Time: round2(ratio(jp.WallMs, gp.WallMs)),
			P50:  round2(ratio(percentile(jp.LatencyMs, 0.5), percentile(gp.LatencyMs, 0.5))),
			P90:  round2(ratio(percentile(jp.LatencyMs, 0.9), percentile(gp.LatencyMs, 0.9))),
			CPU:  round2(ratio(jp.cpu.Seconds(), gp.cpu.Seconds())),
		}
	}
	a, l := rt.phases[phaseAnnounce], rt.phases[phaseLookup]
	rt.AnnounceTime, rt.LookupTime, rt.AnnounceCPU, rt.LookupCPU = a.Time, l.Time, a.CPU, l.CPU
	rt.AnnounceP50, rt.LookupP50, rt.AnnounceP90, rt.LookupP90 = a.P50, l.P50, a.P90, l.P90
	return rt
}

// jsonPhase is one phase of one target in the JSON line.
type jsonPhase struct {
	WallS        float64 `json:"wall_s"`
	OpsPerS      float64 `json:"ops_per_s"`
	P50Ms        float64 `json:"p50_ms"`
	P90Ms        float64 `json:"p90_ms"`
	MaxMs        float64 `json:"max_ms"`
	Slow         int     `json:"slow_ops"` // slower than slowOp
	OK           int     `json:"ok"`
	Failed       int     `json:"failed"`
	HoldersPerOp float64 `json:"holders_per_op"`
	CPUS         float64 `json:"cpu_s"`
	UserCPUS     float64 `json:"user_cpu_s"`
}

type jsonTarget struct {
	StartupS    float64   `json:"startup_s"`
	Announce    jsonPhase `json:"announce"`
	Lookup      jsonPhase `json:"lookup"`
	RSSKB       int64     `json:"rss_kb"`
	HWMKB       int64     `json:"hwm_kb"`
	TableMin    int       `json:"table_min"`
	TableMedian int       `json:"table_median"`
}

type jsonReport struct {
	Go      *jsonTarget `json:"go,omitempty"`
	JS      *jsonTarget `json:"js,omitempty"`
	Ratio   *ratios     `json:"ratio_js_over_go,omitempty"`
	CPUs    int         `json:"cpus"`
	Shared  string      `json:"shared"`
	LoadAvg string      `json:"loadavg"`
	Nodes   int         `json:"nodes"`
	Topics  int         `json:"topics"`
	Conc    int         `json:"concurrency"`
	Warmup  int         `json:"warmup"`
	Rounds  int         `json:"rounds"`
	GoProcs int         `json:"go_procs"`
}

func jsonPhaseOf(p *phase) jsonPhase {
	return jsonPhase{
		WallS: round3(p.WallMs / 1000), OpsPerS: math.Round(p.opsPerSecond()),
		P50Ms: round2(percentile(p.LatencyMs, 0.5)), P90Ms: round2(percentile(p.LatencyMs, 0.9)),
		MaxMs: round2(percentile(p.LatencyMs, 1)), Slow: p.slow(), OK: p.OK, Failed: p.Failed,
		HoldersPerOp: round2(float64(p.Holders) / float64(max(p.OK, 1))),
		CPUS:         round3(p.cpu.Seconds()), UserCPUS: round3(p.cpuUser.Seconds()),
	}
}

func (r *report) jsonReport() jsonReport {
	cfg := r.cfg
	out := jsonReport{
		CPUs: r.cpus, Shared: "network process and benchmark on the same machine", LoadAvg: r.loadavg,
		Nodes: cfg.nodes, Topics: cfg.topics, Conc: cfg.concurrency, Warmup: cfg.warmup, Rounds: cfg.rounds,
		GoProcs: cfg.goProcs, Ratio: r.ratios(),
	}
	for _, target := range cfg.targets {
		s := r.summary(target)
		jt := &jsonTarget{
			StartupS: round3(s.startupMs / 1000),
			Announce: jsonPhaseOf(s.phases[phaseAnnounce]), Lookup: jsonPhaseOf(s.phases[phaseLookup]),
			RSSKB: s.rssKB, HWMKB: s.hwmKB, TableMin: s.tables.TableMin, TableMedian: s.tables.TableMedian,
		}
		switch target {
		case "go":
			out.Go = jt
		case "js":
			out.JS = jt
		}
	}
	return out
}

func round2(x float64) float64 { return math.Round(100*x) / 100 }
func round3(x float64) float64 { return math.Round(1000*x) / 1000 }

// cpuSample is the CPU time used so far by a process, and whether it could be read.
type cpuSample struct {
	total, user time.Duration
	ok          bool
}

func takeCPUSample(pid int) cpuSample {
	total, user, err := procstat.CPU(pid)
	return cpuSample{total: total, user: user, ok: err == nil}
}

// since returns the CPU time (all, and user space only) used between s0 and s, and whether
// it was measured.
func (s cpuSample) since(s0 cpuSample) (total, user time.Duration, ok bool) {
	if !s.ok || !s0.ok {
		return 0, 0, false
	}
	return s.total - s0.total, s.user - s0.user, true
}
