package main

import (
	"context"

	"github.com/hyperlan/hyperlan/dht"
)

const dhtUnannounceUsage = `Usage: hyperlan dht unannounce --bootstrap HOST:PORT[,HOST:PORT...] --key-file FILE
                               [--host IP] [--timeout D] [-v] (TOPIC | --topic-string NAME)

Withdraw the announcement of a key pair's public key on a topic: an ephemeral node joins
through the bootstrap nodes, looks the topic up, and sends a signed unannounce to every
node that lists the key. TOPIC is 32 bytes written as 64 hex digits; --topic-string NAME
uses BLAKE2b-256(NAME) instead. When done it prints

  {"event":"unannounced","topic":"<hex>","publicKey":"<hex>"}

'hyperlan dht announce' does this by itself when stopped; unannounce is for a record
left behind (nodes drop it after 20 minutes anyway).

Flags:
  --bootstrap LIST     bootstrap nodes, comma-separated host:port or ip@hostname:port
                       (required; there is no public default yet)
  --key-file FILE      key file of the announced key pair (required)
  --topic-string NAME  use BLAKE2b-256(NAME) instead of TOPIC
  --host IP            local IPv4 address to listen on (default 0.0.0.0, every interface)
  --timeout D          give up if bootstrapping, or then the unannounce, takes longer
                       than D (default 30s)
  -v                   log node activity to stderr

Exit status: 0 when done (also if no node listed the key); 1 if the key file cannot be
read, no bootstrap node answered, it timed out or it was interrupted; 2 for bad flags or
a bad TOPIC.

Example:
  hyperlan dht unannounce --bootstrap 203.0.113.7:49737 --key-file me.key \
      --topic-string my-lan
`

func runDHTUnannounce(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("dht unannounce")
	var sf signerFlags
	sf.register(fs)
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
	boot, kp, err := sf.check(c)
	if err != nil {
		return err
	}

	return runQuery(ctx, c, &sf.clientFlags, boot, "unannounce", func(qctx context.Context, node *dht.Node) error {
		if err := node.Unannounce(qctx, topic, kp); err != nil {
			return err
		}
		c.out.write(unannouncedLine{Event: "unannounced", Topic: hex32(topic), PublicKey: kp.String()})
		return nil
	})
}
