package main

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// defaultBootstrapPort is the port HyperDHT bootstrap nodes conventionally use.
const defaultBootstrapPort = 49737

const dhtBootstrapUsage = `Usage: hyperlan dht bootstrap --host IP [--port PORT] [--bind IP] [-v]

Run a bootstrap node: a DHT node at a fixed public address that new nodes contact first
to join. It is persistent from the first moment, keeps records for others like any
persistent node, and has no bootstrap list of its own.
Its id is derived from the public host and port, so --host must be the exact IPv4
address other nodes reach it at.

Once listening it prints one JSON line,

  {"event":"listening","host":"203.0.113.7","port":49737,"id":"<64 hex digits>"}

and serves until SIGINT or SIGTERM; then it prints {"event":"close"} and exits 0.

Flags:
  --host IP     public IPv4 address other nodes reach this node at (required)
  --port PORT   UDP port to listen on and announce (default 49737); 0 picks a free port
  --bind IP     local IPv4 address to listen on (default 0.0.0.0, every interface)
  -v            log node activity to stderr

Exit status: 0 after a clean stop, 1 if the port cannot be bound, 2 for bad flags.

Examples:
  # On a server whose public address is 203.0.113.7:
  hyperlan dht bootstrap --host 203.0.113.7

  # Behind a 1:1 NAT: listen on the private address, announce the public one:
  hyperlan dht bootstrap --host 203.0.113.7 --bind 10.0.0.5

  # A test network on this machine only:
  hyperlan dht bootstrap --host 127.0.0.1 --bind 127.0.0.1 --port 10001
`

func runDHTBootstrap(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("dht bootstrap")
	host := fs.String("host", "", "")
	port := fs.Int("port", defaultBootstrapPort, "")
	bind := fs.String("bind", "0.0.0.0", "")
	verbose := fs.Bool("v", false, "")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	if *host == "" {
		return usageErrorf("--host is required").
			hintf("pass the public IPv4 address other nodes reach this machine at, e.g. --host 203.0.113.7")
	}
	if ip, err := netip.ParseAddr(*host); err != nil || !ip.Is4() || ip.IsUnspecified() {
		return usageErrorf("--host %q: want the public IPv4 address of this node", *host).
			hintf("use --bind, not --host, to choose the local address to listen on")
	}
	if err := checkPort("port", *port, true); err != nil {
		return err
	}
	if err := checkBindHost("bind", *bind); err != nil {
		return err
	}

	node, err := dht.Bootstrapper(*port, *host, dht.Options{Host: *bind, Logger: newLogger(c.stderr, *verbose)})
	if err != nil {
		return listenError(err, *bind, *port)
	}
	defer node.Destroy(context.Background(), dht.DestroyOptions{})
	if err := node.Ready(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it was ready: still a clean stop
		}
		return failf("bootstrap node: %v", err)
	}
	c.out.write(nodeLine{"listening", *host, node.LocalAddr().Port(), hexID(node.ID())})
	<-ctx.Done()
	node.Destroy(context.Background(), dht.DestroyOptions{})
	c.out.write(eventLine{"close"})
	return nil
}

// startBootstrapper starts a dht-rpc bootstrap node (the demo's; it keeps no records) that
// binds bind:port and announces host:port; port 0 picks a free port, which it announces.
func startBootstrapper(host, bind string, port int, opts rpc.Options) (*rpc.Node, error) {
	opts.Host = bind
	node, err := rpc.Bootstrapper(port, host, opts)
	if err != nil {
		return nil, listenError(err, bind, port)
	}
	return node, nil
}

// listenError explains a failure to open a node's sockets.
func listenError(err error, bind string, port int) error {
	addr := net.JoinHostPort(bind, strconv.Itoa(port))
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return failf("cannot listen on UDP %s: address already in use", addr).
			hintf("another process (maybe another hyperlan) uses the port; pick another --port")
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return failf("cannot listen on UDP %s: not an address of this machine", addr).
			hintf("--bind takes a local address, or 0.0.0.0 for every interface")
	case errors.Is(err, syscall.EACCES):
		return failf("cannot listen on UDP %s: permission denied", addr)
	}
	return failf("cannot listen on UDP %s: %v", addr, err)
}
