package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

const (
	// defaultAnnounceInterval is how often announce stores its record again: storing nodes
	// drop records after 20 minutes, and the reference's servers re-announce about every
	// 5 minutes.
	defaultAnnounceInterval = 5 * time.Minute
	// recordLifetime is how long storing nodes keep an announcement.
	recordLifetime = 20 * time.Minute
	// announceRetry is the longest wait after a failed announce round.
	announceRetry = time.Minute
	// unannounceTimeout bounds the unannounce when announce is stopped.
	unannounceTimeout = 10 * time.Second
)

const dhtAnnounceUsage = `Usage: hyperlan dht announce --bootstrap HOST:PORT[,HOST:PORT...] --key-file FILE
                             [--interval D] [--host IP] [--timeout D] [-v]
                             (TOPIC | --topic-string NAME)

Announce the public key of a key pair on a topic, so that 'hyperlan dht lookup' lists
it, and keep it announced until stopped. TOPIC is 32 bytes written as 64 hex digits;
--topic-string NAME uses BLAKE2b-256(NAME) instead. An ephemeral node joins through the
bootstrap nodes and stores a signed record at the nodes closest to the topic. Storing
nodes drop a record after 20 minutes, so announce stores it again every --interval.
After each round it prints

  {"event":"announced","topic":"<hex>","publicKey":"<hex>",
   "closestNodes":["198.51.100.4:49737"]}

(on one line), with the nodes that took the record. If a later round fails it prints
{"event":"announce-failed","error":"..."} and tries again after a minute (or --interval
if that is shorter). On SIGINT or SIGTERM it withdraws the record (an unannounce, for
at most 10s), prints

  {"event":"unannounced","topic":"<hex>","publicKey":"<hex>"}

and exits 0.

Flags:
  --bootstrap LIST     bootstrap nodes, comma-separated host:port or ip@hostname:port
                       (required; there is no public default yet)
  --key-file FILE      key file of the key pair to announce (required; made by
                       'hyperlan dht keygen --out FILE')
  --topic-string NAME  announce on BLAKE2b-256(NAME) instead of TOPIC
  --interval D         announce again every D (default 5m)
  --host IP            local IPv4 address to listen on (default 0.0.0.0, every interface)
  --timeout D          give up if bootstrapping, or then one announce round, takes longer
                       than D (default 30s)
  -v                   log node activity to stderr

Exit status: 0 after a clean stop; 1 if the key file cannot be read, no bootstrap node
answered, the first announce failed or the final unannounce failed; 2 for bad flags or a
bad TOPIC.

Examples:
  hyperlan dht keygen --out me.key
  hyperlan dht announce --bootstrap 203.0.113.7:49737 --key-file me.key \
      --topic-string my-lan

  # On a test network on this machine, stop with Ctrl-C:
  hyperlan dht announce --bootstrap 127.0.0.1:10001 --key-file me.key \
      4f1c0a9e3d2b8c7a6f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a19080
`

func runDHTAnnounce(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("dht announce")
	var sf signerFlags
	sf.register(fs)
	var topicString *string
	fs.Var(stringFlag{&topicString}, "topic-string", "")
	interval := fs.Duration("interval", defaultAnnounceInterval, "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	topic, err := topicArg(pos, topicString)
	if err != nil {
		return err
	}
	// sf.check requires --key-file too; asking here reports its absence before a bad --interval.
	if err := requireKeyFile(sf.keyFile); err != nil {
		return err
	}
	if *interval <= 0 {
		return usageErrorf("--interval %v: must be positive", *interval)
	}
	boot, kp, err := sf.check(c)
	if err != nil {
		return err
	}
	if *interval >= recordLifetime {
		fmt.Fprintf(c.stderr, "hyperlan: hint: nodes drop a record after %v; with --interval %v the announcement lapses between rounds\n",
			recordLifetime, *interval)
	}

	node, err := startClient(ctx, c, &sf.clientFlags, boot)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while joining: nothing was announced, a clean stop
		}
		return err
	}
	defer destroy(node)

	announced := false
	for ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, sf.timeout)
		res, err := node.Announce(actx, topic, kp, nil, nil)
		cancel()
		wait := *interval
		switch {
		case ctx.Err() != nil:
			// Stopped during the round: withdraw what it may have stored.
		case err != nil && !announced:
			return queryError(ctx, "announce", err, sf.timeout)
		case err != nil:
			c.out.write(announceFailedLine{Event: "announce-failed", Error: oneLine(err.Error())})
			wait = min(wait, announceRetry)
		default:
			announced = true
			c.out.write(announcedLine{Event: "announced", Topic: hex32(topic), PublicKey: kp.String(),
				ClosestNodes: addrStrings(res.ClosestNodes)})
		}
		sleep(ctx, wait)
	}

	// The signal cancelled ctx; the unannounce gets its own bounded context.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unannounceTimeout)
	defer cancel()
	if err := node.Unannounce(uctx, topic, kp); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return failf("the unannounce did not finish within %v", unannounceTimeout).
				hintf("the nodes drop the record by themselves within %v", recordLifetime)
		}
		return failf("unannounce: %v", err).hintf("the nodes drop the record by themselves within %v", recordLifetime)
	}
	c.out.write(unannouncedLine{Event: "unannounced", Topic: hex32(topic), PublicKey: kp.String()})
	return nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

type (
	announcedLine struct {
		Event        string   `json:"event"` // "announced"
		Topic        string   `json:"topic"`
		PublicKey    string   `json:"publicKey"`
		ClosestNodes []string `json:"closestNodes"`
	}
	announceFailedLine struct {
		Event string `json:"event"` // "announce-failed"
		Error string `json:"error"`
	}
	unannouncedLine struct {
		Event     string `json:"event"` // "unannounced"
		Topic     string `json:"topic"`
		PublicKey string `json:"publicKey"`
	}
)
