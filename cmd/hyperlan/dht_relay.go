package main

import (
	"context"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

const dhtRelayUsage = `Usage: hyperlan dht relay --bootstrap HOST:PORT[,HOST:PORT...] [--key-file FILE]
                          [--host IP] [--port PORT] [--timeout D] [-v]

Serve as a blind relay: two peers that cannot reach each other directly, as when both are
behind NATs that give a new port to every destination, both connect here and their
encrypted streams are forwarded between them; the relay cannot read them. Peers name the
relay by its public key, with --relay-through on 'hyperlan dht connect' and 'hyperlan dht
listen' (or the reference's relayThrough option), and are found through the DHT like any
server. A relayed connection leaves the relay when its peers punch through later. The
node joins as a persistent node, so run it where peers can reach it without holepunching
(a public address).

Once it listens it prints one JSON line,

  {"event":"listening","publicKey":"<hex>","host":"203.0.113.7","port":49737}

where publicKey is what peers name, and host and port are the node's public address once
other nodes have reported it, else its local address. On SIGINT or SIGTERM it ends every
relayed stream, unannounces the key (for at most 10s), leaves the DHT, prints

  {"event":"close","sessions":3,"pairings":1}

(peers that connected, and pairs of streams joined) and exits 0.

Flags:
  --bootstrap LIST  bootstrap nodes, comma-separated host:port or ip@hostname:port
                    (required; there is no public default yet)
  --key-file FILE   key file of the relay's key pair (default: a random key pair, so a
                    new key each run; make one with 'hyperlan dht keygen --out FILE')
  --host IP         local IPv4 address to listen on (default 0.0.0.0, every interface)
  --port PORT       UDP port to listen on, which must be free (default 0: 49737, else
                    the first free one of 49738-49741, else any free port)
  --timeout D       give up if bootstrapping, or then the first announcement, takes
                    longer than D (default 30s)
  -v                log node activity to stderr

Exit status: 0 after a clean stop; 1 if the key file cannot be read, no bootstrap node
answered, the port is taken or the first announcement failed; 2 for bad flags.

Examples:
  hyperlan dht keygen --out relay.key
  hyperlan dht relay --bootstrap 203.0.113.7:49737 --key-file relay.key
`

func runDHTRelay(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("dht relay")
	var sf serveFlags
	sf.register(fs)
	keyFile := fs.String("key-file", "", "")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	boot, err := sf.check()
	if err != nil {
		return err
	}
	kp, err := readOptionalKeyFile(c, *keyFile)
	if err != nil {
		return err
	}

	node, err := sf.newNode(c, boot, rpc.ModePersistent)
	if err != nil {
		return err
	}
	defer node.Destroy(context.Background(), dht.DestroyOptions{})
	if err := join(ctx, node.RPC(), boot, sf.timeout); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while joining: a clean stop
		}
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, sf.timeout)
	relay, err := node.ServeBlindRelay(lctx, kp)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return queryError(ctx, "first announcement", err, sf.timeout)
	}
	addr := nodeAddr(node.RPC())
	c.out.write(listeningLine{Event: "listening", PublicKey: hex32(relay.PublicKey()), Host: addr.Addr().String(), Port: addr.Port()})

	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), serverCloseTimeout)
	relay.Close(cctx)
	cancel()
	st := relay.Stats()
	c.out.write(relayCloseLine{Event: "close", Sessions: st.SessionsAccepted, Pairings: st.PairingsMatched})
	return nil
}

// newNode starts the node of a command that serves on --host and --port (listen, relay).
func (f *serveFlags) newNode(c *cli, boot []rpc.BootstrapNode, mode rpc.Mode) (*dht.Node, error) {
	node, err := dht.New(dht.Options{
		Bootstrap: boot,
		Host:      f.host,
		Port:      f.port,
		FixedPort: f.port != 0,
		Mode:      mode,
		Logger:    newLogger(c.stderr, f.verbose),
	})
	if err != nil {
		return nil, listenError(err, f.host, f.port)
	}
	return node, nil
}

// readOptionalKeyFile reads the key pair of a --key-file that may be left out: the zero
// value then, which means the node's random default key pair.
func readOptionalKeyFile(c *cli, path string) (dht.KeyPair, error) {
	if path == "" {
		return dht.KeyPair{}, nil
	}
	return readKeyFile(c, path)
}

type relayCloseLine struct {
	Event    string `json:"event"` // "close"
	Sessions int    `json:"sessions"`
	Pairings int    `json:"pairings"`
}
