package dht

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperlan/hyperlan/dht/blindrelay"
	"github.com/hyperlan/hyperlan/dht/protomux"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// Blind-relay fallback (hyperdht lib/connect.js relayConnection, lib/server.js
// _relayConnection, lib/relay-connection.js; hyperdht.md §6). Whoever configured a relay puts
// its public key and a fresh token in its handshake payload; the server's relay wins when both
// did, and its owner is the pairing's initiator. Once the handshake is done, and unless the
// path is known at once, each side connects to the relay like to any server, opens the
// blind-relay channel on that connection and pairs its raw stream under the token, while
// holepunching goes on. The first path found carries the connection: when the relay's answer
// comes first, the raw stream is connected to the relay's stream for it, through the socket
// of the connection to the relay. A punch that succeeds later moves the stream there, and the
// connection to the relay is closed once a packet arrived on the direct path. The move takes
// the packets in flight along (udx.Stream.MoveRemote, where the reference's changeRemote
// keeps retransmitting them to the relay): the peer may have taken the direct path before
// its own pairing finished and never sent through the relay, and the relay's stream towards
// a side connects on that side's first packet, so until then it drops what it would forward
// (blind-relay's _onfirewall does the same). The secret-stream header sent through the relay
// was lost that way in 1-3 % of natbench's consistent+consistent connects with a relay.

// relayPairTimeout bounds a pairing: connecting to the relay and its answer (the
// reference's 15 s).
const relayPairTimeout = 15 * time.Second

// defaultRelayKeepAlive is the keep-alive of a connection to a relay (the reference's
// relayKeepAlive).
const defaultRelayKeepAlive = 5 * time.Second

// ErrRelayAborted: the blind relay could not be reached or did not pair the two sides in time,
// and no direct path opened either.
var ErrRelayAborted = &ConnError{Code: "RELAY_ABORTED", Msg: "relay aborted"}

// RelaySelector picks the blind relay for one connection (the reference's relayThrough, which
// may be a key, a list or a function); ok false means none. It must be safe for concurrent
// use.
type RelaySelector func() (publicKey [32]byte, ok bool)

// Relays returns a RelaySelector that picks one of keys at random for each connection, or
// none when keys is empty.
func Relays(keys ...[32]byte) RelaySelector {
	keys = append([][32]byte(nil), keys...)
	return func() ([32]byte, bool) {
		if len(keys) == 0 {
			return [32]byte{}, false
		}
		return keys[rand.IntN(len(keys))], true
	}
}

// relayPath is where a paired raw stream sends: the relay's stream for it, at the relay's
// address, through the socket of the connection to the relay.
type relayPath struct {
	sock *udx.Socket
	addr netip.AddrPort
	id   udx.StreamID
}

// relayLeg is one side's pairing of a connection's raw stream at a blind relay, from the
// connection to the relay until it is closed. It is safe for concurrent use.
type relayLeg struct {
	n         *Node
	key       [32]byte // the relay's public key
	token     blindrelay.Token
	initiator bool
	keepAlive time.Duration
	ctx       context.Context // ended by close
	cancel    context.CancelFunc

	// hits counts packets the raw stream accepted from the relay through its firewall, that
	// is after it moved to a direct path: they tell relay traffic from direct traffic.
	hits atomic.Int64

	mu     sync.Mutex
	conn   *Conn     // guarded by mu; the connection to the relay, once open
	path   relayPath // guarded by mu; set when paired
	paired bool      // guarded by mu
	ended  bool      // guarded by mu; failed or closed: no longer a way to the peer
}

// newRelayLeg prepares the pairing of a connection's raw stream at the blind relay that
// server or client named in its handshake payload (nil: none), as the reference's connect
// and server do: the server's relay wins, and the side whose relay it is initiates. weServe
// says which side we are. start runs the pairing. It returns nil when neither named a relay.
func (n *Node) newRelayLeg(server, client *records.RelayThroughInfo, weServe bool, keepAlive time.Duration) *relayLeg {
	r, initiator := server, weServe
	if r == nil {
		r, initiator = client, !weServe
	}
	if r == nil {
		return nil
	}
	if keepAlive == 0 {
		keepAlive = defaultRelayKeepAlive
	}
	l := &relayLeg{n: n, key: r.PublicKey, token: r.Token, initiator: initiator, keepAlive: keepAlive}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l
}

// start connects to the relay and pairs raw's id, on a goroutine of its own bounded by
// relayPairTimeout. Exactly one of onPaired and onFail is called, on that goroutine, unless
// the leg is closed first.
func (l *relayLeg) start(raw *udx.Stream, onPaired func(relayPath), onFail func(error)) {
	go func() {
		path, err := l.pair(raw)
		l.mu.Lock()
		closed := l.ended
		if err == nil && !closed {
			l.path, l.paired = path, true
		} else {
			l.ended = true
		}
		l.mu.Unlock()
		switch {
		case closed:
			l.close()
		case err != nil:
			l.close()
			onFail(err)
		default:
			onPaired(path)
		}
	}()
}

// pair connects to the relay, opens the blind-relay channel and waits for the relay's answer.
func (l *relayLeg) pair(raw *udx.Stream) (relayPath, error) {
	ctx, cancel := context.WithTimeout(l.ctx, relayPairTimeout)
	defer cancel()
	// The pairing request goes out right behind our secret-stream header; the relay's header
	// comes with its answer (a relay that never answers fails the pairing's timeout).
	conn, choice, err := l.n.dial(ctx, l.key, &ConnectOptions{noWaitOpen: true}, l.keepAlive)
	if err != nil {
		return relayPath{}, ErrRelayAborted.with("connecting to the relay", err)
	}
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		conn.Close()
		return relayPath{}, context.Canceled
	}
	l.conn = conn
	l.mu.Unlock()
	mux := protomux.New(conn, protomux.Options{})
	// The channel id is the key our connection to the relay presents: the relay opens its side
	// with the remote key of that connection.
	self := l.n.defaultKeyPair.PublicKey
	client, err := blindrelay.NewClient(mux, blindrelay.Options{ID: self[:]})
	if err != nil {
		return relayPath{}, ErrRelayAborted.with("opening the blind-relay channel", err)
	}
	mux.Start()
	id, err := client.Pair(ctx, l.initiator, l.token, raw.ID())
	if err != nil {
		return relayPath{}, ErrRelayAborted.with("pairing at the relay", err)
	}
	return relayPath{sock: choice.sock, addr: choice.addr, id: id}, nil
}

// active reports whether the relay is still a way to the peer: pairing or paired.
func (l *relayLeg) active() bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.ended
}

// isRelay reports whether a packet that reached the raw stream through sock from from came
// from the relay, and counts it.
func (l *relayLeg) isRelay(sock *udx.Socket, from netip.AddrPort) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	p, paired := l.path, l.paired
	l.mu.Unlock()
	if !paired || sock != p.sock || from != p.addr {
		return false
	}
	l.hits.Add(1)
	return true
}

// close ends the pairing: the connection to the relay is closed (the relay then drops its
// streams for it). It is idempotent.
func (l *relayLeg) close() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.ended = true
	conn := l.conn
	l.conn = nil
	l.mu.Unlock()
	l.cancel()
	if conn != nil {
		conn.Close()
	}
}

// greetWait bounds greet's watch for the peer's first packet through the relay.
const greetWait = 2 * time.Second

// greet covers the start of a raw stream just connected through a relay: the relay drops
// what comes for a side whose stream there has not learnt its address yet (from that side's
// first packet), and a secret-stream header lost that way would cost its sender the 1 s
// initial retransmission timeout (the reference's, about every other relayed connect in the
// NAT lab). The session starts at once, as the reference's does; greet watches, in the
// background, for the peer's first packet, which proves both of the relay's streams ready,
// and then resends whatever the peer has not acknowledged yet (udx.Stream.Nudge).
func greet(raw *udx.Stream) {
	go func() {
		deadline := time.Now().Add(greetWait)
		wait := func(done func(udx.StreamStats) bool) bool {
			for !done(raw.Stats()) {
				if !time.Now().Before(deadline) {
					return false
				}
				select {
				case <-raw.Done():
					return false
				case <-time.After(2 * time.Millisecond):
				}
			}
			return true
		}
		// Our header left. A packet of the peer that came before it proves the way open
		// already; else the first one that comes after it does, and what it did not
		// acknowledge goes again.
		if !wait(func(st udx.StreamStats) bool { return st.BytesSent > 0 }) || raw.Stats().PacketsReceived > 0 {
			return
		}
		if wait(func(st udx.StreamStats) bool { return st.PacketsReceived > 0 }) {
			raw.Nudge()
		}
	}()
}

// confirmPoll is how often confirmDirect looks for direct traffic.
const confirmPoll = 100 * time.Millisecond

// confirmDirect closes the leg once raw, which has just moved from the relay to a direct path,
// received a packet on that path (the reference's confirmDirectUpgrade): until then the peer
// may still send through the relay. Once the move is complete it sends an empty message,
// which the peer's stream sees arrive on the direct path. It returns when the leg is closed
// or raw ends.
func (l *relayLeg) confirmDirect(raw *udx.Stream) {
	select {
	case <-raw.RemoteChanged():
	case <-raw.Done():
		l.close()
		return
	}
	// Packets the stream processed minus those the relay brought: a packet on its own socket
	// skips the firewall, and since the move only direct ones arrive there. One relay packet
	// may be between the two counts when they are read, hence the margin.
	base := raw.Stats().PacketsReceived - l.hits.Load()
	raw.TrySend(nil)
	t := time.NewTicker(confirmPoll)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if raw.Stats().PacketsReceived-l.hits.Load()-base > 1 {
				l.close()
				return
			}
		case <-raw.Done():
			l.close()
			return
		case <-l.ctx.Done():
			return
		}
	}
}
