package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/interop/bench/internal/driver"
)

const (
	stopGrace = 5 * time.Second // after EOF on stdin and SIGTERM, before SIGKILL
	callWait  = 5 * time.Second // for one JSON-lines command
	maxLine   = 16 << 20        // longest stdout line accepted
)

// server is one running server process: the Go bootstrapper (serve-go) or the JS one
// (interop/dhtrpc.js bootstrapper), bound to 127.0.0.1:addr.Port(). Events are dropped.
type server struct {
	*driver.Process
	addr netip.AddrPort
}

// startServer starts the target's server on a free port of 127.0.0.1.
func startServer(ctx context.Context, cfg config, root, target string) (*server, error) {
	port, err := freeUDPPort()
	if err != nil {
		return nil, err
	}
	p := strconv.Itoa(port)
	cmd, err := driver.Command(root, target, driver.Impl{
		GoArgs: []string{"serve-go", "-port", p, "-rcvbuf", strconv.Itoa(cfg.goRcvbuf)},
		Script: "interop/dhtrpc.js", JSArgs: []string{"bootstrapper", p}, Module: "dht-rpc", What: "server",
	})
	if err != nil {
		return nil, err
	}
	proc, err := driver.Start(ctx, cmd, target+" server", driver.Options{MaxLine: maxLine, StopGrace: stopGrace})
	if err != nil {
		return nil, err
	}
	return &server{Process: proc, addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port))}, nil
}

// call sends one JSON-lines command without arguments and returns its result.
func (s *server) call(ctx context.Context, op string, result any) error {
	return s.Call(ctx, op, nil, callWait, result)
}

// tableSize asks the server how many nodes its routing table holds.
func (s *server) tableSize(ctx context.Context) (int, error) {
	var info struct {
		TableSize int `json:"tableSize"`
	}
	err := s.call(ctx, "info", &info)
	return info.TableSize, err
}

// waitPersistent polls the server until it is persistent with the id of its address: only
// then is its routing table organised around that id, which the fillers are chosen for.
func (s *server) waitPersistent(ctx context.Context, limit time.Duration) error {
	want := rpc.NodeID(s.addr).String()
	deadline := time.Now().Add(limit)
	for {
		var info struct {
			ID        *string `json:"id"`
			Ephemeral bool    `json:"ephemeral"`
		}
		if err := s.call(ctx, "info", &info); err != nil {
			return err
		}
		if !info.Ephemeral && info.ID != nil && *info.ID == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not persistent with id %s after %v (%s)", want, limit, s.Diag())
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitPing pings the server every 100 ms until it answers.
func (s *server) waitPing(ctx context.Context, limit time.Duration) error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline := time.Now().Add(limit)
	buf := make([]byte, 2048)
	var m rpc.Message
	for tid := uint16(1); time.Now().Before(deadline); tid++ {
		req, err := rpc.AppendMessage(nil, &rpc.Message{
			Kind: rpc.KindRequest, TID: tid, To: s.addr, Internal: true, Command: rpc.CmdPing,
		})
		if err != nil {
			return err
		}
		conn.WriteToUDPAddrPort(req, s.addr)
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				break
			}
			if from == s.addr && rpc.ParseMessage(buf[:n], &m) == nil && m.Kind == rpc.KindResponse && m.TID == tid {
				return nil
			}
		}
		select {
		case <-s.Exited():
			return fmt.Errorf("waiting for the first ping reply: %s", s.Diag())
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
	}
	return fmt.Errorf("no ping reply in %v (%s)", limit, s.Diag())
}

// freeUDPPort returns a UDP port that was free on 127.0.0.1 a moment ago. The kernel hands it
// out from the ephemeral range, which the fillers stay out of.
func freeUDPPort() (int, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}
