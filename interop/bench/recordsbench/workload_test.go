package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWorkItems(t *testing.T) {
	a, b := workItems("measured", 50), workItems("measured", 50)
	seen := map[hex32]bool{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("item %d differs between calls", i)
		}
		if seen[a[i].Topic] || seen[a[i].Seed] {
			t.Fatalf("item %d repeats a topic or seed", i)
		}
		seen[a[i].Topic], seen[a[i].Seed] = true, true
	}
	if w := workItems("warmup", 1); seen[w[0].Topic] {
		t.Error("warm-up and measured items share a topic")
	}
}

// The command the benchmark writes is the one serve-go-net reads, and jsnet.js's shape.
func TestParseCommand(t *testing.T) {
	items := workItems("x", 2)
	line, err := json.Marshal(map[string]any{"op": "lookup", "id": 7, "concurrency": 3, "items": items})
	if err != nil {
		t.Fatal(err)
	}
	topic, _ := items[0].Topic.MarshalText()
	if !strings.Contains(string(line), `"topic":"`+string(topic)+`"`) {
		t.Fatalf("items do not travel as hex strings: %s", line)
	}
	cmd, err := parseCommand(line)
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Op != "lookup" || cmd.ID != 7 || cmd.Concurrency != 3 || len(cmd.Items) != 2 || cmd.Items[1] != items[1] {
		t.Errorf("parseCommand(%s) = %+v", line, cmd)
	}

	bad := []struct{ name, line string }{
		{"not json", `{"op":`},
		{"no id", `{"op":"info"}`},
		{"id not a number", `{"op":"info","id":"1"}`},
		{"short topic", `{"op":"lookup","id":1,"items":[{"topic":"abcd","seed":"00"}]}`},
		{"topic not hex", `{"op":"lookup","id":1,"items":[{"topic":"` + strings.Repeat("zz", 32) + `","seed":"` + strings.Repeat("00", 32) + `"}]}`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if cmd, err := parseCommand([]byte(tt.line)); err == nil {
				t.Errorf("parseCommand(%s) = %+v, want an error", tt.line, cmd)
			}
		})
	}
}

// A phase result as jsnet.js writes it decodes into phase.
func TestPhaseFromJS(t *testing.T) {
	line := `{"wallMs":743.01,"latencyMs":[8.9,13.6,0.5],"ok":2,"failed":1,"holders":40,"error":"lookup found no holder"}`
	var p phase
	if err := json.Unmarshal([]byte(line), &p); err != nil {
		t.Fatal(err)
	}
	if p.WallMs != 743.01 || len(p.LatencyMs) != 3 || p.OK != 2 || p.Failed != 1 || p.Holders != 40 || p.Error == "" {
		t.Errorf("decoded %+v", p)
	}
}

func TestRunPhase(t *testing.T) {
	const n, concurrency = 40, 4
	var inFlight, most atomic.Int64
	var calls [n]atomic.Int64
	p := runPhase(context.Background(), n, concurrency, time.Second, "lookup", func(ctx context.Context, i int) (int, error) {
		calls[i].Add(1)
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if cur <= m || most.CompareAndSwap(m, cur) {
				break
			}
		}
		if _, ok := ctx.Deadline(); !ok {
			return 0, errors.New("no per-operation deadline")
		}
		time.Sleep(time.Millisecond)
		switch {
		case i == 3:
			return 0, errors.New("boom")
		case i%10 == 9:
			return 0, nil // found nothing
		}
		return 20, nil
	})
	for i := range calls {
		if c := calls[i].Load(); c != 1 {
			t.Fatalf("item %d ran %d times", i, c)
		}
	}
	if m := most.Load(); m > concurrency {
		t.Errorf("%d operations in flight, want at most %d", m, concurrency)
	}
	if p.OK != 35 || p.Failed != 5 || p.Holders != 35*20 {
		t.Errorf("ok %d, failed %d, holders %d; want 35, 5, 700", p.OK, p.Failed, p.Holders)
	}
	if p.Error != "boom" && p.Error != "lookup found no holder" {
		t.Errorf("first error %q", p.Error)
	}
	for i, ms := range p.LatencyMs {
		if ms < 1 || ms > p.WallMs {
			t.Errorf("item %d latency %v ms, phase %v ms", i, ms, p.WallMs)
		}
	}
}
