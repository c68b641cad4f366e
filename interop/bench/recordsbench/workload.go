package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// hex32 is 32 bytes that travel as 64 hex digits in JSON.
type hex32 [32]byte

func (h hex32) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h[:])), nil }

func (h *hex32) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("want 64 hex digits, got %d characters", len(b))
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// item is one unit of the workload: a topic, and the seed of the key pair announced on it.
type item struct {
	Topic hex32 `json:"topic"`
	Seed  hex32 `json:"seed"`
}

// workItems returns n distinct items derived from tag, the same on every call, so both
// targets and every round get the same topics and key pairs.
func workItems(tag string, n int) []item {
	items := make([]item, n)
	for i := range items {
		items[i].Topic = sha256.Sum256(fmt.Appendf(nil, "recordsbench topic %s %d", tag, i))
		items[i].Seed = sha256.Sum256(fmt.Appendf(nil, "recordsbench seed %s %d", tag, i))
	}
	return items
}

// phase is what a network process reports for one announce or lookup phase (the JSON shape
// jsnet.js documents), plus the CPU time the benchmark measured around it.
type phase struct {
	WallMs    float64   `json:"wallMs"`    // first operation started to last one ended
	LatencyMs []float64 `json:"latencyMs"` // per item, in item order
	OK        int       `json:"ok"`
	Failed    int       `json:"failed"`
	Holders   int       `json:"holders"` // nodes committed to (announce), replies listing the key (lookup)
	Error     string    `json:"error"`   // the first failure, if any

	cpu, cpuUser time.Duration // of the network process during the phase
	cpuOK        bool          // cpu was measured
}

// runPhase runs one(ctx, i) for i in [0, n), concurrency at a time, each bounded by
// timeout, and times each one and the whole. one returns the holders it found; 0 is a
// failure.
func runPhase(ctx context.Context, n, concurrency int, timeout time.Duration, what string, one func(ctx context.Context, i int) (int, error)) *phase {
	p := &phase{LatencyMs: make([]float64, n)}
	var (
		next    atomic.Int64
		mu      sync.Mutex // guards the counters and Error of p
		workers sync.WaitGroup
	)
	start := time.Now()
	for range min(concurrency, n) {
		workers.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				octx, cancel := context.WithTimeout(ctx, timeout)
				holders, err := one(octx, i)
				cancel()
				lat := time.Since(t0)
				mu.Lock()
				p.LatencyMs[i] = float64(lat.Nanoseconds()) / 1e6
				switch {
				case err != nil:
					p.Failed++
					if p.Error == "" {
						p.Error = err.Error()
					}
				case holders == 0:
					p.Failed++
					if p.Error == "" {
						p.Error = what + " found no holder"
					}
				default:
					p.OK++
					p.Holders += holders
				}
				mu.Unlock()
			}
		})
	}
	workers.Wait()
	p.WallMs = float64(time.Since(start).Nanoseconds()) / 1e6
	return p
}
