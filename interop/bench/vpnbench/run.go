package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hyperlan/hyperlan/interop/bench/internal/driver"
	"github.com/hyperlan/hyperlan/interop/bench/internal/procstat"
)

const (
	settle      = time.Second            // after both VPNs are up, before idle memory is read (at most -duration)
	sampleEvery = 100 * time.Millisecond // RSS samples during a measurement
	rrSize      = 64                     // payload of a latency request
)

// Kinds of measurement.
const (
	kindTCP = "tcp"
	kindUDP = "udp"
	kindRR  = "rr"
)

// test is one measurement, run for each VPN.
type test struct {
	key      string // in the JSON line
	title    string
	kind     string
	streams  int     // tcp
	download bool    // tcp: b sends to a
	mbps     float64 // udp: offered payload rate, 0 for as fast as the sender can
}

// tests returns the measurements of a run, in order.
func (c *config) tests() []test {
	n := c.streams
	return []test{
		{key: "tcp_up_1", title: "TCP a→b, 1 stream", kind: kindTCP, streams: 1},
		{key: fmt.Sprintf("tcp_up_%d", n), title: fmt.Sprintf("TCP a→b, %d streams", n), kind: kindTCP, streams: n},
		{key: "tcp_down_1", title: "TCP b→a, 1 stream", kind: kindTCP, streams: 1, download: true},
		{key: fmt.Sprintf("tcp_down_%d", n), title: fmt.Sprintf("TCP b→a, %d streams", n), kind: kindTCP, streams: n, download: true},
		{key: "udp_fixed", title: fmt.Sprintf("UDP a→b, %g Mbit/s offered", c.udpRate), kind: kindUDP, mbps: c.udpRate},
		{key: "udp_max", title: "UDP a→b, as fast as the sender can", kind: kindUDP},
		{key: "latency", title: fmt.Sprintf("UDP %d B request/response", rrSize), kind: kindRR},
	}
}

// result is one measurement of one VPN. CPU times are seconds of user + system time of
// the processes during the measurement.
type result struct {
	Mbps        float64   `json:"mbps,omitempty"`         // received (TCP: by the receivers; UDP: payload at the sink)
	Bytes       int64     `json:"bytes,omitempty"`        // received
	OfferedMbps float64   `json:"offered_mbps,omitempty"` // udp: what the sender sent
	Sent        int64     `json:"sent,omitempty"`         // udp datagrams
	Received    int64     `json:"received,omitempty"`     // udp datagrams
	SendErrors  int64     `json:"send_errors,omitempty"`  // udp: sends the kernel refused
	LossPct     float64   `json:"loss_pct,omitempty"`     // udp: 100 × (sent − received) / sent
	RTT         *rrResult `json:"rtt,omitempty"`          // rr
	Seconds     float64   `json:"seconds"`                // wall time of the measurement
	VPNCPU      float64   `json:"vpn_cpu_s"`              // both ends' VPN processes
	VPNCPUA     float64   `json:"vpn_cpu_a_s"`
	VPNCPUB     float64   `json:"vpn_cpu_b_s"`
	LoadCPU     float64   `json:"load_cpu_s"`           // both load generators
	CPUPerGB    float64   `json:"vpn_cpu_s_per_gb"`     // VPNCPU per 10^9 bytes received
	RSSKB       int64     `json:"rss_max_kb,omitempty"` // the VPN's two processes together, highest sample
}

// primary is the figure by which rounds are ranked for the median.
func (r *result) primary() float64 {
	if r.RTT != nil {
		return r.RTT.P50
	}
	return r.Mbps
}

// memory is the RSS of one VPN's processes, in KiB, a's and b's.
type memory struct {
	IdleKB [2]int64 `json:"idle_kb"` // after setup, before any load
	LoadKB [2]int64 `json:"load_kb"` // the highest sample during the measurements
	PeakKB [2]int64 `json:"peak_kb"` // VmHWM at the end
}

// measure runs every measurement for every VPN, rounds times, alternating the VPNs, and
// reads their memory.
func (r *run) measure(ctx context.Context, rep *report) error {
	select {
	case <-time.After(min(settle, r.cfg.duration)):
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, name := range r.cfg.vpns {
		v, m := r.vpns[name], &memory{}
		for i, p := range []*driver.Process{v.a, v.b} {
			rss, _, err := procstat.Memory(p.Pid())
			if err != nil {
				return fmt.Errorf("%s: %w", p.Name(), err)
			}
			m.IdleKB[i] = rss
		}
		rep.memory[name] = m
	}
	var run uint64
	for round := range r.cfg.rounds {
		for i, t := range r.cfg.tests() {
			for _, name := range r.cfg.order(round + i) {
				run++
				res, err := r.measureOne(ctx, r.vpns[name], t, run, rep.memory[name])
				if err != nil {
					return fmt.Errorf("%s, %s: %w", name, t.title, err)
				}
				rep.add(t.key, name, res)
				fmt.Fprintf(r.log, "vpnbench: %-13s %-38s %s\n", name, t.title, res.summary(t))
			}
		}
	}
	for _, name := range r.cfg.vpns {
		v, m := r.vpns[name], rep.memory[name]
		for i, p := range []*driver.Process{v.a, v.b} {
			if _, hwm, err := procstat.Memory(p.Pid()); err == nil {
				m.PeakKB[i] = hwm
			}
		}
	}
	return nil
}

// measureOne runs one measurement of v and reads the CPU time of the processes around it
// and v's memory during it.
func (r *run) measureOne(ctx context.Context, v *vpn, t test, run uint64, mem *memory) (*result, error) {
	procs := []*driver.Process{v.a, v.b, r.loadA, r.loadB}
	before, err := cpuTimes(procs)
	if err != nil {
		return nil, err
	}
	res := &result{}
	stop := sampleRSS(v, mem, res)
	start := time.Now()
	err = r.load(ctx, v, t, run, res)
	res.Seconds = time.Since(start).Seconds()
	stop()
	if err != nil {
		return nil, err
	}
	after, err := cpuTimes(procs)
	if err != nil {
		return nil, err
	}
	res.VPNCPUA, res.VPNCPUB = after[0]-before[0], after[1]-before[1]
	res.VPNCPU = res.VPNCPUA + res.VPNCPUB
	res.LoadCPU = after[2] - before[2] + after[3] - before[3]
	if res.Bytes > 0 {
		res.CPUPerGB = res.VPNCPU / (float64(res.Bytes) / 1e9)
	}
	return res, nil
}

// load has the load generator in a run test t through v's tunnel and fills in res.
func (r *run) load(ctx context.Context, v *vpn, t test, run uint64, res *result) error {
	d := r.cfg.duration
	wait := d + 2*ioSlack
	switch t.kind {
	case kindTCP:
		var tr tcpResult
		err := r.loadA.Call(ctx, "tcp", map[string]any{"addr": v.addrB, "streams": t.streams, "download": t.download, "ms": d.Milliseconds()}, wait, &tr)
		res.Mbps, res.Bytes = tr.Mbps, tr.Bytes
		return err
	case kindUDP:
		var sent udpSent
		size := r.cfg.mtu - 28 // a full packet: the MTU less IPv4 and UDP headers
		if err := r.loadA.Call(ctx, "udp", map[string]any{"addr": v.addrB, "size": size, "mbps": t.mbps, "run": run, "ms": d.Milliseconds()}, wait, &sent); err != nil {
			return err
		}
		select {
		case <-time.After(sinkGrace):
		case <-ctx.Done():
			return ctx.Err()
		}
		var got udpSinkStats
		if err := r.loadB.Call(ctx, "sinkStats", map[string]any{"run": run}, ipTimeout, &got); err != nil {
			return err
		}
		res.Sent, res.SendErrors, res.Received, res.Bytes = sent.Sent, sent.Errors, got.Received, got.Bytes
		res.OfferedMbps = float64(sent.Sent) * float64(size) * 8 / sent.Seconds / 1e6
		res.Mbps = float64(got.Bytes) * 8 / sent.Seconds / 1e6
		if sent.Sent > 0 {
			res.LossPct = 100 * float64(sent.Sent-got.Received) / float64(sent.Sent)
		}
		return nil
	case kindRR:
		var rr rrResult
		err := r.loadA.Call(ctx, "rr", map[string]any{"addr": v.addrB, "size": rrSize, "ms": r.cfg.latency.Milliseconds()}, r.cfg.latency+2*ioSlack, &rr)
		res.RTT = &rr
		return err
	}
	return fmt.Errorf("unknown kind %q", t.kind)
}

// cpuTimes returns the CPU seconds each process has used so far.
func cpuTimes(procs []*driver.Process) ([]float64, error) {
	out := make([]float64, len(procs))
	for i, p := range procs {
		total, _, err := procstat.CPU(p.Pid())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name(), err)
		}
		out[i] = total.Seconds()
	}
	return out, nil
}

// sampleRSS reads the RSS of v's processes every sampleEvery until the returned function
// is called, and records the highest values in mem (per end) and res (both together).
func sampleRSS(v *vpn, mem *memory, res *result) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(sampleEvery)
		defer tick.Stop()
		for {
			var sum int64
			for i, p := range []*driver.Process{v.a, v.b} {
				if rss, _, err := procstat.Memory(p.Pid()); err == nil {
					mem.LoadKB[i] = max(mem.LoadKB[i], rss)
					sum += rss
				}
			}
			res.RSSKB = max(res.RSSKB, sum)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
