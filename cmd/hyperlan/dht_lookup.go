package main

import (
	"context"
	"slices"

	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/records"
)

const dhtLookupUsage = `Usage: hyperlan dht lookup --bootstrap HOST:PORT[,HOST:PORT...] [--host IP]
                           [--timeout D] [-v] (TOPIC | --topic-string NAME)

List the public keys announced on a topic ('hyperlan dht announce'). TOPIC is 32 bytes
written as 64 hex digits; --topic-string NAME uses BLAKE2b-256(NAME) instead. An
ephemeral node joins through the bootstrap nodes, asks the nodes closest to the topic,
and leaves. For every node that lists peers it prints

  {"event":"reply","from":"203.0.113.7:49737",
   "peers":[{"publicKey":"<hex>","relayAddresses":["198.51.100.4:49737"]}],"bump":0}

(on one line), and at the end every key found, once, with the relay addresses any node
listed for it:

  {"event":"peers","peers":[{"publicKey":"<hex>","relayAddresses":[]}]}

An empty list is no error: nobody announced on the topic in the last 20 minutes.

Flags:
  --bootstrap LIST     bootstrap nodes, comma-separated host:port or ip@hostname:port
                       (required; there is no public default yet)
  --topic-string NAME  look up BLAKE2b-256(NAME) instead of TOPIC
  --host IP            local IPv4 address to listen on (default 0.0.0.0, every interface)
  --timeout D          give up if bootstrapping, or then the lookup, takes longer than D
                       (default 30s)
  -v                   log node activity to stderr

Exit status: 0 when the lookup finished; 1 if no bootstrap node answered, it timed out
or it was interrupted; 2 for bad flags or a bad TOPIC.

Examples:
  hyperlan dht lookup --bootstrap 203.0.113.7:49737 --topic-string my-lan

  # Just the keys, with jq:
  hyperlan dht lookup --bootstrap 127.0.0.1:10001 "$TOPIC" |
      jq -r 'select(.event == "peers") | .peers[].publicKey'
`

func runDHTLookup(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("dht lookup")
	var cf clientFlags
	cf.register(fs)
	var topicString *string
	fs.Var(stringFlag{&topicString}, "topic-string", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	topic, err := topicArg(pos, topicString)
	if err != nil {
		return err
	}
	boot, err := cf.check()
	if err != nil {
		return err
	}

	return runQuery(ctx, c, &cf, boot, "lookup", func(qctx context.Context, node *dht.Node) error {
		replies, err := node.Lookup(qctx, topic, &dht.LookupOptions{
			OnReply: func(r dht.LookupReply) {
				c.out.write(lookupReplyLine{Event: "reply", From: r.From.String(), Peers: peerLines(r.Peers), Bump: r.Bump})
			},
		})
		if err != nil {
			return err
		}
		c.out.write(peersLine{Event: "peers", Peers: uniquePeers(replies)})
		return nil
	})
}

// uniquePeers lists every key of the replies once, in the order first seen, with the
// relay addresses of all its listings.
func uniquePeers(replies []dht.LookupReply) []peerLine {
	out := []peerLine{}
	index := map[[32]byte]int{}
	for _, r := range replies {
		for _, p := range r.Peers {
			i, ok := index[p.PublicKey]
			if !ok {
				i = len(out)
				index[p.PublicKey] = i
				out = append(out, peerLine{PublicKey: hex32(p.PublicKey), RelayAddresses: []string{}})
			}
			for _, a := range p.RelayAddresses {
				if s := a.String(); !slices.Contains(out[i].RelayAddresses, s) {
					out[i].RelayAddresses = append(out[i].RelayAddresses, s)
				}
			}
		}
	}
	return out
}

func peerLines(peers []records.Peer) []peerLine {
	out := make([]peerLine, 0, len(peers))
	for _, p := range peers {
		out = append(out, peerLine{PublicKey: hex32(p.PublicKey), RelayAddresses: addrStrings(p.RelayAddresses)})
	}
	return out
}

type (
	lookupReplyLine struct {
		Event string     `json:"event"` // "reply"
		From  string     `json:"from"`
		Peers []peerLine `json:"peers"`
		Bump  uint64     `json:"bump"`
	}
	peersLine struct {
		Event string     `json:"event"` // "peers"
		Peers []peerLine `json:"peers"`
	}
	peerLine struct {
		PublicKey      string   `json:"publicKey"`
		RelayAddresses []string `json:"relayAddresses"`
	}
)
