package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	stdnet "net"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/blake2b"
)

// startTestnet runs a bootstrap node and n persistent nodes on 127.0.0.1 as the commands
// do, and returns the bootstrap address. The test's cleanup stops them.
func startTestnet(t *testing.T, n int) string {
	t.Helper()
	boot := startProc(t, "dht", "bootstrap", "--host", "127.0.0.1", "--bind", "127.0.0.1", "--port", "0")
	l := boot.await("listening")
	bootstrap := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(l["port"].(float64))).String()
	for range n {
		node := startProc(t, "dht", "node", "--bootstrap", bootstrap, "--host", "127.0.0.1", "--persistent", "--timeout", "10s")
		if r := node.await("ready"); r["ephemeral"] != false {
			t.Fatalf("node ready line %v: want a persistent node", r)
		}
	}
	return bootstrap
}

// runCmd runs hyperlan args in-process to the end and returns its exit code, its stdout
// lines and its stderr.
func runCmd(t *testing.T, args ...string) (int, []line, string) {
	t.Helper()
	var out, errs bytes.Buffer
	code := run(context.Background(), args, nil, &out, &errs)
	var lines []line
	for s := range strings.Lines(out.String()) {
		var l line
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("hyperlan %s: stdout line %q is not JSON: %v", strings.Join(args, " "), s, err)
		}
		lines = append(lines, l)
	}
	return code, lines, errs.String()
}

// mustRun runs hyperlan args, which must succeed quietly and print one line, and returns it.
func mustRun(t *testing.T, args ...string) line {
	t.Helper()
	code, lines, stderr := runCmd(t, args...)
	if code != exitOK || stderr != "" || len(lines) != 1 {
		t.Fatalf("hyperlan %s: exit %d, %d stdout lines %v; stderr:\n%s", strings.Join(args, " "), code, len(lines), lines, stderr)
	}
	return lines[0]
}

// lookupKeys runs a lookup and returns the public keys of its final peers line.
func lookupKeys(t *testing.T, args ...string) []string {
	t.Helper()
	code, lines, stderr := runCmd(t, args...)
	if code != exitOK || len(lines) == 0 {
		t.Fatalf("lookup: exit %d, lines %v; stderr:\n%s", code, lines, stderr)
	}
	last := lines[len(lines)-1]
	if last.str("event") != "peers" {
		t.Fatalf("lookup: last line %v, want a peers line", last)
	}
	for _, l := range lines[:len(lines)-1] {
		if l.str("event") != "reply" {
			t.Fatalf("lookup: line %v, want a reply line", l)
		}
		if _, err := netip.ParseAddrPort(l.str("from")); err != nil {
			t.Fatalf("lookup reply %v: from: %v", l, err)
		}
	}
	var keys []string
	for _, p := range last["peers"].([]any) {
		keys = append(keys, p.(map[string]any)["publicKey"].(string))
	}
	return keys
}

func checkClosest(t *testing.T, l line) {
	t.Helper()
	nodes, _ := l["closestNodes"].([]any)
	if len(nodes) == 0 {
		t.Fatalf("line %v: no closestNodes", l)
	}
	for _, n := range nodes {
		if s, _ := n.(string); !netip.MustParseAddrPort(s).Addr().IsLoopback() {
			t.Fatalf("line %v: closest node %v is not on 127.0.0.1", l, n)
		}
	}
}

var hex128 = regexp.MustCompile(`^[0-9a-f]{128}$`)

// TestRecordCommands stores and fetches immutable and mutable values, and announces,
// looks up and unannounces a key, through the commands, on a bootstrap node and four
// persistent nodes on 127.0.0.1.
func TestRecordCommands(t *testing.T) {
	checkNoLeaks(t)
	bootstrap := startTestnet(t, 4)
	net := []string{"--bootstrap", bootstrap, "--host", "127.0.0.1", "--timeout", "10s"}
	dht := func(cmd string, args ...string) []string {
		return slices.Concat([]string{"dht", cmd}, net, args)
	}
	keyFile := filepath.Join(t.TempDir(), "me.key")
	pk := mustRun(t, "dht", "keygen", "--out", keyFile).str("publicKey")

	t.Run("immutable", func(t *testing.T) {
		put := mustRun(t, dht("immutable-put", "hello, world")...)
		want := blake2b.Sum256([]byte("hello, world"))
		if got := put.str("hash"); got != hex.EncodeToString(want[:]) {
			t.Fatalf("immutable-put hash %s, want BLAKE2b-256 %x", got, want)
		}
		checkClosest(t, put)
		got := mustRun(t, dht("immutable-get", put.str("hash"))...)
		if got.str("value") != "hello, world" {
			t.Fatalf("immutable-get %v, want the value put", got)
		}
		if _, err := netip.ParseAddrPort(got.str("from")); err != nil {
			t.Fatalf("immutable-get %v: from: %v", got, err)
		}

		// Bytes that are not text: --hex both ways.
		put = mustRun(t, dht("immutable-put", "--hex", "00ff80")...)
		if got := mustRun(t, dht("immutable-get", "--hex", put.str("hash"))...); got.str("value") != "00ff80" {
			t.Fatalf("immutable-get --hex %v, want 00ff80", got)
		}
		code, _, stderr := runCmd(t, dht("immutable-get", put.str("hash"))...)
		if code != exitOK || !strings.Contains(stderr, "hyperlan: hint: the value is not UTF-8 text; run again with --hex") {
			t.Fatalf("immutable-get of binary as text: exit %d, stderr %q; want 0 and a hint", code, stderr)
		}

		code, lines, stderr := runCmd(t, dht("immutable-get", strings.Repeat("ab", 32))...)
		if code != exitError || len(lines) != 0 || !strings.HasPrefix(stderr, "hyperlan: error: no record found\n") {
			t.Fatalf("immutable-get of nothing: exit %d, stdout %v, stderr %q; want 1 and no record found", code, lines, stderr)
		}
	})

	t.Run("mutable", func(t *testing.T) {
		for _, seq := range []string{"1", "2"} {
			put := mustRun(t, dht("mutable-put", "--key-file", keyFile, "--seq", seq, "v"+seq)...)
			if put.str("publicKey") != pk || put["seq"] != float64(seq[0]-'0') || !hex128.MatchString(put.str("signature")) {
				t.Fatalf("mutable-put seq %s: %v", seq, put)
			}
			checkClosest(t, put)
		}
		got := mustRun(t, dht("mutable-get", pk)...)
		if got.str("value") != "v2" || got["seq"] != 2.0 || !hex128.MatchString(got.str("signature")) {
			t.Fatalf("mutable-get %v, want v2 at seq 2", got)
		}
		if _, err := netip.ParseAddrPort(got.str("from")); err != nil {
			t.Fatalf("mutable-get %v: from: %v", got, err)
		}
		if got := mustRun(t, dht("mutable-get", "--latest=false", pk)...); got["seq"] != 1.0 && got["seq"] != 2.0 {
			t.Fatalf("mutable-get --latest=false %v", got)
		}
		if got := mustRun(t, dht("mutable-get", "--hex", "--seq", "2", pk)...); got.str("value") != hex.EncodeToString([]byte("v2")) {
			t.Fatalf("mutable-get --hex --seq 2 %v, want v2 in hex", got)
		}

		code, lines, stderr := runCmd(t, dht("mutable-get", "--seq", "3", pk)...)
		if code != exitError || len(lines) != 0 || !strings.HasPrefix(stderr, "hyperlan: error: no record found\n") {
			t.Fatalf("mutable-get --seq 3: exit %d, stdout %v, stderr %q; want 1 and no record found", code, lines, stderr)
		}

		code, lines, stderr = runCmd(t, dht("mutable-put", "--key-file", keyFile, "--seq", "1", "v1 again")...)
		want := "hyperlan: error: the nodes refused seq 1: they hold a higher seq for this key\n" +
			"hyperlan: hint: use a --seq higher than 2\n"
		if code != exitError || len(lines) != 0 || stderr != want {
			t.Fatalf("mutable-put of an old seq: exit %d, stdout %v, stderr:\n%s\nwant exit 1 and:\n%s", code, lines, stderr, want)
		}
	})

	t.Run("announce", func(t *testing.T) {
		topic := blake2b.Sum256([]byte("hyperlan test topic"))
		ann := startProc(t, dht("announce", "--key-file", keyFile, "--topic-string", "hyperlan test topic")...)
		l := ann.await("announced")
		if l.str("publicKey") != pk || l.str("topic") != hex.EncodeToString(topic[:]) {
			t.Fatalf("announced line %v: want key %s on topic %x", l, pk, topic)
		}
		checkClosest(t, l)

		if keys := lookupKeys(t, dht("lookup", hex.EncodeToString(topic[:]))...); !slices.Contains(keys, pk) {
			t.Fatalf("lookup after announce lists %v, want %s", keys, pk)
		}

		code, rest := ann.stop()
		if code != exitOK || len(rest) == 0 || rest[len(rest)-1].str("event") != "unannounced" {
			t.Fatalf("announce stopped: exit %d, last lines %v; want 0 and an unannounced line; stderr:\n%s", code, rest, ann.stderr.String())
		}
		if ann.stderr.String() != "" {
			t.Errorf("announce wrote to stderr:\n%s", ann.stderr.String())
		}
		if keys := lookupKeys(t, dht("lookup", "--topic-string", "hyperlan test topic")...); slices.Contains(keys, pk) {
			t.Fatalf("lookup after unannounce still lists %s", pk)
		}
	})
}

// A signal while joining stops announce cleanly (exit 0, nothing announced, nothing
// printed); the one-shot record commands report the interruption with exit 1.
func TestRecordCommandsCancelWhileJoining(t *testing.T) {
	checkNoLeaks(t)
	keyFile := filepath.Join(t.TempDir(), "me.key")
	mustRun(t, "dht", "keygen", "--out", keyFile)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	net := []string{"--bootstrap", "127.0.0.1:1", "--host", "127.0.0.1"}
	topic := strings.Repeat("00", 32)
	tests := []struct {
		args     []string
		code     int
		wantErrs string
	}{
		{[]string{"announce", "--key-file", keyFile, topic}, exitOK, ""},
		{[]string{"unannounce", "--key-file", keyFile, topic}, exitError, "hyperlan: error: interrupted while joining the DHT\n"},
		{[]string{"lookup", topic}, exitError, "hyperlan: error: interrupted while joining the DHT\n"},
		{[]string{"immutable-put", "v"}, exitError, "hyperlan: error: interrupted while joining the DHT\n"},
		{[]string{"immutable-get", topic}, exitError, "hyperlan: error: interrupted while joining the DHT\n"},
		{[]string{"mutable-put", "--key-file", keyFile, "v"}, exitError, "hyperlan: error: interrupted while joining the DHT\n"},
		{[]string{"mutable-get", topic}, exitError, "hyperlan: error: interrupted while joining the DHT\n"},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			var out, errs bytes.Buffer
			args := slices.Concat([]string{"dht", tt.args[0]}, net, tt.args[1:])
			if code := run(ctx, args, nil, &out, &errs); code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, errs.String())
			}
			if out.Len() != 0 || errs.String() != tt.wantErrs {
				t.Errorf("stdout %q stderr %q, want no stdout and stderr %q", out.String(), errs.String(), tt.wantErrs)
			}
		})
	}
}

// dht node --port and dht listen --port promise that port or nothing, although the dht
// package falls back to another one when it is taken.
func TestPortTaken(t *testing.T) {
	checkNoLeaks(t)
	pc, err := stdnet.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*stdnet.UDPAddr).Port
	keyFile := filepath.Join(t.TempDir(), "me.key")
	mustRun(t, "dht", "keygen", "--out", keyFile)
	for _, cmd := range [][]string{{"node"}, {"listen", "--key-file", keyFile, "--echo"}} {
		t.Run(cmd[0], func(t *testing.T) {
			args := slices.Concat([]string{"dht"}, cmd, []string{"--bootstrap", "127.0.0.1:1", "--host", "127.0.0.1", "--port", strconv.Itoa(port)})
			code, lines, stderr := runCmd(t, args...)
			want := fmt.Sprintf("hyperlan: error: cannot listen on UDP 127.0.0.1:%d: address already in use\n", port)
			if code != exitError || len(lines) != 0 || !strings.HasPrefix(stderr, want) {
				t.Fatalf("exit %d, stdout %v, stderr:\n%s\nwant exit 1 and:\n%s", code, lines, stderr, want)
			}
		})
	}
}
