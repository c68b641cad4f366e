package main

import (
	"io"
	"math"
	"testing"
	"time"
)

func TestMedianPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	if got := median(xs); got != 5.5 {
		t.Errorf("median = %v, want 5.5", got)
	}
	if got := median(xs[:5]); got != 3 {
		t.Errorf("median of 5 = %v, want 3", got)
	}
	for _, c := range []struct{ p, want float64 }{{90, 9}, {50, 5}, {100, 10}, {1, 1}} {
		if got := percentile(xs, c.p); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if !math.IsNaN(median(nil)) || !math.IsNaN(percentile(nil, 90)) {
		t.Error("median or percentile of nothing is not NaN")
	}
	if xs[0] != 5 {
		t.Error("input was sorted in place")
	}
}

func TestRatios(t *testing.T) {
	cfg := config{connects: 2, bytes: 1e6, rounds: 2}
	r := &report{cfg: cfg, versions: map[string]string{}}
	bulk := func(sec float64, cpu time.Duration) *bulkResult {
		b := &bulkResult{bytes: 1e6, seconds: sec}
		b.client.CPU, b.server.CPU = cpu, cpu
		return b
	}
	add := func(p pair, round int, first float64, open []float64, b *bulkResult) {
		r.add(&pairResult{pair: p, round: round, firstMs: first, connects: &connectResult{openMs: open}, bulk: b})
	}
	gg, jj := pair{"go", "go"}, pair{"js", "js"}
	add(gg, 0, 2, []float64{1, 3}, bulk(0.01, 10*time.Millisecond)) // 100 MB/s
	add(jj, 0, 8, []float64{2, 6}, bulk(0.04, 20*time.Millisecond)) // 25 MB/s
	add(gg, 1, math.NaN(), []float64{2, 2}, bulk(0.005, 10*time.Millisecond))
	add(jj, 1, math.NaN(), []float64{4, 4}, bulk(0.02, 20*time.Millisecond))
	ratio := r.ratios()
	want := map[string]float64{
		"connect_median":      2, // medians 2 and 4 of the pooled times
		"connect_p90":         2, // 3 and 6
		"connect_first":       4,
		"bulk":                4, // the lower middle rounds: 100 of 100 and 200, 25 of 25 and 50 MB/s
		"bulk_cpu_js_over_go": 2,
	}
	for k, v := range want {
		if math.Abs(ratio[k]-v) > 1e-9 {
			t.Errorf("ratio %s = %v, want %v", k, ratio[k], v)
		}
	}
	r.print(io.Discard) // must not panic with partial data
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-pairs", "go-go,js-js,go-go", "-network", "go"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.pairs) != 2 || cfg.network != "go" || cfg.connects != 50 || cfg.bytes != 256<<20 {
		t.Errorf("parsed %+v", cfg)
	}
	for _, bad := range [][]string{
		{"-pairs", "go-rust"}, {"-network", "c"}, {"-connects", "0", "-bytes", "0"}, {"-nodes", "1"}, {"extra"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
