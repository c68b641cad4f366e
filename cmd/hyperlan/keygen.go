package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/dht"
)

const keygenUsage = `Usage: hyperlan keygen [--out FILE [--force]] [--seed HEX] [--json]

Make this machine's key pair: its identity in the network. The public key is what the
other members list in their configs ([[peer]] public_key); the key file holds the
Ed25519 seed the key pair derives from and is named by node.key_file in this machine's
config. keygen does not touch the network.

With --out it writes a new key file with mode 0600 and prints the public key, with the
[[peer]] entry to add to the other members' configs:

  public key  8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c
  key file    /etc/hyperlan/home.key (mode 0600)
  relay key   4fc18ec4fe582625154639716c00b9d90bc82b7bae4f873266a7faf464c64270
              (with relay = true in [node], the key the others name in relay_through)

  Add this machine to the other members' configs:

    [[peer]]
    name = "desktop"
    public_key = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"

Without --out it prints the seed as well (the only time it is printed) and nothing keeps
it. The name in the entry is this machine's host name up to its first dot, the default
of node.name. The relay key is the public key of a second key pair derived from the
seed (configs' derivations): a machine whose config has relay = true in [node] serves
as a blind relay on it, for members that cannot punch through to each other, and the
others name it in [dht] relay_through. 'hyperlan config check' prints it too.

The key file format is 'hyperlan dht keygen''s: the seed as 64 lower-case hex digits and
a newline, nothing else. keygen never replaces a file without --force. Whoever reads the
seed can act as this machine in the network: keep the file secret (hyperlan warns when
other users may read it).

Flags:
  --out FILE   write the seed to the new key file FILE (mode 0600)
  --force      replace FILE if it exists (the key pair it held is lost)
  --seed HEX   the seed, 64 hex digits (default: 32 random bytes)
  --json       print one JSON line instead: {"publicKey":"<hex>","keyFile":"FILE",
               "relayPublicKey":"<hex>"}, or {"publicKey":"<hex>","seed":"<hex>",
               "relayPublicKey":"<hex>"} without --out

Exit status: 0 on success; 1 if FILE exists (without --force) or cannot be written;
2 for bad flags.

Examples:
  sudo install -d -m 0700 /etc/hyperlan
  sudo hyperlan keygen --out /etc/hyperlan/home.key
`

func runKeygen(_ context.Context, c *cli, args []string) error {
	fs := newFlagSet("keygen")
	var kf keygenFlags
	kf.register(fs)
	asJSON := fs.Bool("json", false, "")
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	line, kp, err := kf.keyPair()
	if err != nil {
		return err
	}
	out := vpnKeygenLine{keygenLine: line, RelayPublicKey: configs.RelayPublicKey([32]byte(kp.Seed())).String()}
	if *asJSON {
		c.out.write(out)
		return nil
	}
	printKeygen(c, out)
	return nil
}

// vpnKeygenLine is what keygen prints: dht keygen's line and the key the machine serves a
// blind relay on when its config has relay = true in [node].
type vpnKeygenLine struct {
	keygenLine
	RelayPublicKey string `json:"relayPublicKey"`
}

// keygenFlags are the flags keygen and dht keygen share.
type keygenFlags struct {
	seed  string
	out   string
	force bool
}

func (f *keygenFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.seed, "seed", "", "")
	fs.StringVar(&f.out, "out", "", "")
	fs.BoolVar(&f.force, "force", false, "")
}

// keyPair makes the key pair the flags ask for, writes its key file with --out, and
// returns what to print and the key pair.
func (f *keygenFlags) keyPair() (keygenLine, dht.KeyPair, error) {
	if f.force && f.out == "" {
		return keygenLine{}, dht.KeyPair{}, usageErrorf("--force needs --out")
	}
	var seed []byte // nil: random
	if f.seed != "" {
		s, err := parseHex32("--seed", "a 32-byte seed", f.seed)
		if err != nil {
			return keygenLine{}, dht.KeyPair{}, err
		}
		seed = s[:]
	}
	kp, err := dht.NewKeyPair(seed)
	if err != nil {
		return keygenLine{}, dht.KeyPair{}, failf("%v", err)
	}
	line := keygenLine{PublicKey: kp.String()}
	if f.out == "" {
		line.Seed = hex32([32]byte(kp.Seed()))
		return line, kp, nil
	}
	if err := writeKeyFile(f.out, kp, f.force); err != nil {
		return keygenLine{}, dht.KeyPair{}, err
	}
	line.KeyFile = f.out
	return line, kp, nil
}

// printKeygen prints what keygen made, for a person.
func printKeygen(c *cli, l vpnKeygenLine) {
	fmt.Fprintf(c.stdout, "public key  %s\n", l.PublicKey)
	if l.KeyFile != "" {
		fmt.Fprintf(c.stdout, "key file    %s (mode 0600)\n", l.KeyFile)
	} else {
		fmt.Fprintf(c.stdout, "seed        %s\n", l.Seed)
		fmt.Fprintf(c.stdout, "            (secret; a key file holds it as 64 hex digits and a newline, mode 0600)\n")
	}
	fmt.Fprintf(c.stdout, "relay key   %s\n", l.RelayPublicKey)
	fmt.Fprintf(c.stdout, "            (with relay = true in [node], the key the others name in relay_through)\n")
	fmt.Fprintf(c.stdout, "\nAdd this machine to the other members' configs:\n\n")
	fmt.Fprintf(c.stdout, "  [[peer]]\n  name = %q\n  public_key = %q\n", hostName(), l.PublicKey)
}

// hostName is the default member name, as configs derives it: the host name up to its
// first dot; "this-machine" when there is none.
func hostName() string {
	h, _ := os.Hostname()
	h, _, _ = strings.Cut(h, ".")
	if h == "" {
		return "this-machine"
	}
	return h
}
