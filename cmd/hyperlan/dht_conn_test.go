package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// pipeProc is an in-process run of a command that pipes a connection (dht connect, dht
// listen without --echo): the test writes its stdin and closes it, its stdout is kept
// as bytes, and its stderr is split into JSON event lines and the other lines.
type pipeProc struct {
	t      *testing.T
	args   []string
	cancel context.CancelFunc
	stdin  *io.PipeWriter
	stdout waitBuffer
	events chan line // the JSON lines of stderr; closed when run has returned
	text   lockedBuffer
	code   chan int

	waitOnce sync.Once
	exit     int // set by wait
}

// startPipeProc runs hyperlan args in-process. The test's cleanup stops it.
func startPipeProc(t *testing.T, args ...string) *pipeProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &pipeProc{t: t, args: args, cancel: cancel, events: make(chan line, 100), code: make(chan int, 1)}
	inR, inW := io.Pipe()
	p.stdin = inW
	errR, errW := io.Pipe()
	go func() {
		code := run(ctx, args, inR, &p.stdout, errW)
		errW.Close()
		p.code <- code
	}()
	go func() {
		defer close(p.events)
		sc := bufio.NewScanner(errR)
		for sc.Scan() {
			if !strings.HasPrefix(sc.Text(), "{") {
				p.text.Write(append(sc.Bytes(), '\n'))
				continue
			}
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Errorf("hyperlan %s: stderr line %q is not JSON: %v", strings.Join(args, " "), sc.Text(), err)
			}
			p.events <- l
		}
	}()
	t.Cleanup(func() {
		p.cancel()
		inW.Close() // unblocks a read of stdin that run left pending
		p.wait()
	})
	return p
}

// await returns the first stderr event line whose event is ev.
func (p *pipeProc) await(ev string) line {
	p.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-p.events:
			if !ok {
				p.t.Fatalf("hyperlan %s exited before %q; stderr:\n%s", strings.Join(p.args, " "), ev, p.text.String())
			}
			if l.str("event") == ev {
				return l
			}
		case <-timeout:
			p.t.Fatalf("hyperlan %s: no %q line after 30s; stderr:\n%s", strings.Join(p.args, " "), ev, p.text.String())
		}
	}
}

// write writes s to the command's stdin.
func (p *pipeProc) write(s string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, s); err != nil {
		p.t.Fatalf("hyperlan %s: writing stdin: %v", strings.Join(p.args, " "), err)
	}
}

// wait waits for the command to exit by itself and returns its exit code (-1 if it did not
// within 30s).
func (p *pipeProc) wait() int {
	p.waitOnce.Do(func() {
		select {
		case p.exit = <-p.code:
		case <-time.After(30 * time.Second):
			p.exit = -1
			p.t.Errorf("hyperlan %s did not exit within 30s; stderr:\n%s", strings.Join(p.args, " "), p.text.String())
			return
		}
		for range p.events { // the rest, until stderr is drained
		}
	})
	return p.exit
}

// waitBuffer is a buffer safe for concurrent use that can wait for its contents.
type waitBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on each write
}

func (w *waitBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.changed != nil {
		close(w.changed)
		w.changed = nil
	}
	return w.b.Write(p)
}

func (w *waitBuffer) Bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.b.Bytes())
}

// waitFor waits up to 30s until the buffer holds want.
func (w *waitBuffer) waitFor(t *testing.T, what, want string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		w.mu.Lock()
		if strings.Contains(w.b.String(), want) {
			w.mu.Unlock()
			return
		}
		if w.changed == nil {
			w.changed = make(chan struct{})
		}
		ch := w.changed
		got := w.b.String()
		w.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("%s: no %q after 30s; got %q", what, want, got)
		}
	}
}

// runWithStdin runs hyperlan args in-process to the end with stdin, and returns its exit
// code, its stdout, its stderr event lines and its other stderr lines.
func runWithStdin(t *testing.T, stdin []byte, args ...string) (int, []byte, []line, string) {
	t.Helper()
	var out, errs bytes.Buffer
	code := run(context.Background(), args, bytes.NewReader(stdin), &out, &errs)
	var events []line
	var text strings.Builder
	for s := range strings.Lines(errs.String()) {
		if !strings.HasPrefix(s, "{") {
			text.WriteString(s)
			continue
		}
		var l line
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("hyperlan %s: stderr line %q is not JSON: %v", strings.Join(args, " "), s, err)
		}
		events = append(events, l)
	}
	return code, out.Bytes(), events, text.String()
}

func findEvent(lines []line, ev string) line {
	for _, l := range lines {
		if l.str("event") == ev {
			return l
		}
	}
	return nil
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// checkSameConn checks that the listen side's connection line and the connect side's
// connected line describe one connection between the two keys.
func checkSameConn(t *testing.T, conn, connected line, serverPK, clientPK string) {
	t.Helper()
	if connected.str("remotePublicKey") != serverPK || connected.str("publicKey") != clientPK {
		t.Errorf("connected line %v: want publicKey %s, remotePublicKey %s", connected, clientPK, serverPK)
	}
	if conn.str("remotePublicKey") != clientPK {
		t.Errorf("connection line %v: want remotePublicKey %s", conn, clientPK)
	}
	if h := conn.str("handshakeHash"); !hex128.MatchString(h) || h != connected.str("handshakeHash") {
		t.Errorf("handshake hashes differ or are malformed: listen %q, connect %q", h, connected.str("handshakeHash"))
	} // On loopback both ends are open and the client reaches the server's address.
	if conn.str("path") != connected.str("path") || conn.str("path") == "" || conn["relayed"] != false {
		t.Errorf("paths: listen %v (relayed %v), connect %v", conn["path"], conn["relayed"], connected["path"])
	}
}

// keygen makes a key file in dir and returns its path and public key.
func keygen(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	path := filepath.Join(dir, name)
	pk := mustRun(t, "dht", "keygen", "--out", path).str("publicKey")
	if !hex64.MatchString(pk) {
		t.Fatalf("keygen: public key %q", pk)
	}
	return path, pk
}

// connTest is the setting of a connection test: a private DHT on 127.0.0.1 (a bootstrap
// node and persistent nodes) and the key files of a server and a client.
type connTest struct {
	bootstrap           string
	dir                 string
	serverKey, serverPK string
	clientKey, clientPK string
}

func newConnTest(t *testing.T, nodes int) *connTest {
	t.Helper()
	ct := &connTest{bootstrap: startTestnet(t, nodes), dir: t.TempDir()}
	ct.serverKey, ct.serverPK = keygen(t, ct.dir, "server.key")
	ct.clientKey, ct.clientPK = keygen(t, ct.dir, "client.key")
	return ct
}

// dht returns the arguments of hyperlan dht cmd on the test's DHT, then args.
func (ct *connTest) dht(cmd string, args ...string) []string {
	return slices.Concat([]string{"dht", cmd, "--bootstrap", ct.bootstrap, "--host", "127.0.0.1", "--timeout", "20s"}, args)
}

// TestConnEcho runs dht listen --echo on a private DHT on 127.0.0.1 and connects to it with
// dht connect: bytes and datagrams come back, keys and handshake hashes agree, a line too
// long for a datagram fails, a key nobody listens on is PEER_NOT_FOUND (exit 3), and a
// key --firewall-allow does not list is refused (PEER_CONNECTION_FAILED, exit 3).
func TestConnEcho(t *testing.T) {
	checkNoLeaks(t)
	ct := newConnTest(t, 2)
	dht, dir := ct.dht, ct.dir
	serverKey, serverPK, clientKey, clientPK := ct.serverKey, ct.serverPK, ct.clientKey, ct.clientPK

	srv := startProc(t, dht("listen", "--key-file", serverKey, "--echo")...)
	if l := srv.await("listening"); l.str("publicKey") != serverPK || l.str("host") != "127.0.0.1" || l["port"] == 0.0 {
		t.Fatalf("listening line %v: want key %s on 127.0.0.1", l, serverPK)
	}

	t.Run("bytes", func(t *testing.T) {
		data := make([]byte, 300<<10)
		rand.NewChaCha8([32]byte{1}).Read(data)
		code, out, events, text := runWithStdin(t, data, dht("connect", "--key-file", clientKey, serverPK)...)
		if code != exitOK || !bytes.Equal(out, data) {
			t.Fatalf("connect: exit %d, %d bytes back (want 0 and the %d sent); stderr:\n%s", code, len(out), len(data), text)
		}
		conn := srv.await("connection")
		checkSameConn(t, conn, findEvent(events, "connected"), serverPK, clientPK)
		closed := srv.await("connection-closed")
		if closed.str("remotePublicKey") != clientPK || closed["bytes"] != float64(len(data)) || closed["error"] != nil {
			t.Errorf("connection-closed line %v: want %d bytes from %s and no error", closed, len(data), clientPK)
		}
	})

	t.Run("messages", func(t *testing.T) {
		in := "one\ntwo\n\nthree\n"
		code, out, _, text := runWithStdin(t, []byte(in), dht("connect", "--message", serverPK)...)
		got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		slices.Sort(got) // datagrams are unordered
		if want := []string{"", "one", "three", "two"}; code != exitOK || !slices.Equal(got, want) {
			t.Fatalf("connect --message: exit %d, lines %q, want 0 and %q; stderr:\n%s", code, got, want, text)
		}
		srv.await("connection")
		if closed := srv.await("connection-closed"); closed["messages"] != 4.0 || closed["bytes"] != 0.0 {
			t.Errorf("connection-closed line %v: want 4 messages and 0 bytes", closed)
		}

		long := strings.Repeat("x", 3000) + "\n"
		code, _, _, text = runWithStdin(t, []byte(long), dht("connect", "--message", serverPK)...)
		if want := "hyperlan: error: stdin line 1 (3000 bytes) does not fit one datagram\n"; code != exitError || !strings.HasPrefix(text, want) {
			t.Fatalf("connect --message with a long line: exit %d, stderr:\n%s\nwant exit 1 and:\n%s", code, text, want)
		}
	})

	t.Run("not found", func(t *testing.T) {
		_, nobody := keygen(t, dir, "nobody.key")
		code, out, events, text := runWithStdin(t, nil, dht("connect", nobody)...)
		want := "hyperlan: error: connect: PEER_NOT_FOUND: peer not found\n"
		if code != exitConnect || len(out) != 0 || len(events) != 0 || !strings.HasPrefix(text, want) {
			t.Fatalf("connect to a key nobody listens on: exit %d, stdout %q, events %v, stderr:\n%s\nwant exit 3 and:\n%s", code, out, events, text, want)
		}
	})

	t.Run("firewall", func(t *testing.T) {
		key2, pk2 := keygen(t, dir, "server2.key")
		fw := startProc(t, dht("listen", "--key-file", key2, "--echo", "--firewall-allow", clientPK)...)
		fw.await("listening")
		code, _, _, text := runWithStdin(t, nil, dht("connect", pk2)...)
		if want := "hyperlan: error: connect: PEER_CONNECTION_FAILED: could not connect to peer\n"; code != exitConnect || !strings.HasPrefix(text, want) {
			t.Fatalf("connect with a key the firewall refuses: exit %d, stderr:\n%s\nwant exit 3 and:\n%s", code, text, want)
		}
		if l := fw.await("rejected"); l.str("reason") != "firewall" {
			t.Errorf("rejected line %v: want reason firewall", l)
		}
		code, out, _, text := runWithStdin(t, []byte("allowed\n"), dht("connect", "--key-file", clientKey, pk2)...)
		if code != exitOK || string(out) != "allowed\n" {
			t.Fatalf("connect with the allowed key: exit %d, stdout %q; stderr:\n%s", code, out, text)
		}
		if code, rest := fw.stop(); code != exitOK || len(rest) == 0 || rest[len(rest)-1].str("event") != "close" {
			t.Errorf("listen stopped: exit %d, last lines %v", code, rest)
		}
	})

	code, rest := srv.stop()
	if code != exitOK || len(rest) == 0 || rest[len(rest)-1].str("event") != "close" {
		t.Fatalf("listen stopped: exit %d, last lines %v; want 0 and a close line; stderr:\n%s", code, rest, srv.stderr.String())
	}
}

// TestConnPipe pipes dht listen to dht connect netcat style, each way in turn: the
// connector half-closes first and still receives the listener's bytes afterwards; a second
// client is refused while the first is connected; both exit 0 once both directions ended.
func TestConnPipe(t *testing.T) {
	checkNoLeaks(t)
	ct := newConnTest(t, 2)

	lis := startPipeProc(t, ct.dht("listen", "--key-file", ct.serverKey)...)
	if l := lis.await("listening"); l.str("publicKey") != ct.serverPK {
		t.Fatalf("listening line %v: want key %s", l, ct.serverPK)
	}
	con := startPipeProc(t, ct.dht("connect", "--key-file", ct.clientKey, ct.serverPK)...)
	checkSameConn(t, lis.await("connection"), con.await("connected"), ct.serverPK, ct.clientPK)

	con.write("to the listener\n")
	lis.stdout.waitFor(t, "listen stdout", "to the listener\n")
	con.stdin.Close() // half-close: the listener reads EOF, the connector goes on reading

	// The one connection is taken: the server has unannounced (or refuses handshakes).
	code, _, _, text := runWithStdin(t, nil, ct.dht("connect", ct.serverPK)...)
	if code != exitConnect || !regexp.MustCompile(`^hyperlan: error: connect: (PEER_NOT_FOUND|PEER_CONNECTION_FAILED): `).MatchString(text) {
		t.Fatalf("second client: exit %d, stderr:\n%s\nwant exit 3 and PEER_NOT_FOUND or PEER_CONNECTION_FAILED", code, text)
	}

	lis.write("to the connector\n")
	con.stdout.waitFor(t, "connect stdout", "to the connector\n")
	lis.stdin.Close()

	if code := con.wait(); code != exitOK {
		t.Errorf("connect: exit %d, want 0; stderr:\n%s", code, con.text.String())
	}
	if code := lis.wait(); code != exitOK {
		t.Errorf("listen: exit %d, want 0; stderr:\n%s", code, lis.text.String())
	}
	if got := string(lis.stdout.Bytes()); got != "to the listener\n" {
		t.Errorf("listen stdout %q", got)
	}
	if got := string(con.stdout.Bytes()); got != "to the connector\n" {
		t.Errorf("connect stdout %q", got)
	}
}

// TestConnPipeMessages pipes dht listen --message to dht connect --message: stdin lines go
// out as datagrams and come out as lines on the other side, both ways.
func TestConnPipeMessages(t *testing.T) {
	checkNoLeaks(t)
	ct := newConnTest(t, 2)

	lis := startPipeProc(t, ct.dht("listen", "--message", "--key-file", ct.serverKey)...)
	lis.await("listening")
	con := startPipeProc(t, ct.dht("connect", "--message", ct.serverPK)...)
	con.await("connected")
	lis.await("connection")

	con.write("ping 1\nping 2\n")
	lis.stdout.waitFor(t, "listen stdout", "ping 1\n")
	lis.stdout.waitFor(t, "listen stdout", "ping 2\n")
	lis.write("pong\n")
	con.stdout.waitFor(t, "connect stdout", "pong\n")

	con.stdin.Close()
	lis.stdin.Close()
	if code := con.wait(); code != exitOK {
		t.Errorf("connect: exit %d, want 0; stderr:\n%s", code, con.text.String())
	}
	if code := lis.wait(); code != exitOK {
		t.Errorf("listen: exit %d, want 0; stderr:\n%s", code, lis.text.String())
	}
}

// A signal stops dht listen cleanly while it waits for its one connection: exit 0 and a
// close line on stderr.
func TestListenPipeSignal(t *testing.T) {
	checkNoLeaks(t)
	ct := newConnTest(t, 1)
	lis := startPipeProc(t, ct.dht("listen", "--key-file", ct.serverKey)...)
	lis.await("listening")
	lis.cancel()
	lis.await("close")
	if code := lis.wait(); code != exitOK || len(lis.stdout.Bytes()) != 0 {
		t.Fatalf("listen stopped: exit %d, stdout %q; stderr:\n%s", code, lis.stdout.Bytes(), lis.text.String())
	}
}
