package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/noise"
)

const dhtConnectUsage = `Usage: hyperlan dht connect --bootstrap HOST:PORT[,HOST:PORT...] [--key-file FILE]
                            [--nodes HOST:PORT[,HOST:PORT...]] [--message] [--host IP]
                            [--relay-through KEY[,KEY...]]
                            [--timeout D] [-v] PUBLIC_KEY

Open an end-to-end encrypted connection to the server listening on PUBLIC_KEY, 64 hex
digits (such as 'hyperlan dht listen'), and pipe it to stdin and stdout, netcat style.
An ephemeral node joins through the bootstrap nodes, finds the nodes the server
announced itself to, sends a Noise handshake through them, then reaches the server over
UDX: directly, by holepunching through the NATs in between, or, when both NATs give a
new port to every destination (random NATs, which no punch gets through), through a
blind relay that either side names (--relay-through here, or the server's). A relayed
connection moves to the direct path when a punch succeeds later. Once connected it
prints one JSON line on stderr (stdout carries the connection's bytes),

  {"event":"connected","publicKey":"<hex>","remotePublicKey":"<hex>",
   "handshakeHash":"<128 hex digits>","remoteAddress":"198.51.100.4:49737",
   "path":"holepunch","relayed":false,"localFirewall":"consistent",
   "remoteFirewall":"random"}

(on one line), where publicKey is ours and handshakeHash is the same on both sides;
path is how the stream reaches the server: "direct" (no punch needed), "lan" (the
server's private address, behind the same NAT), "holepunch" or "relay", when
remoteAddress is the relay's and "relay" names its key; localFirewall and
remoteFirewall are the NATs as seen while connecting: "open", "consistent" (one
public port per socket), "random" (a new port per destination) or "unknown". It also
prints {"event":"upgraded",...} with the same fields when a relayed connection moves to
a direct path. It then copies stdin to the connection and, at EOF, half-closes it; what
the server sends is written to stdout. It exits 0 once both directions have ended and
everything received is written (or when the server closes the connection after ending
its side).

With --message each stdin line, without its line ending, is sent as one datagram
(unordered and unreliable, like UDP, but encrypted), and each datagram received is
written to stdout as a line. A line must fit one datagram: about 1000 bytes. EOF on
stdin still half-closes the connection, and connect exits when the server has ended
its side too.

Flags:
  --bootstrap LIST  bootstrap nodes, comma-separated host:port or ip@hostname:port
                    (required; there is no public default yet)
  --key-file FILE   key file of the key pair to connect as (default: a random key pair;
                    a server's --firewall-allow names the keys it accepts)
  --nodes LIST      DHT nodes to send the handshake through first, comma-separated
                    IPv4 host:port, such as the nodes the server announced to (default:
                    look them up)
  --message         send stdin lines as datagrams and print datagrams as lines
  --host IP         local IPv4 address to listen on (default 0.0.0.0, every interface)
  --relay-through KEYS
                    blind relays to fall back on, comma-separated public keys (64 hex
                    digits each, such as 'hyperlan dht relay' prints); one is picked
                    per connection, and the server's own relay wins (default: none)
  --timeout D       give up if bootstrapping, or then the connect, takes longer than D
                    (default 30s); the connection itself has no time limit
  -v                log node activity to stderr

Exit status: 0 once the connection has ended both ways; 1 if the key file cannot be
read, no bootstrap node answered, the connect timed out or was stopped by SIGINT or
SIGTERM, or the connection failed once made; 2 for bad flags or a bad PUBLIC_KEY;
3 if the server could not be connected to, with the reference's error code:
PEER_NOT_FOUND (no DHT node knows a server with that key), PEER_CONNECTION_FAILED (one
was found but no handshake completed: it stopped, or its firewall refuses our key),
SERVER_ERROR, SERVER_INCOMPATIBLE, CANNOT_HOLEPUNCH or HOLEPUNCH_ABORTED (the server
is behind a NAT and no punch got through: two random NATs, or the server is busy with
another such punch), RELAY_ABORTED (a relay was named but did not pair the two sides).

Examples:
  # Against 'hyperlan dht listen --echo' with the key pair of server.key:
  echo hello | hyperlan dht connect --bootstrap 203.0.113.7:49737 \
      8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c

  # Send a file, as the key pair of me.key:
  hyperlan dht connect --bootstrap 203.0.113.7:49737 --key-file me.key \
      8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c < backup.tar

  # Behind a random NAT, with a blind relay to fall back on:
  hyperlan dht connect --bootstrap 203.0.113.7:49737 \
      --relay-through 1f9c4e0a7b3d2c5e8f6a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e \
      8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c
`

func runDHTConnect(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("dht connect")
	var cf clientFlags
	cf.register(fs)
	keyFile := fs.String("key-file", "", "")
	nodesFlag := fs.String("nodes", "", "")
	message := fs.Bool("message", false, "")
	var relayFlags []string
	fs.Func("relay-through", "", func(s string) error {
		relayFlags = append(relayFlags, s)
		return nil
	})
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	remote, err := hexArg{
		name: "PUBLIC_KEY", purpose: "the key of the server to connect to",
		what: "a 32-byte Ed25519 public key",
		hint: "PUBLIC_KEY is 64 hex digits: the publicKey a server printed ('hyperlan dht listen')",
	}.parse(pos)
	if err != nil {
		return err
	}
	if err := checkServerKey(remote, pos[0]); err != nil {
		return err
	}
	relays, err := parseRelays(relayFlags)
	if err != nil {
		return err
	}
	var nodes []netip.AddrPort
	if *nodesFlag != "" {
		if nodes, err = parseNodes(*nodesFlag); err != nil {
			return err
		}
	}
	boot, err := cf.check()
	if err != nil {
		return err
	}
	kp, err := readOptionalKeyFile(c, *keyFile)
	if err != nil {
		return err
	}

	node, err := startClient(ctx, c, &cf, boot)
	if err != nil {
		if ctx.Err() != nil {
			return errInterruptedJoin()
		}
		return err
	}
	defer destroy(node)

	var lines *datagramLines
	events := &jsonLines{w: c.stderr}
	opts := &dht.ConnectOptions{KeyPair: kp, Nodes: nodes, RelayThrough: relays,
		OnUpgrade: func(conn *dht.Conn, info dht.ConnInfo) {
			events.write(newPathLine("upgraded", conn, info, true))
		}}
	if *message {
		lines = newDatagramLines(c.stdout)
		opts.OnMessage = lines.deliver
	}
	cctx, cancel := context.WithTimeout(ctx, cf.timeout)
	conn, err := node.Connect(cctx, remote, opts)
	cancel()
	if err != nil {
		if lines != nil {
			lines.close()
		}
		if kp.SecretKey == nil {
			kp = node.DefaultKeyPair()
		}
		return connectError(ctx, err, kp, cf.timeout)
	}
	info, _ := node.ConnInfo(conn)
	events.write(newPathLine("connected", conn, info, true))

	p := &pipe{conn: conn, stdin: c.stdin, stdout: c.stdout, message: *message}
	err = p.run(ctx)
	if errors.Is(err, errInterrupted) {
		err = failf("interrupted; the connection was aborted")
	}
	return finishPipe(c, p, lines, err)
}

// checkServerKey refuses, before any network, a PUBLIC_KEY that no handshake can be sent to:
// the Ed25519 DH refuses points that are not canonical or not in the prime-order subgroup, as
// libsodium does. It starts Noise message 1 towards it with a throwaway key pair, as Connect
// would.
func checkServerKey(pk [32]byte, arg string) error {
	kp, err := dht.NewKeyPair(nil)
	if err != nil {
		return failf("%v", err)
	}
	hs, err := noise.NewInitiator(noise.IK, kp.SecretKey, pk[:], noise.PeerHandshakePrologue[:])
	if err == nil {
		_, err = hs.Send(nil)
	}
	if errors.Is(err, noise.ErrInvalidKey) {
		why := err.Error()
		if i := strings.LastIndex(why, ": "); i >= 0 {
			why = why[i+2:]
		}
		return usageErrorf("PUBLIC_KEY %q: not an Ed25519 public key: %s", arg, why)
	}
	return nil // anything else, Connect reports
}

// parseNodes parses --nodes: comma-separated IPv4 host:port.
func parseNodes(list string) ([]netip.AddrPort, error) {
	var nodes []netip.AddrPort
	for s := range strings.SplitSeq(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		a, err := netip.ParseAddrPort(s)
		if err != nil || !a.Addr().Is4() || a.Port() == 0 {
			return nil, usageErrorf("--nodes: %q: want an IPv4 address and a port, e.g. 203.0.113.7:49737", s)
		}
		nodes = append(nodes, a)
	}
	if len(nodes) == 0 {
		return nil, usageErrorf("--nodes %q lists no node", list)
	}
	return nodes, nil
}

// connectError explains why a connect bounded by timeout failed; kp is the key pair we
// connected as. The reference's connection errors exit with exitConnect, named by code.
func connectError(ctx context.Context, err error, kp dht.KeyPair, timeout time.Duration) error {
	var ce *dht.ConnError
	switch {
	case ctx.Err() != nil:
		return failf("interrupted while connecting")
	case errors.Is(err, context.DeadlineExceeded):
		return failf("the connect did not finish within %v", timeout).hintf("raise --timeout")
	case !errors.As(err, &ce):
		return failf("connect: %v", err)
	}
	msg := ce.Code + ": " + ce.Msg
	if ce.Err != nil {
		msg += ": " + ce.Err.Error()
	}
	e := &cliError{code: exitConnect, err: fmt.Errorf("connect: %s", msg)}
	switch {
	case errors.Is(err, dht.ErrPeerNotFound):
		e.hintf("no DHT node knows a server with that key: check PUBLIC_KEY, and that the server (e.g. 'hyperlan dht listen') runs on the DHT of --bootstrap")
	case errors.Is(err, dht.ErrPeerConnectionFailed):
		e.hintf("the server was found but no handshake completed: it may have stopped, or its firewall refuses our key %s", kp.String())
	case errors.Is(err, dht.ErrCannotHolepunch), errors.Is(err, dht.ErrHolepunchAborted):
		e.hintf("the server is behind a NAT that no punch got through (both NATs random, or the server is busy punching for another client): retry, or name a blind relay with --relay-through")
	case errors.Is(err, dht.ErrRelayAborted):
		e.hintf("the blind relay could not be reached or did not pair us with the server in time: check its key, and that it runs on the DHT of --bootstrap")
	}
	return e
}

// parseRelays parses the --relay-through lists into a selector; nil for none.
func parseRelays(lists []string) (dht.RelaySelector, error) {
	keys, err := parseKeyLists("--relay-through", lists)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	return dht.Relays(keys...), nil
}

// pathLine is the connected (or upgraded) line of dht connect and the connection (or
// upgraded) line of dht listen: the connection line and how the stream reaches the peer.
type pathLine struct {
	connectionLine
	Path           string  `json:"path"` // direct, lan, holepunch or relay
	Relayed        bool    `json:"relayed"`
	Relay          *string `json:"relay,omitempty"` // the relay's key, while relayed
	LocalFirewall  string  `json:"localFirewall"`
	RemoteFirewall string  `json:"remoteFirewall"`
}

func newPathLine(event string, conn *dht.Conn, info dht.ConnInfo, withOwnKey bool) pathLine {
	l := pathLine{connectionLine: newConnectionLine(event, conn, withOwnKey), Path: info.Path.String(), Relayed: info.Relayed(),
		LocalFirewall: info.LocalFirewall.String(), RemoteFirewall: info.RemoteFirewall.String()}
	if info.Relayed() {
		k := hex32(info.Relay)
		l.Relay = &k
	}
	if info.Remote.IsValid() {
		s := info.Remote.String()
		l.RemoteAddress = &s
	}
	return l
}
