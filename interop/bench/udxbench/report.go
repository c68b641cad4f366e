package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
)

// Goals of the issue: Go to Go over JS to JS.
const (
	goalBulk     = 1.5
	goalMessages = 2.0
)

// report is everything one run measured.
type report struct {
	cfg      config
	cpus     int
	loadavg  string
	bulk     []*bulkResult
	messages []*msgResult
}

func mib(kb int64) float64 { return float64(kb) / 1024 }

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "UDX on loopback, every endpoint a process of its own; all processes share this %d-CPU machine (load average at start %s).\n",
		r.cpus, r.loadavg)
	if len(r.bulk) > 0 {
		fmt.Fprintf(w, "Bulk: %d MiB per transfer, PseudoRandom data (a %d MiB block repeated), checked by the receiver; MB = 10^6 bytes; time from the receiver's first byte to the END.\n\n",
			r.cfg.bytes>>20, r.cfg.blockSize>>20)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "sender-receiver\tMB/s\ttime s\tsnd cpu s\trcv cpu s\tsnd peak MiB\trcv peak MiB\trcv RSS before/after MiB\tretransmits\t")
		for _, b := range r.bulk {
			fmt.Fprintf(tw, "%v\t%.1f\t%.2f\t%.2f\t%.2f\t%.1f\t%.1f\t%.1f / %.1f\t%d\t\n", b.pair, b.mbps(), b.seconds,
				b.sender.CPU.Seconds(), b.receiver.CPU.Seconds(), mib(b.sender.HWMKB), mib(b.receiver.HWMKB),
				mib(b.receiver.RSSBeforeKB), mib(b.receiver.RSSKB), b.retransmits)
		}
		tw.Flush()
	}

	if len(r.messages) > 0 {
		fmt.Fprintf(w, "\nMessages: %d bytes each (a 1,200-byte message exceeds the %d-byte maximum payload at UDX's base MTU of %d on IPv4), sent as fast as the sender can for %v; loss counted at the receiver %v after the sender stopped.\n\n",
			r.cfg.msgSize, r.cfg.msgSize, baseMTU, r.cfg.msgDuration, drainWait)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "sender-receiver\tsent/s\treceived/s\tloss %\trcv per-second min/max\tsnd cpu s\trcv cpu s\tsnd peak MiB\trcv peak MiB\t")
		for _, m := range r.messages {
			lo, hi := fullSeconds(m.perSecond)
			fmt.Fprintf(tw, "%v\t%.0f\t%.0f\t%.1f\t%d / %d\t%.2f\t%.2f\t%.1f\t%.1f\t\n", m.pair, m.sentRate(), m.receivedRate(), 100*m.loss(),
				lo, hi, m.sender.CPU.Seconds(), m.receiver.CPU.Seconds(), mib(m.sender.HWMKB), mib(m.receiver.HWMKB))
		}
		tw.Flush()
	}

	ratio := r.ratios()
	if len(ratio) > 0 {
		fmt.Fprintln(w, "\nGo-Go over JS-JS:")
		if v, ok := ratio["bulk"]; ok {
			fmt.Fprintf(w, "  bulk throughput  %.2fx (goal %.1fx: %s)\n", v, goalBulk, verdict(v, goalBulk))
			fmt.Fprintf(w, "  bulk cpu per byte, both endpoints, JS over Go  %.2fx\n", ratio["bulk_cpu_js_over_go"])
			fmt.Fprintf(w, "  bulk peak RSS, both endpoints, JS over Go  %.2fx\n", ratio["bulk_peak_rss_js_over_go"])
		}
		if v, ok := ratio["messages"]; ok {
			fmt.Fprintf(w, "  messages received/s  %.2fx (goal %.1fx: %s)\n", v, goalMessages, verdict(v, goalMessages))
		}
	}
	fmt.Fprintln(w)
	line, _ := json.Marshal(r.json(ratio))
	fmt.Fprintln(w, string(line))
}

func verdict(v, goal float64) string {
	if v >= goal {
		return "met"
	}
	return "not met"
}

// fullSeconds returns the smallest and largest count of the whole seconds in perSecond: all
// but the last, which is cut short by the end of sending.
func fullSeconds(perSecond []int64) (lo, hi int64) {
	full := perSecond
	if len(full) > 1 {
		full = full[:len(full)-1]
	}
	if len(full) == 0 {
		return 0, 0
	}
	return slices.Min(full), slices.Max(full)
}

// ratios returns Go-Go's figures over JS-JS's (or JS over Go for costs), for the pairs run.
func (r *report) ratios() map[string]float64 {
	out := map[string]float64{}
	var gb, jb *bulkResult
	for _, b := range r.bulk {
		switch b.pair {
		case pair{"go", "go"}:
			gb = b
		case pair{"js", "js"}:
			jb = b
		}
	}
	if gb != nil && jb != nil {
		out["bulk"] = gb.mbps() / jb.mbps()
		if g := (gb.sender.CPU + gb.receiver.CPU).Seconds() / float64(gb.bytes); g > 0 {
			out["bulk_cpu_js_over_go"] = (jb.sender.CPU + jb.receiver.CPU).Seconds() / float64(jb.bytes) / g
		}
		if g := gb.sender.HWMKB + gb.receiver.HWMKB; g > 0 {
			out["bulk_peak_rss_js_over_go"] = float64(jb.sender.HWMKB+jb.receiver.HWMKB) / float64(g)
		}
	}
	if len(r.messages) == 2 && r.messages[1].receivedRate() > 0 {
		out["messages"] = r.messages[0].receivedRate() / r.messages[1].receivedRate()
	}
	return out
}

func (r *report) json(ratio map[string]float64) map[string]any {
	bulk := map[string]any{}
	for _, b := range r.bulk {
		bulk[b.pair.String()] = map[string]any{
			"mb_per_s": b.mbps(), "seconds": b.seconds, "bytes": b.bytes,
			"retransmits": b.retransmits, "packets_sent": b.packetsSent,
			"sender": b.sender.JSON(), "receiver": b.receiver.JSON(),
		}
	}
	msgs := map[string]any{}
	for _, m := range r.messages {
		msgs[m.pair.String()] = map[string]any{
			"sent_per_s": m.sentRate(), "received_per_s": m.receivedRate(), "loss": m.loss(),
			"sent": m.sent, "send_failed": m.failed, "received": m.received, "seconds": m.seconds,
			"received_per_second": m.perSecond,
			"sender":              m.sender.JSON(), "receiver": m.receiver.JSON(),
		}
	}
	return map[string]any{
		"bulk": bulk, "messages": msgs, "ratio": ratio,
		"bytes": r.cfg.bytes, "msg_size": r.cfg.msgSize, "msg_duration_s": r.cfg.msgDuration.Seconds(),
		"cpus": r.cpus, "loadavg": r.loadavg,
	}
}
