package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/blake2b"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// This file holds what the record commands (announce, unannounce, lookup, immutable-put,
// immutable-get, mutable-put, mutable-get) share: each runs one ephemeral HyperDHT node
// that joins, queries and leaves.

// clientFlags are the flags of the commands that run queries on an ephemeral node.
type clientFlags struct {
	joinFlags
	host string
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	f.joinFlags.register(fs)
	fs.StringVar(&f.host, "host", "0.0.0.0", "")
}

// check validates the flags and returns the bootstrap list.
func (f *clientFlags) check() ([]rpc.BootstrapNode, error) {
	boot, err := f.bootstrapList()
	if err != nil {
		return nil, err
	}
	if err := checkBindHost("host", f.host); err != nil {
		return nil, err
	}
	return boot, nil
}

// signerFlags are the flags of the commands that sign with a key pair (announce,
// unannounce, mutable-put).
type signerFlags struct {
	clientFlags
	keyFile string
}

func (f *signerFlags) register(fs *flag.FlagSet) {
	f.clientFlags.register(fs)
	fs.StringVar(&f.keyFile, "key-file", "", "")
}

// check validates the flags, then reads the key pair: every usage error (exit 2) comes
// before a key file that cannot be read (exit 1).
func (f *signerFlags) check(c *cli) ([]rpc.BootstrapNode, dht.KeyPair, error) {
	if err := requireKeyFile(f.keyFile); err != nil {
		return nil, dht.KeyPair{}, err
	}
	boot, err := f.clientFlags.check()
	if err != nil {
		return nil, dht.KeyPair{}, err
	}
	kp, err := readKeyFile(c, f.keyFile)
	if err != nil {
		return nil, dht.KeyPair{}, err
	}
	return boot, kp, nil
}

// startClient starts an ephemeral HyperDHT node, which never serves others, and waits for
// it to join. The caller destroys the node when err is nil. A cancelled ctx returns ctx's
// error; the caller decides whether that is a failure.
func startClient(ctx context.Context, c *cli, f *clientFlags, boot []rpc.BootstrapNode) (*dht.Node, error) {
	// Port 0 makes the node try 49737-49741 before any free port: harmless for a client
	// that serves nobody, and several clients on one machine simply fall through.
	node, err := dht.New(dht.Options{
		Bootstrap: boot,
		Host:      f.host,
		Mode:      rpc.ModeEphemeral,
		Logger:    newLogger(c.stderr, f.verbose),
	})
	if err != nil {
		return nil, listenError(err, f.host, 0)
	}
	if err := join(ctx, node.RPC(), boot, f.timeout); err != nil {
		node.Destroy(context.Background(), dht.DestroyOptions{})
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return node, nil
}

// destroy stops a client node.
func destroy(node *dht.Node) {
	node.Destroy(context.Background(), dht.DestroyOptions{})
}

// errInterruptedJoin is what a one-shot command reports when a signal stops it while joining.
func errInterruptedJoin() error {
	return failf("interrupted while joining the DHT")
}

// runQuery is the life of a one-shot record command: it starts an ephemeral node (see
// startClient), runs query with a context bounded by --timeout, and destroys the node.
// query prints the command's output itself and returns a *cliError for the failures it
// explains itself (no record found, a refused seq); runQuery explains any other error with
// queryError, naming the operation op.
func runQuery(ctx context.Context, c *cli, f *clientFlags, boot []rpc.BootstrapNode, op string,
	query func(qctx context.Context, node *dht.Node) error) error {
	node, err := startClient(ctx, c, f, boot)
	if err != nil {
		if ctx.Err() != nil {
			return errInterruptedJoin()
		}
		return err
	}
	defer destroy(node)
	qctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	err = query(qctx, node)
	var ce *cliError
	if err == nil || errors.As(err, &ce) {
		return err
	}
	return queryError(ctx, op, err, f.timeout)
}

// queryError explains why op ("lookup", "immutable put", ...), bounded by timeout, failed.
func queryError(ctx context.Context, op string, err error, timeout time.Duration) error {
	switch {
	case ctx.Err() != nil:
		return failf("interrupted during the %s", op)
	case errors.Is(err, context.DeadlineExceeded):
		return failf("the %s did not finish within %v", op, timeout).hintf("raise --timeout")
	case errors.Is(err, dht.ErrNoStoringNodes):
		return failf("%s: no DHT node took the request", op).
			hintf("records are kept by persistent nodes; start some with 'hyperlan dht node --persistent'")
	case errors.Is(err, dht.ErrNotFound):
		return failf("no record found")
	}
	return failf("%s: %v", op, err)
}

// parseHex32 parses a 32-byte argument written as 64 hex digits; name is how the usage
// calls it (TOPIC, --seed) and what says what it is ("a 32-byte topic").
func parseHex32(name, what, s string) ([32]byte, error) {
	var b [32]byte
	if len(s) != 2*len(b) {
		return b, usageErrorf("%s %q: want 64 hex digits (%s), got %d characters", name, s, what, len(s))
	}
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		var bad hex.InvalidByteError
		if errors.As(err, &bad) {
			return b, usageErrorf("%s %q: %q is not a hex digit", name, s, rune(bad))
		}
		return b, usageErrorf("%s %q: not hex: %v", name, s, err)
	}
	return b, nil
}

// hexArg is the one positional argument of a command that takes 64 hex digits (HASH,
// PUBLIC_KEY, TARGET).
type hexArg struct {
	name    string // as the usage spells it: "HASH"
	purpose string // what it is for, in the error when it is missing: "the hash of the value"
	what    string // what its 32 bytes are, for parseHex32: "a 32-byte BLAKE2b-256 hash"
	hint    string // the hint when it is missing
}

// parse returns the argument, which must be the only one in pos.
func (a hexArg) parse(pos []string) ([32]byte, error) {
	switch {
	case len(pos) == 0:
		return [32]byte{}, usageErrorf("missing %s, %s", a.name, a.purpose).hintf("%s", a.hint)
	case len(pos) > 1:
		return [32]byte{}, usageErrorf("unexpected argument %q after %s", pos[1], a.name)
	}
	return parseHex32(a.name, a.what, pos[0])
}

// topicArg returns the topic of announce, unannounce and lookup: the TOPIC argument, or
// BLAKE2b-256 of --topic-string.
func topicArg(pos []string, topicString *string) ([32]byte, error) {
	switch {
	case len(pos) > 1:
		return [32]byte{}, usageErrorf("unexpected argument %q after TOPIC", pos[1])
	case len(pos) == 1 && topicString != nil:
		return [32]byte{}, usageErrorf("TOPIC and --topic-string exclude each other")
	case len(pos) == 1:
		return parseHex32("TOPIC", "a 32-byte topic", pos[0])
	case topicString != nil:
		return blake2b.Sum256([]byte(*topicString)), nil
	}
	return [32]byte{}, usageErrorf("missing TOPIC, the topic to use").
		hintf("TOPIC is 64 hex digits; or name the topic with --topic-string NAME, which uses BLAKE2b-256(NAME)")
}

// stringFlag is a string flag that remembers whether it was set.
type stringFlag struct{ p **string }

func (f stringFlag) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	return **f.p
}

func (f stringFlag) Set(s string) error {
	*f.p = &s
	return nil
}

// valueArg parses the VALUE of a put: the argument's bytes, or hex with --hex. A value too
// large for one datagram is a usage error, found before any network.
func valueArg(pos []string, isHex bool) ([]byte, error) {
	switch {
	case len(pos) == 0:
		return nil, usageErrorf("missing VALUE, the value to store").
			hintf("VALUE is stored as the argument's bytes (UTF-8 text), or decoded from hex with --hex")
	case len(pos) > 1:
		return nil, usageErrorf("unexpected argument %q after VALUE", pos[1]).
			hintf("quote a value that has spaces")
	}
	value := []byte(pos[0])
	if isHex {
		var err error
		if value, err = hex.DecodeString(pos[0]); err != nil {
			var bad hex.InvalidByteError
			if errors.As(err, &bad) {
				return nil, usageErrorf("VALUE: %q is not a hex digit (--hex)", rune(bad))
			}
			return nil, usageErrorf("VALUE: odd number of hex digits (--hex)")
		}
	}
	if len(value) > dht.MaxValueSize {
		return nil, usageErrorf("VALUE has %d bytes, more than the %d a put can carry", len(value), dht.MaxValueSize).
			hintf("store a larger value elsewhere and put its hash or address here")
	}
	return value, nil
}

// valueOut renders a value found in the DHT: hex with --hex, else the bytes as a string.
// Bytes that are not UTF-8 cannot survive JSON text, so that case gets a hint on stderr.
func valueOut(c *cli, value []byte, isHex bool) string {
	if isHex {
		return hex.EncodeToString(value)
	}
	if !utf8.Valid(value) {
		fmt.Fprintln(c.stderr, "hyperlan: hint: the value is not UTF-8 text; run again with --hex for its exact bytes")
	}
	return string(value)
}

// addrStrings renders addresses as "host:port" strings, never null.
func addrStrings(addrs []netip.AddrPort) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return out
}

// hex32 renders a key, hash or topic.
func hex32(b [32]byte) string { return hex.EncodeToString(b[:]) }
