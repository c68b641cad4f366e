package main

// The load generator: this program in serve-load mode, one process in each end's
// namespace. Every such process serves, on all its addresses,
//
//	TCP  loadPort  a stream's first byte says who sends: 'u' the client, 'd' the server
//	UDP  loadPort  a sink that counts datagrams per run
//	UDP  echoPort  an echo server
//
// and runs the client side of a measurement when the benchmark asks on stdin (JSON lines,
// {"op":OP,"id":N,...}; one reply {"id":N,"ok":…,"result":…,"error":…} per command). The benchmark runs the clients in namespace a against the addresses of b.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/hyperlan/hyperlan/interop/bench/internal/cli"
	"github.com/hyperlan/hyperlan/interop/bench/internal/driver"
)

const (
	loadPort = 5201
	echoPort = 5202

	tcpChunk   = 128 << 10 // bytes per TCP write and read
	udpBuffer  = 4 << 20   // SO_RCVBUF and SO_SNDBUF asked for on the UDP sockets
	udpHeader  = 16        // run id and sequence number at the start of every load datagram
	sinkGrace  = 300 * time.Millisecond
	ioSlack    = 15 * time.Second // beyond a measurement's duration, before its sockets give up
	probeEvery = 100 * time.Millisecond
)

// TCP modes, the first byte of a load stream.
const (
	modeUpload   = 'u' // the client sends for the duration, half-closes, and reads the server's count
	modeDownload = 'd' // the server sends for the duration and closes
)

// loadServer is the state of one serve-load process.
type loadServer struct {
	mu      sync.Mutex
	sinkRun uint64 // guarded by mu; the run the sink counts
	sinkN   int64  // guarded by mu; datagrams of sinkRun received
	sinkB   int64  // guarded by mu; their bytes
}

// serveLoad runs the load generator until SIGTERM, SIGINT or EOF on stdin.
func serveLoad(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "vpnbench: error: usage: vpnbench serve-load")
		return cli.ExitUsage
	}
	s := &loadServer{}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", loadPort))
	if err != nil {
		fmt.Fprintf(stderr, "vpnbench: error: %v\n", err)
		return cli.ExitFail
	}
	defer ln.Close()
	sink, err := net.ListenUDP("udp", &net.UDPAddr{Port: loadPort})
	if err != nil {
		fmt.Fprintf(stderr, "vpnbench: error: %v\n", err)
		return cli.ExitFail
	}
	defer sink.Close()
	echo, err := net.ListenUDP("udp", &net.UDPAddr{Port: echoPort})
	if err != nil {
		fmt.Fprintf(stderr, "vpnbench: error: %v\n", err)
		return cli.ExitFail
	}
	defer echo.Close()
	sink.SetReadBuffer(udpBuffer)
	echo.SetReadBuffer(udpBuffer)
	if err := ignorePMTU(echo); err != nil {
		fmt.Fprintf(stderr, "vpnbench: error: %v\n", err)
		return cli.ExitFail
	}
	go s.acceptTCP(ln)
	go s.countUDP(sink)
	go echoUDP(echo)

	// Each command runs on a goroutine of its own, so that EOF or a signal ends the process
	// at once, also in the middle of a measurement.
	driver.ServeConcurrent(ctx, stdin, stdout, driver.Serve[loadCommand]{
		MaxLine: bufio.MaxScanTokenSize,
		Ready:   map[string]any{"event": "ready"},
		Do:      func(c loadCommand) (any, error) { return s.do(ctx, c) },
		Exit:    func() {},
	})
	return cli.ExitOK
}

// loadCommand is one command; which fields count depends on Op.
type loadCommand struct {
	driver.Header
	Addr     string  `json:"addr"`     // the other end's address inside the tunnel
	Streams  int     `json:"streams"`  // tcp
	Download bool    `json:"download"` // tcp: the server sends
	Ms       int64   `json:"ms"`       // duration
	Mbps     float64 `json:"mbps"`     // udp: offered rate, 0 for as fast as possible
	Size     int     `json:"size"`     // udp, rr, probe: datagram payload
	Run      uint64  `json:"run"`      // udp, sinkStats
}

func (s *loadServer) do(ctx context.Context, c loadCommand) (any, error) {
	d := time.Duration(c.Ms) * time.Millisecond
	switch c.Op {
	case "probe":
		return probe(ctx, c.Addr, c.Size, d)
	case "tcp":
		return tcpClient(c.Addr, c.Streams, c.Download, d)
	case "udp":
		return udpClient(c.Addr, c.Size, c.Mbps, c.Run, d)
	case "sinkStats":
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.sinkRun != c.Run {
			return udpSinkStats{}, nil
		}
		return udpSinkStats{Received: s.sinkN, Bytes: s.sinkB}, nil
	case "rr":
		return rrClient(c.Addr, c.Size, d)
	}
	return nil, fmt.Errorf("unknown op %q", c.Op)
}

// acceptTCP serves load streams until ln is closed.
func (s *loadServer) acceptTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go serveTCP(c.(*net.TCPConn))
	}
}

// serveTCP serves one load stream: a mode byte and the duration in ns (8 bytes), then
// either the client's data until EOF, answered with the count and the first and last
// byte's wall-clock times, or the server's data for the duration.
func serveTCP(c *net.TCPConn) {
	defer c.Close()
	var hdr [9]byte
	c.SetDeadline(time.Now().Add(ioSlack))
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	d := time.Duration(binary.BigEndian.Uint64(hdr[1:]))
	c.SetDeadline(time.Now().Add(d + ioSlack))
	buf := make([]byte, tcpChunk)
	switch hdr[0] {
	case modeUpload:
		r := receive(c, buf)
		var out [24]byte
		binary.BigEndian.PutUint64(out[0:], uint64(r.Bytes))
		binary.BigEndian.PutUint64(out[8:], uint64(r.First))
		binary.BigEndian.PutUint64(out[16:], uint64(r.Last))
		c.Write(out[:])
	case modeDownload:
		send(c, buf, d)
		c.CloseWrite()
		io.Copy(io.Discard, c) // until the client closes
	}
}

// received is what one receiver saw: bytes, and the wall-clock times (Unix ns) of the
// first and the last read. Both ends are on one machine, so the times of different
// processes compare.
type received struct {
	Bytes       int64
	First, Last int64
}

// receive reads r until EOF or an error.
func receive(r io.Reader, buf []byte) received {
	var out received
	for {
		n, err := r.Read(buf)
		if n > 0 {
			now := time.Now().UnixNano()
			if out.Bytes == 0 {
				out.First = now
			}
			out.Bytes += int64(n)
			out.Last = now
		}
		if err != nil {
			return out
		}
	}
}

// send writes buf to w until d has passed or a write fails.
func send(w io.Writer, buf []byte, d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if _, err := w.Write(buf); err != nil {
			return
		}
	}
}

// tcpResult is one TCP measurement: the receivers' bytes over the time from the first
// byte any of them read to the last.
type tcpResult struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	Mbps    float64 `json:"mbps"`
}

// tcpClient runs streams parallel load streams to addr for d, in the direction asked.
func tcpClient(addr string, streams int, download bool, d time.Duration) (tcpResult, error) {
	if streams < 1 {
		return tcpResult{}, errors.New("tcp: streams must be at least 1")
	}
	results := make([]received, streams)
	errs := make([]error, streams)
	var wg sync.WaitGroup
	for i := range streams {
		wg.Go(func() { results[i], errs[i] = tcpStream(addr, download, d) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return tcpResult{}, err
	}
	var out tcpResult
	first, last := results[0].First, results[0].Last
	for _, r := range results {
		out.Bytes += r.Bytes
		first, last = min(first, r.First), max(last, r.Last)
	}
	out.Seconds = float64(last-first) / 1e9
	if out.Seconds > 0 {
		out.Mbps = float64(out.Bytes) * 8 / out.Seconds / 1e6
	}
	return out, nil
}

// tcpStream runs one load stream and returns what its receiver saw.
func tcpStream(addr string, download bool, d time.Duration) (received, error) {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(addr, fmt.Sprint(loadPort)), 5*time.Second)
	if err != nil {
		return received{}, err
	}
	c := conn.(*net.TCPConn)
	defer c.Close()
	c.SetDeadline(time.Now().Add(d + ioSlack))
	hdr := [9]byte{modeUpload}
	if download {
		hdr[0] = modeDownload
	}
	binary.BigEndian.PutUint64(hdr[1:], uint64(d))
	if _, err := c.Write(hdr[:]); err != nil {
		return received{}, err
	}
	buf := make([]byte, tcpChunk)
	if download {
		r := receive(c, buf)
		if r.Bytes == 0 {
			return r, errors.New("tcp: no data from the server")
		}
		return r, nil
	}
	send(c, buf, d)
	if err := c.CloseWrite(); err != nil {
		return received{}, err
	}
	var res [24]byte
	if _, err := io.ReadFull(c, res[:]); err != nil {
		return received{}, fmt.Errorf("tcp: the server's count: %w", err)
	}
	return received{
		Bytes: int64(binary.BigEndian.Uint64(res[0:])),
		First: int64(binary.BigEndian.Uint64(res[8:])),
		Last:  int64(binary.BigEndian.Uint64(res[16:])),
	}, nil
}

// countUDP counts the datagrams of the newest run until the socket is closed.
func (s *loadServer) countUDP(c *net.UDPConn) {
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if n < udpHeader {
			continue
		}
		run := binary.BigEndian.Uint64(buf)
		s.mu.Lock()
		if run > s.sinkRun {
			s.sinkRun, s.sinkN, s.sinkB = run, 0, 0
		}
		if run == s.sinkRun {
			s.sinkN++
			s.sinkB += int64(n)
		}
		s.mu.Unlock()
	}
}

// echoUDP sends every datagram back to its sender until the socket is closed.
func echoUDP(c *net.UDPConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		c.WriteToUDPAddrPort(buf[:n], from)
	}
}

// udpSinkStats is what the sink counted of one run.
type udpSinkStats struct {
	Received int64 `json:"received"`
	Bytes    int64 `json:"bytes"`
}

// udpSent is what the UDP client sent in one run.
type udpSent struct {
	Sent    int64   `json:"sent"`
	Errors  int64   `json:"errors"` // sends the kernel refused (ENOBUFS and the like)
	Seconds float64 `json:"seconds"`
}

// udpClient sends size-byte datagrams of run to the sink at addr for d, paced to mbps
// megabits per second of payload, or as fast as it can when mbps is 0.
func udpClient(addr string, size int, mbps float64, run uint64, d time.Duration) (udpSent, error) {
	if size < udpHeader {
		return udpSent{}, fmt.Errorf("udp: size %d: want at least %d", size, udpHeader)
	}
	conn, err := net.Dial("udp", net.JoinHostPort(addr, fmt.Sprint(loadPort)))
	if err != nil {
		return udpSent{}, err
	}
	defer conn.Close()
	conn.(*net.UDPConn).SetWriteBuffer(udpBuffer)
	buf := make([]byte, size)
	binary.BigEndian.PutUint64(buf, run)
	var out udpSent
	perSecond := mbps * 1e6 / 8 / float64(size)
	start := time.Now()
	for {
		elapsed := time.Since(start)
		if elapsed >= d {
			break
		}
		due := int64(1 << 62)
		if mbps > 0 {
			due = int64(elapsed.Seconds() * perSecond)
			if out.Sent+out.Errors >= due {
				time.Sleep(100 * time.Microsecond)
				continue
			}
		}
		for range min(due-out.Sent-out.Errors, 64) {
			binary.BigEndian.PutUint64(buf[8:], uint64(out.Sent+out.Errors))
			if _, err := conn.Write(buf); err != nil {
				out.Errors++
			} else {
				out.Sent++
			}
		}
	}
	out.Seconds = time.Since(start).Seconds()
	return out, nil
}

// rrResult is the round-trip times of a request/response loop, in microseconds.
type rrResult struct {
	Count int64   `json:"count"`
	Lost  int64   `json:"lost"`
	Min   float64 `json:"min_us"`
	Avg   float64 `json:"avg_us"`
	P50   float64 `json:"p50_us"`
	P99   float64 `json:"p99_us"`
	Max   float64 `json:"max_us"`
}

// rrClient sends one size-byte datagram at a time to the echo server at addr and waits
// for it to come back (up to a second), for d.
func rrClient(addr string, size int, d time.Duration) (rrResult, error) {
	conn, err := net.Dial("udp", net.JoinHostPort(addr, fmt.Sprint(echoPort)))
	if err != nil {
		return rrResult{}, err
	}
	defer conn.Close()
	buf, in := make([]byte, max(size, 8)), make([]byte, 65536)
	var rtts []time.Duration
	var out rrResult
	end := time.Now().Add(d)
	for seq := uint64(1); time.Now().Before(end); seq++ {
		binary.BigEndian.PutUint64(buf, seq)
		t := time.Now()
		if _, err := conn.Write(buf); err != nil {
			return out, err
		}
		conn.SetReadDeadline(t.Add(time.Second))
		for {
			n, err := conn.Read(in)
			if err != nil {
				out.Lost++
				break
			}
			if n >= 8 && binary.BigEndian.Uint64(in) == seq {
				rtts = append(rtts, time.Since(t))
				break
			}
		}
	}
	if len(rtts) == 0 {
		return out, errors.New("rr: no reply")
	}
	slices.Sort(rtts)
	var sum time.Duration
	for _, r := range rtts {
		sum += r
	}
	us := func(r time.Duration) float64 { return float64(r) / float64(time.Microsecond) }
	out.Count = int64(len(rtts))
	out.Min, out.Max = us(rtts[0]), us(rtts[len(rtts)-1])
	out.Avg = us(sum / time.Duration(len(rtts)))
	out.P50, out.P99 = us(percentile(rtts, 50)), us(percentile(rtts, 99))
	return out, nil
}

// percentile returns the p-th percentile of sorted by nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// probe sends size-byte datagrams to the echo server at addr until one comes back, for at
// most d, and returns how long that took: the tunnel is up, and carries packets of that
// size both ways (the probe and the echo server send them whole, see ignorePMTU).
func probe(ctx context.Context, addr string, size int, d time.Duration) (float64, error) {
	buf, in := make([]byte, max(size, 8)), make([]byte, 65536)
	start := time.Now()
	var err error
	for seq := uint64(1); time.Since(start) < d && ctx.Err() == nil; seq++ {
		var conn net.Conn
		// Until the VPN has set up its interface and routes, there is no route to addr.
		if conn, err = net.Dial("udp", net.JoinHostPort(addr, fmt.Sprint(echoPort))); err == nil {
			ignorePMTU(conn.(*net.UDPConn))
			binary.BigEndian.PutUint64(buf, seq)
			conn.Write(buf) // errors (EMSGSIZE after an ICMP too-big) are retried
			conn.SetReadDeadline(time.Now().Add(probeEvery))
			var n int
			n, err = conn.Read(in)
			conn.Close()
			if err == nil && n == len(buf) {
				return time.Since(start).Seconds(), nil
			}
			if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
		}
		time.Sleep(probeEvery / 4)
	}
	return 0, fmt.Errorf("probe: no %d-byte echo from %s within %v (last error: %v)", size, addr, d, err)
}
