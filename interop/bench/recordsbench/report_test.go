package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		q    float64
		want float64
	}{
		{"empty", nil, 0.5, 0},
		{"one", []float64{7}, 0.9, 7},
		{"median of odd", []float64{5, 1, 3}, 0.5, 3},
		{"median of even is the lower", []float64{4, 1, 3, 2}, 0.5, 2},
		{"p90 of ten", []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 0.9, 9},
		{"p90 of eleven", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 0.9, 10},
		{"max", []float64{2, 8, 5}, 1, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			xs := append([]float64(nil), tt.xs...)
			if got := percentile(xs, tt.q); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.xs, tt.q, got, tt.want)
			}
			for i := range xs {
				if xs[i] != tt.xs[i] {
					t.Fatalf("percentile reordered its input: %v", xs)
				}
			}
		})
	}
}

// round builds a result whose phases took the given wall times (ms), with one latency per
// operation and a CPU time of a tenth of the wall time.
func round(startupMs, announceMs, lookupMs float64, rssKB int64) *result {
	res := &result{ready: readyEvent{StartupMs: startupMs}, rssKB: rssKB, hwmKB: rssKB + 1}
	for ph, wall := range []float64{announceMs, lookupMs} {
		res.phases[ph] = &phase{
			WallMs: wall, LatencyMs: []float64{wall / 4, wall / 2, wall}, OK: 3, Holders: 60,
			cpu: time.Duration(wall/10) * time.Millisecond, cpuOK: true,
		}
	}
	return res
}

func TestSummaryMedianRound(t *testing.T) {
	r := &report{cfg: config{targets: []string{"go"}}, results: map[string][]*result{
		"go": {round(30, 900, 100, 10), round(10, 700, 300, 30), round(20, 800, 200, 20)},
	}}
	s := r.summary("go")
	if got := s.phases[phaseAnnounce].WallMs; got != 800 {
		t.Errorf("announce: median round took %v ms, want 800", got)
	}
	if got := s.phases[phaseLookup].WallMs; got != 200 {
		t.Errorf("lookup: median round took %v ms, want 200", got)
	}
	if s.startupMs != 20 || s.rssKB != 30 || s.hwmKB != 31 {
		t.Errorf("startup %v ms, rss %d, hwm %d; want 20, 30 (largest), 31", s.startupMs, s.rssKB, s.hwmKB)
	}
	if r.summary("js") != nil {
		t.Error("summary of a target that did not run is not nil")
	}
	if r.ratios() != nil {
		t.Error("ratios without both targets are not nil")
	}
}

func TestRatiosAndReport(t *testing.T) {
	r := &report{
		cfg:  config{nodes: 50, topics: 3, concurrency: 8, rounds: 1, targets: []string{"go", "js"}},
		cpus: 2, loadavg: "0.1 0.2 0.3",
		results: map[string][]*result{
			"go": {round(20, 400, 100, 20000)},
			"js": {round(100, 1000, 300, 100000)},
		},
	}
	rt := r.ratios()
	if rt == nil {
		t.Fatal("no ratios with both targets")
	}
	if rt.AnnounceTime != 2.5 || rt.LookupTime != 3 || rt.Startup != 5 || rt.RSS != 5 {
		t.Errorf("ratios %+v: want announce 2.5, lookup 3, startup 5, rss 5 (js over go)", rt)
	}
	if rt.AnnounceP50 != 2.5 || rt.AnnounceCPU != 2.5 || rt.LookupCPU != 3 {
		t.Errorf("ratios %+v: want announce p50 2.5, cpu 2.5 and 3", rt)
	}

	var out strings.Builder
	r.print(&out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var got jsonReport
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("last line is not the JSON report: %v\n%s", err, out.String())
	}
	if got.Go == nil || got.JS == nil || got.Ratio == nil || got.Ratio.LookupTime != 3 || got.CPUs != 2 {
		t.Errorf("JSON report %+v", got)
	}
	if got.JS.Announce.WallS != 1 || got.JS.Announce.P50Ms != 500 || got.JS.Announce.Slow != 3 || got.Go.Lookup.Slow != 0 {
		t.Errorf("js announce %+v, go lookup %+v", got.JS.Announce, got.Go.Lookup)
	}
	if !strings.Contains(out.String(), "2-CPU machine") {
		t.Error("the report does not say that everything shares the machine")
	}
}
