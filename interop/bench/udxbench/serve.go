package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/hyperlan/hyperlan/dht/udx"
	"github.com/hyperlan/hyperlan/interop"
	"github.com/hyperlan/hyperlan/interop/bench/internal/cli"
	"github.com/hyperlan/hyperlan/interop/bench/internal/driver"
)

// Socket buffer sizes libudx sets when it binds, which dht/rpc sets on its sockets too: the
// Go endpoint uses them so that both sides have the same kernel buffers.
const (
	recvBuffer = 1 << 20
	sendBuffer = 212992
)

// chunk is the size of one Write of bulk data and of the receiver's read buffer, as in peer.js.
const chunk = 64 << 10

// endpoint is the state of one serve-go process: one socket, at most one stream.
type endpoint struct {
	u    *udx.Instance
	sock *udx.Socket

	mu     sync.Mutex
	stream *udx.Stream // guarded by mu; nil before connect

	rxMu      sync.Mutex
	rxCount   int64     // guarded by rxMu; messages received
	rxBytes   int64     // guarded by rxMu
	rxFirst   time.Time // guarded by rxMu; arrival of the first message
	perSecond []int64   // guarded by rxMu; messages per second since rxFirst
}

// serveGo runs one Go UDX endpoint, speaking the JSON-lines protocol of peer.js (see there),
// until SIGTERM, SIGINT, the exit op or EOF on stdin. Commands run concurrently.
func serveGo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "udxbench: error: usage: udxbench serve-go")
		return cli.ExitUsage
	}
	e := &endpoint{u: udx.NewInstance()}
	pc, err := e.u.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(stderr, "udxbench: error: %v\n", err)
		return cli.ExitFail
	}
	e.sock = pc.(*udx.Socket)
	e.sock.SetReadBuffer(recvBuffer)
	e.sock.SetWriteBuffer(sendBuffer)
	defer e.close()

	driver.ServeConcurrent(ctx, stdin, stdout, driver.Serve[command]{
		MaxLine: bufio.MaxScanTokenSize,
		Ready:   map[string]any{"event": "ready", "port": e.sock.LocalAddrPort().Port(), "impl": "go"},
		Do:      e.do,
		Exit:    e.close,
	})
	return cli.ExitOK
}

// command is one JSON-lines command; which fields count depends on Op.
type command struct {
	driver.Header
	Stream   uint32 `json:"stream"`
	RemoteID uint32 `json:"remoteId"`
	Port     uint16 `json:"port"`
	Bytes    int64  `json:"bytes"`
	Seed     uint32 `json:"seed"`
	Block    int    `json:"block"`
	Ms       int64  `json:"ms"`
	Size     int    `json:"size"`
}

func (e *endpoint) do(cmd command) (any, error) {
	if cmd.Op == "connect" {
		return nil, e.connect(cmd)
	}
	e.mu.Lock()
	s := e.stream
	e.mu.Unlock()
	if s == nil {
		return nil, errors.New("no connected stream")
	}
	switch cmd.Op {
	case "recvBulk":
		return recvBulk(s, cmd)
	case "sendBulk":
		return sendBulk(s, cmd)
	case "sendMessages":
		return sendMessages(s, cmd)
	case "msgStats":
		e.rxMu.Lock()
		defer e.rxMu.Unlock()
		return map[string]any{"messages": e.rxCount, "bytes": e.rxBytes, "perSecond": append([]int64{}, e.perSecond...)}, nil
	case "stats":
		st := s.Stats()
		return map[string]any{"retransmits": st.Retransmits, "packetsSent": st.PacketsSent, "packetsReceived": st.PacketsReceived}, nil
	}
	return nil, fmt.Errorf("unknown op %q", cmd.Op)
}

func (e *endpoint) connect(cmd command) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stream != nil {
		return errors.New("stream exists")
	}
	s, err := e.u.NewStream(udx.StreamID(cmd.Stream), udx.StreamOptions{OnMessage: e.onMessage})
	if err != nil {
		return err
	}
	to := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), cmd.Port)
	if err := s.Connect(e.sock, udx.StreamID(cmd.RemoteID), to); err != nil {
		s.Destroy()
		return err
	}
	e.stream = s
	return nil
}

// onMessage counts a received message; it runs on the socket's read goroutine.
func (e *endpoint) onMessage(b []byte) {
	now := time.Now()
	e.rxMu.Lock()
	defer e.rxMu.Unlock()
	if e.rxCount == 0 {
		e.rxFirst = now
	}
	e.rxCount++
	e.rxBytes += int64(len(b))
	sec := int(now.Sub(e.rxFirst) / time.Second)
	for len(e.perSecond) <= sec {
		e.perSecond = append(e.perSecond, 0)
	}
	e.perSecond[sec]++
}

func (e *endpoint) close() {
	e.mu.Lock()
	if e.stream != nil {
		e.stream.Destroy()
	}
	e.mu.Unlock()
	e.sock.Close()
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

// recvBulk reads s until the peer's END, comparing the data with the repeated block, then
// ends its own side. The time runs from the first byte to the END.
func recvBulk(s *udx.Stream, cmd command) (any, error) {
	want, err := block(cmd.Seed, cmd.Block)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, chunk)
	var n int64
	var first time.Time
	mismatch := int64(-1)
	for {
		k, err := s.Read(buf)
		if k > 0 && n == 0 {
			first = time.Now()
		}
		if mismatch < 0 {
			for off := 0; off < k; {
				at := int((n + int64(off)) % int64(len(want)))
				m := min(k-off, len(want)-at)
				if !bytes.Equal(buf[off:off+m], want[at:at+m]) {
					mismatch = n + int64(off)
					break
				}
				off += m
			}
		}
		n += int64(k)
		if err == io.EOF {
			ms := float64(time.Since(first)) / float64(time.Millisecond)
			s.CloseWrite()
			return map[string]any{"bytes": n, "ms": ms, "mismatch": mismatch}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read after %d bytes: %w", n, err)
		}
	}
}

// sendBulk writes cmd.Bytes bytes of the repeated block, then END. It returns once all is
// queued; a goroutine drains what the receiver sends back (only its END) so the stream closes.
func sendBulk(s *udx.Stream, cmd command) (any, error) {
	data, err := block(cmd.Seed, cmd.Block)
	if err != nil {
		return nil, err
	}
	go io.Copy(io.Discard, s)
	start := time.Now()
	for sent := int64(0); sent < cmd.Bytes; {
		at := int(sent % int64(len(data)))
		n := int(min(chunk, cmd.Bytes-sent))
		if _, err := s.Write(data[at : at+n]); err != nil {
			return nil, fmt.Errorf("write after %d bytes: %w", sent, err)
		}
		sent += int64(n)
	}
	if err := s.CloseWrite(); err != nil {
		return nil, err
	}
	return map[string]any{"ms": float64(time.Since(start)) / float64(time.Millisecond)}, nil
}

// sendMessages sends cmd.Size-byte messages as fast as Send returns, for cmd.Ms milliseconds.
// Send queues the datagram on the socket's send queue and waits only while that is full, so
// there is no window as in peer.js: the queue is the window.
func sendMessages(s *udx.Stream, cmd command) (any, error) {
	msg, err := block(1, chunk)
	if err != nil {
		return nil, err
	}
	if cmd.Size <= 0 || cmd.Size > len(msg) {
		return nil, fmt.Errorf("size %d: want 1 to %d", cmd.Size, len(msg))
	}
	msg = msg[:cmd.Size]
	var sent, failed int64
	start := time.Now()
	end := start.Add(time.Duration(cmd.Ms) * time.Millisecond)
	for i := 0; ; i++ {
		if i%64 == 0 && !time.Now().Before(end) {
			break
		}
		switch err := s.Send(msg); {
		case err == nil:
			sent++
		case errors.Is(err, udx.ErrMessageTooLarge), errors.Is(err, udx.ErrNotConnected):
			return nil, err
		default:
			select {
			case <-s.Done():
				return nil, fmt.Errorf("stream closed: %w", err)
			default:
			}
			failed++
		}
	}
	return map[string]any{"sent": sent, "failed": failed, "ms": float64(time.Since(start)) / float64(time.Millisecond)}, nil
}
