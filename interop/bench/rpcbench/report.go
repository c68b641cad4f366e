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

	"github.com/hyperlan/hyperlan/dht/rpc"
)

// result is what was measured of one server in one round.
type result struct {
	fillers, joined   int   // filler sockets opened; those whose join ping was answered
	table, tableAfter int   // routing-table size after filling and after the load
	fillerRequests    int64 // requests the server sent to fillers during the round
	load              [rpc.CmdFindNode + 1]*loadResult
	rssKB, hwmKB      int64 // at the end of the round
}

type report struct {
	cfg     config
	cpus    int
	loadavg string               // when the run started
	results map[string][]*result // by target, one per round
}

// summary is one target over all rounds: per command the round with the median rate, and the
// largest memory figures seen.
type summary struct {
	load         [rpc.CmdFindNode + 1]*loadResult
	rssKB, hwmKB int64
}

func (r *report) summary(target string) *summary {
	rounds := r.results[target]
	if len(rounds) == 0 {
		return nil
	}
	s := &summary{}
	for _, cmd := range []uint64{rpc.CmdPing, rpc.CmdFindNode} {
		var ls []*loadResult
		for _, res := range rounds {
			ls = append(ls, res.load[cmd])
		}
		slices.SortFunc(ls, func(a, b *loadResult) int { return cmp.Compare(a.rate(), b.rate()) })
		s.load[cmd] = ls[len(ls)/2]
	}
	for _, res := range rounds {
		s.rssKB, s.hwmKB = max(s.rssKB, res.rssKB), max(s.hwmKB, res.hwmKB)
	}
	return s
}

// cpuPerRequest is the server's CPU time per answered request, in microseconds: how much work
// one request costs it, however the machine's CPUs were shared.
func cpuPerRequest(l *loadResult) float64 {
	if l.rate() == 0 {
		return 0
	}
	return l.serverCPU / 100 / l.rate() * 1e6
}

// userPerRequest is the server's user-space CPU time per answered request, in microseconds:
// the work of the implementation itself, without the kernel's UDP path.
func userPerRequest(l *loadResult) float64 {
	if l.rate() == 0 {
		return 0
	}
	return l.serverUsr / 100 / l.rate() * 1e6
}

func (r *report) print(w io.Writer) {
	cfg := r.cfg
	fmt.Fprintf(w, "\ndht-rpc server throughput: one server process at a time on 127.0.0.1, the same load for each\n")
	fmt.Fprintf(w, "client and server share this %d-CPU machine (load average %s at the start): the load generator\n"+
		"(%d sockets x %d outstanding, %v warm-up + %v measured per command) runs in this process meanwhile.\n",
		r.cpus, r.loadavg, cfg.clients, cfg.window, cfg.warmup, cfg.duration)
	if cfg.rounds > 1 {
		fmt.Fprintf(w, "%d rounds, targets alternating; per command the median round is shown.\n", cfg.rounds)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tping/s\tfind_node/s\tserver cpu µs/req p/f\tuser µs/req p/f\tserver cpu% p/f\tgenerator cpu% p/f\trtt ms p/f\tresent p/f\tRSS MiB\tpeak MiB\t")
	for _, target := range cfg.targets {
		s := r.summary(target)
		p, f := s.load[rpc.CmdPing], s.load[rpc.CmdFindNode]
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f/%.2f\t%.2f/%.2f\t%.0f/%.0f\t%.0f/%.0f\t%.2f/%.2f\t%d/%d\t%.1f\t%.1f\t\n",
			target, p.rate(), f.rate(), cpuPerRequest(p), cpuPerRequest(f), userPerRequest(p), userPerRequest(f),
			p.serverCPU, f.serverCPU, p.clientCPU, f.clientCPU,
			ms(p.rttSum, p.answered), ms(f.rttSum, f.answered), p.resent, f.resent,
			float64(s.rssKB)/1024, float64(s.hwmKB)/1024)
	}
	ratio, eff, usr := r.ratio()
	if ratio != nil {
		fmt.Fprintf(tw, "go/js\t%.2fx\t%.2fx\t%.2fx/%.2fx less\t%.2fx/%.2fx less\t\t\t\t\t\t\t\n", ratio.Ping, ratio.FindNode, eff.Ping, eff.FindNode, usr.Ping, usr.FindNode)
	}
	tw.Flush()

	fmt.Fprintln(w)
	for _, target := range cfg.targets {
		for i, res := range r.results[target] {
			var errs, late, closer, answered int64
			for _, l := range res.load {
				if l != nil {
					errs += l.errors
					late += l.late
				}
			}
			f := res.load[rpc.CmdFindNode]
			closer, answered = f.closer, f.answered
			round := ""
			if cfg.rounds > 1 {
				round = fmt.Sprintf(" round %d (ping %.0f/s, find_node %.0f/s)", i+1, res.load[rpc.CmdPing].rate(), f.rate())
			}
			fmt.Fprintf(w, "%s%s: %d/%d fillers joined; table %d before load, %d after; %.1f closer nodes per find_node reply; %d error replies; %d late replies; fillers answered %d server requests\n",
				target, round, res.joined, res.fillers, res.table, res.tableAfter,
				float64(closer)/float64(answered), errs, late, res.fillerRequests)
		}
	}
	if ratio != nil {
		fmt.Fprintln(w, "with client and server on the same few CPUs the rates are bounded by the machine, not by one server;")
		fmt.Fprintln(w, "server cpu µs/req is the cost of one request to the server process (kernel time included);")
		fmt.Fprintln(w, "user µs/req is its user-space part, the work of the dht-rpc implementation itself.")
	}

	b, _ := json.Marshal(r.jsonReport(cfg))
	fmt.Fprintf(w, "%s\n", b)
}

func ms(d time.Duration, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / 1000 / float64(n)
}

type jsonTarget struct {
	PingRPS           float64 `json:"ping_rps"`
	FindNodeRPS       float64 `json:"find_node_rps"`
	RSSKB             int64   `json:"rss_kb"`
	HWMKB             int64   `json:"hwm_kb"`
	TableSize         int     `json:"table_size"`
	ServerCPUUsPerReq pair    `json:"server_cpu_us_per_req"`
	UserCPUUsPerReq   pair    `json:"user_cpu_us_per_req"`
	ServerCPUPct      pair    `json:"server_cpu_pct"`
	GeneratorCPUPct   pair    `json:"generator_cpu_pct"`
	Resent            pair    `json:"resent"`
}

type pair struct {
	Ping     float64 `json:"ping"`
	FindNode float64 `json:"find_node"`
}

type jsonReport struct {
	Go *jsonTarget `json:"go,omitempty"`
	JS *jsonTarget `json:"js,omitempty"`
	// Ratio is Go's rate over JS's; CPURatio is JS's server CPU per request over Go's.
	Ratio    *pair `json:"ratio,omitempty"`
	CPURatio *pair `json:"cpu_per_req_ratio,omitempty"`
	// UserRatio is JS's user-space CPU per request over Go's.
	UserRatio *pair   `json:"user_cpu_per_req_ratio,omitempty"`
	CPUs      int     `json:"cpus"`
	LoadAvg   string  `json:"loadavg"`
	Clients   int     `json:"clients"`
	Window    int     `json:"window"`
	Duration  float64 `json:"duration_s"`
	Rounds    int     `json:"rounds"`
}

func (r *report) jsonReport(cfg config) jsonReport {
	out := jsonReport{
		CPUs: r.cpus, LoadAvg: r.loadavg, Clients: cfg.clients, Window: cfg.window,
		Duration: cfg.duration.Seconds(), Rounds: cfg.rounds,
	}
	out.Ratio, out.CPURatio, out.UserRatio = r.ratio()
	for _, target := range cfg.targets {
		s := r.summary(target)
		rounds := r.results[target]
		p, f := s.load[rpc.CmdPing], s.load[rpc.CmdFindNode]
		jt := &jsonTarget{
			PingRPS: math.Round(p.rate()), FindNodeRPS: math.Round(f.rate()),
			RSSKB: s.rssKB, HWMKB: s.hwmKB, TableSize: rounds[len(rounds)-1].table,
			ServerCPUUsPerReq: pair{round2(cpuPerRequest(p)), round2(cpuPerRequest(f))},
			UserCPUUsPerReq:   pair{round2(userPerRequest(p)), round2(userPerRequest(f))},
			ServerCPUPct:      pair{round2(p.serverCPU), round2(f.serverCPU)},
			GeneratorCPUPct:   pair{round2(p.clientCPU), round2(f.clientCPU)},
			Resent:            pair{float64(p.resent), float64(f.resent)},
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

// ratio returns Go's rate over JS's, and JS's server CPU (all, and user space only) per
// request over Go's, when both ran.
func (r *report) ratio() (rate, cpu, usr *pair) {
	g, j := r.summary("go"), r.summary("js")
	if g == nil || j == nil {
		return nil, nil, nil
	}
	q := func(a, b float64) float64 {
		if b == 0 {
			return 0 // not measured
		}
		return round2(a / b)
	}
	rate = &pair{
		Ping:     q(g.load[rpc.CmdPing].rate(), j.load[rpc.CmdPing].rate()),
		FindNode: q(g.load[rpc.CmdFindNode].rate(), j.load[rpc.CmdFindNode].rate()),
	}
	cpu = &pair{
		Ping:     q(cpuPerRequest(j.load[rpc.CmdPing]), cpuPerRequest(g.load[rpc.CmdPing])),
		FindNode: q(cpuPerRequest(j.load[rpc.CmdFindNode]), cpuPerRequest(g.load[rpc.CmdFindNode])),
	}
	usr = &pair{
		Ping:     q(userPerRequest(j.load[rpc.CmdPing]), userPerRequest(g.load[rpc.CmdPing])),
		FindNode: q(userPerRequest(j.load[rpc.CmdFindNode]), userPerRequest(g.load[rpc.CmdFindNode])),
	}
	return rate, cpu, usr
}

func round2(x float64) float64 { return math.Round(100*x) / 100 }
