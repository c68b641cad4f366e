package main

import (
	"context"

	"github.com/hyperlan/hyperlan/dht"
)

const dhtImmutablePutUsage = `Usage: hyperlan dht immutable-put --bootstrap HOST:PORT[,HOST:PORT...] [--hex] [--host IP]
                                  [--timeout D] [-v] VALUE

Store VALUE in the DHT under its BLAKE2b-256 hash, which anyone can then fetch it by
('hyperlan dht immutable-get HASH'). An ephemeral node joins through the bootstrap nodes,
stores the value at the nodes closest to the hash, and leaves. It prints

  {"hash":"<64 hex digits>","closestNodes":["198.51.100.4:49737"]}

with the nodes that took the value. VALUE is stored as the argument's bytes (UTF-8
text), or decoded from hex with --hex; it holds at most 1000 bytes, the most one
datagram carries. Nodes keep values for 48 hours.

Flags:
  --bootstrap LIST  bootstrap nodes, comma-separated host:port or ip@hostname:port
                    (required; there is no public default yet)
  --hex             VALUE is written in hex
  --host IP         local IPv4 address to listen on (default 0.0.0.0, every interface)
  --timeout D       give up if bootstrapping, or then the put, takes longer than D
                    (default 30s)
  -v                log node activity to stderr

Exit status: 0 when stored; 1 if no bootstrap node answered, no node took the value, it
timed out or it was interrupted; 2 for bad flags or a bad or too large VALUE.

Examples:
  hyperlan dht immutable-put --bootstrap 203.0.113.7:49737 'hello, world'
  hyperlan dht immutable-put --bootstrap 127.0.0.1:10001 --hex 00ff10
`

func runDHTImmutablePut(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("dht immutable-put")
	var cf clientFlags
	cf.register(fs)
	isHex := fs.Bool("hex", false, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	value, err := valueArg(pos, *isHex)
	if err != nil {
		return err
	}
	boot, err := cf.check()
	if err != nil {
		return err
	}

	return runQuery(ctx, c, &cf, boot, "immutable put", func(qctx context.Context, node *dht.Node) error {
		res, err := node.ImmutablePut(qctx, value)
		if err != nil {
			return err
		}
		c.out.write(immutablePutLine{Hash: hex32(res.Hash), ClosestNodes: addrStrings(res.ClosestNodes)})
		return nil
	})
}

type immutablePutLine struct {
	Hash         string   `json:"hash"`
	ClosestNodes []string `json:"closestNodes"`
}
