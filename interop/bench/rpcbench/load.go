package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/interop/bench/internal/procstat"
)

const (
	maxWindow = 4096                  // outstanding requests per socket; tids are 16 bits
	scanEvery = 50 * time.Millisecond // how often a worker looks for requests to resend
	tidOffset = 2                     // a request is 0x03, flags (one byte), tid:u16, ...
	targetLen = 32
)

// loadResult is what one load phase measured. Counts cover the measured interval only,
// except sent and resent, which include the warm-up.
type loadResult struct {
	answered  int64         // replies matched to an outstanding request by tid
	errors    int64         // of those, replies carrying a non-zero error code
	closer    int64         // closer nodes carried by the answered replies
	rttSum    time.Duration // send-to-reply time of the answered requests
	sent      int64         // requests written
	resent    int64         // of those, resends after -timeout without a reply
	late      int64         // replies to a request already resent, or not decodable
	measured  time.Duration
	serverCPU float64 // percent of one CPU used by the server process while measured
	serverUsr float64 // of that, user-space time: the implementation's own work
	clientCPU float64 // percent of one CPU used by this whole process, same interval
}

func (r *loadResult) rate() float64 { return float64(r.answered) / r.measured.Seconds() }

func (r *loadResult) add(o *loadResult) {
	r.answered += o.answered
	r.errors += o.errors
	r.closer += o.closer
	r.rttSum += o.rttSum
	r.sent += o.sent
	r.resent += o.resent
	r.late += o.late
}

// runLoad drives closed-loop load of one internal command at the server: cfg.clients sockets,
// each with cfg.window requests outstanding, a new request sent for every reply. Requests
// carry no id (an ephemeral client, flags internal only), so they leave the routing table
// alone. FIND_NODE requests carry a fresh random target each.
func runLoad(ctx context.Context, cfg config, srv *server, cmd uint64) (*loadResult, error) {
	workers := make([]*worker, cfg.clients)
	for i := range workers {
		w, err := newWorker(srv.addr, cmd, cfg.window, cfg.timeout)
		if err != nil {
			for _, w := range workers[:i] {
				w.conn.Close()
			}
			return nil, err
		}
		workers[i] = w
	}
	base := time.Now()
	from, end := cfg.warmup, cfg.warmup+cfg.duration
	// CPU use is sampled when the measurement starts and after the workers stop, at end.
	start := make(chan cpuSample, 1)
	timer := time.AfterFunc(from, func() { start <- takeCPUSample(srv.Pid()) })
	defer timer.Stop()
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.conn.Close()
			errs[i] = w.run(ctx, base, from, end)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	res := &loadResult{measured: cfg.duration}
	for _, w := range workers {
		res.add(&w.res)
	}
	res.serverCPU, res.serverUsr, res.clientCPU = takeCPUSample(srv.Pid()).since(<-start)
	if res.answered == 0 {
		return nil, fmt.Errorf("%s: no replies (%s)", commandName(cmd), srv.Diag())
	}
	return res, nil
}

// cpuSample is the CPU time used so far by the server and by this process, and when.
type cpuSample struct {
	at                        time.Time
	server, serverUsr, client time.Duration
	ok                        bool // both were read
}

func takeCPUSample(pid int) cpuSample {
	srv, usr, err1 := procstat.CPU(pid)
	self, err2 := procstat.SelfCPU()
	return cpuSample{at: time.Now(), server: srv, serverUsr: usr, client: self, ok: err1 == nil && err2 == nil}
}

// since returns the percent of one CPU the server (all, and user space only) and this process
// used between s0 and s; zero if CPU time cannot be read here.
func (s cpuSample) since(s0 cpuSample) (server, serverUsr, client float64) {
	wall := s.at.Sub(s0.at).Seconds()
	if !s.ok || !s0.ok || wall <= 0 {
		return 0, 0, 0
	}
	pct := func(a, b time.Duration) float64 { return 100 * (a - b).Seconds() / wall }
	return pct(s.server, s0.server), pct(s.serverUsr, s0.serverUsr), pct(s.client, s0.client)
}

// worker owns one client socket. It allocates nothing per packet: the request is encoded once
// and patched in place (tid, target), replies are decoded into one reused Message.
type worker struct {
	conn      *net.UDPConn
	timeout   time.Duration // resend after this long without a reply
	req       []byte
	targetOff int // offset of the target in req; -1 for PING
	rng       *rand.ChaCha8
	slots     []slot
	slotOf    []uint16 // tid -> slot index of the request last sent with that tid
	tid       uint16
	buf       []byte
	msg       rpc.Message
	res       loadResult
}

// slot is one place in the window: the request it holds and when that was sent (time since
// the phase's base).
type slot struct {
	tid  uint16
	live bool
	sent time.Duration
}

func newWorker(server netip.AddrPort, cmd uint64, window int, timeout time.Duration) (*worker, error) {
	req, targetOff, err := requestTemplate(server, cmd)
	if err != nil {
		return nil, err
	}
	w := &worker{
		timeout:   timeout,
		req:       req,
		targetOff: targetOff,
		rng:       rand.NewChaCha8(seed()),
		slots:     make([]slot, window),
		slotOf:    make([]uint16, 1<<16),
		tid:       uint16(rand.N(1 << 16)),
		buf:       make([]byte, 64<<10),
	}
	// A connected socket: the kernel skips the route lookup on every send and delivers only
	// the server's datagrams.
	w.conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(server))
	if err != nil {
		return nil, err
	}
	return w, nil
}

// requestTemplate encodes the request a worker sends (an ephemeral client's internal cmd) and
// returns it with the offset of its 32-byte target, -1 if it has none. The tid is at
// tidOffset. Both are patched in place for every send.
func requestTemplate(server netip.AddrPort, cmd uint64) (req []byte, targetOff int, err error) {
	m := rpc.Message{Kind: rpc.KindRequest, TID: 0xbeef, To: server, Internal: true, Command: cmd}
	if cmd == rpc.CmdFindNode {
		m.HasTarget = true
		for i := range m.Target {
			m.Target[i] = byte(i)
		}
	}
	if req, err = rpc.AppendMessage(nil, &m); err != nil {
		return nil, 0, err
	}
	targetOff = -1
	if m.HasTarget {
		targetOff = len(req) - targetLen
	}
	// The in-place patching relies on this layout; check it.
	if binary.LittleEndian.Uint16(req[tidOffset:]) != m.TID ||
		(m.HasTarget && [targetLen]byte(req[targetOff:]) != m.Target) {
		return nil, 0, errors.New("unexpected request layout; cannot patch tid and target in place")
	}
	return req, targetOff, nil
}

func seed() (s [32]byte) {
	for i := 0; i < len(s); i += 8 {
		binary.LittleEndian.PutUint64(s[i:], rand.Uint64())
	}
	return s
}

// send (re)fills slot i with a new request.
func (w *worker) send(i int, now time.Duration) {
	w.tid++
	binary.LittleEndian.PutUint16(w.req[tidOffset:], w.tid)
	if w.targetOff >= 0 {
		w.rng.Read(w.req[w.targetOff : w.targetOff+targetLen])
	}
	w.slots[i] = slot{tid: w.tid, live: true, sent: now}
	w.slotOf[w.tid] = uint16(i)
	w.res.sent++
	// A failed write is a lost request; the resend timer covers it.
	w.conn.Write(w.req)
}

// run keeps the window full until end. Replies count when they arrive in [from, end); times
// are durations since base.
func (w *worker) run(ctx context.Context, base time.Time, from, end time.Duration) error {
	now := time.Since(base)
	for i := range w.slots {
		w.send(i, now)
	}
	nextScan := now + scanEvery
	w.conn.SetReadDeadline(base.Add(min(nextScan, end)))
	for {
		n, err := w.conn.Read(w.buf)
		now = time.Since(base)
		if err == nil {
			w.onReply(w.buf[:n], now, from, end)
		} else if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if now >= end {
			return nil
		}
		if now >= nextScan {
			if err := ctx.Err(); err != nil {
				return err
			}
			w.resendStale(now)
			nextScan = now + scanEvery
			w.conn.SetReadDeadline(base.Add(min(nextScan, end)))
		}
	}
}

func (w *worker) onReply(b []byte, now, from, end time.Duration) {
	if rpc.ParseMessage(b, &w.msg) != nil || w.msg.Kind != rpc.KindResponse {
		w.res.late++
		return
	}
	i := int(w.slotOf[w.msg.TID])
	s := &w.slots[i]
	if !s.live || s.tid != w.msg.TID {
		w.res.late++
		return
	}
	s.live = false
	if now >= from && now < end {
		w.res.answered++
		w.res.rttSum += now - s.sent
		w.res.closer += int64(len(w.msg.CloserNodes))
		if w.msg.Error != rpc.CodeOK {
			w.res.errors++
		}
	}
	if now < end {
		w.send(i, now)
	}
}

// resendStale replaces every request older than the timeout with a new one (a new tid, so a
// late reply to the old one is not counted).
func (w *worker) resendStale(now time.Duration) {
	for i := range w.slots {
		if s := &w.slots[i]; s.live && now-s.sent > w.timeout {
			w.res.resent++
			w.send(i, now)
		}
	}
}
