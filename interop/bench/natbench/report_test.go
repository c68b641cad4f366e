package main

import (
	"bytes"
	"encoding/json"
	"io"
	"regexp"
	"slices"
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
	r.add(cell{cr, gg, ""}, trial{ok: true, time: time.Second, direct: true})
	r.add(cell{cr, gg, ""}, trial{ok: true, time: 3 * time.Second, direct: true})
	r.add(cell{cr, jj, ""}, trial{ok: true, time: 4 * time.Second, direct: true})
	r.add(cell{cr, jj, ""}, trial{ok: false, time: time.Minute, err: "ETIMEDOUT"})
	r.add(cell{rr, gg, ""}, trial{ok: false, time: 5 * time.Millisecond, err: "HOLEPUNCH_ABORTED"})
	r.add(cell{rr, jj, ""}, trial{ok: false, time: 20 * time.Millisecond, err: "HOLEPUNCH_ABORTED"})

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
	if strings.Contains(out, "relay") {
		t.Errorf("a report without -relay speaks of relays:\n%s", out)
	}
	j := lastJSON(t, out)
	cells := j["cells"].(map[string]any)["consistent+random"].(map[string]any)
	if gg := cells["go-go"].(map[string]any); gg["ok"] != 2.0 || gg["median_ms"] != 2000.0 {
		t.Errorf("JSON go-go cell %v", gg)
	}
}

func TestParseRelayFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want relayFlag
	}{
		{nil, nil},
		{[]string{"-relay"}, relayFlag{"own"}},
		{[]string{"-relay=go,js,go"}, relayFlag{"go", "js"}},
		{[]string{"-relay=none,own"}, relayFlag{"none", "own"}},
		{[]string{"-relay=false"}, nil},
	} {
		cfg, err := parseFlags(tt.args, io.Discard)
		if err != nil || !slices.Equal(cfg.relays, tt.want) {
			t.Errorf("parseFlags(%q): relays %q, %v; want %q", tt.args, cfg.relays, err, tt.want)
		}
	}
	if _, err := parseFlags([]string{"-relay=rust"}, io.Discard); err == nil {
		t.Error("-relay=rust accepted")
	}
}

func TestCells(t *testing.T) {
	rr := natPair{interop.NATRandom, interop.NATRandom}
	gg, jj, gj := pair{"go", "go"}, pair{"js", "js"}, pair{"go", "js"}
	for _, tt := range []struct {
		name   string
		relays relayFlag
		want   []cell
		impls  []string
	}{
		{"no relay", nil, []cell{{rr, gg, ""}, {rr, jj, ""}, {rr, gj, ""}}, nil},
		{"own", relayFlag{"own"}, []cell{{rr, gg, "go"}, {rr, jj, "js"}, {rr, gj, "js"}}, []string{"go", "js"}},
		{"go and own", relayFlag{"go", "own", "none"}, []cell{
			{rr, gg, "go"}, {rr, gg, ""}, {rr, jj, "go"}, {rr, jj, "js"}, {rr, jj, ""}, {rr, gj, "go"}, {rr, gj, "js"}, {rr, gj, ""},
		}, []string{"go", "js"}},
		{"js", relayFlag{"js"}, []cell{{rr, gg, "js"}, {rr, jj, "js"}, {rr, gj, "js"}}, []string{"js"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config{nats: []natPair{rr}, pairs: []pair{gg, jj, gj}, relays: tt.relays}
			if got := cfg.cells(rr); !slices.Equal(got, tt.want) {
				t.Errorf("cells = %v, want %v", got, tt.want)
			}
			if got := cfg.relayImpls(); !slices.Equal(got, tt.impls) {
				t.Errorf("relayImpls = %v, want %v", got, tt.impls)
			}
		})
	}
}

func TestReportRelays(t *testing.T) {
	cfg, err := parseFlags([]string{"-connects", "2", "-nats", "rand+rand,cons+rand", "-relay=go,js,none"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := &report{cfg: cfg, cpus: 2, loadavg: "1 1 1", loadavgEnd: "2 2 2", results: map[cell]*result{}}
	rr, cr := cfg.nats[0], cfg.nats[1]
	gg, jj := pair{"go", "go"}, pair{"js", "js"}
	for _, ms := range []time.Duration{10, 30} {
		r.add(cell{rr, gg, "go"}, trial{ok: true, time: ms * time.Millisecond, relayed: true})
		r.add(cell{rr, jj, "js"}, trial{ok: true, time: 2 * ms * time.Millisecond, relayed: true})
		r.add(cell{rr, jj, "go"}, trial{ok: true, time: 4 * ms * time.Millisecond, relayed: true})
	}
	r.add(cell{rr, gg, ""}, trial{ok: false, time: 5 * time.Millisecond, err: "HOLEPUNCH_ABORTED"})
	r.add(cell{cr, gg, "go"}, trial{ok: true, time: time.Second, direct: true})
	r.add(cell{cr, gg, "go"}, trial{ok: true, time: 20 * time.Millisecond, relayed: true})

	ratio := r.ratios()
	if got := ratio["random+random via own relays"]["median"]; got != 2 {
		t.Errorf("own relays median ratio %v, want 40 ms / 20 ms = 2", got)
	}
	if got := ratio["random+random via go relay"]["median"]; got != 4 {
		t.Errorf("go relay median ratio %v, want 80 ms / 20 ms = 4", got)
	}
	for _, absent := range []string{"random+random", "random+random via js relay", "consistent+random via own relays"} {
		if _, ok := ratio[absent]; ok {
			t.Errorf("a ratio %q without both cells", absent)
		}
	}
	var buf bytes.Buffer
	r.print(&buf)
	out := buf.String()
	for _, want := range []string{`relay\s+ok\s+direct\s+relayed`, `via own relays\s+median 2.00x`, `via go relay\s+median 4.00x`, "1x HOLEPUNCH_ABORTED"} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// The consistent+random row with the Go relay: 2 ok, 1 direct, 1 relayed.
	if !regexp.MustCompile(`consistent\+random\s+go-go\s+go\s+2/2\s+1\s+1\s`).MatchString(out) {
		t.Errorf("no consistent+random go-go row with 1 direct and 1 relayed:\n%s", out)
	}
	j := lastJSON(t, out)
	cells := j["cells"].(map[string]any)["consistent+random"].(map[string]any)
	if c := cells["go-go/go-relay"].(map[string]any); c["relay"] != "go" || c["relayed"] != 1.0 || c["direct"] != 1.0 {
		t.Errorf("JSON go-go/go-relay cell %v", c)
	}
	if _, ok := j["relays"]; !ok {
		t.Error("JSON lacks the relays")
	}
}

// lastJSON returns the report's last line, decoded.
func lastJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var j map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &j); err != nil {
		t.Fatalf("last line is not JSON: %v", err)
	}
	return j
}
