package main

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/hyperlan/hyperlan/dht"
)

// seqProbeTimeout bounds the mutable get that looks up the stored seq after a refused put.
const seqProbeTimeout = 10 * time.Second

const dhtMutablePutUsage = `Usage: hyperlan dht mutable-put --bootstrap HOST:PORT[,HOST:PORT...] --key-file FILE
                                [--seq N] [--hex] [--host IP] [--timeout D] [-v] VALUE

Store VALUE in the DHT under the public key of a key pair, signed with its secret key
together with the sequence number N. Anyone can fetch it by the public key ('hyperlan
dht mutable-get PUBLIC_KEY') and check the signature; a new version needs a higher seq.
An ephemeral node joins through the bootstrap nodes, stores the signed value at the
nodes closest to BLAKE2b-256(public key), and leaves. It prints

  {"publicKey":"<hex>","seq":1,"signature":"<128 hex digits>",
   "closestNodes":["198.51.100.4:49737"]}

(on one line), with the nodes that took the value. VALUE is stored as the argument's
bytes (UTF-8 text), or decoded from hex with --hex; it holds at most 1000 bytes, the
most one datagram carries. Nodes keep values for 48 hours.

Nodes refuse a seq lower than the one they hold, and another value under the same seq;
when every node refuses, mutable-put fails and says which seq to use.

Flags:
  --bootstrap LIST  bootstrap nodes, comma-separated host:port or ip@hostname:port
                    (required; there is no public default yet)
  --key-file FILE   key file of the key pair that signs (required; made by
                    'hyperlan dht keygen --out FILE')
  --seq N           sequence number, 0 to 18446744073709551615 (default 0)
  --hex             VALUE is written in hex
  --host IP         local IPv4 address to listen on (default 0.0.0.0, every interface)
  --timeout D       give up if bootstrapping, or then the put, takes longer than D
                    (default 30s)
  -v                log node activity to stderr

Exit status: 0 when stored; 1 if the key file cannot be read, the nodes refused the seq,
no bootstrap node answered, no node took the value, it timed out or it was interrupted;
2 for bad flags or a bad or too large VALUE.

Examples:
  hyperlan dht mutable-put --bootstrap 203.0.113.7:49737 --key-file me.key --seq 1 'v1'
  hyperlan dht mutable-put --bootstrap 203.0.113.7:49737 --key-file me.key --seq 2 'v2'
`

func runDHTMutablePut(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("dht mutable-put")
	var sf signerFlags
	sf.register(fs)
	var seq seqFlag
	fs.Var(&seq, "seq", "")
	isHex := fs.Bool("hex", false, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	value, err := valueArg(pos, *isHex)
	if err != nil {
		return err
	}
	boot, kp, err := sf.check(c)
	if err != nil {
		return err
	}

	return runQuery(ctx, c, &sf.clientFlags, boot, "mutable put", func(qctx context.Context, node *dht.Node) error {
		res, err := node.MutablePut(qctx, kp, value, &dht.MutablePutOptions{Seq: uint64(seq)})
		switch {
		case ctx.Err() == nil && errors.Is(err, dht.ErrSeqTooLow):
			return seqHint(ctx, node, kp, failf("the nodes refused seq %d: they hold a higher seq for this key", seq))
		case ctx.Err() == nil && errors.Is(err, dht.ErrSeqReused):
			return seqHint(ctx, node, kp, failf("the nodes refused seq %d: they hold another value under it", seq))
		case err != nil:
			return err
		}
		c.out.write(mutablePutLine{
			PublicKey: hex32(res.PublicKey), Seq: res.Seq, Signature: hex.EncodeToString(res.Signature[:]),
			ClosestNodes: addrStrings(res.ClosestNodes),
		})
		return nil
	})
}

// seqHint adds to a refused put which seq to use instead, from a look at what the nodes hold.
func seqHint(ctx context.Context, node *dht.Node, kp dht.KeyPair, refused *cliError) error {
	gctx, cancel := context.WithTimeout(ctx, seqProbeTimeout)
	defer cancel()
	if m, err := node.MutableGet(gctx, kp.PublicKey, nil); err == nil && m.Seq < ^uint64(0) {
		return refused.hintf("use a --seq higher than %d", m.Seq)
	}
	return refused.hintf("use a higher --seq; 'hyperlan dht mutable-get %s' shows the stored one", kp)
}

// seqFlag is the value of a --seq flag.
type seqFlag uint64

func (s *seqFlag) String() string { return strconv.FormatUint(uint64(*s), 10) }

func (s *seqFlag) Set(v string) error {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return errors.New("want a whole number from 0 to 18446744073709551615")
	}
	*s = seqFlag(n)
	return nil
}

type mutablePutLine struct {
	PublicKey    string   `json:"publicKey"`
	Seq          uint64   `json:"seq"`
	Signature    string   `json:"signature"`
	ClosestNodes []string `json:"closestNodes"`
}
