package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/interop"
)

// TestSmoke builds the benchmark and runs a very short comparison, then checks that every
// measurement has figures for both VPNs and that nothing is left behind; then it starts
// another run and interrupts it while hyperlan starts, as Ctrl-C would, and checks the same.
// It needs what the benchmark needs: root, ip, /dev/net/tun, the go command.
func TestSmoke(t *testing.T) {
	interop.RequireNetns(t)
	if p := problem(); p != "" {
		if os.Getenv(interop.RequireNetnsEnv) == "1" {
			t.Fatalf("%s (%s=1, so this is a failure)", p, interop.RequireNetnsEnv)
		}
		t.Skipf("%s; set %s=1 to fail instead of skipping", p, interop.RequireNetnsEnv)
	}
	bin := filepath.Join(t.TempDir(), "vpnbench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	t.Run("run", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "-duration", "300ms", "-latency", "300ms", "-streams", "2")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		t.Logf("run took %v", time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Fatalf("vpnbench: %v\nstderr:\n%s", err, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		var rep struct {
			Tests  map[string]map[string]json.RawMessage `json:"tests"`
			Memory map[string]*memory                    `json:"memory"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
			t.Fatalf("last line is not the JSON report: %v\n%s", err, stdout.String())
		}
		cfg := config{streams: 2, udpRate: 200}
		for _, tc := range cfg.tests() {
			for _, name := range []string{hyperlanName, wireguardName} {
				var r result
				if err := json.Unmarshal(rep.Tests[tc.key][name], &r); err != nil {
					t.Fatalf("%s %s: %v", tc.key, name, err)
				}
				if tc.kind == kindRR && (r.RTT == nil || r.RTT.Count == 0) || tc.kind != kindRR && r.Mbps <= 0 {
					t.Errorf("%s %s: no figures: %+v", tc.key, name, r)
				}
			}
		}
		for _, name := range []string{hyperlanName, wireguardName} {
			if m := rep.Memory[name]; m == nil || m.IdleKB[0] <= 0 || m.PeakKB[1] <= 0 {
				t.Errorf("%s: no memory figures: %+v", name, m)
			}
		}
		checkGone(t, cmd.Process.Pid, bin, stderr.String())
	})

	t.Run("interrupt", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "-duration", "10s")
		pr, pw := io.Pipe()
		var stderr bytes.Buffer
		cmd.Stderr = io.MultiWriter(pw, &stderr)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "lab up in") {
					cmd.Process.Signal(syscall.SIGINT)
				}
			}
		}()
		err := cmd.Wait()
		pw.Close()
		if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "interrupted") {
			t.Fatalf("want exit status 1 after an interrupt, got %v\nstderr:\n%s", err, stderr.String())
		}
		checkGone(t, cmd.Process.Pid, bin, stderr.String())
	})
}

var cleanedDir = regexp.MustCompile(`deleted the namespaces and (\S+)`)

// checkGone checks that the run of process pid (the program bin) left no namespace, no
// temporary directory and no process running from it.
func checkGone(t *testing.T, pid int, bin, stderr string) {
	t.Helper()
	m := cleanedDir.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no cleanup line on stderr:\n%s", stderr)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("temporary directory %s still exists (%v)", m[1], err)
	}
	prefix := nsPrefix + strconv.FormatInt(int64(pid), 36) + "-"
	entries, _ := os.ReadDir(nsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && (bytes.Contains(b, []byte(m[1])) || bytes.Contains(b, []byte(bin+"\x00serve-load"))) {
			t.Errorf("process %s still runs: %q", filepath.Base(filepath.Dir(p)), bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}
