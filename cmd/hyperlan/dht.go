package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

func dhtCommand() *command {
	return &command{
		name:    "dht",
		summary: "run and query HyperDHT nodes",
		usage:   dhtUsage,
		subs: []*command{
			{name: "bootstrap", summary: "run a bootstrap node", usage: dhtBootstrapUsage, run: runDHTBootstrap},
			{name: "node", summary: "join a DHT and serve it", usage: dhtNodeUsage, run: runDHTNode},
			{name: "find-node", summary: "look up the nodes closest to an id", usage: dhtFindNodeUsage, run: runDHTFindNode},
			{name: "keygen", summary: "make a key pair for announce and mutable-put", usage: dhtKeygenUsage, run: runDHTKeygen},
			{name: "announce", summary: "announce a key on a topic until stopped", usage: dhtAnnounceUsage, run: runDHTAnnounce},
			{name: "unannounce", summary: "withdraw a key's announcement on a topic", usage: dhtUnannounceUsage, run: runDHTUnannounce},
			{name: "lookup", summary: "list the keys announced on a topic", usage: dhtLookupUsage, run: runDHTLookup},
			{name: "immutable-put", summary: "store a value under its hash", usage: dhtImmutablePutUsage, run: runDHTImmutablePut},
			{name: "immutable-get", summary: "fetch a value by its hash", usage: dhtImmutableGetUsage, run: runDHTImmutableGet},
			{name: "mutable-put", summary: "store a signed value under a public key", usage: dhtMutablePutUsage, run: runDHTMutablePut},
			{name: "mutable-get", summary: "fetch the signed value of a public key", usage: dhtMutableGetUsage, run: runDHTMutableGet},
			{name: "listen", summary: "accept encrypted connections to a key pair", usage: dhtListenUsage, run: runDHTListen},
			{name: "connect", summary: "connect to a key pair and pipe stdin and stdout", usage: dhtConnectUsage, run: runDHTConnect},
			{name: "relay", summary: "serve as a blind relay for peers that cannot connect directly", usage: dhtRelayUsage, run: runDHTRelay},
		},
	}
}

const dhtUsage = `Usage: hyperlan dht <command> [flags]

Run and query HyperDHT nodes (IPv4 over UDP). A DHT is joined through one or more
bootstrap nodes; each persistent node answers FIND_NODE queries for the nodes it knows
closest (by XOR distance) to a 32-byte id, and keeps records for others: keys announced
on topics, and values stored under their hash or signed under a public key. Key pairs
also accept and open end-to-end encrypted connections (Noise IK, then secret-stream
over UDX), found through the DHT by public key.

Commands:
  bootstrap       run a bootstrap node at a public IPv4 address
  node            join a DHT through bootstrap nodes and serve it
  find-node       look up the nodes closest to a 32-byte id
  keygen          make a key pair (a key file) for announce and mutable-put
  announce        announce a key on a topic until stopped
  unannounce      withdraw a key's announcement on a topic
  lookup          list the keys announced on a topic
  immutable-put   store a value under its BLAKE2b-256 hash
  immutable-get   fetch a value by its hash
  mutable-put     store a value signed by a key pair, with a sequence number
  mutable-get     fetch the signed value of a public key
  listen          accept encrypted connections to a key pair (echo, or netcat style)
  connect         connect to a key pair and pipe stdin and stdout, netcat style
  relay           serve as a blind relay for peers that cannot connect directly

Every command takes --help and prints JSON lines on stdout; where stdout carries a
connection's bytes (connect, and listen without --echo) the JSON lines go to stderr.
Keys, hashes and topics are written as 64 hex digits.

Examples:
  hyperlan dht bootstrap --host 203.0.113.7
  hyperlan dht node --bootstrap 203.0.113.7:49737 --persistent
  hyperlan dht keygen --out me.key
  hyperlan dht mutable-put --bootstrap 203.0.113.7:49737 --key-file me.key --seq 1 hello
  hyperlan dht listen --bootstrap 203.0.113.7:49737 --key-file me.key --echo
  echo hi | hyperlan dht connect --bootstrap 203.0.113.7:49737 <public key of me.key>
`

// defaultTimeout bounds the wait for a node to finish bootstrapping.
const defaultTimeout = 30 * time.Second

// joinFlags are the flags of the commands that join a DHT (node, find-node).
type joinFlags struct {
	bootstrap string
	timeout   time.Duration
	verbose   bool
}

func (f *joinFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.bootstrap, "bootstrap", "", "")
	fs.DurationVar(&f.timeout, "timeout", defaultTimeout, "")
	fs.BoolVar(&f.verbose, "v", false, "")
}

// bootstrapList checks --bootstrap and --timeout and returns the parsed bootstrap list.
func (f *joinFlags) bootstrapList() ([]rpc.BootstrapNode, error) {
	if f.timeout <= 0 {
		return nil, usageErrorf("--timeout %v: must be positive", f.timeout)
	}
	if strings.TrimSpace(f.bootstrap) == "" {
		return nil, usageErrorf("--bootstrap is required").
			hintf("pass the bootstrap nodes of your DHT, e.g. --bootstrap 203.0.113.7:49737,198.51.100.2:49737").
			hintf("there is no public default yet; start one with 'hyperlan dht bootstrap'")
	}
	list, err := rpc.ParseBootstrapList(f.bootstrap)
	if err != nil {
		return nil, usageErrorf("--bootstrap: %s", strings.TrimPrefix(err.Error(), "rpc: ")).
			hintf("each entry is host:port or ip@hostname:port; separate entries with commas")
	}
	if len(list) == 0 {
		return nil, usageErrorf("--bootstrap %q lists no node", f.bootstrap)
	}
	return list, nil
}

// serveFlags are the flags of the commands that run a node for as long as they serve (node,
// listen): joinFlags and the local address.
type serveFlags struct {
	joinFlags
	host string
	port int
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.joinFlags.register(fs)
	fs.StringVar(&f.host, "host", "0.0.0.0", "")
	fs.IntVar(&f.port, "port", 0, "")
}

// check validates the flags and returns the bootstrap list.
func (f *serveFlags) check() ([]rpc.BootstrapNode, error) {
	boot, err := f.bootstrapList()
	if err != nil {
		return nil, err
	}
	if err := checkBindHost("host", f.host); err != nil {
		return nil, err
	}
	if err := checkPort("port", f.port, true); err != nil {
		return nil, err
	}
	return boot, nil
}

// checkPort validates a port flag; zero is allowed when it means "pick a free port".
func checkPort(name string, port int, zeroOK bool) error {
	lo := 1
	if zeroOK {
		lo = 0
	}
	if port < lo || port > 65535 {
		return usageErrorf("--%s %d: out of range %d-65535", name, port, lo)
	}
	return nil
}

// checkBindHost validates an address to bind: an IPv4 literal.
func checkBindHost(name, host string) error {
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Is4() {
		return usageErrorf("--%s %q: want an IPv4 address", name, host).
			hintf("use 0.0.0.0 to listen on every interface")
	}
	return nil
}

// newLogger returns the node logger: debug-level text on stderr with -v, else nil (silent).
func newLogger(stderr io.Writer, verbose bool) *slog.Logger {
	if !verbose {
		return nil
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// join waits, at most timeout, for node to finish bootstrapping, and fails when no bootstrap
// node answered. A cancelled ctx (a signal) returns ctx's error.
func join(ctx context.Context, node *rpc.Node, boot []rpc.BootstrapNode, timeout time.Duration) error {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := node.Ready(tctx)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		if noAnswer(node) {
			return noBootstrapError(boot)
		}
		return failf("the node did not finish bootstrapping within %v", timeout).
			hintf("raise --timeout, or run with -v to see what it is doing")
	case err != nil:
		return failf("bootstrap: %v", err)
	}
	if noAnswer(node) {
		return noBootstrapError(boot)
	}
	return nil
}

// noAnswer reports whether the node has heard from nobody: an empty routing table and no
// response to any request. (rpc does not say whether the bootstrap query itself got a reply;
// a node that heard nothing at all certainly did not.)
func noAnswer(node *rpc.Node) bool {
	return node.TableSize() == 0 && node.Stats().Requests.Responses == 0
}

func noBootstrapError(boot []rpc.BootstrapNode) error {
	tried := make([]string, len(boot))
	for i, b := range boot {
		tried[i] = b.String()
	}
	return failf("no bootstrap node answered (tried %s)", strings.Join(tried, ", ")).
		hintf("check the addresses, and that UDP to them is not blocked")
}

// nodeAddr is the address a node reports: its public address when the NAT sampler knows it
// (with a port), else the server socket's local address.
func nodeAddr(node *rpc.Node) netip.AddrPort {
	if a := node.PublicAddr(); a.IsValid() && a.Port() != 0 {
		return a
	}
	return node.LocalAddr()
}

// hexID returns the id in hex, or nil (JSON null) when there is none.
func hexID(id ktable.ID, ok bool) *string {
	if !ok {
		return nil
	}
	s := id.String()
	return &s
}

// Output lines of the dht commands. Field order is the order on the wire.
type (
	nodeLine struct {
		Event string  `json:"event"` // "listening", "persistent"
		Host  string  `json:"host"`
		Port  uint16  `json:"port"`
		ID    *string `json:"id"`
	}
	readyLine struct {
		Event      string  `json:"event"` // "ready"
		Host       string  `json:"host"`
		Port       uint16  `json:"port"`
		ID         *string `json:"id"`
		Firewalled bool    `json:"firewalled"`
		Ephemeral  bool    `json:"ephemeral"`
	}
	natUpdateLine struct {
		Event string  `json:"event"` // "nat-update"
		Host  *string `json:"host"`  // null when the address became unknown
		Port  uint16  `json:"port"`  // 0 behind a NAT that randomizes ports
	}
	eventLine struct {
		Event string `json:"event"` // "ephemeral", "close"
	}
)

// eventPump prints the node events a user acts on (persistent, ephemeral, nat-update) as
// JSON lines. rpc may call OnEvent before rpc.New has returned the node, so the callback only
// queues the event; the pump's goroutine, started once the node exists, prints it.
type eventPump struct {
	ch      chan rpc.Event
	done    chan struct{}
	started bool // set and read by the command's goroutine only
	stopped bool // likewise
}

func newEventPump() *eventPump {
	return &eventPump{ch: make(chan rpc.Event, 16), done: make(chan struct{})}
}

// onEvent is the node's Options.OnEvent.
func (p *eventPump) onEvent(ev rpc.Event) {
	switch ev.Kind {
	case rpc.EventPersistent, rpc.EventEphemeral, rpc.EventNATUpdate:
		p.ch <- ev // the pump drains until stop, which runs after Destroy
	}
}

func (p *eventPump) start(node *rpc.Node, out *jsonLines) {
	p.started = true
	go func() {
		defer close(p.done)
		for ev := range p.ch {
			switch ev.Kind {
			case rpc.EventPersistent:
				a := nodeAddr(node)
				out.write(nodeLine{"persistent", a.Addr().String(), a.Port(), hexID(node.ID())})
			case rpc.EventEphemeral:
				out.write(eventLine{"ephemeral"})
			case rpc.EventNATUpdate:
				line := natUpdateLine{Event: "nat-update", Port: ev.Addr.Port()}
				if ev.Addr.IsValid() {
					h := ev.Addr.Addr().String()
					line.Host = &h
				}
				out.write(line)
			}
		}
	}()
}

// stop waits for the pump to print what is queued. Call it after node.Destroy, which
// guarantees no more OnEvent calls. Later calls do nothing.
func (p *eventPump) stop() {
	if p.stopped {
		return
	}
	p.stopped = true
	close(p.ch)
	if p.started {
		<-p.done
	}
}
