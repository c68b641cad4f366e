// Command hyperlan is the hyperlan command-line tool: for now it runs HyperDHT bootstrap
// nodes and nodes, looks nodes up, announces keys on topics and looks them up, stores and
// fetches values, opens encrypted connections between key pairs, and runs an offline demo.
// Run "hyperlan help" for the list of commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// main runs the command with a context that SIGINT or SIGTERM cancels; the command then
// stops cleanly. A second signal kills the process at once.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
