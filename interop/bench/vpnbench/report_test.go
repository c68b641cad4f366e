package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 100}, {99, 198}, {100, 200}, {0, 1}} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("percentile(1..200, %v) = %v, want %v", c.p, got, c.want)
		}
	}
}

func TestMedianAndRatios(t *testing.T) {
	cfg := config{streams: 4, udpRate: 100, mtu: 1420, rounds: 3, vpns: []string{hyperlanName, wireguardName}}
	rep := &report{cfg: &cfg, results: map[string]map[string][]*result{}, memory: map[string]*memory{
		hyperlanName:  {IdleKB: [2]int64{10, 10}},
		wireguardName: {IdleKB: [2]int64{5, 5}},
	}}
	for _, mbps := range []float64{300, 100, 200} {
		rep.add("tcp_up_1", hyperlanName, &result{Mbps: mbps, CPUPerGB: mbps / 100})
		rep.add("tcp_up_1", wireguardName, &result{Mbps: 2 * mbps, CPUPerGB: mbps / 400})
	}
	if got := rep.median("tcp_up_1", hyperlanName).Mbps; got != 200 {
		t.Errorf("median = %v, want 200", got)
	}
	line := rep.jsonLine()
	r := line["tests"].(map[string]any)["tcp_up_1"].(map[string]any)["ratio"].(map[string]float64)
	if r["mbps"] != 0.5 || r["cpu_per_gb"] != 4 {
		t.Errorf("ratios = %v, want mbps 0.5 and cpu_per_gb 4", r)
	}
	if m := line["memory"].(map[string]any)["ratio"].(map[string]float64); m["idle"] != 2 {
		t.Errorf("memory ratios = %v, want idle 2", m)
	}
	var b strings.Builder
	rep.print(&b)
	if !strings.Contains(b.String(), "TCP a→b, 1 stream") || !strings.Contains(b.String(), "0.50x") {
		t.Errorf("table lacks the TCP row or its ratio:\n%s", b.String())
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-duration", "2s", "-only", "wireguard-go"}, io.Discard)
	if err != nil || cfg.duration != 2*time.Second || len(cfg.vpns) != 1 || cfg.vpns[0] != wireguardName {
		t.Errorf("parseFlags = %+v, %v", cfg, err)
	}
	if got := (&config{vpns: []string{"x", "y"}}).order(1); got[0] != "y" {
		t.Errorf("order(1) = %v, want y first", got)
	}
	for _, args := range [][]string{{"-mtu", "1500"}, {"-only", "tailscale"}, {"-streams", "0"}, {"extra"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) succeeded", args)
		}
	}
}
