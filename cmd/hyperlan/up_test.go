package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/interop"
)

// Seeds and public keys of test members (dht keygen --seed 0101..., 0202..., 0303...).
const (
	seed1 = "0101010101010101010101010101010101010101010101010101010101010101"
	key2  = "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"
	key3  = "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1"
)

// writeNetwork writes node.key (seed1), lan.secret and, as config.toml, the config body
// after a [node] table with the key file and interface iface, into dir. It returns the
// config's path.
func writeNetwork(t *testing.T, dir, iface, body string) string {
	t.Helper()
	kp, err := dht.NewKeyPair(mustHex32(t, seed1))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeKeyFile(filepath.Join(dir, "node.key"), kp, true); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lan.secret"), []byte(strings.Repeat("02", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, dir, iface, body)
}

func writeConfig(t *testing.T, dir, iface, body string) string {
	t.Helper()
	path := filepath.Join(dir, "config.toml")
	cfg := fmt.Sprintf("[node]\nname = \"alpha\"\nkey_file = \"node.key\"\ninterface = %q\n%s", iface, body)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustHex32(t *testing.T, s string) []byte {
	t.Helper()
	b, err := parseHex32("seed", "a seed", s)
	if err != nil {
		t.Fatal(err)
	}
	return b[:]
}

const network = `[network]
secret_file = "lan.secret"
[dht]
bootstrap = []
[[peer]]
name = "beta"
public_key = "` + key2 + `"
`

// fakeEngine records what up asks of it.
type fakeEngine struct {
	mu      sync.Mutex
	reloads [][]configs.Peer
	fail    error // Reload's error
}

func (f *fakeEngine) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (f *fakeEngine) Close() error                  { return nil }

func (f *fakeEngine) Reload(list []configs.Peer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.reloads = append(f.reloads, list)
	return nil
}

func (f *fakeEngine) Status() engineStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := engineStatus{Name: "fake", Listening: true}
	if n := len(f.reloads); n > 0 {
		for _, p := range f.reloads[n-1] {
			st.Peers = append(st.Peers, peerStatus{peerJSON: peerEntry(p), Listed: true})
		}
	}
	return st
}

// SIGHUP's reload applies a new peer list, and nothing from a config that is bad or moves
// the node.
func TestDaemonReload(t *testing.T) {
	dir := t.TempDir()
	path := writeNetwork(t, dir, "hl0", network)
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	eng := &fakeEngine{}
	d := &daemon{path: path, cfg: cfg, eng: eng, log: slog.New(slog.NewTextHandler(&logs, nil)), started: time.Now()}
	reloads := func() int {
		eng.mu.Lock()
		defer eng.mu.Unlock()
		return len(eng.reloads)
	}
	step := func(name, body string, wantReloads int, wantLog string) {
		t.Helper()
		logs.Reset()
		writeConfig(t, dir, "hl0", body)
		d.reload()
		if got := reloads(); got != wantReloads {
			t.Errorf("%s: %d reloads, want %d; log:\n%s", name, got, wantReloads, logs.String())
		}
		if !strings.Contains(logs.String(), wantLog) {
			t.Errorf("%s: log lacks %q:\n%s", name, wantLog, logs.String())
		}
	}

	step("a peer added", network+"[[peer]]\nname = \"gamma\"\npublic_key = \""+key3+"\"\n",
		1, `msg=reloaded peers=2 added=[gamma] removed=[]`)
	if st := d.status(); len(st.Peers) != 2 || st.Peers[1].Name != "gamma" || st.Engine != "fake" {
		t.Errorf("status after reload: %+v", st)
	}
	if len(d.cfg.Peers) != 2 {
		t.Errorf("the daemon's config has %d peers after the reload, want 2", len(d.cfg.Peers))
	}

	step("a bad config", network+"[[peer]]\nname = \"gamma\"\n", 1,
		`msg="reload: config problem; nothing changed" problem="`+path+`:12:1: peer[1].public_key: required key is missing"`)

	step("the network moves", strings.Replace(network, "[dht]", "ipv4 = \"10.99.0.0/16\"\n[dht]", 1), 1,
		`changed="[node.address network.ipv4]"`)

	step("the MTU changes, a peer is removed", strings.Replace(network, "[network]", "mtu = 1400\n[network]", 1), 2,
		`msg="reload: these changes take effect at the next restart" changed=[node.mtu]`)
	if !strings.Contains(logs.String(), `removed=[gamma]`) {
		t.Errorf("log lacks the removed peer:\n%s", logs.String())
	}
	if d.cfg.Node.MTU != configs.DefaultMTU {
		t.Errorf("the reload changed the running MTU to %d", d.cfg.Node.MTU)
	}

	eng.fail = errors.New("peers: boom")
	step("the engine refuses", network, 2, `msg="reload failed; nothing changed" err="peers: boom"`)
	if len(d.cfg.Peers) != 1 {
		t.Errorf("a refused reload changed the daemon's peers to %d", len(d.cfg.Peers))
	}
}

// up in a network namespace of its own: it brings the interface up with the node's
// addresses and routes, answers status, reloads on SIGHUP, refuses a second daemon for
// the same interface, and on SIGTERM removes the interface and the socket and exits 0.
func TestUpNetns(t *testing.T) {
	lab := interop.NewLab(t) // skips without root
	ns := lab.Netns("up")
	bin, err := exec.LookPath("hyperlan")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := writeNetwork(t, dir, "hl0", network+"routes = [\"192.168.77.0/24\"]\n")
	cfg, err := configs.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "run", "hl0.sock")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var stderr lockedBuffer
	cmd := ns.Command(ctx, bin, "up", "-c", cfgPath, "--socket", sock)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()

	st := awaitStatus(t, sock, exited, &stderr, func(st *vpnStatus) bool { return len(st.Peers) == 1 })
	if st.Node.Interface != "hl0" || st.Node.Address != cfg.Node.Address.String() || st.Config != cfgPath || st.PID != cmd.Process.Pid {
		t.Errorf("status: %+v", st)
	}
	// The engine sets the addresses and routes as it starts running.
	for _, a := range []string{cfg.Node.Address.String() + "/16", cfg.Node.Address6.String() + "/64"} {
		awaitIP(t, ns, a, true, "addr", "show", "dev", "hl0")
	}
	for _, r := range []string{"10.77.0.0/16 dev hl0", "192.168.77.0/24 dev hl0"} {
		awaitIP(t, ns, r, true, "route", "show", "proto", "104")
	}

	// A second daemon for the interface is refused, and leaves the first alone.
	second, err := ns.Run(ctx, bin, "up", "-c", cfgPath, "--socket", sock)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitError || !strings.Contains(second, "hyperlan: error: a hyperlan daemon already serves hl0") {
		t.Errorf("second up: %v\n%s", err, second)
	}

	// SIGHUP: a second peer, and beta's subnet gone.
	writeConfig(t, dir, "hl0", network+"[[peer]]\nname = \"gamma\"\npublic_key = \""+key3+"\"\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	st = awaitStatus(t, sock, exited, &stderr, func(st *vpnStatus) bool { return len(st.Peers) == 2 })
	if !slices.ContainsFunc(st.Peers, func(p peerStatus) bool { return p.Name == "gamma" && p.PublicKey == key3 }) {
		t.Errorf("status after SIGHUP: %+v", st.Peers)
	}
	awaitIP(t, ns, "192.168.77.0/24", false, "route", "show", "proto", "104")

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the deferred wait
		if err != nil {
			t.Fatalf("up after SIGTERM: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("up did not stop within 30 s of SIGTERM; stderr:\n%s", stderr.String())
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket after the stop: %v", err)
	}
	if out, err := ns.Run(ctx, "ip", "link", "show", "hl0"); err == nil {
		t.Errorf("hl0 is still there after the stop:\n%s", out)
	}
	for _, want := range []string{"msg=running", "msg=reloaded", "msg=stopped"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("up's log lacks %q:\n%s", want, stderr.String())
		}
	}
}

// awaitIP polls 'ip args...' in ns until its output contains s (or, with present false,
// no longer does), and fails the test after 10 s.
func awaitIP(t *testing.T, ns *interop.Netns, s string, present bool, args ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := ns.Run(context.Background(), "ip", args...)
		if err == nil && strings.Contains(out, s) == present {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ip %s: want %q present=%v within 10 s; got %v:\n%s", strings.Join(args, " "), s, present, err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitStatus polls the daemon on sock until its status satisfies ok, and fails the test
// if the daemon exits or 20 s pass first.
func awaitStatus(t *testing.T, sock string, exited chan error, stderr *lockedBuffer, ok func(*vpnStatus) bool) *vpnStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("up exited: %v; stderr:\n%s", err, stderr.String())
		default:
		}
		st, err := queryStatus(context.Background(), sock)
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching status within 20 s (last %+v, %v); stderr:\n%s", st, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
