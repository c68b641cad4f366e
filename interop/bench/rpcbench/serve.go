package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/interop/bench/internal/cli"
	"github.com/hyperlan/hyperlan/interop/bench/internal/driver"
)

// serveGo runs one Go bootstrapper on 127.0.0.1:port in this process, so that it is measured
// as a process of its own like the JS one. It speaks the subset of the interop/dhtrpc.js
// JSON-lines protocol the benchmark uses: a "listening" event, then replies to {"op":"info"}
// and {"op":"exit"}. It stops on ctx (SIGTERM, SIGINT), on the exit op or at EOF on stdin.
func serveGo(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve-go", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 0, "UDP port on 127.0.0.1 to serve on (required)")
	rcvbuf := fs.Int("rcvbuf", 0, "SO_RCVBUF of the node's sockets in bytes; 0 keeps the kernel default, as dht/rpc does")
	if err := fs.Parse(args); err != nil {
		return cli.ExitUsage
	}
	if fs.NArg() > 0 || *port <= 0 || *port > 65535 {
		fmt.Fprintln(stderr, "rpcbench: error: usage: rpcbench serve-go -port P")
		return cli.ExitUsage
	}
	opts := rpc.Options{Host: "127.0.0.1"}
	if *rcvbuf > 0 {
		opts.ListenPacket = func(network, address string) (net.PacketConn, error) {
			pc, err := net.ListenPacket(network, address)
			if err == nil {
				err = pc.(*net.UDPConn).SetReadBuffer(*rcvbuf)
			}
			return pc, err
		}
	}
	n, err := rpc.Bootstrapper(*port, "127.0.0.1", opts)
	if err != nil {
		fmt.Fprintf(stderr, "rpcbench: error: %v\n", err)
		return cli.ExitFail
	}
	defer n.Destroy()

	enc := json.NewEncoder(stdout)
	enc.Encode(map[string]any{"event": "listening", "info": goInfo(n)})

	lines := driver.Lines(stdin, bufio.MaxScanTokenSize)
	for {
		select {
		case <-ctx.Done():
			return cli.ExitOK
		case line, ok := <-lines:
			if !ok {
				return cli.ExitOK
			}
			var cmd struct {
				Op string `json:"op"`
				ID *int64 `json:"id"`
			}
			if err := json.Unmarshal(line, &cmd); err != nil || cmd.ID == nil {
				enc.Encode(map[string]any{"event": "driver-error", "error": "want a JSON object with a numeric id"})
				continue
			}
			switch cmd.Op {
			case "info":
				enc.Encode(map[string]any{"id": *cmd.ID, "ok": true, "result": goInfo(n)})
			case "exit":
				enc.Encode(map[string]any{"id": *cmd.ID, "ok": true, "result": nil})
				return cli.ExitOK
			default:
				enc.Encode(map[string]any{"id": *cmd.ID, "ok": false, "error": fmt.Sprintf("unknown op %q", cmd.Op)})
			}
		}
	}
}

// goInfo is the part of dhtrpc.js's nodeInfo the benchmark reads.
func goInfo(n *rpc.Node) map[string]any {
	id, _ := n.ID()
	return map[string]any{
		"id":         id.String(),
		"host":       n.LocalAddr().Addr().String(),
		"port":       n.LocalAddr().Port(),
		"serverPort": n.LocalAddr().Port(),
		"clientPort": n.ClientAddr().Port(),
		"ephemeral":  n.Ephemeral(),
		"firewalled": n.Firewalled(),
		"tableSize":  n.TableSize(),
	}
}
