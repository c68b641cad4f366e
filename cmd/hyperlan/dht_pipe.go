package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/secretstream"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// This file holds what dht listen and dht connect share: the netcat-style pipe between one
// connection and stdin/stdout, datagrams as lines (--message), and how a connection that
// fails is reported.

const (
	// pipeBufSize is the size of one read from stdin or from the connection.
	pipeBufSize = 32 << 10
	// maxMessageLine bounds a stdin line with --message; a datagram carries far less, so a
	// longer line is refused as too large without buffering it whole.
	maxMessageLine = 64 << 10
	// messageQueue is how many received datagrams wait for stdout before more are dropped.
	messageQueue = 1024
)

// pipe runs one connection netcat style: stdin to the connection, the connection to stdout.
// With message, stdin lines go out as datagrams and received datagrams arrive through a
// datagramLines the caller wired to the connection; the byte stream then only carries the
// end of each direction.
type pipe struct {
	conn    *dht.Conn
	stdin   io.Reader
	stdout  io.Writer
	message bool

	discarded atomic.Int64 // with message: stream bytes received and dropped
}

// errInterrupted is what a pipe reports when a signal stops it.
var errInterrupted = errors.New("interrupted")

// run pipes until both directions have ended: stdin reached EOF, was sent and the connection
// half-closed, and the peer ended its side and everything it sent was written to stdout. It
// also returns nil when the peer closes the whole connection after ending its side (nothing
// more can be sent then). On a failure, or errInterrupted when ctx ends, it aborts the
// connection. It closes the connection before it returns, gracefully after a clean end.
//
// The goroutine reading stdin is not waited for: a read of stdin cannot be interrupted, so
// when the connection ends first that read stays pending (see run in run.go).
func (p *pipe) run(ctx context.Context) error {
	sent := make(chan error, 1)
	go func() { sent <- p.send() }()
	received := make(chan error, 1)
	go func() { received <- p.receive() }()

	var sendDone, recvDone bool
	var dead <-chan struct{} // the connection's Done, watched once the peer has ended
	for !sendDone || !recvDone {
		select {
		case err := <-sent:
			sendDone = true
			if err != nil {
				p.conn.Close()
				if !recvDone {
					<-received
				}
				return err
			}
		case err := <-received:
			recvDone = true
			if err != nil {
				p.conn.Close()
				return err
			}
			dead = p.conn.Done()
		case <-dead:
			p.conn.Close()
			return nil
		case <-ctx.Done():
			p.conn.Close()
			if !recvDone {
				<-received
			}
			return errInterrupted
		}
	}
	p.conn.Close() // waits (at most 2 s) until the peer has acknowledged our end
	return nil
}

// send copies stdin to the connection, then half-closes it.
func (p *pipe) send() error {
	if p.message {
		if err := p.sendLines(); err != nil {
			return err
		}
	} else {
		buf := make([]byte, pipeBufSize)
		for {
			n, err := p.stdin.Read(buf)
			if n > 0 {
				if _, werr := p.conn.Write(buf[:n]); werr != nil {
					return connLost(werr)
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return failf("reading stdin: %v", err)
			}
		}
	}
	if err := p.conn.CloseWrite(); err != nil {
		return connLost(err)
	}
	return nil
}

// sendLines sends each stdin line, without its line ending, as one datagram.
func (p *pipe) sendLines() error {
	sc := bufio.NewScanner(p.stdin)
	sc.Buffer(make([]byte, 0, 4096), maxMessageLine)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if err := p.conn.Send(b); err != nil {
			if errors.Is(err, udx.ErrMessageTooLarge) {
				return lineTooLong(line, fmt.Sprintf("%d bytes", len(b)))
			}
			return connLost(err)
		}
	}
	switch err := sc.Err(); {
	case errors.Is(err, bufio.ErrTooLong):
		return lineTooLong(line+1, fmt.Sprintf("more than %d bytes", maxMessageLine))
	case err != nil:
		return failf("reading stdin: %v", err)
	}
	return nil
}

func lineTooLong(line int, size string) error {
	return failf("stdin line %d (%s) does not fit one datagram", line, size).
		hintf("--message sends each line as one datagram, which carries about 1000 bytes; send longer data without --message")
}

// receive copies the connection to stdout until the peer ends its side. With message the
// stream's bytes are counted and dropped.
func (p *pipe) receive() error {
	buf := make([]byte, pipeBufSize)
	for {
		n, err := p.conn.Read(buf)
		if n > 0 {
			if p.message {
				p.discarded.Add(int64(n))
			} else if _, werr := p.stdout.Write(buf[:n]); werr != nil {
				return failf("writing to stdout: %v", werr)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return connLost(err)
		}
	}
}

// hints returns what the pipe has to tell the user once it has ended.
func (p *pipe) hints() []string {
	if n := p.discarded.Load(); n > 0 {
		return []string{fmt.Sprintf("the peer also sent %d bytes on the stream, which --message does not print", n)}
	}
	return nil
}

// connLost explains why a connection that was up failed.
func connLost(err error) error {
	switch {
	case errors.Is(err, udx.ErrReset):
		return failf("the peer aborted the connection")
	case errors.Is(err, udx.ErrTimeout), errors.Is(err, secretstream.ErrTimeout):
		return failf("the connection timed out: the peer stopped answering")
	case errors.Is(err, net.ErrClosed):
		return failf("the connection closed")
	}
	return failf("the connection failed: %v", err)
}

// datagramLines writes the datagrams of a connection to an output, one line each. A
// connection's message callback must not block, so deliver queues a copy and a goroutine
// writes it; when the queue is full the datagram is dropped, as the network may drop it.
type datagramLines struct {
	w    io.Writer
	only atomic.Pointer[dht.Conn] // when set, datagrams of other connections are dropped

	mu      sync.Mutex
	ch      chan []byte // guarded by mu for sending and closing
	closed  bool        // guarded by mu
	dropped int         // guarded by mu

	done chan struct{}
	err  error // the first write error; read after done
}

func newDatagramLines(w io.Writer) *datagramLines {
	d := &datagramLines{w: w, ch: make(chan []byte, messageQueue), done: make(chan struct{})}
	go d.writeLoop()
	return d
}

// deliver is the connection's OnMessage.
func (d *datagramLines) deliver(c *dht.Conn, b []byte) {
	if only := d.only.Load(); only != nil && only != c {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	line := append(bytes.Clone(b), '\n')
	select {
	case d.ch <- line:
	default:
		d.dropped++
	}
}

func (d *datagramLines) writeLoop() {
	defer close(d.done)
	for line := range d.ch {
		if d.err != nil {
			continue
		}
		if _, err := d.w.Write(line); err != nil {
			d.err = failf("writing to stdout: %v", err)
		}
	}
}

// close stops the deliveries, waits until the queued lines are written, and returns the
// first write error and how many datagrams were dropped. Later calls return the same.
func (d *datagramLines) close() (dropped int, err error) {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.ch)
	}
	dropped = d.dropped
	d.mu.Unlock()
	<-d.done
	return dropped, d.err
}

// finishPipe closes lines (nil without --message) and folds its outcome and the pipe's hints
// into err, the pipe's result.
func finishPipe(c *cli, p *pipe, lines *datagramLines, err error) error {
	var hints []string
	if p != nil {
		hints = p.hints()
	}
	if lines != nil {
		dropped, werr := lines.close()
		if err == nil {
			err = werr
		}
		if dropped > 0 {
			hints = append(hints, fmt.Sprintf("%d datagrams were dropped because stdout did not keep up", dropped))
		}
	}
	var ce *cliError
	if errors.As(err, &ce) {
		ce.hints = append(ce.hints, hints...)
		return err
	}
	for _, h := range hints {
		fmt.Fprintf(c.stderr, "hyperlan: hint: %s\n", h)
	}
	return err
}

// Output lines about connections.
type (
	connectionLine struct {
		Event           string  `json:"event"`               // "connection" (listen), "connected" (connect)
		PublicKey       string  `json:"publicKey,omitempty"` // ours; connect only
		RemotePublicKey string  `json:"remotePublicKey"`
		HandshakeHash   string  `json:"handshakeHash"`
		RemoteAddress   *string `json:"remoteAddress"`
	}
	connectionClosedLine struct {
		Event           string  `json:"event"` // "connection-closed"
		RemotePublicKey string  `json:"remotePublicKey"`
		Bytes           int64   `json:"bytes"`    // echoed
		Messages        int64   `json:"messages"` // datagrams echoed
		Error           *string `json:"error"`    // null after a clean end
	}
	rejectedLine struct {
		Event           string `json:"event"` // "rejected"
		RemotePublicKey string `json:"remotePublicKey"`
		RemoteAddress   string `json:"remoteAddress"`
		Reason          string `json:"reason"` // "firewall", "busy"
	}
)

// newConnectionLine describes conn; publicKey is set for connect's line.
func newConnectionLine(event string, conn *dht.Conn, withOwnKey bool) connectionLine {
	l := connectionLine{Event: event, RemotePublicKey: hex32(conn.RemotePublicKey())}
	h := conn.HandshakeHash()
	l.HandshakeHash = hex.EncodeToString(h[:])
	if withOwnKey {
		l.PublicKey = hex32(conn.PublicKey())
	}
	if a := conn.RemoteAddr(); a != nil {
		s := a.String()
		l.RemoteAddress = &s
	}
	return l
}

// parseKeyList parses comma-separated public keys (64 hex digits each) for the flag name.
func parseKeyList(name, list string) ([][32]byte, error) {
	var keys [][32]byte
	for s := range strings.SplitSeq(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		k, err := parseHex32(name, "a 32-byte Ed25519 public key", s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, usageErrorf("%s %q lists no key", name, list)
	}
	return keys, nil
}

// parseKeyLists is parseKeyList for each of the values of a repeated flag, all their keys in
// one list.
func parseKeyLists(name string, lists []string) ([][32]byte, error) {
	var keys [][32]byte
	for _, list := range lists {
		k, err := parseKeyList(name, list)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k...)
	}
	return keys, nil
}
