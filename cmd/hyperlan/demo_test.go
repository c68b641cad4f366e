package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The DHT demo runs on 127.0.0.1 only, prints its progress and summary, and cleans up.
func TestDemo(t *testing.T) {
	checkNoLeaks(t)
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--dht-only", "--nodes", "4"}, nil, &out, &errs); code != exitOK {
		t.Fatalf("demo exit %d; stderr:\n%s\nstdout:\n%s", code, errs.String(), out.String())
	}
	if errs.Len() != 0 {
		t.Errorf("demo wrote to stderr:\n%s", errs.String())
	}
	got := out.String()
	checkContains(t, got,
		"Here is the DHT that hyperlan members find each other through",
		"bootstrap  127.0.0.1:",
		"node 4     127.0.0.1:",
		"lookup: an ephemeral node at 127.0.0.1:",
		"looks up node 2",
		"  node 2    answered with",
		"summary: ",
		"node 2 (127.0.0.1:",
		"stopped all 6 nodes.",
	)
	if strings.Contains(got, "Skipping the VPN mesh demo") {
		t.Errorf("--dht-only printed why the VPN demo was skipped:\n%s", got)
	}
	for _, l := range strings.Split(got, "\n") {
		if strings.Contains(l, "ephemeral (not reachable") {
			t.Errorf("a demo node stayed ephemeral on 127.0.0.1: %s", l)
		}
	}
}

// Where the VPN mesh cannot run (no root, no tools), the demo says why in its first line and
// runs the DHT demo.
func TestDemoFallback(t *testing.T) {
	checkNoLeaks(t)
	old := vpnDemoCheck
	vpnDemoCheck = func() string { return "it needs root (network namespaces, TUN devices)" }
	defer func() { vpnDemoCheck = old }()
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--nodes", "2"}, nil, &out, &errs); code != exitOK {
		t.Fatalf("demo exit %d; stderr:\n%s\nstdout:\n%s", code, errs.String(), out.String())
	}
	first, rest, _ := strings.Cut(out.String(), "\n")
	if want := "Skipping the VPN mesh demo: it needs root (network namespaces, TUN devices); run 'sudo hyperlan demo' on Linux for it."; first != want {
		t.Errorf("first line %q, want %q", first, want)
	}
	if !strings.Contains(rest, "stopped all 4 nodes.") {
		t.Errorf("the DHT demo did not run after the skip line:\n%s", out.String())
	}
}

func TestDemoBadFlags(t *testing.T) {
	for _, args := range [][]string{{"demo", "--timeout", "0s"}, {"demo", "--nodes", "0"}, {"demo", "extra"}} {
		var out, errs bytes.Buffer
		if code := run(context.Background(), args, nil, &out, &errs); code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr:\n%s", args, code, exitUsage, errs.String())
		}
	}
}

// checkContains fails t for each of wants that the demo's output got lacks.
func checkContains(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Errorf("demo output lacks %q:\n%s", want, got)
		}
	}
}
