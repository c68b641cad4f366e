package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The demo runs its DHT on 127.0.0.1 only, prints its progress and summary, and cleans up.
func TestDemo(t *testing.T) {
	checkNoLeaks(t)
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"demo", "--nodes", "4"}, nil, &out, &errs); code != exitOK {
		t.Fatalf("demo exit %d; stderr:\n%s\nstdout:\n%s", code, errs.String(), out.String())
	}
	if errs.Len() != 0 {
		t.Errorf("demo wrote to stderr:\n%s", errs.String())
	}
	got := out.String()
	for _, want := range []string{
		"The VPN demo mesh will come with the VPN",
		"bootstrap  127.0.0.1:",
		"node 4     127.0.0.1:",
		"lookup: an ephemeral node at 127.0.0.1:",
		"looks up node 2",
		"  node 2    answered with",
		"summary: ",
		"node 2 (127.0.0.1:",
		"stopped all 6 nodes.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("demo output lacks %q:\n%s", want, got)
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if strings.Contains(l, "ephemeral (not reachable") {
			t.Errorf("a demo node stayed ephemeral on 127.0.0.1: %s", l)
		}
	}
}
