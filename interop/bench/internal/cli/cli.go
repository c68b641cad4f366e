// Package cli is the command skeleton the benchmark tools under interop/bench share: a serve
// mode that runs our implementation in a process of its own, and the benchmark mode, with one
// set of exit codes and error lines.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes of every tool.
const (
	ExitOK    = 0
	ExitFail  = 1 // the run failed or was interrupted
	ExitUsage = 2 // bad flags
)

// Bench runs a parsed benchmark, with progress on stderr, and returns what prints its report.
type Bench func(ctx context.Context, stderr io.Writer) (print func(stdout io.Writer), err error)

// Tool describes one benchmark command.
type Tool struct {
	Name      string // e.g. "rpcbench": the prefix of error lines
	ServeMode string // the first argument that selects Serve, e.g. "serve-go"
	// Serve runs the serve mode; nil means the tool has none.
	Serve   func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
	Stopped string // what an interrupt stops, for its message: "servers", "networks", ...
	// Parse reads the benchmark flags; flag.ErrHelp means -h was asked for, any other error
	// is bad usage.
	Parse func(args []string, stderr io.Writer) (Bench, error)
}

// Main runs the tool with the process's arguments until done or SIGINT/SIGTERM, then exits.
func Main(t Tool) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, t, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Run is Main without the process: it returns the exit code.
func Run(ctx context.Context, t Tool, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if t.Serve != nil && len(args) > 0 && args[0] == t.ServeMode {
		return t.Serve(ctx, args[1:], stdin, stdout, stderr)
	}
	bench, err := t.Parse(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		fmt.Fprintf(stderr, "%s: error: %v\n", t.Name, err)
		return ExitUsage
	}
	print, err := bench(ctx, stderr)
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "%s: interrupted; %s stopped\n", t.Name, t.Stopped)
		return ExitFail
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: error: %v\n", t.Name, err)
		return ExitFail
	}
	print(stdout)
	return ExitOK
}

// Parser makes a [Tool]'s Parse of the tool's flag parser parse, its benchmark run, which
// returns a report, and print, which prints that report.
func Parser[C, R any](parse func(args []string, stderr io.Writer) (C, error),
	run func(ctx context.Context, cfg C, stderr io.Writer) (R, error), print func(rep R, stdout io.Writer),
) func(args []string, stderr io.Writer) (Bench, error) {
	return func(args []string, stderr io.Writer) (Bench, error) {
		cfg, err := parse(args, stderr)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, stderr io.Writer) (func(io.Writer), error) {
			rep, err := run(ctx, cfg, stderr)
			if err != nil {
				return nil, err
			}
			return func(w io.Writer) { print(rep, w) }, nil
		}, nil
	}
}
