package main

import (
	"context"
	"errors"

	"github.com/hyperlan/hyperlan/dht"
)

const dhtImmutableGetUsage = `Usage: hyperlan dht immutable-get --bootstrap HOST:PORT[,HOST:PORT...] [--hex] [--host IP]
                                  [--timeout D] [-v] HASH

Fetch the value stored under HASH, the BLAKE2b-256 hash of the value written as 64 hex
digits (what 'hyperlan dht immutable-put' prints). An ephemeral node joins through the
bootstrap nodes, asks the nodes closest to the hash until one returns a value that
matches it, and leaves. It prints

  {"value":"hello, world","from":"198.51.100.4:49737"}

with the value as text, or in hex with --hex (use --hex for values that are not UTF-8
text), and the node that returned it.

Flags:
  --bootstrap LIST  bootstrap nodes, comma-separated host:port or ip@hostname:port
                    (required; there is no public default yet)
  --hex             print the value in hex
  --host IP         local IPv4 address to listen on (default 0.0.0.0, every interface)
  --timeout D       give up if bootstrapping, or then the search, takes longer than D
                    (default 30s)
  -v                log node activity to stderr

Exit status: 0 when found; 1 if no node has the value ("no record found"), no bootstrap
node answered, it timed out or it was interrupted; 2 for bad flags or a bad HASH.

Example:
  hyperlan dht immutable-get --bootstrap 203.0.113.7:49737 \
      4f1c0a9e3d2b8c7a6f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a19080
`

func runDHTImmutableGet(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("dht immutable-get")
	var cf clientFlags
	cf.register(fs)
	isHex := fs.Bool("hex", false, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	hash, err := hexArg{
		name: "HASH", purpose: "the hash of the value", what: "a 32-byte BLAKE2b-256 hash",
		hint: "HASH is 64 hex digits, as 'hyperlan dht immutable-put' prints it",
	}.parse(pos)
	if err != nil {
		return err
	}
	boot, err := cf.check()
	if err != nil {
		return err
	}

	return runQuery(ctx, c, &cf, boot, "immutable get", func(qctx context.Context, node *dht.Node) error {
		res, err := node.ImmutableGet(qctx, hash)
		if errors.Is(err, dht.ErrNotFound) {
			return failf("no record found").hintf("nodes keep values for 48 hours; check HASH")
		}
		if err != nil {
			return err
		}
		c.out.write(valueLine{Value: valueOut(c, res.Value, *isHex), From: res.From.String()})
		return nil
	})
}

type valueLine struct {
	Value string `json:"value"`
	From  string `json:"from"`
}
