package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/hyperlan/hyperlan/configs"
)

const secretUsage = `Usage: hyperlan secret [--out FILE [--force]] [--json]

Make a network secret: 32 random bytes that every member of a network holds in the file
its config names as network.secret_file. Members find each other on the DHT topic
derived from the secret, and a node that proves it knows the secret may join even when
the others do not list its public key. Make the secret once, on one machine, and copy
the file to the others over a channel you trust (scp, a USB stick). secret does not
touch the network.

With --out it writes a new secret file with mode 0600 and prints what the secret
derives, which is the same on every member and safe to show:

  secret file  /etc/hyperlan/home.secret (mode 0600)
  topic        4b1d...  (the DHT topic the members announce on)
  ipv6         fd12:3456:789a::/64  (network.ipv6 when the config sets none)

Without --out it prints the secret itself instead, as the file would hold it, and
nothing keeps it: 'hyperlan secret > FILE' works too, but the file then has the mode of
your umask.

The file format is the secret as 64 lower-case hex digits and a newline, nothing else
(so 'openssl rand -hex 32 > FILE' makes one as well). secret never replaces a file
without --force: replacing it cuts this machine off from the members that hold the old
one.

Flags:
  --out FILE   write the secret to the new file FILE (mode 0600)
  --force      replace FILE if it exists (the network it admitted to is lost)
  --json       print one JSON line instead:
               {"secretFile":"FILE","topic":"<hex>","ipv6":"fd..::/64"}, or
               {"secret":"<hex>","topic":"<hex>","ipv6":"fd..::/64"} without --out

Exit status: 0 on success; 1 if FILE exists (without --force) or cannot be written;
2 for bad flags.

Examples:
  sudo hyperlan secret --out /etc/hyperlan/home.secret
  scp /etc/hyperlan/home.secret root@laptop:/etc/hyperlan/
`

func runSecret(_ context.Context, c *cli, args []string) error {
	fs := newFlagSet("secret")
	out := fs.String("out", "", "")
	force := fs.Bool("force", false, "")
	asJSON := fs.Bool("json", false, "")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	if *force && *out == "" {
		return usageErrorf("--force needs --out")
	}
	secret := make([]byte, configs.SecretSize)
	rand.Read(secret) // never fails (crypto/rand)
	line := secretLine{
		Topic: hex32(configs.Topic(secret)),
		IPv6:  configs.DefaultIPv6Prefix(secret, configs.DefaultIPv4Prefix).String(),
	}
	if *out == "" {
		line.Secret = hex.EncodeToString(secret)
	} else {
		if err := writeSecretFile(*out, "secret file", "the members that hold the old secret no longer admit this machine by it", secret, *force); err != nil {
			return err
		}
		line.SecretFile = *out
	}
	if *asJSON {
		c.out.write(line)
		return nil
	}
	if line.Secret != "" {
		fmt.Fprintln(c.stdout, line.Secret)
		return nil
	}
	fmt.Fprintf(c.stdout, "secret file  %s (mode 0600)\n", line.SecretFile)
	fmt.Fprintf(c.stdout, "topic        %s  (the DHT topic the members announce on)\n", line.Topic)
	fmt.Fprintf(c.stdout, "ipv6         %s  (network.ipv6 when the config sets none)\n", line.IPv6)
	return nil
}

type secretLine struct {
	SecretFile string `json:"secretFile,omitempty"` // only with --out
	Secret     string `json:"secret,omitempty"`     // only without --out
	Topic      string `json:"topic"`
	IPv6       string `json:"ipv6"`
}
