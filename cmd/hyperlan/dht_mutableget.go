package main

import (
	"context"
	"encoding/hex"
	"errors"

	"github.com/hyperlan/hyperlan/dht"
)

const dhtMutableGetUsage = `Usage: hyperlan dht mutable-get --bootstrap HOST:PORT[,HOST:PORT...] [--seq N]
                                [--latest=false] [--hex] [--host IP] [--timeout D] [-v]
                                PUBLIC_KEY

Fetch the value that PUBLIC_KEY (64 hex digits) signed and stored with 'hyperlan dht
mutable-put'. An ephemeral node joins through the bootstrap nodes, asks the nodes
closest to BLAKE2b-256(PUBLIC_KEY), checks every signature, and leaves. It prints

  {"value":"v2","seq":2,"signature":"<128 hex digits>","from":"198.51.100.4:49737"}

with the value as text, or in hex with --hex (use --hex for values that are not UTF-8
text), and the node that returned it.

By default (--latest) it asks all the closest nodes and prints the value with the highest
seq; --latest=false prints the first valid value found, which is faster but may be an
older version.

Flags:
  --bootstrap LIST  bootstrap nodes, comma-separated host:port or ip@hostname:port
                    (required; there is no public default yet)
  --seq N           only accept a value with seq N or higher (default 0)
  --latest          find the highest seq (default true; --latest=false takes the first)
  --hex             print the value in hex
  --host IP         local IPv4 address to listen on (default 0.0.0.0, every interface)
  --timeout D       give up if bootstrapping, or then the search, takes longer than D
                    (default 30s)
  -v                log node activity to stderr

Exit status: 0 when found; 1 if no node has a value ("no record found"), no bootstrap
node answered, it timed out or it was interrupted; 2 for bad flags or a bad PUBLIC_KEY.

Example:
  hyperlan dht mutable-get --bootstrap 203.0.113.7:49737 \
      8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c
`

func runDHTMutableGet(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("dht mutable-get")
	var cf clientFlags
	cf.register(fs)
	var seq seqFlag
	fs.Var(&seq, "seq", "")
	latest := fs.Bool("latest", true, "")
	isHex := fs.Bool("hex", false, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	pk, err := hexArg{
		name: "PUBLIC_KEY", purpose: "the key that signed the value", what: "a 32-byte Ed25519 public key",
		hint: "PUBLIC_KEY is 64 hex digits, as 'hyperlan dht keygen' prints it",
	}.parse(pos)
	if err != nil {
		return err
	}
	boot, err := cf.check()
	if err != nil {
		return err
	}

	return runQuery(ctx, c, &cf, boot, "mutable get", func(qctx context.Context, node *dht.Node) error {
		res, err := node.MutableGet(qctx, pk, &dht.MutableGetOptions{Seq: uint64(seq), First: !*latest})
		if errors.Is(err, dht.ErrNotFound) {
			if seq > 0 {
				return failf("no record found").hintf("no node holds a value of this key with seq %d or higher", seq)
			}
			return failf("no record found").hintf("nodes keep values for 48 hours; check PUBLIC_KEY")
		}
		if err != nil {
			return err
		}
		c.out.write(mutableValueLine{
			Value: valueOut(c, res.Value, *isHex), Seq: res.Seq, Signature: hex.EncodeToString(res.Signature[:]),
			From: res.From.String(),
		})
		return nil
	})
}

type mutableValueLine struct {
	Value     string `json:"value"`
	Seq       uint64 `json:"seq"`
	Signature string `json:"signature"`
	From      string `json:"from"`
}
