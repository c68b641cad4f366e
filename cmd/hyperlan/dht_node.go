package main

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

const dhtNodeUsage = `Usage: hyperlan dht node --bootstrap HOST:PORT[,HOST:PORT...] [--host IP] [--port PORT]
                         [--persistent | --ephemeral] [--timeout D] [-v]

Join a DHT through its bootstrap nodes and keep serving it: answer FIND_NODE queries and,
once persistent, keep announcements and values for others. When the node has
bootstrapped it prints one JSON line,

  {"event":"ready","host":"198.51.100.4","port":49737,"id":"<64 hex digits>",
   "firewalled":false,"ephemeral":false}

(on one line), where host and port are the node's public address once other nodes have
reported it, else its local address, and id is null while the node is ephemeral. As they
happen, also before "ready", it prints

  {"event":"nat-update","host":"198.51.100.4","port":49737}  public address changed
  {"event":"persistent","host":...,"port":...,"id":...}      now serves others, has an id
  {"event":"ephemeral"}                                      stopped serving (after a sleep)

and on SIGINT or SIGTERM it leaves, prints {"event":"close"} and exits 0.

Modes: an adaptive node (the default) starts ephemeral, querying without serving, and
becomes persistent after about 20 minutes of stable uptime if others can reach it.
--persistent tries to serve from the start (and stays ephemeral if others cannot reach
it); --ephemeral never serves.

Flags:
  --bootstrap LIST  bootstrap nodes, comma-separated host:port or ip@hostname:port
                    (required; there is no public default yet)
  --host IP         local IPv4 address to listen on (default 0.0.0.0, every interface)
  --port PORT       UDP port to listen on, which must be free (default 0: 49737, else the
                    first free one of 49738-49741, else any free port)
  --persistent      serve others from the start
  --ephemeral       never serve others
  --timeout D       give up if bootstrapping takes longer than D (default 30s)
  -v                log node activity to stderr

Exit status: 0 after a clean stop; 1 if no bootstrap node answered, bootstrapping timed
out or the port is taken; 2 for bad flags.

Examples:
  # A long-running node on a server with a public address:
  hyperlan dht node --bootstrap 203.0.113.7:49737 --port 49738 --persistent

  # Join a test network on this machine:
  hyperlan dht node --bootstrap 127.0.0.1:10001 --host 127.0.0.1 --persistent
`

func runDHTNode(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("dht node")
	var sf serveFlags
	sf.register(fs)
	persistent := fs.Bool("persistent", false, "")
	ephemeral := fs.Bool("ephemeral", false, "")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	boot, err := sf.check()
	if err != nil {
		return err
	}
	mode := rpc.ModeAdaptive
	switch {
	case *persistent && *ephemeral:
		return usageErrorf("--persistent and --ephemeral exclude each other").
			hintf("leave both out for an adaptive node")
	case *persistent:
		mode = rpc.ModePersistent
	case *ephemeral:
		mode = rpc.ModeEphemeral
	}

	pump := newEventPump()
	opts := dht.Options{
		Bootstrap: boot,
		Host:      sf.host,
		Port:      sf.port,
		Mode:      mode,
		Logger:    newLogger(c.stderr, sf.verbose),
		OnEvent:   pump.onEvent,
	}
	var probe *portProbe
	if sf.port != 0 {
		probe = &portProbe{want: net.JoinHostPort(sf.host, strconv.Itoa(sf.port))}
		opts.ListenPacket = probe.listen
	}
	node, err := dht.New(opts)
	if err != nil {
		pump.stop()
		return listenError(err, sf.host, sf.port)
	}
	if probe != nil && int(node.LocalAddr().Port()) != sf.port {
		node.Destroy(context.Background(), dht.DestroyOptions{})
		pump.stop()
		return listenError(probe.failure(), sf.host, sf.port)
	}
	pump.start(node.RPC(), c.out)
	defer func() {
		node.Destroy(context.Background(), dht.DestroyOptions{})
		pump.stop()
	}()

	if err := join(ctx, node.RPC(), boot, sf.timeout); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while joining: a clean stop
		}
		return err
	}
	r := node.RPC()
	a := nodeAddr(r)
	id, hasID := node.ID()
	c.out.write(readyLine{
		Event: "ready", Host: a.Addr().String(), Port: a.Port(), ID: hexID(id, hasID),
		Firewalled: r.Firewalled(), Ephemeral: r.Ephemeral(),
	})
	<-ctx.Done()
	node.Destroy(context.Background(), dht.DestroyOptions{})
	pump.stop()
	c.out.write(eventLine{"close"})
	return nil
}

// portProbe opens the node's sockets and remembers why binding the --port address failed:
// dht.New falls back to another port where the command promises --port or nothing.
type portProbe struct {
	want string // host:port of --host and --port

	mu  sync.Mutex
	err error // guarded by mu: the first failure to bind want
}

func (p *portProbe) listen(network, address string) (net.PacketConn, error) {
	pc, err := net.ListenPacket(network, address)
	if err != nil && address == p.want {
		p.mu.Lock()
		if p.err == nil {
			p.err = err
		}
		p.mu.Unlock()
	}
	return pc, err
}

// failure returns why the --port address could not be bound.
func (p *portProbe) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		return errors.New("the node bound another port") // not seen: dht.New always tries --port first
	}
	return p.err
}
