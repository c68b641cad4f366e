package rpc

import (
	"container/heap"
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/hyperlan/hyperlan/dht/ktable"
)

// Response is a response to one of this node's requests. HasID is true only when the
// responder's id matched its UDP source address. Value and CloserNodes are owned by the
// Response.
type Response struct {
	Message
	// From is the responder's UDP source address; it may differ from the request's
	// destination (responses are matched by tid alone, as in the reference).
	From netip.AddrPort
	RTT  time.Duration
}

// Err returns nil for a success and an *[Error] carrying the code otherwise.
func (r *Response) Err() error {
	if r.Error == 0 {
		return nil
	}
	return &Error{Code: r.Error}
}

// FromID returns the responder's validated id.
func (r *Response) FromID() (ktable.ID, bool) { return ktable.ID(r.ID), r.HasID }

// Outgoing is a request this node sends with [Node.Request].
type Outgoing struct {
	Command  uint64
	Internal bool
	Target   *ktable.ID
	Value    []byte // nil sends no value
	Token    *[32]byte
}

// RequestOptions tune one request; the zero value means the reference's defaults.
type RequestOptions struct {
	// Retries is how many times the request is resent after a 1 s timeout: 0 means 3, a
	// negative value means none.
	Retries int
	// Timeout per transmission; 0 means 1 s.
	Timeout time.Duration
	// Force bypasses the congestion window.
	Force bool
	// Socket sends the request from this socket of the node (its own or one attached with
	// [Node.Attach]); nil, or a socket the node does not have, means the node's current one.
	Socket net.PacketConn
}

// request is an outgoing request in flight. Fields are guarded by Node.mu until finish.
type request struct {
	n        *Node
	tid      uint16
	to       netip.AddrPort
	toID     ktable.ID // set when the destination's id is known: a timeout removes it
	hasToID  bool
	sock     *socket
	via      net.PacketConn // RequestOptions.Socket
	msg      Message
	buf      []byte // encoded on first send, then resent as is
	internal bool
	command  uint64
	retries  int
	timeout  time.Duration
	sent     int
	started  time.Time
	deadline time.Time
	hindex   int // index in the deadline heap, -1 when not in it
	inflight bool

	// done is called once, without locks, with the response or an error.
	done func(*Response, error)
	// cycle, if set, is called once without locks at the first timeout (queries use it to
	// mark a visit as slow).
	cycle func()
}

// Request sends one request to addr and waits for its response. A response that carries an
// error code is returned as a Response (see [Response.Err]), as the reference resolves it; err
// is non-nil only for a timeout ([ErrTimeout]), cancellation or a destroyed node.
func (n *Node) Request(ctx context.Context, addr netip.AddrPort, out Outgoing, opts *RequestOptions) (*Response, error) {
	if !addr.Addr().Unmap().Is4() {
		return nil, fmt.Errorf("rpc: request to %v: %w", addr, ErrNotIPv4)
	}
	ch := make(chan result, 1)
	r, err := n.startRequest(addr, nil, out, opts, func(res *Response, err error) { ch <- result{res, err} }, nil)
	if err != nil {
		return nil, err
	}
	select {
	case res := <-ch:
		if res.err != nil {
			return nil, fmt.Errorf("rpc: command %d to %v: %w", out.Command, addr, res.err)
		}
		return res.res, nil
	case <-ctx.Done():
		n.cancelRequest(r)
		return nil, ctx.Err()
	}
}

type result struct {
	res *Response
	err error
}

// Ping sends an internal PING to addr.
func (n *Node) Ping(ctx context.Context, addr netip.AddrPort) (*Response, error) {
	return n.Request(ctx, addr, Outgoing{Command: CmdPing, Internal: true}, nil)
}

// startRequest creates and sends a request. done is called exactly once, unless an error is
// returned.
func (n *Node) startRequest(addr netip.AddrPort, toID *ktable.ID, out Outgoing, opts *RequestOptions, done func(*Response, error), cycle func()) (*request, error) {
	r, force := newRequest(n, addr, toID, out, opts, done, cycle)
	n.mu.Lock()
	defer n.mu.Unlock()
	return r, n.enqueueLocked(r, force)
}

func newRequest(n *Node, addr netip.AddrPort, toID *ktable.ID, out Outgoing, opts *RequestOptions, done func(*Response, error), cycle func()) (*request, bool) {
	var o RequestOptions
	if opts != nil {
		o = *opts
	}
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	r := &request{
		n: n, to: addr, internal: out.Internal, command: out.Command,
		retries: requestRetries, timeout: requestTimeout, hindex: -1,
		done: done, cycle: cycle, via: o.Socket,
	}
	if o.Retries > 0 {
		r.retries = o.Retries
	} else if o.Retries < 0 {
		r.retries = 0
	}
	if o.Timeout > 0 {
		r.timeout = o.Timeout
	}
	if toID != nil {
		r.toID, r.hasToID = *toID, true
	}
	r.msg = Message{Kind: KindRequest, To: addr, Internal: out.Internal, Command: out.Command, Value: out.Value}
	if out.Target != nil {
		r.msg.Target, r.msg.HasTarget = *out.Target, true
	}
	if out.Token != nil {
		r.msg.Token, r.msg.HasToken = *out.Token, true
	}
	return r, o.Force
}

// enqueueLocked assigns r a tid, puts it in flight and sends it.
func (n *Node) enqueueLocked(r *request, force bool) error {
	if n.destroyed {
		return net.ErrClosed
	}
	n.tid++
	for n.inflight[n.tid] != nil { // only after 65536 outstanding requests
		n.tid++
	}
	r.tid = n.tid
	r.msg.TID = r.tid
	r.sock = n.expectedSocketLocked()
	if s := n.socketLocked(r.via); s != nil {
		r.sock = s
	}
	r.started = time.Now()
	r.inflight = true
	n.inflight[r.tid] = r
	if r.internal && r.command < uint64(len(n.stats.Commands)) {
		n.stats.Commands[r.command].Tx++
	}
	n.stats.Requests.Active++
	n.stats.Requests.Total++
	n.sendLocked(r, force)
	return nil
}

// sendLocked transmits r now, or queues it while the congestion window is full.
func (n *Node) sendLocked(r *request, force bool) {
	if r.buf == nil {
		if !n.ephemeral && r.sock == n.server {
			r.msg.ID, r.msg.HasID = n.table.ID(), true
		}
		b, err := AppendMessage(nil, &r.msg)
		if err != nil {
			// Cannot happen for IPv4 destinations; fail the request on the next timer run.
			n.log.Debug("rpc: encode request", "err", err)
			b = nil
		}
		r.buf = b
	}
	if !force && n.cwnd.full() {
		n.queued = append(n.queued, r)
		return
	}
	n.transmitLocked(r)
}

func (n *Node) transmitLocked(r *request) {
	r.sent++
	n.cwnd.send()
	if r.buf != nil {
		r.sock.send(r.buf, r.to)
	}
	r.deadline = time.Now().Add(r.timeout)
	if r.hindex >= 0 {
		heap.Fix(&n.deadlines, r.hindex)
	} else {
		heap.Push(&n.deadlines, r)
	}
	if r.hindex == 0 {
		select {
		case n.timerW <- struct{}{}:
		default:
		}
	}
}

// removeInflightLocked takes r out of the inflight table, the deadline heap and the queue.
func (n *Node) removeInflightLocked(r *request) {
	if !r.inflight {
		return
	}
	r.inflight = false
	delete(n.inflight, r.tid)
	if r.hindex >= 0 {
		heap.Remove(&n.deadlines, r.hindex)
	}
	for i, q := range n.queued {
		if q == r {
			n.queued = append(n.queued[:i], n.queued[i+1:]...)
			break
		}
	}
}

// cancelRequest destroys r if it is still in flight; its done callback gets ErrDestroyed.
func (n *Node) cancelRequest(r *request) {
	n.mu.Lock()
	if !r.inflight {
		n.mu.Unlock()
		return
	}
	n.removeInflightLocked(r)
	n.stats.Requests.Active--
	n.cwnd.recv()
	n.mu.Unlock()
	r.finish(nil, ErrDestroyed)
}

func (r *request) finish(res *Response, err error) {
	if r.cycle != nil && err != nil {
		r.cycle = nil
	}
	r.done(res, err)
}

// failAllLocked takes every request out of flight and returns them, for the caller to finish
// without the lock.
func (n *Node) failAllLocked(err error) []*request {
	out := make([]*request, 0, len(n.inflight))
	for _, r := range n.inflight {
		out = append(out, r)
	}
	for _, r := range out {
		n.removeInflightLocked(r)
		n.cwnd.recv()
		n.stats.Requests.Active--
	}
	n.queued = nil
	return out
}

// expire handles requests whose transmission timed out: the first timeout of a request with
// a cycle hook calls it; then the request is resent or, after its retries, fails with
// ErrTimeout (and a destination with a known id leaves the table).
func (n *Node) expire(now time.Time) {
	var cycles []func()
	var failed []*request
	n.mu.Lock()
	for n.deadlines.Len() > 0 && !n.deadlines[0].deadline.After(now) {
		r := n.deadlines[0]
		heap.Pop(&n.deadlines)
		if r.cycle != nil {
			cycles = append(cycles, r.cycle)
			r.cycle = nil
		}
		if r.sent > r.retries {
			n.stats.Requests.Timeouts++
			n.removeInflightLocked(r)
			n.stats.Requests.Active--
			n.cwnd.recv()
			if r.hasToID {
				if p, ok := n.table.Get(r.toID); ok {
					n.removeNodeLocked(p)
				}
			}
			failed = append(failed, r)
			continue
		}
		n.stats.Requests.Retries++
		n.sendLocked(r, false)
	}
	n.mu.Unlock()
	for _, c := range cycles {
		c()
	}
	for _, r := range failed {
		r.finish(nil, ErrTimeout)
	}
}

// drain rotates the congestion window and the token secrets, and sends queued requests.
func (n *Node) drain() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.tok.drain()
	n.cwnd.drain()
	for len(n.queued) > 0 && !n.cwnd.full() {
		r := n.queued[0]
		n.queued = n.queued[1:]
		n.transmitLocked(r)
	}
}

// nextDeadline returns the earliest request deadline.
func (n *Node) nextDeadline() (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.deadlines.Len() == 0 {
		return time.Time{}, false
	}
	return n.deadlines[0].deadline, true
}

// run owns the node's timers: the 750 ms drain, the 5 s tick and request deadlines.
func (n *Node) run() {
	defer n.wg.Done()
	drain := time.NewTicker(drainInterval)
	defer drain.Stop()
	tick := time.NewTicker(tickInterval)
	defer tick.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if d, ok := n.nextDeadline(); ok {
			timer.Reset(time.Until(d))
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-drain.C:
			n.drain()
		case <-tick.C:
			n.onTick()
		case now := <-timer.C:
			n.expire(now)
		case <-n.timerW:
		}
	}
}

// deadlineHeap orders in-flight transmissions by deadline.
type deadlineHeap []*request

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hindex = i
	h[j].hindex = j
}
func (h *deadlineHeap) Push(x any) {
	r := x.(*request)
	r.hindex = len(*h)
	*h = append(*h, r)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	r.hindex = -1
	*h = old[:len(old)-1]
	return r
}
