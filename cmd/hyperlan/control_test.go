package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeStatus is a status with every field set, as an engine would report it.
func fakeStatus() *vpnStatus {
	since := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	seen := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	next := time.Date(2026, 5, 1, 10, 0, 30, 0, time.UTC)
	return &vpnStatus{
		Version: "v0.1.0",
		PID:     812,
		Config:  "/etc/hyperlan/home.toml",
		Started: time.Date(2026, 5, 1, 7, 0, 0, 0, time.UTC),
		Engine:  "peers",
		Node: nodeStatus{
			nodeJSON: nodeJSON{Name: "desktop", PublicKey: strings.Repeat("8a", 32), Interface: "hyperlan0", MTU: 1280,
				Address: "10.77.31.7", Address6: "fd5a:1f3e:90c2::7", Routes: []string{}, Relay: true, RelayPublicKey: strings.Repeat("2c", 32)},
			Listening:   true,
			Drops:       dropCounters{NoRoute: 3, Spoofed: 1},
			RelayServer: &relayServerStatus{Serving: true, Sessions: 4, Pairings: 2, Active: 1},
		},
		Network: networkJSON{IPv4: "10.77.0.0/16", IPv6: "fd5a:1f3e:90c2::/64", SecretFile: "/etc/hyperlan/home.secret", Topic: strings.Repeat("4b", 32)},
		DHT:     dhtJSON{Bootstrap: []string{"203.0.113.7:49737"}, RelayThrough: []string{strings.Repeat("e1", 32)}},
		Peers: []peerStatus{
			{
				peerJSON: peerJSON{Name: "laptop", PublicKey: strings.Repeat("6f", 32), Address: "10.77.3.4", Address6: "fd5a:1f3e:90c2::4", Routes: []string{}},
				Listed:   true, Connected: true, Path: "holepunch", Upgraded: true, Relay: strings.Repeat("e1", 32), Remote: "198.51.100.9:4012", Since: &since, RTTMs: 12.3,
				RxBytes: 1258291, TxBytes: 90112, RxPackets: 1001, TxPackets: 998, LastSeen: &seen,
			},
			{
				peerJSON:  peerJSON{Name: "nas", PublicKey: strings.Repeat("38", 32), Address: "10.77.0.10", Address6: "fd5a:1f3e:90c2::10", Routes: []string{"192.168.1.0/24"}},
				Listed:    true,
				LastError: "remote stopped answering", NextDial: &next,
			},
			{
				peerJSON:  peerJSON{Name: "phone", PublicKey: strings.Repeat("a3", 32), Address: "10.77.1.2", Address6: "fd5a:1f3e:90c2::2", Routes: []string{}},
				Connected: true, Path: "relay", Relayed: true, Relay: strings.Repeat("e1", 32), Remote: "203.0.113.5:49737", Since: &since, RTTMs: 2.25, LastSeen: &seen,
			},
		},
	}
}

// serveFake starts a control server on a socket in a new temporary directory that
// answers status with st.
func serveFake(t *testing.T, st *vpnStatus) (path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "run", "hyperlan0.sock")
	s, err := listenControl(path, func() *vpnStatus { return st }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return path
}

// exchange sends req as is on a new connection to path and returns the reply line.
func exchange(t *testing.T, path, req string) controlReply {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	c.(*net.UnixConn).CloseWrite()
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		t.Fatalf("reading the reply: %v (got %q)", err, line)
	}
	var rep controlReply
	if err := json.Unmarshal(line, &rep); err != nil {
		t.Fatalf("reply %q: %v", line, err)
	}
	if rep.V != controlVersion {
		t.Errorf("reply version %d, want %d", rep.V, controlVersion)
	}
	return rep
}

// A status request gets the server's status back, field for field.
func TestControlStatusRoundTrip(t *testing.T) {
	checkNoLeaks(t)
	want := fakeStatus()
	path := serveFake(t, want)
	got, err := queryStatus(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("status round trip:\n got %s\nwant %s", g, w)
	}
}

// The socket is 0600 in a directory of 0700 that the server creates.
func TestControlPermissions(t *testing.T) {
	path := serveFake(t, fakeStatus())
	for _, c := range []struct {
		path string
		want os.FileMode
	}{{filepath.Dir(path), 0o700}, {path, 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.want {
			t.Errorf("%s: mode %04o, want %04o", c.path, got, c.want)
		}
	}
}

// Requests the server does not take get an error reply, and the server goes on serving.
func TestControlBadRequests(t *testing.T) {
	checkNoLeaks(t)
	path := serveFake(t, fakeStatus())
	tests := []struct {
		name, req, want string
	}{
		{"unknown command", `{"v":1,"cmd":"frob"}` + "\n", `unknown command "frob"`},
		{"no command", `{"v":1}` + "\n", `unknown command ""`},
		{"other version", `{"v":2,"cmd":"status"}` + "\n", "protocol version 2 not supported; this daemon speaks version 1"},
		{"no version", `{"cmd":"status"}` + "\n", "protocol version 0 not supported"},
		{"not JSON", "status\n", "bad request: not a JSON object"},
		{"empty", "", "bad request: EOF"},
		{"too long", `{"v":1,"cmd":"` + strings.Repeat("x", controlMaxLine) + `"}` + "\n", "bad request: line longer than 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := exchange(t, path, tt.req)
			if rep.Status != nil || !strings.HasPrefix(rep.Error, tt.want) {
				t.Fatalf("reply %+v, want the error %q", rep, tt.want)
			}
		})
	}
	// Without a newline, the request still counts when the client half-closes.
	if rep := exchange(t, path, `{"v":1,"cmd":"status"}`); rep.Status == nil {
		t.Fatalf("request without newline: reply %+v, want a status", rep)
	}
}

// A second server on the same socket is refused while the first one runs; a socket
// left behind by a dead one is replaced; Close removes the socket.
func TestControlSocketLifecycle(t *testing.T) {
	checkNoLeaks(t)
	log := slog.New(slog.DiscardHandler)
	status := func() *vpnStatus { return fakeStatus() }
	path := filepath.Join(t.TempDir(), "hl0.sock")

	// No socket: no daemon.
	if _, err := queryStatus(context.Background(), path); !errors.Is(err, errNoDaemon) {
		t.Fatalf("query without a socket: %v, want errNoDaemon", err)
	}

	// A stale socket: bound, then closed without unlinking it (a daemon that crashed).
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := queryStatus(context.Background(), path); !errors.Is(err, errStale) {
		t.Fatalf("query of a stale socket: %v, want errStale", err)
	}
	s, err := listenControl(path, status, log)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	if _, err := queryStatus(context.Background(), path); err != nil {
		t.Fatal(err)
	}

	// A live one.
	if s2, err := listenControl(path, status, log); !errors.Is(err, errAlreadyRunning) {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("second server: %v, want errAlreadyRunning", err)
	}
	if _, err := queryStatus(context.Background(), path); err != nil {
		t.Fatalf("the first server stopped answering after the second was refused: %v", err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket after Close: %v, want it removed", err)
	}

	// Something else at the path is left alone.
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := listenControl(path, status, log); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("listen on a regular file: %v, want 'is not a socket'", err)
	}
	if _, err := queryStatus(context.Background(), path); err == nil || !strings.Contains(err.Error(), "is not a control socket") {
		t.Fatalf("query of a regular file: %v", err)
	}
}

// A client that connects and sends nothing is dropped after requestDeadline, and keeps
// others waiting no longer than that.
func TestControlSilentClient(t *testing.T) {
	checkNoLeaks(t)
	path := serveFake(t, fakeStatus())
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := queryStatus(context.Background(), path); err != nil {
		t.Fatalf("query behind a silent client: %v", err)
	}
	if d := time.Since(start); d > requestDeadline+time.Second {
		t.Fatalf("query behind a silent client took %v", d)
	}
}

// controlSocket finds the one daemon's socket, or says why it cannot.
func TestControlSocket(t *testing.T) {
	dir := t.TempDir()
	mkSock := func(name string) {
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, name), Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		ln.SetUnlinkOnClose(false)
		ln.Close()
	}
	check := func(name, iface, socket, want string, wantErr error, wantMsg string) {
		t.Helper()
		got, err := controlSocket(dir, iface, socket)
		switch {
		case wantErr != nil && !errors.Is(err, wantErr):
			t.Errorf("%s: err %v, want %v", name, err, wantErr)
		case wantMsg != "" && (err == nil || !strings.Contains(err.Error(), wantMsg)):
			t.Errorf("%s: err %v, want %q", name, err, wantMsg)
		case wantErr == nil && wantMsg == "" && (err != nil || got != want):
			t.Errorf("%s: got %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := controlSocket(filepath.Join(dir, "nope"), "", ""); !errors.Is(err, errNoDaemon) {
		t.Errorf("missing dir: %v, want errNoDaemon", err)
	}
	check("empty dir", "", "", "", errNoDaemon, "")
	os.WriteFile(filepath.Join(dir, "notes.sock"), nil, 0o600) // not a socket: ignored
	check("no sockets", "", "", "", errNoDaemon, "")
	mkSock("hyperlan0.sock")
	check("one", "", "", filepath.Join(dir, "hyperlan0.sock"), nil, "")
	mkSock("hyperlan1.sock")
	check("two", "", "", "", nil, "several hyperlan daemons run, on hyperlan0, hyperlan1")
	check("-i", "hyperlan1", "", filepath.Join(dir, "hyperlan1.sock"), nil, "")
	check("-i missing", "wg0", "", filepath.Join(dir, "wg0.sock"), nil, "")
	check("--socket", "", "/tmp/x.sock", "/tmp/x.sock", nil, "")
	check("both", "hyperlan0", "/tmp/x.sock", "", nil, "-i and --socket exclude each other")
	check("-i path", "../x", "", "", nil, `-i "../x": not an interface name`)
}

// hyperlan status and peers, in-process against a fake daemon.
func TestStatusCommands(t *testing.T) {
	checkNoLeaks(t)
	st := fakeStatus()
	path := serveFake(t, st)
	runOK := func(args ...string) string {
		t.Helper()
		var out, errs strings.Builder
		if code := run(context.Background(), args, nil, &out, &errs); code != exitOK || errs.Len() > 0 {
			t.Fatalf("%s: exit %d, stderr %q", strings.Join(args, " "), code, errs.String())
		}
		return out.String()
	}

	out := runOK("status", "--socket", path)
	for _, want := range []string{
		"hyperlan on hyperlan0: desktop, up ",
		"(pid 812, hyperlan v0.1.0)\n",
		"config      /etc/hyperlan/home.toml\n",
		"network     10.77.0.0/16, fd5a:1f3e:90c2::/64, topic 4b4b4b4b...\n",
		"dht         announced, accepting members\n",
		"relays      through e1e1e1e1... when no holepunch connects\n",
		"relay key   " + strings.Repeat("2c", 32) + "\n",
		"relay       serving: 4 sessions, 2 pairings, 1 active\n",
		"dropped     3 no route, 1 spoofed source\n",
		"peers       2 of 3 connected\n",
		"NAME    ADDRESS     STATE      PATH                  RTT    LAST SEEN\n",
		"laptop  10.77.3.4   connected  holepunch (upgraded)  12ms   ",
		"nas     10.77.0.10  -          -                     -      never\n",
		"phone   10.77.1.2   connected  relay                 2.3ms  ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}

	out = runOK("peers", "--socket", path)
	for _, want := range []string{
		"NAME    PUBLIC KEY   ADDRESS     ADDRESS6            STATE      PATH                  REMOTE             RTT    RX       TX        LAST SEEN  BY      ROUTES          LAST ERROR\n",
		"laptop  6f6f6f6f...  10.77.3.4   fd5a:1f3e:90c2::4   connected  holepunch (upgraded)  198.51.100.9:4012  12ms   1.2 MiB  88.0 KiB  ",
		"nas     38383838...  10.77.0.10  fd5a:1f3e:90c2::10  -          -                     -                  -      0 B      0 B       never      key     192.168.1.0/24  remote stopped answering\n",
		"phone   a3a3a3a3...  10.77.1.2   fd5a:1f3e:90c2::2   connected  relay                 203.0.113.5:49737  2.3ms  ",
		"  secret  -               -\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("peers output lacks %q:\n%s", want, out)
		}
	}

	var got vpnStatus
	if err := json.Unmarshal([]byte(runOK("status", "--socket", path, "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, st) {
		t.Errorf("status --json differs from the daemon's status: %+v", got)
	}

	lines := strings.Split(strings.TrimSuffix(runOK("peers", "--json", "--socket", path), "\n"), "\n")
	if len(lines) != len(st.Peers) {
		t.Fatalf("peers --json: %d lines, want %d", len(lines), len(st.Peers))
	}
	for i, l := range lines {
		var p peerStatus
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p, st.Peers[i]) {
			t.Errorf("peers --json line %d: %s", i, l)
		}
	}
	if !strings.Contains(lines[0], `"upgraded":true,"relay":"e1e1`) || !strings.Contains(lines[2], `"path":"relay","relayed":true,"upgraded":false,"relay":"e1e1`) ||
		!strings.Contains(lines[0], `"rttMs":12.3,`) || !strings.Contains(lines[1], `"nextDial":"2026-05-01T10:00:30Z"`) ||
		strings.Contains(lines[1], `"path"`) {
		t.Errorf("peers --json field spelling:\n%s", strings.Join(lines, "\n"))
	}
}

func TestFormatters(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	for _, c := range []struct{ got, want string }{
		{byteSize(0), "0 B"}, {byteSize(1023), "1023 B"}, {byteSize(1024), "1.0 KiB"},
		{byteSize(1258291), "1.2 MiB"}, {byteSize(3 << 30), "3.0 GiB"}, {byteSize(^uint64(0)), "16.0 EiB"},
		{rtt(0), "-"}, {rtt(0.004), "<10µs"}, {rtt(0.2424), "240µs"}, {rtt(2.25), "2.3ms"}, {rtt(12.3), "12ms"}, {rtt(1500), "1.5s"},
		{lastSeen(nil, now), "never"}, {lastSeen(ago(0), now), "0s ago"}, {lastSeen(ago(-time.Second), now), "0s ago"},
		{lastSeen(ago(59*time.Second), now), "59s ago"}, {lastSeen(ago(5*time.Minute), now), "5m ago"},
		{lastSeen(ago(47*time.Hour), now), "47h ago"}, {lastSeen(ago(72*time.Hour), now), "3d ago"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
