package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/interop"
	"github.com/hyperlan/hyperlan/interop/bench/internal/cli"
	"github.com/hyperlan/hyperlan/interop/bench/internal/driver"
)

// chunk is the size of one Write of bulk data and of the server's read buffer, as in peer.js.
const chunk = 64 << 10

// Bounds of the Go endpoint's operations, generous: the benchmark's own timeouts come first.
const (
	connectTimeout = 30 * time.Second // one Connect
	closeWait      = 10 * time.Second // a server's connection, for the client's close after the end
	unannounceWait = time.Second      // on exit, for the server's unannounce (peer.js: SERVER_CLOSE_MS)
)

// endpoint is the state of one serve-go process: one node, at most one server.
type endpoint struct {
	node *dht.Node

	mu       sync.Mutex
	server   *dht.Server // guarded by mu; nil before listen
	expected []byte      // guarded by mu; the data the server's connections should read, once expect ran
	received []received  // guarded by mu; the server's connections that read data, oldest first
	profile  *os.File    // guarded by mu; the CPU profile being written
}

// received is one server connection that read data: the bytes, the time from the first byte to
// the client's end, and the offset of the first byte that differs from the expected data (-1
// when all match or nothing was expected).
type received struct {
	Bytes    int64   `json:"bytes"`
	Ms       float64 `json:"ms"`
	Mismatch int64   `json:"mismatch"`
}

// serveGo runs one Go HyperDHT endpoint, speaking the JSON-lines protocol of peer.js (see
// there), until SIGTERM, SIGINT, the exit op or EOF on stdin. Commands run concurrently.
//
//	connbench serve-go -port N -bootstrap H:P[,H:P...]   a persistent node
//	connbench serve-go -port N -bootstrapper             the network's bootstrapper
func serveGo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve-go", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 0, "UDP port on 127.0.0.1 (required)")
	bootstrap := fs.String("bootstrap", "", "bootstrap nodes, host:port[,host:port...]")
	bootstrapper := fs.Bool("bootstrapper", false, "run the network's bootstrapper instead of a node")
	if err := fs.Parse(args); err != nil {
		return cli.ExitUsage
	}
	boot, err := parseBootstrap(*bootstrap)
	switch {
	case err != nil:
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case *port < 1 || *port > 65535:
		err = errors.New("-port: want 1 to 65535")
	case *bootstrapper && len(boot) > 0:
		err = errors.New("-bootstrapper takes no -bootstrap")
	case !*bootstrapper && len(boot) == 0:
		err = errors.New("a node needs -bootstrap")
	}
	if err != nil {
		fmt.Fprintf(stderr, "connbench: error: serve-go: %v\n", err)
		return cli.ExitUsage
	}

	var node *dht.Node
	if *bootstrapper {
		node, err = dht.Bootstrapper(*port, "127.0.0.1", dht.Options{Host: "127.0.0.1", Bootstrap: []rpc.BootstrapNode{}})
	} else {
		node, err = dht.New(dht.Options{Host: "127.0.0.1", Port: *port, FixedPort: true, Mode: rpc.ModePersistent, Bootstrap: boot})
	}
	if err != nil {
		fmt.Fprintf(stderr, "connbench: error: %v\n", err)
		return cli.ExitFail
	}
	e := &endpoint{node: node}
	defer e.close()
	if err := node.Ready(ctx); err != nil {
		if ctx.Err() != nil {
			return cli.ExitOK
		}
		fmt.Fprintf(stderr, "connbench: error: node failed to start: %v\n", err)
		return cli.ExitFail
	}

	driver.ServeConcurrent(ctx, stdin, stdout, driver.Serve[command]{
		MaxLine: 1 << 20,
		Ready:   map[string]any{"event": "ready", "port": node.LocalAddr().Port(), "impl": "go", "version": goVersion()},
		Do:      func(cmd command) (any, error) { return e.do(ctx, cmd) },
		Exit:    e.close,
		Code:    errorCode,
	})
	return cli.ExitOK
}

func parseBootstrap(s string) ([]rpc.BootstrapNode, error) {
	var out []rpc.BootstrapNode
	for _, hp := range strings.Split(s, ",") {
		if hp == "" {
			continue
		}
		host, port, ok := strings.Cut(hp, ":")
		p, err := strconv.ParseUint(port, 10, 16)
		if !ok || err != nil || p == 0 {
			return nil, fmt.Errorf("-bootstrap: %q: want host:port", hp)
		}
		out = append(out, rpc.BootstrapNode{Host: host, Port: uint16(p)})
	}
	return out, nil
}

// command is one JSON-lines command; which fields count depends on Op.
type command struct {
	driver.Header
	Seed      json.RawMessage `json:"seed"`      // listen: the key pair's seed, 32 bytes of hex; sendBulk, expect: the data's, a uint32
	PublicKey string          `json:"publicKey"` // connects, sendBulk: hex, 32 bytes
	Count     int             `json:"count"`
	Bytes     int64           `json:"bytes"`
	Block     int             `json:"block"`
	File      string          `json:"file"` // startProfile
}

func (e *endpoint) do(ctx context.Context, cmd command) (any, error) {
	switch cmd.Op {
	case "listen":
		return e.listen(ctx, cmd)
	case "connects":
		return e.connects(ctx, cmd)
	case "sendBulk":
		return e.sendBulk(ctx, cmd)
	case "expect":
		data, err := dataBlock(cmd)
		if err != nil {
			return nil, err
		}
		e.mu.Lock()
		e.expected = data
		e.mu.Unlock()
		return nil, nil
	case "received":
		e.mu.Lock()
		defer e.mu.Unlock()
		return append([]received{}, e.received...), nil
	case "startProfile":
		return nil, e.startProfile(cmd.File)
	case "stopProfile":
		return nil, e.stopProfile()
	}
	return nil, fmt.Errorf("unknown op %q", cmd.Op)
}

func hexKey(field, s string) ([32]byte, error) {
	var k [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("%s: want 32 bytes of hex", field)
	}
	copy(k[:], b)
	return k, nil
}

// listen creates the server with the key pair of cmd.Seed and announces it.
func (e *endpoint) listen(ctx context.Context, cmd command) (any, error) {
	var seedHex string
	json.Unmarshal(cmd.Seed, &seedHex)
	seed, err := hexKey("seed", seedHex)
	if err != nil {
		return nil, err
	}
	kp, err := dht.NewKeyPair(seed[:])
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if e.server != nil {
		e.mu.Unlock()
		return nil, errors.New("already listening")
	}
	e.server = e.node.CreateServer(dht.ServerOptions{OnConnection: e.accept})
	srv := e.server
	e.mu.Unlock()
	if err := srv.Listen(ctx, kp); err != nil {
		return nil, err
	}
	return map[string]any{"publicKey": hex.EncodeToString(kp.PublicKey[:])}, nil
}

// accept reads everything a client sends, comparing it with the expected data; at the
// client's end it ends its side, records the connection if it read data, and closes once the
// client has closed (the client waits for that end). A connection the client destroys is
// closed at once.
func (e *endpoint) accept(c *dht.Conn) {
	defer c.Close()
	e.mu.Lock()
	want := e.expected
	e.mu.Unlock()
	buf := make([]byte, chunk)
	r := received{Mismatch: -1}
	var first time.Time
	for {
		k, err := c.Read(buf)
		if k > 0 && r.Bytes == 0 {
			first = time.Now()
		}
		if want != nil && r.Mismatch < 0 {
			for off := 0; off < k; {
				at := int((r.Bytes + int64(off)) % int64(len(want)))
				m := min(k-off, len(want)-at)
				if !bytes.Equal(buf[off:off+m], want[at:at+m]) {
					r.Mismatch = r.Bytes + int64(off)
					break
				}
				off += m
			}
		}
		r.Bytes += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return
		}
	}
	if r.Bytes > 0 {
		r.Ms = ms(time.Since(first))
		e.mu.Lock()
		e.received = append(e.received, r)
		e.mu.Unlock()
	}
	c.CloseWrite()
	select {
	case <-c.Done():
	case <-time.After(closeWait):
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// connects opens cmd.Count connections one after the other, closing each (a UDX DESTROY, as the
// reference's destroy) before the next.
func (e *endpoint) connects(ctx context.Context, cmd command) (any, error) {
	pk, err := hexKey("publicKey", cmd.PublicKey)
	if err != nil {
		return nil, err
	}
	if cmd.Count < 0 {
		return nil, errors.New("count: want a non-negative integer")
	}
	openMs := []float64{}
	codes := map[string]int{}
	failed := 0
	for range cmd.Count {
		start := time.Now()
		c, err := e.connect(ctx, pk)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			failed++
			codes[errorCode(err)]++
			continue
		}
		openMs = append(openMs, ms(time.Since(start)))
		c.Close()
	}
	return map[string]any{"openMs": openMs, "failed": failed, "codes": codes}, nil
}

func (e *endpoint) connect(ctx context.Context, pk [32]byte) (*dht.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	return e.node.Connect(ctx, pk, nil)
}

// sendBulk connects, writes cmd.Bytes bytes of the repeated block in 64 KiB writes, ends, and
// waits for the server's end, which comes once it has read everything.
func (e *endpoint) sendBulk(ctx context.Context, cmd command) (any, error) {
	pk, err := hexKey("publicKey", cmd.PublicKey)
	if err != nil {
		return nil, err
	}
	data, err := dataBlock(cmd)
	if err != nil {
		return nil, err
	}
	connectStart := time.Now()
	c, err := e.connect(ctx, pk)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	openMs := ms(time.Since(connectStart))
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, c) // nothing is expected but the end
		ended <- err
	}()
	start := time.Now()
	for sent := int64(0); sent < cmd.Bytes; {
		at := int(sent % int64(len(data)))
		n := int(min(chunk, cmd.Bytes-sent))
		if _, err := c.Write(data[at : at+n]); err != nil {
			return nil, fmt.Errorf("write after %d bytes: %w", sent, err)
		}
		sent += int64(n)
	}
	if err := c.CloseWrite(); err != nil {
		return nil, err
	}
	select {
	case err := <-ended:
		if err != nil {
			return nil, fmt.Errorf("waiting for the server's end: %w", err)
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return map[string]any{"openMs": openMs, "ms": ms(time.Since(start)), "bytes": cmd.Bytes}, nil
}

// dataBlock returns the bulk data of sendBulk and expect: the block of cmd.Seed and cmd.Block.
func dataBlock(cmd command) ([]byte, error) {
	var seed uint32
	if err := json.Unmarshal(cmd.Seed, &seed); err != nil {
		return nil, errors.New("seed: want a uint32")
	}
	return block(seed, cmd.Block)
}

// block returns the first n bytes of interop.PseudoRandom(seed): the bulk data, repeated.
func block(seed uint32, n int) ([]byte, error) {
	if n <= 0 || n%chunk != 0 {
		return nil, fmt.Errorf("block %d: want a positive multiple of %d", n, chunk)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(interop.PseudoRandom(seed, int64(n)), b)
	return b, err
}

func (e *endpoint) startProfile(file string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.profile != nil {
		return errors.New("a profile is being written")
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	e.profile = f
	return nil
}

func (e *endpoint) stopProfile() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.profile == nil {
		return nil
	}
	pprof.StopCPUProfile()
	err := e.profile.Close()
	e.profile = nil
	return err
}

// close ends the profile, closes the server (unannouncing it, for at most unannounceWait) and
// destroys the node. It is idempotent.
func (e *endpoint) close() {
	e.stopProfile()
	e.mu.Lock()
	srv := e.server
	e.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), unannounceWait)
		srv.Close(ctx)
		cancel()
	}
	e.node.Destroy(context.Background(), dht.DestroyOptions{Force: true})
}

// errorCode is the reference's code of a connection error, as peer.js reports it.
func errorCode(err error) string {
	var ce *dht.ConnError
	switch {
	case errors.As(err, &ce):
		return ce.Code
	case errors.Is(err, context.DeadlineExceeded):
		return "TIMEOUT"
	}
	return "UNKNOWN"
}

// goVersion names the Go endpoint's build for the report: the toolchain, and the VCS revision
// when the binary records one ("go run" does not).
func goVersion() string {
	v := runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	return v
}
