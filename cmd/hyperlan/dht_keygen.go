package main

import "context"

const dhtKeygenUsage = `Usage: hyperlan dht keygen [--seed HEX] [--out FILE [--force]]

Make an Ed25519 key pair for announce, unannounce and mutable-put. The key pair derives
from a 32-byte seed as the reference's keyPair(seed) does; the seed is random unless
--seed gives it. keygen does not touch the network.

With --out it writes the seed to a new key file and prints

  {"publicKey":"<64 hex digits>","keyFile":"me.key"}

Without --out it prints the seed too (the only time it is ever printed), and nothing
keeps it:

  {"publicKey":"<64 hex digits>","seed":"<64 hex digits>"}

Key file format: the seed as 64 lower-case hex digits and a newline, nothing else.
keygen creates the file with mode 0600 and never replaces one without --force. Whoever
reads the seed can sign as the key pair: keep it secret. The commands that read a key
file warn (one hint line on stderr) when other users may read it.

Flags:
  --seed HEX   the seed, 64 hex digits (default: 32 random bytes)
  --out FILE   write the seed to the new key file FILE instead of printing it
  --force      replace FILE if it exists (the key pair it held is lost)

Exit status: 0 on success; 1 if FILE exists (without --force) or cannot be written;
2 for bad flags.

Examples:
  hyperlan dht keygen --out me.key

  # The same key pair again, from a seed kept elsewhere:
  hyperlan dht keygen --seed "$SEED" --out me.key
`

func runDHTKeygen(ctx context.Context, c *cli, args []string) error {
	fs := newFlagSet("dht keygen")
	var kf keygenFlags
	kf.register(fs)
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	line, _, err := kf.keyPair()
	if err != nil {
		return err
	}
	c.out.write(line)
	return nil
}

type keygenLine struct {
	PublicKey string `json:"publicKey"`
	Seed      string `json:"seed,omitempty"`    // only without --out
	KeyFile   string `json:"keyFile,omitempty"` // only with --out
}
