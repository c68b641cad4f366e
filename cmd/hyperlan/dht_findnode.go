package main

import (
	"context"
	"errors"

	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

const dhtFindNodeUsage = `Usage: hyperlan dht find-node --bootstrap HOST:PORT[,HOST:PORT...] [--host IP]
                              [--timeout D] [-v] TARGET

Look up the DHT nodes closest to TARGET, a 32-byte id written as 64 hex digits (a node's
id, or any key). An ephemeral node joins through the bootstrap nodes, runs an iterative
FIND_NODE and leaves; it never serves others. For every node that answers it prints

  {"event":"reply","from":"203.0.113.7:49737","id":"<hex>","closerNodes":["198.51.100.4:49737"]}

(id is null for a node without a valid id), and at the end, closest first by XOR distance,

  {"event":"closest","nodes":[{"host":"198.51.100.4","port":49737,"id":"<hex>"}]}

Flags:
  --bootstrap LIST  bootstrap nodes, comma-separated host:port or ip@hostname:port
                    (required; there is no public default yet)
  --host IP         local IPv4 address to listen on (default 0.0.0.0, every interface)
  --timeout D       give up if bootstrapping, or then the lookup, takes longer than D
                    (default 30s)
  -v                log node activity to stderr

Exit status: 0 when the lookup finished; 1 if no bootstrap node answered, it timed out
or it was interrupted; 2 for bad flags or a bad TARGET.

Examples:
  # Which nodes are closest to this id?
  hyperlan dht find-node --bootstrap 203.0.113.7:49737 \
      4f1c0a9e3d2b8c7a6f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a19080

  # Only the closest node's address, with jq:
  hyperlan dht find-node --bootstrap 127.0.0.1:10001 "$TARGET" |
      jq -r 'select(.event == "closest") | .nodes[0] | "\(.host):\(.port)"'
`

func runDHTFindNode(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("dht find-node")
	var jf joinFlags
	jf.register(fs)
	host := fs.String("host", "0.0.0.0", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	b, err := hexArg{
		name: "TARGET", purpose: "the id to look up", what: "a 32-byte id",
		hint: "TARGET is 64 hex digits, e.g. a node id from a ready or listening line",
	}.parse(pos)
	if err != nil {
		return err
	}
	target := ktable.ID(b)
	boot, err := jf.bootstrapList()
	if err != nil {
		return err
	}
	if err := checkBindHost("host", *host); err != nil {
		return err
	}

	node, err := rpc.New(rpc.Options{
		Bootstrap: boot,
		Host:      *host,
		Mode:      rpc.ModeEphemeral,
		Logger:    newLogger(c.stderr, jf.verbose),
	})
	if err != nil {
		return listenError(err, *host, 0)
	}
	defer node.Destroy()
	if err := join(ctx, node, boot, jf.timeout); err != nil {
		if ctx.Err() != nil {
			return errInterruptedJoin()
		}
		return err
	}

	qctx, cancel := context.WithTimeout(ctx, jf.timeout)
	defer cancel()
	res, err := node.FindNode(qctx, target, &rpc.QueryOptions{
		OnReply: func(r *rpc.Response) { c.out.write(newReplyLine(r)) },
	})
	switch {
	case ctx.Err() != nil:
		return failf("interrupted during the lookup")
	case errors.Is(err, context.DeadlineExceeded):
		return failf("the lookup did not finish within %v", jf.timeout).hintf("raise --timeout")
	case err != nil:
		return failf("find-node: %v", err)
	}
	line := closestLine{Event: "closest", Nodes: []closestNode{}}
	for _, r := range res.Closest {
		line.Nodes = append(line.Nodes, closestNode{r.From.Addr().String(), r.From.Port(), hexID(r.FromID())})
	}
	c.out.write(line)
	return nil
}

type (
	replyLine struct {
		Event       string   `json:"event"` // "reply"
		From        string   `json:"from"`
		ID          *string  `json:"id"`
		CloserNodes []string `json:"closerNodes"`
	}
	closestLine struct {
		Event string        `json:"event"` // "closest"
		Nodes []closestNode `json:"nodes"`
	}
	closestNode struct {
		Host string  `json:"host"`
		Port uint16  `json:"port"`
		ID   *string `json:"id"`
	}
)

func newReplyLine(r *rpc.Response) replyLine {
	line := replyLine{Event: "reply", From: r.From.String(), ID: hexID(r.FromID()), CloserNodes: []string{}}
	for _, a := range r.CloserNodes {
		line.CloserNodes = append(line.CloserNodes, a.String())
	}
	return line
}
