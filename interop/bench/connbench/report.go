package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"text/tabwriter"
	"time"
)

// Goals of the issue: Go to Go against JS to JS.
const (
	goalConnect = 1.0 // connect time, JS over Go: Go at least as fast to open
	goalBulk    = 2.0 // stream throughput, Go over JS
)

// report is everything one run measured.
type report struct {
	cfg                 config
	cpus                int
	loadavg, loadavgEnd string
	versions            map[string]string
	pairs               []*pairSummary // in the order first run
}

// pairSummary is every round of one pair.
type pairSummary struct {
	pair     pair
	firstMs  []float64 // the first connect (round 1)
	openMs   []float64 // all rounds' connects, pooled
	eventMs  []float64 // JS clients: all rounds' times to the 'connect' event, pooled
	failed   int
	codes    map[string]int
	connects []*connectResult
	bulk     []*bulkResult
}

func (r *report) add(res *pairResult) {
	var s *pairSummary
	for _, x := range r.pairs {
		if x.pair == res.pair {
			s = x
		}
	}
	if s == nil {
		s = &pairSummary{pair: res.pair, codes: map[string]int{}}
		r.pairs = append(r.pairs, s)
	}
	if !math.IsNaN(res.firstMs) {
		s.firstMs = append(s.firstMs, res.firstMs)
	}
	if c := res.connects; c != nil {
		s.openMs = append(s.openMs, c.openMs...)
		s.eventMs = append(s.eventMs, c.connectEventMs...)
		s.failed += c.failed
		for k, v := range c.codes {
			s.codes[k] += v
		}
		s.connects = append(s.connects, c)
	}
	if res.bulk != nil {
		s.bulk = append(s.bulk, res.bulk)
	}
}

// medianBulk returns the round with the median throughput (the lower middle one for an even
// count), or nil.
func (s *pairSummary) medianBulk() *bulkResult {
	if len(s.bulk) == 0 {
		return nil
	}
	b := slices.Clone(s.bulk)
	sort.Slice(b, func(i, j int) bool { return b[i].mbps() < b[j].mbps() })
	return b[(len(b)-1)/2]
}

// perConnect returns the CPU time per timed connect, in ms, of the client, the server and the
// network, over all rounds.
func (s *pairSummary) perConnect() (client, server, network float64) {
	var c, sv, nw time.Duration
	n := 0
	for _, r := range s.connects {
		c += r.client.CPU
		sv += r.server.CPU
		nw += r.networkCPU
		n += len(r.openMs) + r.failed
	}
	if n == 0 {
		return 0, 0, 0
	}
	per := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(n) }
	return per(c), per(sv), per(nw)
}

// percentile returns the p-th percentile of xs (nearest rank), or NaN for none.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[max(rank, 1)-1]
}

// median returns the median of xs (the mean of the middle two for an even count), or NaN.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mib(kb int64) float64 { return float64(kb) / 1024 }

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "Encrypted HyperDHT connections on 127.0.0.1 (Go %s, hyperdht %s), every endpoint a process of its own, on a private %s network of %d processes (bootstrapper included); all share this %d-CPU machine (load average at start %s, at end %s).\n",
		r.versions["go"], r.versions["js"], r.cfg.network, r.cfg.nodes, r.cpus, r.loadavg, r.loadavgEnd)
	fmt.Fprintf(w, "%d round(s) of the pairs in turn; one client and one server process per implementation for the whole run.\n", r.cfg.rounds)

	if r.cfg.connects > 0 {
		fmt.Fprintf(w, "\nConnect: the client's first connect (it looks the server up), then %d sequential connects from the same node and key pair (the relays are cached, as both implementations do), each timed from the connect call to the open session and destroyed before the next; times pooled over the rounds. CPU is per timed connect.\n\n",
			r.cfg.connects)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "client-server\tfirst ms\tmedian ms\tp90 ms\tmin ms\tmax ms\tconnects\tfailed\t'connect' event median ms\tclient cpu ms\tserver cpu ms\tnetwork cpu ms\t")
		for _, s := range r.pairs {
			if len(s.openMs) == 0 {
				continue
			}
			c, sv, nw := s.perConnect()
			event := "-"
			if len(s.eventMs) > 0 {
				event = fmt.Sprintf("%.2f", median(s.eventMs))
			}
			fmt.Fprintf(tw, "%v\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%s\t%.2f\t%.2f\t%.2f\t\n", s.pair, median(s.firstMs),
				median(s.openMs), percentile(s.openMs, 90), slices.Min(s.openMs), slices.Max(s.openMs),
				len(s.openMs), s.failed, event, c, sv, nw)
		}
		tw.Flush()
	}

	if r.cfg.bytes > 0 {
		fmt.Fprintf(w, "\nBulk: %d MiB from client to server over one connection (PseudoRandom data, a %d MiB block repeated, every byte checked by the server), 64 KiB writes; MB = 10^6 bytes; time from the server's first byte to the client's end; the median round's figures.\n\n",
			r.cfg.bytes>>20, r.cfg.blockSize>>20)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "client-server\tMB/s\ttime s\trounds MB/s\tclient cpu s\tserver cpu s\tcpu ns/byte\tclient peak MiB\tserver peak MiB\tserver RSS before/after MiB\t")
		for _, s := range r.pairs {
			b := s.medianBulk()
			if b == nil {
				continue
			}
			fmt.Fprintf(tw, "%v\t%.1f\t%.2f\t%s\t%.2f\t%.2f\t%.2f\t%.1f\t%.1f\t%.1f / %.1f\t\n", s.pair, b.mbps(), b.seconds, roundRates(s.bulk),
				b.client.CPU.Seconds(), b.server.CPU.Seconds(), b.cpuPerByte(), mib(b.client.HWMKB), mib(b.server.HWMKB),
				mib(b.server.RSSBeforeKB), mib(b.server.RSSKB))
		}
		tw.Flush()
	}

	ratio := r.ratios()
	if len(ratio) > 0 {
		fmt.Fprintln(w, "\nGo-Go against JS-JS:")
		if v, ok := ratio["connect_median"]; ok {
			fmt.Fprintf(w, "  connect time median, JS over Go  %.2fx (goal %.1fx, Go at least as fast: %s)\n", v, goalConnect, verdict(v, goalConnect))
			fmt.Fprintf(w, "  connect time p90, JS over Go  %.2fx\n", ratio["connect_p90"])
			fmt.Fprintf(w, "  first connect (with lookup), JS over Go  %.2fx\n", ratio["connect_first"])
			fmt.Fprintf(w, "  cpu per connect, client + server, JS over Go  %.2fx\n", ratio["connect_cpu_js_over_go"])
		}
		if v, ok := ratio["bulk"]; ok {
			fmt.Fprintf(w, "  bulk throughput, Go over JS  %.2fx (goal %.1fx: %s)\n", v, goalBulk, verdict(v, goalBulk))
			fmt.Fprintf(w, "  bulk cpu per byte, client + server, JS over Go  %.2fx\n", ratio["bulk_cpu_js_over_go"])
		}
	}
	fmt.Fprintln(w)
	line, _ := json.Marshal(r.json(ratio))
	fmt.Fprintln(w, string(line))
}

// roundMs rounds times in ms to the µs, for the JSON line.
func roundMs(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = math.Round(x*1000) / 1000
	}
	return out
}

func roundRates(bs []*bulkResult) string {
	s := ""
	for i, b := range bs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.0f", b.mbps())
	}
	return s
}

func verdict(v, goal float64) string {
	if v >= goal {
		return "met"
	}
	return "not met"
}

// ratios returns the Go-Go figures against JS-JS's, each oriented so that above 1 favours Go,
// for what both pairs measured.
func (r *report) ratios() map[string]float64 {
	out := map[string]float64{}
	var g, j *pairSummary
	for _, s := range r.pairs {
		switch s.pair {
		case pair{"go", "go"}:
			g = s
		case pair{"js", "js"}:
			j = s
		}
	}
	if g == nil || j == nil {
		return out
	}
	if len(g.openMs) > 0 && len(j.openMs) > 0 {
		out["connect_median"] = median(j.openMs) / median(g.openMs)
		out["connect_p90"] = percentile(j.openMs, 90) / percentile(g.openMs, 90)
		out["connect_first"] = median(j.firstMs) / median(g.firstMs)
		gc, gs, _ := g.perConnect()
		jc, js, _ := j.perConnect()
		if gc+gs > 0 {
			out["connect_cpu_js_over_go"] = (jc + js) / (gc + gs)
		}
	}
	gb, jb := g.medianBulk(), j.medianBulk()
	if gb != nil && jb != nil {
		out["bulk"] = gb.mbps() / jb.mbps()
		if g := gb.cpuPerByte(); g > 0 {
			out["bulk_cpu_js_over_go"] = jb.cpuPerByte() / g
		}
	}
	return out
}

func (r *report) json(ratio map[string]float64) map[string]any {
	connects := map[string]any{}
	bulk := map[string]any{}
	for _, s := range r.pairs {
		if len(s.openMs) > 0 {
			c, sv, nw := s.perConnect()
			connects[s.pair.String()] = map[string]any{
				"median_ms": median(s.openMs), "p90_ms": percentile(s.openMs, 90),
				"min_ms": slices.Min(s.openMs), "max_ms": slices.Max(s.openMs),
				"first_ms": roundMs(s.firstMs), "open_ms": roundMs(s.openMs), "connect_event_ms": roundMs(s.eventMs), "failed": s.failed, "codes": s.codes,
				"client_cpu_ms_per_connect": c, "server_cpu_ms_per_connect": sv, "network_cpu_ms_per_connect": nw,
			}
		}
		if b := s.medianBulk(); b != nil {
			var rounds []float64
			for _, x := range s.bulk {
				rounds = append(rounds, x.mbps())
			}
			bulk[s.pair.String()] = map[string]any{
				"mb_per_s": b.mbps(), "seconds": b.seconds, "bytes": b.bytes, "sender_ms": b.senderMs,
				"open_ms": b.openMs, "rounds_mb_per_s": rounds, "cpu_ns_per_byte": b.cpuPerByte(),
				"client": b.client.JSON(), "server": b.server.JSON(),
			}
		}
	}
	return map[string]any{
		"connects": connects, "bulk": bulk, "ratio": ratio,
		"connects_per_round": r.cfg.connects, "bytes": r.cfg.bytes, "rounds": r.cfg.rounds,
		"network": r.cfg.network, "nodes": r.cfg.nodes, "versions": r.versions,
		"cpus": r.cpus, "loadavg": r.loadavg, "loadavg_end": r.loadavgEnd,
	}
}
