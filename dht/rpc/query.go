package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/hyperlan/hyperlan/dht/compact"
	"github.com/hyperlan/hyperlan/dht/ktable"
)

// QueryOptions tune an iterative query; the zero value means the reference's defaults.
type QueryOptions struct {
	// Concurrency is how many visits run at once; 0 means the node's (10).
	Concurrency int
	// Retries per visit: 0 means 5, negative means none.
	Retries int
	// Commit, when set, sends the query's command again with the token each of the closest
	// nodes returned (the reference's commit: true).
	Commit bool
	// CommitFunc, when set, is called for each of the closest replies after the walk, in
	// parallel; it replaces Commit. The query succeeds if at least one commit does.
	CommitFunc func(ctx context.Context, reply *Response) error
	// Nodes seed the query instead of the routing table (the reference's closestNodes).
	Nodes []netip.AddrPort
	// Replies seed the query with the responders of an earlier query (closestReplies).
	Replies []*Response
	// OnlyClosestNodes visits only the seeds and never follows closer nodes.
	OnlyClosestNodes bool
	// Force sends visits past the congestion window and without retries.
	Force bool
	// OnReply is called for every successful reply, on the querying goroutine.
	OnReply func(*Response)

	background bool // refresh/bootstrap query: low concurrency while other traffic runs
}

// QueryResult is the outcome of an iterative query.
type QueryResult struct {
	// Closest holds up to k successful replies from nodes with a validated id, sorted by XOR
	// distance to the target, closest first.
	Closest   []*Response
	Successes int
	Errors    int
}

// ClosestNodes returns the addresses of the closest replies.
func (r *QueryResult) ClosestNodes() []netip.AddrPort {
	out := make([]netip.AddrPort, len(r.Closest))
	for i, c := range r.Closest {
		out[i] = c.From
	}
	return out
}

// FindNode runs an iterative FIND_NODE for target.
func (n *Node) FindNode(ctx context.Context, target ktable.ID, opts *QueryOptions) (*QueryResult, error) {
	return n.query(ctx, target, true, CmdFindNode, nil, opts)
}

// Query runs an iterative query of the user command cmd for target, visiting nodes ever closer
// to target with the value, and optionally committing to the closest ones.
func (n *Node) Query(ctx context.Context, target ktable.ID, cmd uint64, value []byte, opts *QueryOptions) (*QueryResult, error) {
	return n.query(ctx, target, false, cmd, value, opts)
}

// visit states in query.seen.
const (
	seenPending = iota
	seenDone
	seenDown
)

type seenEntry struct {
	state int
	refs  []netip.AddrPort // nodes that told us about this one
}

type qnode struct {
	id   ktable.ID
	addr netip.AddrPort
}

type visit struct {
	to     qnode
	req    *request
	cycled bool
	ended  bool
}

type qevent struct {
	v     *visit
	res   *Response
	err   error
	cycle bool
}

// query is the state of one iterative query (dht-rpc lib/query.js). It is owned by the
// goroutine running it; request callbacks only append to events.
type query struct {
	n        *Node
	target   ktable.ID
	internal bool
	command  uint64
	value    []byte
	opts     QueryOptions

	k, concurrency, retries int

	pending     []qnode // LIFO
	seen        map[netip.AddrPort]*seenEntry
	closest     []*Response
	visits      map[*visit]bool // in flight
	side        map[*request]bool
	inflight    int
	slow        int
	successes   int
	errors      int
	fromTable   bool
	slowdown    bool
	onlyClosest bool
	flushed     bool

	mu     sync.Mutex
	events []qevent // guarded by mu
	wake   chan struct{}
}

func (n *Node) query(ctx context.Context, target ktable.ID, internal bool, cmd uint64, value []byte, opts *QueryOptions) (*QueryResult, error) {
	if n.closed() {
		return nil, net.ErrClosed
	}
	q := &query{
		n: n, target: target, internal: internal, command: cmd, value: value,
		k: ktable.K, seen: make(map[netip.AddrPort]*seenEntry),
		visits: make(map[*visit]bool), side: make(map[*request]bool),
		wake: make(chan struct{}, 1),
	}
	if opts != nil {
		q.opts = *opts
	}
	q.concurrency = q.opts.Concurrency
	if q.concurrency <= 0 {
		q.concurrency = n.opts.Concurrency
	}
	switch {
	case q.opts.Retries < 0 || q.opts.Force:
		q.retries = 0
	case q.opts.Retries > 0:
		q.retries = q.opts.Retries
	case internal && cmd == CmdDownHint:
		q.retries = 3
	default:
		q.retries = queryRetries
	}
	if q.opts.background {
		q.concurrency = min(n.opts.Concurrency, max(2, n.opts.Concurrency/8))
	}
	for i := len(q.opts.Nodes) - 1; i >= 0; i-- {
		a := unmap(q.opts.Nodes[i])
		q.addPending(qnode{NodeID(a), a}, netip.AddrPort{})
	}
	if len(q.opts.Nodes) == 0 {
		for i := len(q.opts.Replies) - 1; i >= 0; i-- {
			r := q.opts.Replies[i]
			id := ktable.ID(r.ID)
			if !r.HasID {
				id = NodeID(r.From)
			}
			q.addPending(qnode{id, r.From}, netip.AddrPort{})
		}
	}
	q.onlyClosest = q.opts.OnlyClosestNodes

	n.mu.Lock()
	n.stats.Queries.Active++
	n.stats.Queries.Total++
	n.refreshTicks = refreshTicks // every query, background ones too (index.js _backgroundQuery)
	n.mu.Unlock()
	defer func() {
		q.cancelAll()
		n.mu.Lock()
		n.stats.Queries.Active--
		n.mu.Unlock()
	}()

	if err := q.open(ctx); err != nil {
		return nil, err
	}
	if err := q.readMore(); err != nil {
		return nil, err
	}
	for !q.flushed {
		select {
		case <-q.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.ctx.Done():
			return nil, net.ErrClosed
		}
		q.mu.Lock()
		evs := q.events
		q.events = nil
		q.mu.Unlock()
		for _, ev := range evs {
			if err := q.handle(ev); err != nil {
				return nil, err
			}
		}
	}
	res := &QueryResult{Closest: q.closest, Successes: q.successes, Errors: q.errors}
	if err := q.commit(ctx); err != nil {
		return res, err
	}
	return res, nil
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// open seeds the query from the routing table and, if that gives fewer than k nodes, from the
// bootstrap nodes.
func (q *query) open(ctx context.Context) error {
	q.addFromTable()
	if len(q.pending) >= q.k {
		return nil
	}
	nodes, err := q.n.resolveBootstrap(ctx)
	if err != nil {
		return err
	}
	for _, a := range nodes {
		q.addPending(qnode{NodeID(a), a}, netip.AddrPort{})
	}
	return nil
}

func (q *query) addFromTable() {
	if len(q.pending) >= q.k {
		return
	}
	q.fromTable = true
	n := q.n
	n.mu.Lock()
	closest := n.table.Closest(q.target, q.k-len(q.pending))
	nodes := make([]qnode, len(closest))
	for i, p := range closest {
		nodes[i] = qnode{p.id, p.addr}
	}
	n.mu.Unlock()
	for _, c := range nodes {
		q.addPending(c, netip.AddrPort{})
	}
}

func (q *query) isCloser(id ktable.ID) bool {
	return len(q.closest) < q.k || ktable.Compare(q.target, id, ktable.ID(q.closest[len(q.closest)-1].ID)) < 0
}

// addPending adds a candidate that ref told us about (ref is invalid for seeds). It reports
// whether the candidate is worth following, which stops the walk over a closer-nodes list.
func (q *query) addPending(c qnode, ref netip.AddrPort) bool {
	if q.onlyClosest {
		return false
	}
	closer := q.isCloser(c.id)
	if e := q.seen[c.addr]; e != nil {
		switch e.state {
		case seenDone:
		case seenDown:
			if ref.IsValid() {
				q.downHint(ref, c.addr)
			}
		default:
			if ref.IsValid() {
				e.refs = append(e.refs, ref)
			}
		}
		return closer
	}
	if !closer {
		return false
	}
	e := &seenEntry{state: seenPending}
	if ref.IsValid() {
		e.refs = append(e.refs, ref)
	}
	q.seen[c.addr] = e
	q.pending = append(q.pending, c)
	return true
}

// readMore starts visits up to the concurrency limit, and finishes the walk when nothing is
// pending and nothing (or only slow visits with a full result) is in flight.
func (q *query) readMore() error {
	if q.flushed {
		return nil
	}
	limit := q.concurrency
	if q.slowdown {
		limit = 3
	}
	limit += q.slow
	for q.inflight < limit && len(q.pending) > 0 {
		next := q.pending[len(q.pending)-1]
		q.pending = q.pending[:len(q.pending)-1]
		if !q.isCloser(next.id) {
			continue
		}
		if err := q.visit(next); err != nil {
			return err
		}
	}
	if !q.fromTable && q.successes == 0 && q.errors == 0 {
		q.slowdown = true
	}
	if len(q.pending) > 0 {
		return nil
	}
	if q.inflight == 0 || (q.slow == q.inflight && len(q.closest) >= q.k) {
		if !q.fromTable && q.successes < q.k/4 {
			q.addFromTable()
			return q.readMore()
		}
		q.flushed = true
	}
	return nil
}

func (q *query) visit(to qnode) error {
	v := &visit{to: to}
	q.inflight++
	q.visits[v] = true
	out := Outgoing{Command: q.command, Internal: q.internal, Value: q.value}
	target := q.target
	out.Target = &target
	opts := &RequestOptions{Retries: q.retries, Force: q.opts.Force}
	if q.retries == 0 {
		opts.Retries = -1
	}
	r, err := q.n.startRequest(to.addr, &to.id,
		out, opts,
		func(res *Response, err error) { q.post(qevent{v: v, res: res, err: err}) },
		func() { q.post(qevent{v: v, cycle: true}) })
	if err != nil {
		return fmt.Errorf("rpc: query: %w", err)
	}
	v.req = r
	return nil
}

func (q *query) post(ev qevent) {
	q.mu.Lock()
	q.events = append(q.events, ev)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *query) handle(ev qevent) error {
	v := ev.v
	if v == nil || v.ended {
		return nil
	}
	if ev.cycle {
		v.cycled = true
		q.slow++
		return q.readMore()
	}
	v.ended = true
	delete(q.visits, v)
	if v.cycled {
		q.slow--
	}
	q.inflight--
	if ev.err != nil {
		return q.onError(v, ev.err)
	}
	return q.onReply(v, ev.res)
}

func (q *query) onReply(v *visit, m *Response) error {
	q.seen[v.to.addr] = &seenEntry{state: seenDone}
	if q.flushed {
		return nil
	}
	if m.Error == 0 {
		q.successes++
	} else {
		q.errors++
	}
	if m.Error == 0 && m.HasID && q.isCloser(ktable.ID(m.ID)) {
		q.pushClosest(m)
	}
	if len(m.CloserNodes) > 0 {
		q.n.mu.Lock()
		own := q.n.table.ID()
		q.n.mu.Unlock()
		for _, a := range m.CloserNodes {
			if !q.n.filterAllows(a) {
				continue
			}
			id := NodeID(a)
			if id == own {
				continue
			}
			if !q.addPending(qnode{id, a}, m.From) {
				break
			}
		}
	}
	if !q.fromTable && q.successes+q.errors >= q.concurrency {
		q.slowdown = false
	}
	if m.Error == 0 {
		if q.opts.background {
			q.n.mu.Lock()
			busy := len(q.n.inflight) >= 3
			q.n.mu.Unlock()
			q.concurrency = q.n.opts.Concurrency
			if busy {
				q.concurrency = min(q.n.opts.Concurrency, max(2, q.n.opts.Concurrency/8))
			}
		}
		if q.opts.OnReply != nil {
			q.opts.OnReply(m)
		}
	}
	return q.readMore()
}

func (q *query) onError(v *visit, err error) error {
	if errors.Is(err, net.ErrClosed) || (errors.Is(err, ErrDestroyed) && q.n.closed()) {
		return net.ErrClosed
	}
	e := q.seen[v.to.addr]
	if errors.Is(err, ErrTimeout) {
		q.seen[v.to.addr] = &seenEntry{state: seenDown}
		if e != nil {
			for _, ref := range e.refs {
				q.downHint(ref, v.to.addr)
			}
		}
	}
	q.errors++
	return q.readMore()
}

// pushClosest inserts m into the sorted closest replies, dropping a duplicate id and keeping
// at most k.
func (q *query) pushClosest(m *Response) {
	id := ktable.ID(m.ID)
	i := len(q.closest)
	for i > 0 {
		c := ktable.Compare(q.target, ktable.ID(q.closest[i-1].ID), id)
		if c == 0 {
			return
		}
		if c < 0 {
			break
		}
		i--
	}
	q.closest = append(q.closest, nil)
	copy(q.closest[i+1:], q.closest[i:])
	q.closest[i] = m
	if len(q.closest) > q.k {
		q.closest = q.closest[:q.k]
	}
}

// downHint tells ref that down did not answer, within the node's per-tick budget.
func (q *query) downHint(ref, down netip.AddrPort) {
	n := q.n
	n.mu.Lock()
	if n.opts.NoDownHints || (n.opts.DownHintsRateLimit >= 0 && n.downHintsSent >= n.opts.DownHintsRateLimit) {
		n.mu.Unlock()
		return
	}
	n.downHintsSent++
	n.mu.Unlock()
	val, err := compact.AppendIPv4Addr(make([]byte, 0, compact.IPv4AddrLen), down)
	if err != nil {
		return
	}
	r := n.startAsync(ref, nil, Outgoing{Command: CmdDownHint, Internal: true, Value: val}, nil,
		func(*Response, error) { q.post(qevent{}) }, nil)
	if r != nil {
		q.side[r] = true
	}
}

// cancelAll destroys the query's requests still in flight, like the reference's session.
func (q *query) cancelAll() {
	for v := range q.visits {
		if v.req != nil {
			q.n.cancelRequest(v.req)
		}
	}
	for r := range q.side {
		q.n.cancelRequest(r)
	}
}

// commit runs the commit phase over the closest replies.
func (q *query) commit(ctx context.Context) error {
	fn := q.opts.CommitFunc
	if fn == nil && q.opts.Commit {
		fn = q.autoCommit
	}
	if fn == nil {
		return nil
	}
	if len(q.closest) == 0 {
		return ErrTooFewNodes
	}
	errs := make([]error, len(q.closest))
	var wg sync.WaitGroup
	for i, m := range q.closest {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(ctx, m)
		}()
	}
	wg.Wait()
	var last error
	for _, err := range errs {
		if err == nil {
			return nil
		}
		last = err
	}
	return last
}

func (q *query) autoCommit(ctx context.Context, m *Response) error {
	if !m.HasToken {
		return ErrNoToken
	}
	tok := m.Token
	target := q.target
	_, err := q.n.Request(ctx, m.From, Outgoing{Command: q.command, Target: &target, Value: q.value, Token: &tok}, nil)
	return err
}
