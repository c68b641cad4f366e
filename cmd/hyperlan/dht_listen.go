package main

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// serverCloseTimeout bounds the unannounce when listen closes its server.
const serverCloseTimeout = 10 * time.Second

const dhtListenUsage = `Usage: hyperlan dht listen --bootstrap HOST:PORT[,HOST:PORT...] --key-file FILE
                           [--echo | --message] [--firewall-allow KEY[,KEY...]]
                           [--relay-through KEY[,KEY...]]
                           [--host IP] [--port PORT] [--timeout D] [-v]

Accept end-to-end encrypted connections to the key pair in FILE. A node joins through the
bootstrap nodes and announces the public key at the DHT nodes closest to it, so that
'hyperlan dht connect PUBLIC_KEY' finds it; a client's Noise handshake comes through
those nodes, then the client reaches this node over UDX: directly, by holepunching
through the NATs in between, or through a blind relay that either side names
(--relay-through here, or the client's) when no punch can work, as between two random
NATs. A relayed connection moves to the direct path when a punch succeeds later.

It serves in one of two modes:

  --echo    every client: each connection gets back every byte and every datagram
            it sends, and is ended when its client ends it. Events go to stdout.

  default   netcat style, one client: the first connection is piped to stdin and
            stdout. Then listen stops listening: it unannounces the key and refuses
            further handshakes, so later clients fail with PEER_NOT_FOUND (or
            PEER_CONNECTION_FAILED while stale announcements last). stdin goes to the
            connection and its EOF half-closes it; what the client sends is written to
            stdout. listen exits 0 once both directions have ended and everything
            received is written (or when the client closes the connection after ending
            its side). Events go to stderr, so that stdout carries only the client's
            bytes. With --message each stdin line is sent as one datagram instead and
            each datagram received is written as a line (see 'hyperlan dht connect
            --help').

Events, one JSON object per line (shown here on two lines where long):

  {"event":"listening","publicKey":"<hex>","host":"198.51.100.4","port":49737}
  {"event":"connection","remotePublicKey":"<hex>","handshakeHash":"<128 hex digits>",
   "remoteAddress":"203.0.113.9:50321","path":"holepunch","relayed":false,
   "localFirewall":"consistent","remoteFirewall":"random"}
  {"event":"upgraded",...}                                a relayed connection moved to
                                                          a direct path (same fields)
  {"event":"rejected","remotePublicKey":"<hex>","remoteAddress":"203.0.113.9:50321",
   "reason":"firewall"}                                   refused by --firewall-allow
  {"event":"connection-closed","remotePublicKey":"<hex>","bytes":12,"messages":0,
   "error":null}                                          --echo: a connection ended
  {"event":"close"}                                       stopped by a signal

where host and port are the node's public address once other nodes have reported it,
else its local address; "reason" is "busy" for a handshake refused because the one
connection of the default mode is taken, and "error" says why a connection failed.
path, relayed and the firewalls are as in 'hyperlan dht connect --help', seen from the
server: "relay" when the client's stream comes through a blind relay.

On SIGINT or SIGTERM listen closes the server, which unannounces the key (for at most
10s), aborts open connections, leaves the DHT, prints {"event":"close"} and exits 0.

Flags:
  --bootstrap LIST       bootstrap nodes, comma-separated host:port or ip@hostname:port
                         (required; there is no public default yet)
  --key-file FILE        key file of the key pair to listen on (required; make one with
                         'hyperlan dht keygen --out FILE': listen never creates it)
  --echo                 echo every connection instead of piping the first one
  --message              default mode: send stdin lines as datagrams and print datagrams
                         as lines
  --firewall-allow KEYS  accept only clients with these public keys, comma-separated,
                         64 hex digits each; repeatable (default: accept every client)
  --relay-through KEYS   blind relays for clients to fall back on, comma-separated public
                         keys (such as 'hyperlan dht relay' prints); one is picked per
                         connection and wins over the client's; repeatable (default: none)
  --host IP              local IPv4 address to listen on (default 0.0.0.0, every interface)
  --port PORT            UDP port to listen on, which must be free (default 0: 49737, else
                         the first free one of 49738-49741, else any free port)
  --timeout D            give up if bootstrapping, or then the first announcement, takes
                         longer than D (default 30s)
  -v                     log node activity to stderr

Exit status: 0 after a clean stop, and in the default mode once the connection has ended
both ways; 1 if the key file cannot be read, no bootstrap node answered, the port is
taken, the first announcement failed, or the piped connection failed; 2 for bad flags.

Examples:
  hyperlan dht keygen --out server.key
  hyperlan dht listen --bootstrap 203.0.113.7:49737 --key-file server.key --echo

  # Receive one file, from one client key only:
  hyperlan dht listen --bootstrap 203.0.113.7:49737 --key-file server.key \
      --firewall-allow 4f1c0a9e3d2b8c7a6f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a19080 \
      < /dev/null > received.tar
`

func runDHTListen(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("dht listen")
	var sf serveFlags
	sf.register(fs)
	keyFile := fs.String("key-file", "", "")
	echo := fs.Bool("echo", false, "")
	message := fs.Bool("message", false, "")
	var allowFlags []string
	fs.Func("firewall-allow", "", func(s string) error {
		allowFlags = append(allowFlags, s)
		return nil
	})
	var relayFlags []string
	fs.Func("relay-through", "", func(s string) error {
		relayFlags = append(relayFlags, s)
		return nil
	})
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	if err := requireKeyFile(*keyFile); err != nil {
		return err
	}
	if *echo && *message {
		return usageErrorf("--echo and --message exclude each other").
			hintf("--echo sends datagrams back too")
	}
	allow, err := parseKeyLists("--firewall-allow", allowFlags)
	if err != nil {
		return err
	}
	relays, err := parseRelays(relayFlags)
	if err != nil {
		return err
	}
	boot, err := sf.check()
	if err != nil {
		return err
	}
	kp, err := readKeyFile(c, *keyFile)
	if err != nil {
		return err
	}

	node, err := sf.newNode(c, boot, rpc.ModeAdaptive)
	if err != nil {
		return err
	}
	l := &listener{c: c, node: node, allow: allow, conns: map[*dht.Conn]*echoCount{}}
	l.events = c.out
	if !*echo {
		l.events = &jsonLines{w: c.stderr}
	}
	defer l.stop()

	if err := join(ctx, node.RPC(), boot, sf.timeout); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while joining: a clean stop
		}
		return err
	}
	opts := dht.ServerOptions{Firewall: l.firewall, RelayThrough: relays,
		OnUpgrade: func(conn *dht.Conn, info dht.ConnInfo) {
			l.events.write(newPathLine("upgraded", conn, info, false))
		},
	}
	switch {
	case *echo:
		opts.OnMessage = l.echoMessage
	case *message:
		l.lines = newDatagramLines(c.stdout)
		defer l.lines.close() // before l.stop: the lines are written out, later ones dropped
		opts.OnMessage = l.lines.deliver
	}
	l.srv = node.CreateServer(opts)
	lctx, cancel := context.WithTimeout(ctx, sf.timeout)
	err = l.srv.Listen(lctx, kp)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return queryError(ctx, "first announcement", err, sf.timeout)
	}
	a := l.srv.Address()
	addr := netip.AddrPortFrom(a.Host, a.Port)
	if !a.Host.IsValid() {
		addr = nodeAddr(node.RPC())
	}
	l.events.write(listeningLine{Event: "listening", PublicKey: kp.String(), Host: addr.Addr().String(), Port: addr.Port()})

	if *echo {
		return l.serveEcho(ctx)
	}
	return l.servePipe(ctx, *message)
}

// listener is the life of one dht listen: its node, server and connections.
type listener struct {
	c      *cli
	node   *dht.Node
	srv    *dht.Server    // nil until created
	allow  [][32]byte     // --firewall-allow; nil accepts every key
	events *jsonLines     // stdout with --echo, else stderr
	lines  *datagramLines // --message: datagrams to stdout; else nil
	busy   atomic.Bool    // the default mode's one connection is taken
	wg     sync.WaitGroup // echo goroutines
	closed chan struct{}  // closed when the server has closed and unannounced; nil before
	once   sync.Once      // stop

	mu      sync.Mutex
	conns   map[*dht.Conn]*echoCount // guarded by mu; open --echo connections, by their first datagram or Accept
	stopped bool                     // guarded by mu; no more event lines
}

// echoCount counts what an echoed connection sent back.
type echoCount struct {
	bytes    int64 // written by the connection's goroutine only
	messages atomic.Int64
}

// firewall is the server's Firewall: it refuses keys --firewall-allow does not list, and in
// the default mode everyone once the one connection is taken.
func (l *listener) firewall(pk [32]byte, _ *records.NoisePayload, client netip.AddrPort) bool {
	var reason string
	switch {
	case l.allow != nil && !slices.Contains(l.allow, pk):
		reason = "firewall"
	case l.busy.Load():
		reason = "busy"
	default:
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.events.write(rejectedLine{Event: "rejected", RemotePublicKey: hex32(pk), RemoteAddress: client.String(), Reason: reason})
	}
	return true
}

// connectionLine is the connection event of conn, with its path.
func (l *listener) connectionLine(conn *dht.Conn) pathLine {
	info, _ := l.node.ConnInfo(conn)
	return newPathLine("connection", conn, info, false)
}

// serveEcho echoes every connection until ctx ends.
func (l *listener) serveEcho(ctx context.Context) error {
	for {
		conn, err := l.accept(ctx)
		if conn == nil {
			return err
		}
		l.mu.Lock()
		count := l.countLocked(conn)
		l.events.write(l.connectionLine(conn))
		l.mu.Unlock()
		l.wg.Add(1)
		go l.echoConn(conn, count)
	}
}

// echoConn writes back what conn reads until its client ends, then ends it too.
func (l *listener) echoConn(conn *dht.Conn, count *echoCount) {
	defer l.wg.Done()
	n, err := io.Copy(conn, conn)
	count.bytes = n
	if err == nil {
		err = conn.CloseWrite()
	}
	conn.Close() // after a clean end both ways, waits until the client has our end
	if err != nil {
		err = connLost(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, conn)
	if l.stopped {
		return // aborted by the stop; no more lines
	}
	line := connectionClosedLine{Event: "connection-closed", RemotePublicKey: hex32(conn.RemotePublicKey()),
		Bytes: count.bytes, Messages: count.messages.Load()}
	if err != nil {
		s := err.Error()
		line.Error = &s
	}
	l.events.write(line)
}

// echoMessage is the server's OnMessage with --echo: it sends the datagram back. It must
// not block, so a datagram that finds the send queue full is dropped.
func (l *listener) echoMessage(conn *dht.Conn, b []byte) {
	if conn.TrySend(b) != nil {
		return
	}
	l.mu.Lock()
	count := l.countLocked(conn)
	l.mu.Unlock()
	count.messages.Add(1)
}

// countLocked returns the counters of conn, which its datagrams may create before Accept
// returns it.
func (l *listener) countLocked(conn *dht.Conn) *echoCount {
	count := l.conns[conn]
	if count == nil {
		count = &echoCount{}
		l.conns[conn] = count
	}
	return count
}

// accept waits for the next connection. When ctx ends first it stops the listener and prints
// the close line, and returns no connection and no error (a clean stop).
func (l *listener) accept(ctx context.Context) (*dht.Conn, error) {
	conn, err := l.srv.Accept(ctx)
	switch {
	case err == nil:
		return conn, nil
	case ctx.Err() != nil:
		l.stop()
		l.writeClose()
		return nil, nil
	}
	return nil, failf("accept: %v", err)
}

// servePipe pipes the first connection to stdin and stdout (the default mode).
func (l *listener) servePipe(ctx context.Context, message bool) error {
	conn, err := l.accept(ctx)
	if conn == nil {
		return err
	}
	l.busy.Store(true)
	if l.lines != nil {
		l.lines.only.Store(conn)
	}
	l.events.write(l.connectionLine(conn))
	// Stop listening while the connection runs: unannounce, and refuse further handshakes.
	l.closed = make(chan struct{})
	go func() {
		defer close(l.closed)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), serverCloseTimeout)
		defer cancel()
		l.srv.Close(cctx)
	}()

	p := &pipe{conn: conn, stdin: l.c.stdin, stdout: l.c.stdout, message: message}
	err = p.run(ctx)
	l.stop()
	if errors.Is(err, errInterrupted) {
		l.writeClose()
		err = nil // a signal is a clean stop
	}
	return finishPipe(l.c, p, l.lines, err)
}

// stop closes the server (which unannounces it, for at most serverCloseTimeout), aborts the
// open connections, waits for their goroutines and destroys the node. Later calls do
// nothing.
func (l *listener) stop() {
	l.once.Do(func() {
		if l.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), serverCloseTimeout)
			l.srv.Close(ctx)
			cancel()
			if l.closed != nil {
				<-l.closed
			}
		}
		l.mu.Lock()
		l.stopped = true
		conns := make([]*dht.Conn, 0, len(l.conns))
		for conn := range l.conns {
			conns = append(conns, conn)
		}
		l.mu.Unlock()
		for _, conn := range conns {
			conn.Close()
		}
		l.wg.Wait()
		l.node.Destroy(context.Background(), dht.DestroyOptions{})
	})
}

// writeClose prints the close line of a stop by signal.
func (l *listener) writeClose() {
	l.events.write(eventLine{"close"})
}

type listeningLine struct {
	Event     string `json:"event"` // "listening"
	PublicKey string `json:"publicKey"`
	Host      string `json:"host"`
	Port      uint16 `json:"port"`
}
