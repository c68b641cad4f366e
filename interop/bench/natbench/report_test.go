package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/interop"
)

func TestSummarize(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, tt := range []struct {
		name                  string
		in                    []time.Duration
		median, p90, min, max time.Duration
	}{
		{"empty", nil, 0, 0, 0, 0},
		{"one", ms(7), 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond},
		{"odd", ms(30, 10, 20), 20 * time.Millisecond, 30 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond},
		{"even", ms(4, 1, 3, 2), 2500 * time.Microsecond, 4 * time.Millisecond, time.Millisecond, 4 * time.Millisecond},
		{"ten", ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 5500 * time.Microsecond, 9 * time.Millisecond, time.Millisecond, 10 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := summarize(tt.in)
			if s.median != tt.median || s.p90 != tt.p90 || s.min != tt.min || s.max != tt.max || s.n != len(tt.in) {
				t.Errorf("summarize = %+v, want median %v p90 %v min %v max %v", s, tt.median, tt.p90, tt.min, tt.max)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-connects", "3", "-nats", "cons+rand,random+consistent,cons+rand", "-pairs", "go-go,js-go", "-delay", "50ms", "-loss", "1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []natPair{{interop.NATConsistent, interop.NATRandom}, {interop.NATRandom, interop.NATConsistent}}
	if cfg.connects != 3 || len(cfg.nats) != 2 || cfg.nats[0] != want[0] || cfg.nats[1] != want[1] ||
		len(cfg.pairs) != 2 || cfg.pairs[1] != (pair{"js", "go"}) || cfg.delay != 50*time.Millisecond || cfg.loss != 1 {
		t.Errorf("parseFlags = %+v", cfg)
	}
	for _, bad := range [][]string{
		{"-connects", "0"}, {"-nats", "cons"}, {"-nats", "cons+full"}, {"-pairs", "go-rust"},
		{"-loss", "101"}, {"-js-nodes", "2"}, {"extra"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

func TestReport(t *testing.T) {
	cfg, err := parseFlags([]string{"-connects", "2", "-nats", "cons+rand,rand+rand"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := &report{cfg: cfg, cpus: 2, loadavg: "1 1 1", loadavgEnd: "2 2 2", results: map[cell]*result{}}
	cr, rr := cfg.nats[0], cfg.nats[1]
	gg, jj := pair{"go", "go"}, pair{"js", "js"}
	r.add(cell{cr, gg}, trial{ok: true, time: time.Second, direct: true})
	r.add(cell{cr, gg}, trial{ok: true, time: 3 * time.Second, direct: true})
	r.add(cell{cr, jj}, trial{ok: true, time: 4 * time.Second, direct: true})
	r.add(cell{cr, jj}, trial{ok: false, time: time.Minute, err: "ETIMEDOUT"})
	r.add(cell{rr, gg}, trial{ok: false, time: 5 * time.Millisecond, err: "HOLEPUNCH_ABORTED"})
	r.add(cell{rr, jj}, trial{ok: false, time: 20 * time.Millisecond, err: "HOLEPUNCH_ABORTED"})

	ratio := r.ratios()
	if got := ratio["consistent+random"]["median"]; got != 2 {
		t.Errorf("median ratio %v, want 4 s / 2 s = 2", got)
	}
	if _, ok := ratio["random+random"]; ok {
		t.Error("a ratio for a pair without successes")
	}
	var buf bytes.Buffer
	r.print(&buf)
	out := buf.String()
	for _, want := range []string{"1/2", "1x ETIMEDOUT", "1x HOLEPUNCH_ABORTED", "median 2.00x", "Go not slower"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var j map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &j); err != nil {
		t.Fatalf("last line is not JSON: %v", err)
	}
	cells := j["cells"].(map[string]any)["consistent+random"].(map[string]any)
	if gg := cells["go-go"].(map[string]any); gg["ok"] != 2.0 || gg["median_ms"] != 2000.0 {
		t.Errorf("JSON go-go cell %v", gg)
	}
}
