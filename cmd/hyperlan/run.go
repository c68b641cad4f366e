package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Exit codes of the hyperlan command.
const (
	exitOK      = 0 // success, including a clean stop on SIGINT/SIGTERM and --help
	exitError   = 1 // a runtime failure: no bootstrap node answered, a port is taken, ...
	exitUsage   = 2 // bad flags or arguments; nothing was started
	exitConnect = 3 // dht connect: no connection to the peer, with the reference's error code

	exitNotRunning = 3 // status, peers: no daemon is running (an init script's status says 3 too)
)

// command is one node of the command tree: a group (hyperlan, dht) that dispatches to subs,
// or a leaf with a run function. usage is the hand-written help text printed by --help.
type command struct {
	name    string
	summary string // one line for command listings
	usage   string
	run     func(ctx context.Context, c *cli, args []string) error // nil for groups
	subs    []*command
}

// cli carries the streams of one run. Machine output goes to out (JSON lines on stdout);
// human errors and logs go to stderr. Only the commands that pipe a connection (dht listen,
// dht connect) read stdin, and write other bytes than JSON lines to stdout.
type cli struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	out    *jsonLines
}

// commands returns the command tree; a function so that the leaves' run fields can refer
// back to it without an initialisation cycle.
func commands() *command {
	return &command{
		name:  "hyperlan",
		usage: rootUsage,
		subs: []*command{
			{name: "keygen", summary: "make this machine's key pair (its key file)", usage: keygenUsage, run: runKeygen},
			{name: "secret", summary: "make a network secret file", usage: secretUsage, run: runSecret},
			configCommand(),
			{name: "up", summary: "run the VPN on this machine until stopped", usage: upUsage, run: runUp},
			{name: "status", summary: "show the running VPN: this node and its peers", usage: statusUsage, run: runStatus},
			{name: "peers", summary: "list the running VPN's peers", usage: peersUsage, run: runPeers},
			dhtCommand(),
			{name: "demo", summary: "run a 3-member VPN mesh behind NATs, offline", usage: demoUsage, run: runDemo},
			{name: "version", summary: "print the version", usage: versionUsage, run: runVersion},
		},
	}
}

const rootUsage = `Usage: hyperlan <command> [arguments]

hyperlan joins machines into one private network: each runs 'hyperlan up', which
creates a TUN interface and keeps an encrypted connection to every other member,
found through HyperDHT by public key, across NATs and with no server of its own.

VPN commands:
  keygen              make this machine's key pair (its key file)
  secret              make a network secret file, shared by all members
  config check        check a config file and show what it derives
  up                  run the VPN on this machine until stopped (a foreground daemon)
  status              show the running VPN: this node and its peers
  peers               list the running VPN's peers

DHT commands:
  dht bootstrap       run a bootstrap node at a public IPv4 address
  dht node            join a DHT through bootstrap nodes and serve it
  dht find-node       look up the nodes closest to a 32-byte id
  dht keygen          make a key pair (a key file) for announce and mutable-put
  dht announce        announce a key on a topic until stopped
  dht unannounce      withdraw a key's announcement on a topic
  dht lookup          list the keys announced on a topic
  dht immutable-put   store a value under its BLAKE2b-256 hash
  dht immutable-get   fetch a value by its hash
  dht mutable-put     store a value signed by a key pair, with a sequence number
  dht mutable-get     fetch the signed value of a public key
  dht listen          accept encrypted connections to a key pair (echo, or netcat style)
  dht connect         connect to a key pair and pipe stdin and stdout, netcat style
  dht relay           serve as a blind relay for peers that cannot connect directly

Other commands:
  demo                run a 3-member VPN mesh behind NATs, offline
  version             print the version
  help                show help for a command

Run 'hyperlan help <command>' or 'hyperlan <command> --help' for details.

Getting started (on each machine, as root):
  hyperlan keygen --out /etc/hyperlan/home.key      # prints the [[peer]] entry for the others
  hyperlan secret --out /etc/hyperlan/home.secret   # once; copy it to the other machines
  $EDITOR /etc/hyperlan/home.toml                   # see /usr/share/doc/hyperlan/examples
  hyperlan config check -c /etc/hyperlan/home.toml
  systemctl enable --now hyperlan@home              # or: hyperlan up -c /etc/hyperlan/home.toml

Output: the VPN commands print text for people on stdout, or JSON with --json (up
logs to stderr); the dht commands print JSON lines on stdout, one object per line.
Errors ('hyperlan: error: ...', 'hyperlan: hint: ...') and logs (-v) go to stderr.
Where stdout carries a connection's bytes (dht connect, dht listen without --echo),
the JSON lines go to stderr instead.

Exit status: 0 success or clean stop on SIGINT/SIGTERM, 1 runtime failure,
2 bad flags, arguments or config (nothing was started),
3 dht connect could not connect to the peer; status and peers: no daemon is running.
`

// run is the whole program behind main: it parses args (without the program name), runs
// the command, and returns the exit code. It returns once every goroutine it started has
// stopped, so tests can call it in-process with a cancellable ctx. The one exception is a
// read of stdin, which cannot be interrupted: a command that ends before stdin does (the
// peer closed the connection) leaves that read pending, and returns without waiting for it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, out: &jsonLines{w: stdout}}
	return c.dispatch(ctx, commands(), []string{"hyperlan"}, args)
}

func (c *cli) dispatch(ctx context.Context, cmd *command, path []string, args []string) int {
	name := strings.Join(path, " ")
	if cmd.run != nil {
		return c.report(name, cmd, cmd.run(ctx, c, args))
	}
	if len(args) == 0 {
		return c.report(name, cmd, usageErrorf("missing command").
			hintf("run '%s --help' for a list of commands", name))
	}
	switch arg := args[0]; {
	case isHelpFlag(arg):
		fmt.Fprint(c.stdout, cmd.usage)
		return exitOK
	case arg == "help":
		return c.help(cmd, path, args[1:])
	case strings.HasPrefix(arg, "-"):
		return c.report(name, cmd, usageErrorf("unknown flag %s", arg).
			hintf("flags follow the command: '%s <command> --help'", name))
	}
	sub := cmd.find(args[0])
	if sub == nil {
		return c.report(name, cmd, usageErrorf("unknown command %q", args[0]).
			hintf("commands: %s", cmd.names()))
	}
	return c.dispatch(ctx, sub, append(path, sub.name), args[1:])
}

// help prints the usage of the command named by args, below cmd.
func (c *cli) help(cmd *command, path []string, args []string) int {
	for _, a := range args {
		if cmd.run != nil {
			break // "help version extra": the leaf's help is the best answer
		}
		sub := cmd.find(a)
		if sub == nil {
			return c.report(strings.Join(path, " "), cmd, usageErrorf("unknown command %q", a).
				hintf("commands: %s", cmd.names()))
		}
		cmd, path = sub, append(path, sub.name)
	}
	fmt.Fprint(c.stdout, cmd.usage)
	return exitOK
}

func (cmd *command) find(name string) *command {
	for _, s := range cmd.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}

func (cmd *command) names() string {
	var names []string
	for _, s := range cmd.subs {
		names = append(names, s.name)
	}
	return strings.Join(names, ", ")
}

func isHelpFlag(s string) bool {
	return s == "-h" || s == "-help" || s == "--help"
}

// report turns the error of the command called name into output and an exit code:
// --help prints the usage to stdout; other errors print one error line and hints to stderr.
func (c *cli) report(name string, cmd *command, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(c.stdout, cmd.usage)
		return exitOK
	}
	code, hints := exitError, []string(nil)
	var ce *cliError
	if errors.As(err, &ce) {
		code, hints = ce.code, ce.hints
	}
	fmt.Fprintf(c.stderr, "hyperlan: error: %s\n", oneLine(err.Error()))
	for _, h := range hints {
		fmt.Fprintf(c.stderr, "hyperlan: hint: %s\n", h)
	}
	if code == exitUsage && cmd.run != nil && (ce == nil || !ce.noUsageHint) {
		fmt.Fprintf(c.stderr, "hyperlan: hint: run '%s --help' for usage\n", name)
	}
	return code
}

// oneLine keeps an error message on one line whatever a library put in it.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// cliError is an error with its exit code and hints for the user.
type cliError struct {
	code  int
	err   error
	hints []string

	noUsageHint bool // an exit 2 whose flags were fine (a bad config): no "run --help" hint
}

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

func (e *cliError) hintf(format string, args ...any) *cliError {
	e.hints = append(e.hints, fmt.Sprintf(format, args...))
	return e
}

// usageErrorf reports bad flags or arguments (exit 2).
func usageErrorf(format string, args ...any) *cliError {
	return &cliError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// failf reports a runtime failure (exit 1).
func failf(format string, args ...any) *cliError {
	return &cliError{code: exitError, err: fmt.Errorf(format, args...)}
}

// newFlagSet returns a flag set that reports errors to its caller instead of printing them;
// the command prints its own usage.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args, allowing flags after positional arguments ("find-node TARGET
// --bootstrap ..."), and returns the positional arguments. Everything after "--" is
// positional. flag.ErrHelp is returned as is; other errors are usage errors.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErrorf("%s", flagError(err))
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// parseFlagsNoArgs parses args as parseFlags does, for a command that takes no positional
// arguments: the first one is a usage error.
func parseFlagsNoArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	return nil
}

// flagError rewrites the flag package's messages in the --name spelling the usage uses.
func flagError(err error) string {
	msg := err.Error()
	for _, p := range []struct{ prefix, format string }{
		{"flag provided but not defined: -", "unknown flag %s"},
		{"flag needs an argument: -", "%s needs a value"},
	} {
		if name, ok := strings.CutPrefix(msg, p.prefix); ok {
			return fmt.Sprintf(p.format, dashes(name))
		}
	}
	// invalid value "x" for flag -timeout: parse error
	if i := strings.Index(msg, " for flag -"); i >= 0 {
		rest := msg[i+len(" for flag -"):]
		if name, why, ok := strings.Cut(rest, ": "); ok {
			return fmt.Sprintf("%s: %s: %s", dashes(name), msg[:i], why)
		}
	}
	// invalid boolean value "x" for -latest: parse error
	if rest, ok := strings.CutPrefix(msg, "invalid boolean value "); ok {
		if i := strings.Index(rest, " for -"); i >= 0 {
			if name, why, ok := strings.Cut(rest[i+len(" for -"):], ": "); ok {
				return fmt.Sprintf("%s: invalid value %s: %s", dashes(name), rest[:i], why)
			}
		}
	}
	return msg
}

// dashes spells a flag name as the usage does: -v, --timeout.
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// jsonLines writes one JSON object per line. It is safe for concurrent use, so node events
// and the command's own lines never interleave within a line.
type jsonLines struct {
	mu sync.Mutex
	w  io.Writer
}

func (j *jsonLines) write(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic("hyperlan: internal error: cannot encode output line: " + err.Error())
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	j.w.Write(b) // a closed stdout is not worth failing a running node for
}
