package interop

// Impairment of the NAT lab's internet: this kernel has no sch_netem, so, as
// in NATLAB.md, the internet router sends the packets it forwards to an
// NFQUEUE (iptables, through nft_compat: the native nft queue statement is
// missing too) and natlab/nqdelay.c, compiled at test time, holds each one for
// the delay and drops some at random.

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

//go:embed natlab/nqdelay.c
var nqdelaySource string

const (
	impairQueue    = 7                // NFQUEUE number; queues are per namespace
	nqdelayStart   = 5 * time.Second  // until nqdelay has bound its queue
	nqdelayStop    = 2 * time.Second  // after SIGTERM, before SIGKILL
	compileTimeout = 60 * time.Second // for gcc
)

// Impairment is what [NATLab.Impair] does to the packets the internet router
// forwards: each is delayed once, so a path between a LAN and the public
// segment, or between two LANs, gets Delay one way and twice that in round
// trip time, and each is dropped with probability Loss percent. Order is kept
// (FIFO). Traffic within one segment (between public hosts, or within a LAN)
// does not pass the internet router and is never impaired.
type Impairment struct {
	Delay time.Duration // one-way delay added to each forwarded packet; 0 for none
	Loss  float64       // percent of forwarded packets dropped at random, 0 to 100
	// Routers limits the impairment to packets to or from these routers'
	// WAN links (a packet between two of them still counts once); nil means
	// every forwarded packet.
	Routers []*Router
	Seed    int64 // of nqdelay's loss draws; 0 picks one from the time and pid
}

// ImpairStats are nqdelay's counters for one impairment, from [NATLab.Unimpair].
type ImpairStats struct {
	Packets  uint64 // packets queued to it
	Dropped  uint64 // of those, dropped for Loss
	Overflow uint64 // passed at once because its buffer (2^18 packets) was full
}

// impairment is a running nqdelay and the rules that feed it.
type impairment struct {
	inet   *Netns
	proc   *os.Process
	stderr *tailBuffer
	done   chan struct{} // closed once stderr hit EOF and the process was reaped
	wait   error         // the process's exit; read after done
}

// RequireImpairment makes sure [NATLab.Impair] can work: gcc, the
// libnetfilter-queue headers and library (Debian: libnetfilter-queue-dev) and
// iptables. It compiles nqdelay for the lab on the first call. If that is not
// possible it skips the test with the reason, or fails it when
// HYPERLAN_REQUIRE_NETNS=1. It must be called from the test goroutine.
func (n *NATLab) RequireImpairment(t testing.TB) {
	t.Helper()
	requireTools(t, "impairment", "gcc", "gcc", "iptables", "iptables")
	n.impairMu.Lock()
	defer n.impairMu.Unlock()
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		t.Fatal("interop: impairment: the lab is closed")
	}
	if n.nqdelay != "" {
		return
	}
	bin, err := n.compileNqdelay()
	if err != nil {
		skipOrFailNetns(t, fmt.Sprintf("impairment: cannot build nqdelay (needs gcc and libnetfilter-queue-dev): %v", err))
	}
	n.nqdelay = bin
}

// compileNqdelay builds natlab/nqdelay.c in a directory of its own that
// [NATLab.Close] removes, and returns the binary's path.
func (n *NATLab) compileNqdelay() (string, error) {
	dir, err := os.MkdirTemp("", "hyperlan-nqdelay-")
	if err != nil {
		return "", err
	}
	n.tempDirs = append(n.tempDirs, dir)
	src, bin := filepath.Join(dir, "nqdelay.c"), filepath.Join(dir, "nqdelay")
	if err := os.WriteFile(src, []byte(nqdelaySource), 0o600); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), compileTimeout)
	defer cancel()
	gcc := exec.CommandContext(ctx, "gcc", "-O2", "-o", bin, src, "-lnetfilter_queue")
	if out, err := gcc.CombinedOutput(); err != nil {
		return "", fmt.Errorf("gcc: %w: %s", err, bytes2line(out))
	}
	return bin, nil
}

// Impair starts impairing forwarded packets as imp says, replacing any
// impairment that runs. [NATLab.RequireImpairment] must have been called.
// It returns once nqdelay has bound its queue and the rules are in place; the
// lab's Close ends it at the latest.
func (n *NATLab) Impair(imp Impairment) error {
	if imp.Delay < 0 || imp.Loss < 0 || imp.Loss > 100 {
		return fmt.Errorf("interop: impairment: delay %v and loss %v%%: want delay >= 0 and loss in [0, 100]", imp.Delay, imp.Loss)
	}
	var devs []string
	for _, r := range imp.Routers {
		if r == nil || r.nl != n {
			return fmt.Errorf("interop: impairment: router %v is not of this lab", r)
		}
		devs = append(devs, r.inetIf)
	}

	n.impairMu.Lock()
	defer n.impairMu.Unlock()
	if n.nqdelay == "" {
		return errors.New("interop: impairment: call RequireImpairment first (nqdelay is not built)")
	}
	if _, err := n.unimpairLocked(); err != nil {
		return err
	}
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return errors.New("interop: impairment: the lab is closed")
	}

	args := []string{
		"-q", strconv.Itoa(impairQueue),
		"-d", strconv.FormatFloat(float64(imp.Delay)/float64(time.Millisecond), 'f', 3, 64),
		"-l", strconv.FormatFloat(imp.Loss, 'f', -1, 64),
	}
	if imp.Seed != 0 {
		args = append(args, "-s", strconv.FormatInt(imp.Seed, 10))
	}
	im, err := startNqdelay(n.inet, n.nqdelay, args)
	if err != nil {
		return err
	}
	// The rules go in only now that the queue is bound: with --queue-bypass,
	// packets would pass unimpaired until then anyway.
	queue := []string{"-j", "NFQUEUE", "--queue-num", strconv.Itoa(impairQueue), "--queue-bypass"}
	var rules [][]string
	if len(devs) == 0 {
		rules = append(rules, queue)
	}
	for _, dev := range devs {
		rules = append(rules, append([]string{"-i", dev}, queue...), append([]string{"-o", dev}, queue...))
	}
	for _, rule := range rules {
		if err := iptablesIn(n.inet, append([]string{"-t", "mangle", "-A", "FORWARD"}, rule...)...); err != nil {
			_ = iptablesIn(n.inet, "-t", "mangle", "-F", "FORWARD")
			_, stopErr := im.stop()
			return errors.Join(err, stopErr)
		}
	}
	n.impaired = im
	return nil
}

// Unimpair removes the impairment, if one runs: the rules go first, then
// nqdelay releases the packets it still holds and exits. It returns nqdelay's
// counters (zero if none ran).
func (n *NATLab) Unimpair() (ImpairStats, error) {
	n.impairMu.Lock()
	defer n.impairMu.Unlock()
	return n.unimpairLocked()
}

func (n *NATLab) unimpairLocked() (ImpairStats, error) {
	im := n.impaired
	if im == nil {
		return ImpairStats{}, nil
	}
	n.impaired = nil
	err := iptablesIn(n.inet, "-t", "mangle", "-F", "FORWARD")
	stats, stopErr := im.stop()
	return stats, errors.Join(err, stopErr)
}

func iptablesIn(ns *Netns, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	_, err := ns.Run(ctx, "iptables", append([]string{"-w"}, args...)...)
	return err
}

// startNqdelay runs bin with args inside ns and waits until it reports its
// queue bound.
func startNqdelay(ns *Netns, bin string, args []string) (*impairment, error) {
	cmd := ns.Command(context.Background(), bin, args...)
	cmd.WaitDelay = nqdelayStop
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("interop: nqdelay: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("interop: nqdelay: %w", err)
	}
	im := &impairment{
		inet:   ns,
		proc:   cmd.Process,
		stderr: &tailBuffer{max: stderrKeep},
		done:   make(chan struct{}),
	}
	ready := make(chan struct{})
	go func() {
		defer close(im.done)
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(im.stderr, line)
			if !signalled && strings.HasPrefix(line, "nqdelay: queue ") {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		im.wait = cmd.Wait()
	}()

	timer := time.NewTimer(nqdelayStart)
	defer timer.Stop()
	select {
	case <-ready:
		return im, nil
	case <-im.done:
		return nil, fmt.Errorf("interop: nqdelay in %s exited at start: %v: %s", ns.Name(), im.wait, bytes2line([]byte(im.stderr.String())))
	case <-timer.C:
		_, err := im.stop()
		return nil, fmt.Errorf("interop: nqdelay in %s did not bind queue %d within %v: %v", ns.Name(), impairQueue, nqdelayStart, err)
	}
}

// stop ends nqdelay with SIGTERM (SIGKILL after 2 s), waits for it and
// returns its counters.
func (im *impairment) stop() (ImpairStats, error) {
	_ = im.proc.Signal(syscall.SIGTERM)
	timer := time.NewTimer(nqdelayStop)
	defer timer.Stop()
	killed := false
	select {
	case <-im.done:
	case <-timer.C:
		killed = true
		_ = im.proc.Kill()
		<-im.done
	}
	out := im.stderr.String()
	if killed {
		return ImpairStats{}, fmt.Errorf("interop: nqdelay in %s did not exit within %v of SIGTERM; killed: %s", im.inet.Name(), nqdelayStop, bytes2line([]byte(out)))
	}
	if im.wait != nil {
		return ImpairStats{}, fmt.Errorf("interop: nqdelay in %s: %w: %s", im.inet.Name(), im.wait, bytes2line([]byte(out)))
	}
	stats, ok := parseNqdelayStats(out)
	if !ok {
		return ImpairStats{}, fmt.Errorf("interop: nqdelay in %s exited without its counters: %s", im.inet.Name(), bytes2line([]byte(out)))
	}
	return stats, nil
}

// parseNqdelayStats reads the last "nqdelay: queue N in=A dropped=B
// ringfull=C" line.
func parseNqdelayStats(out string) (ImpairStats, bool) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var q int
		var s ImpairStats
		if n, _ := fmt.Sscanf(lines[i], "nqdelay: queue %d in=%d dropped=%d ringfull=%d", &q, &s.Packets, &s.Dropped, &s.Overflow); n == 4 {
			return s, true
		}
	}
	return ImpairStats{}, false
}
