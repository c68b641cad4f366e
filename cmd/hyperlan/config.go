package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"

	"github.com/hyperlan/hyperlan/configs"
)

func configCommand() *command {
	return &command{
		name:    "config",
		summary: "check config files",
		usage:   configUsage,
		subs: []*command{
			{name: "check", summary: "check a config file and show what it derives", usage: configCheckUsage, run: runConfigCheck},
		},
	}
}

const configUsage = `Usage: hyperlan config <command> [flags]

Work with hyperlan's config files (TOML). A config describes this machine ([node]), the
network it joins ([network]), how it reaches the DHT ([dht]), the other members it
admits by public key ([[peer]]) and its logging ([log]); the package documentation of
configs and the commented files in configs/examples (installed under
/usr/share/doc/hyperlan/examples) describe every key.

Commands:
  check   check a config file and show what it derives

Example:
  hyperlan config check -c /etc/hyperlan/home.toml
`

const configCheckUsage = `Usage: hyperlan config check -c FILE [--json]

Load and check the config FILE as 'hyperlan up' does, without touching the system or
the network: TOML syntax, unknown keys, values, public keys, prefixes and addresses,
names and keys used twice, addresses that collide (explicit or derived), routes that
overlap, and the key and secret files it names (read, not just looked at).

A bad config prints every problem at once on stderr, in the file:line:column form
editors jump to, each with a hint on the line below, and exits 2:

  home.toml:5:7: node.mtu: mtu 9000 is out of range
  	hint: the MTU must be 1280 to 1428: IPv6 needs at least 1280, and ...
  home.toml:13:1: peer[0].adress: unknown key
  	hint: did you mean "address"?
  hyperlan: error: home.toml: 2 problems

A good config prints what it derives on stdout: this node's name, public key,
interface, addresses, the network's prefixes and DHT topic, the bootstrap nodes, the
blind relays it connects through (dht.relay_through), its own relay key (the key the
others put in their relay_through when this node has relay = true in [node]; derived
from the key file) and the peers with their addresses (derived from their public keys
where the config gives none).
Problems that do not stop the node, such as a key file other users can read, are
printed on stderr as warnings:

  home.toml:3:12: warning: node.key_file: key file home.key can be read by other users (mode 0644)
  	hint: run 'chmod 600 home.key'

Flags:
  -c, --config FILE   the config file to check (required)
  --json              print one JSON line on stdout instead, for either outcome:
                      {"file":...,"ok":true,"warnings":[...],"node":{...},"network":{...},
                       "dht":{...},"peers":[...]}
                      {"file":...,"ok":false,"errors":[{"file":...,"line":5,"col":7,
                       "key":"node.mtu","class":"bad value","message":...,"hint":...}]}

Exit status: 0 when the config is good (warnings or not); 2 when it has problems, when
FILE cannot be read, or for bad flags.

Examples:
  hyperlan config check -c /etc/hyperlan/home.toml
  hyperlan config check -c home.toml --json | jq -r '.node.address'
`

// configFlag registers -c and --config, two spellings of one flag.
func configFlag(fs *flag.FlagSet, p *string) {
	fs.StringVar(p, "c", "", "")
	fs.StringVar(p, "config", "", "")
}

// requireConfig checks that -c was given.
func requireConfig(path string) error {
	if path == "" {
		return usageErrorf("-c FILE is required: the config file").
			hintf("for example -c /etc/hyperlan/home.toml; configs/examples has commented configs")
	}
	return nil
}

func runConfigCheck(_ context.Context, c *cli, args []string) error {
	fs := newFlagSet("config check")
	var path string
	configFlag(fs, &path)
	asJSON := fs.Bool("json", false, "")
	cfg, list, err := parseAndLoad(fs, &path, args)
	if err != nil {
		return err
	}
	if list != nil {
		if *asJSON {
			c.out.write(configCheckLine{File: path, Errors: configProblems(list)})
		} else {
			fmt.Fprintln(c.stderr, list.Error())
		}
		return badConfigError(path, list)
	}
	if *asJSON {
		c.out.write(configCheckLine{File: path, OK: true, Warnings: configProblems(cfg.Warnings), configSummaryJS: summarize(cfg)})
		return nil
	}
	printWarnings(c.stderr, cfg.Warnings)
	printSummary(c.stdout, cfg)
	return nil
}

// parseAndLoad parses the flags of a command that takes -c (registered on fs by configFlag
// into path) and no arguments, and loads the config. A config with problems comes back as
// their list, with a nil Config and a nil error.
func parseAndLoad(fs *flag.FlagSet, path *string, args []string) (*configs.Config, configs.ErrorList, error) {
	if err := parseFlagsNoArgs(fs, args); err != nil {
		return nil, nil, err
	}
	if err := requireConfig(*path); err != nil {
		return nil, nil, err
	}
	cfg, err := configs.Load(*path)
	if err != nil {
		return nil, configErrors(*path, err), nil
	}
	return cfg, nil, nil
}

// configErrors returns the problems in err, which configs.Load returned.
func configErrors(path string, err error) configs.ErrorList {
	var list configs.ErrorList
	if errors.As(err, &list) && len(list) > 0 {
		return list
	}
	return configs.ErrorList{{File: path, Class: configs.ClassFile, Msg: err.Error()}} // not expected
}

// badConfigError is the error of a command whose config has the problems in list, which
// it has printed: exit 2, with no hint to read the usage (the flags were fine).
func badConfigError(path string, list configs.ErrorList) *cliError {
	n := "1 problem"
	if len(list) > 1 {
		n = fmt.Sprintf("%d problems", len(list))
	}
	e := usageErrorf("%s: %s", path, n)
	e.noUsageHint = true
	return e
}

// printWarnings prints the config's warnings as configs prints errors, marked as warnings.
func printWarnings(w io.Writer, warns []*configs.Error) {
	for _, e := range warns {
		where := e.File
		if e.Line > 0 {
			where = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Col)
		}
		key := ""
		if e.Key != "" {
			key = e.Key + ": "
		}
		fmt.Fprintf(w, "%s: warning: %s%s\n", where, key, e.Msg)
		if e.Hint != "" {
			fmt.Fprintf(w, "\thint: %s\n", e.Hint)
		}
	}
}

// printSummary prints what a good config derives, for a person.
func printSummary(w io.Writer, cfg *configs.Config) {
	s := summarize(cfg)
	n := &cfg.Node
	fmt.Fprintf(w, "%s: ok\n\n", cfg.File)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "node\t%s\n", n.Name)
	fmt.Fprintf(tw, "public key\t%s\n", s.Node.PublicKey)
	fmt.Fprintf(tw, "interface\t%s, MTU %d\n", s.Node.Interface, s.Node.MTU)
	fmt.Fprintf(tw, "addresses\t%s\n", strings.Join(s.Node.Addresses, ", "))
	if len(s.Node.Routes) > 0 {
		fmt.Fprintf(tw, "routes\t%s (served to the other members)\n", strings.Join(s.Node.Routes, ", "))
	}
	if n.ListenPort == 0 {
		fmt.Fprintf(tw, "listen\tUDP, a port the DHT picks (49737 when free)\n")
	} else {
		fmt.Fprintf(tw, "listen\tUDP port %d\n", n.ListenPort)
	}
	fmt.Fprintf(tw, "network\t%s, %s\n", s.Network.IPv4, s.Network.IPv6)
	if s.Network.Topic != "" {
		fmt.Fprintf(tw, "topic\t%s (from %s)\n", s.Network.Topic, s.Network.SecretFile)
	} else {
		fmt.Fprintf(tw, "topic\tnone: no secret_file, so members are admitted by public key only\n")
	}
	switch b := s.DHT.Bootstrap; {
	case s.DHT.Public:
		fmt.Fprintf(tw, "dht\tthe public HyperDHT, through its bootstrap nodes\n")
	case len(b) == 0:
		fmt.Fprintf(tw, "dht\tno bootstrap nodes: the first node of a private DHT\n")
	default:
		fmt.Fprintf(tw, "dht\t%s\n", strings.Join(b, ", "))
	}
	if len(s.DHT.RelayThrough) > 0 {
		fmt.Fprintf(tw, "relays\t%s (blind relays for members no holepunch reaches)\n", strings.Join(s.DHT.RelayThrough, ", "))
	} else {
		fmt.Fprintf(tw, "relays\tnone (relay_through): a member behind a random NAT reaches another only by its relays\n")
	}
	if n.Relay {
		fmt.Fprintf(tw, "relay key\t%s (serving as a blind relay: the others name this key in relay_through)\n", s.Node.RelayPublicKey)
	} else {
		fmt.Fprintf(tw, "relay key\t%s (not serving; relay = true in [node] serves it)\n", s.Node.RelayPublicKey)
	}
	fmt.Fprintf(tw, "log\t%s, %s\n", s.Log.Level, s.Log.Format)
	tw.Flush()

	fmt.Fprintf(w, "\npeers: %d\n", len(s.Peers))
	if len(s.Peers) == 0 {
		return
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  NAME\tPUBLIC KEY\tADDRESS\tADDRESS6\tROUTES\n")
	for _, p := range s.Peers {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", p.Name, p.PublicKey, p.Address, p.Address6, orDash(strings.Join(p.Routes, ",")))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Output of config check --json. Field order is the order on the wire.
type (
	configCheckLine struct {
		File             string          `json:"file"`
		OK               bool            `json:"ok"`
		Errors           []configProblem `json:"errors,omitempty"`
		Warnings         []configProblem `json:"warnings,omitempty"`
		*configSummaryJS                 // only when OK: its fields inline
	}
	configProblem struct {
		File    string `json:"file"`
		Line    int    `json:"line"` // 0 when the problem has no place in the file
		Col     int    `json:"col"`
		Key     string `json:"key"`
		Class   string `json:"class"`
		Message string `json:"message"`
		Hint    string `json:"hint"`
	}
)

func configProblems(l []*configs.Error) []configProblem {
	out := make([]configProblem, len(l))
	for i, e := range l {
		out[i] = configProblem{e.File, e.Line, e.Col, e.Key, e.Class.String(), e.Msg, e.Hint}
	}
	return out
}

// configSummaryJS is what a good config derives, as config check --json prints it.
type configSummaryJS struct {
	Node    nodeJSON    `json:"node"`
	Network networkJSON `json:"network"`
	DHT     dhtJSON     `json:"dht"`
	Log     logJSON     `json:"log"`
	Peers   []peerJSON  `json:"peers"`
}

type (
	nodeJSON struct {
		Name       string   `json:"name"`
		PublicKey  string   `json:"publicKey"`
		Interface  string   `json:"interface"`
		MTU        int      `json:"mtu"`
		ListenPort int      `json:"listenPort"` // 0: the DHT picks
		Address    string   `json:"address"`
		Address6   string   `json:"address6"`
		Addresses  []string `json:"-"` // with prefix lengths, for people
		Routes     []string `json:"routes"`
		// Relay is node.relay: the node serves as a blind relay, on the key pair derived from
		// its key file whose public key is RelayPublicKey (derived either way).
		Relay          bool   `json:"relay"`
		RelayPublicKey string `json:"relayPublicKey"`
	}
	networkJSON struct {
		IPv4       string `json:"ipv4"`
		IPv6       string `json:"ipv6"`
		SecretFile string `json:"secretFile,omitempty"`
		Topic      string `json:"topic,omitempty"` // absent without a secret
	}
	dhtJSON struct {
		Public    bool     `json:"public"`    // the public HyperDHT bootstrap nodes
		Bootstrap []string `json:"bootstrap"` // the config's list; empty when public or private-first
		// RelayThrough lists dht.relay_through, the blind relays' keys; this node's own relay
		// is left out.
		RelayThrough []string `json:"relayThrough"`
	}
	logJSON struct {
		Level  string `json:"level"`
		Format string `json:"format"`
	}
	peerJSON struct {
		Name      string   `json:"name"`
		PublicKey string   `json:"publicKey"`
		Address   string   `json:"address"`
		Address6  string   `json:"address6"`
		Routes    []string `json:"routes"`
	}
)

func summarize(cfg *configs.Config) *configSummaryJS {
	n, nw := &cfg.Node, &cfg.Network
	s := &configSummaryJS{
		Node: nodeJSON{
			Name: n.Name, PublicKey: n.PublicKey.String(), Interface: n.Interface, MTU: n.MTU,
			ListenPort: n.ListenPort, Address: n.Address.String(), Address6: n.Address6.String(),
			Addresses: []string{
				netip.PrefixFrom(n.Address, nw.IPv4.Bits()).String(),
				netip.PrefixFrom(n.Address6, nw.IPv6.Bits()).String(),
			},
			Routes: prefixStrings(n.Routes),
			Relay:  n.Relay, RelayPublicKey: n.RelayPublicKey.String(),
		},
		Network: networkJSON{IPv4: nw.IPv4.String(), IPv6: nw.IPv6.String(), SecretFile: nw.SecretFile},
		DHT:     dhtJSON{Public: cfg.DHT.Bootstrap == nil, Bootstrap: []string{}, RelayThrough: []string{}},
		Log:     logJSON{Level: strings.ToLower(cfg.Log.Level.String()), Format: cfg.Log.Format},
		Peers:   make([]peerJSON, len(cfg.Peers)),
	}
	if t, ok := nw.Topic(); ok {
		s.Network.Topic = hex32(t)
	}
	for _, b := range cfg.DHT.Bootstrap {
		s.DHT.Bootstrap = append(s.DHT.Bootstrap, b.String())
	}
	for _, k := range cfg.DHT.RelayThrough {
		s.DHT.RelayThrough = append(s.DHT.RelayThrough, k.String())
	}
	for i, p := range cfg.Peers {
		s.Peers[i] = peerEntry(p)
	}
	return s
}

func peerEntry(p configs.Peer) peerJSON {
	return peerJSON{Name: p.Name, PublicKey: p.PublicKey.String(), Address: p.Address.String(),
		Address6: p.Address6.String(), Routes: prefixStrings(p.Routes)}
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
