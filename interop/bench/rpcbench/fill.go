package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

// maxFillers is about how many fillers fit in the table: the ~27,000 candidate ports fill
// rows 0 to 9 (20 each) and part of rows 10 to 12; deeper rows need more ports than exist.
const maxFillers = 220

// filler is a UDP socket on 127.0.0.1 that joined the server's routing table by pinging it
// with its valid id, and answers every request the server sends it (pings of the table's
// liveness checks, refresh queries) with that id, so it is never evicted.
type filler struct {
	conn    *net.UDPConn
	id      ktable.ID
	joinTID uint16
	joined  atomic.Bool
}

// fillers is the set of fillers of one server. close stops them and waits for their readers.
type fillers struct {
	server   netip.AddrPort
	list     []*filler
	requests atomic.Int64 // requests the server sent to fillers and they answered
	wg       sync.WaitGroup
}

// openFillers binds up to want sockets whose ids land in table rows that still have room, so
// that (almost) every filler can enter the table: a Kademlia row holds only k nodes, and
// random ids would crowd the first rows. The server's table id is the hash of its address, as
// for every bootstrapper. Ports come from below and above the kernel's ephemeral range, so
// they do not collide with sockets bound to port 0, including the server's.
func openFillers(server netip.AddrPort, want int) (*fillers, error) {
	fl := &fillers{server: server}
	if want == 0 {
		return fl, nil
	}
	own := rpc.NodeID(server)
	var perRow [256]int
	ports := candidatePorts()
	rand.Shuffle(len(ports), func(i, j int) { ports[i], ports[j] = ports[j], ports[i] })
	for _, port := range ports {
		addr := netip.AddrPortFrom(server.Addr(), port)
		id := rpc.NodeID(addr)
		row := ktable.RowIndex(own, id)
		if perRow[row] >= ktable.K {
			continue
		}
		conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(addr))
		if err != nil {
			continue // in use
		}
		perRow[row]++
		fl.list = append(fl.list, &filler{conn: conn, id: id, joinTID: uint16(rand.N(65536))})
		if len(fl.list) == want {
			break
		}
	}
	for _, f := range fl.list {
		fl.wg.Add(1)
		go fl.readLoop(f)
	}
	return fl, nil
}

// candidatePorts returns the ports from 10000 up that lie outside the kernel's ephemeral
// range.
func candidatePorts() []uint16 {
	lo, hi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var l, h int
		if n, _ := fmt.Sscan(string(b), &l, &h); n == 2 && l <= h {
			lo, hi = l, h
		}
	}
	var ports []uint16
	for p := 10000; p <= 65535; p++ {
		if p < lo || p > hi {
			ports = append(ports, uint16(p))
		}
	}
	return ports
}

// join pings the server from every filler with its id (flags id|internal), resending to those
// without a reply, until all have one or limit passes. It returns how many got a reply.
func (fl *fillers) join(ctx context.Context, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	for {
		missing := 0
		for i, f := range fl.list {
			if f.joined.Load() {
				continue
			}
			missing++
			req, err := rpc.AppendMessage(nil, &rpc.Message{
				Kind: rpc.KindRequest, TID: f.joinTID, To: fl.server, ID: f.id, HasID: true,
				Internal: true, Command: rpc.CmdPing,
			})
			if err == nil {
				f.conn.WriteToUDPAddrPort(req, fl.server)
			}
			if i%20 == 19 {
				time.Sleep(time.Millisecond) // do not overrun the server's receive buffer
			}
		}
		if missing == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	joined := 0
	for _, f := range fl.list {
		if f.joined.Load() {
			joined++
		}
	}
	return joined
}

// readLoop notes the reply to f's join ping and answers every request from the server.
func (fl *fillers) readLoop(f *filler) {
	defer fl.wg.Done()
	buf := make([]byte, 2048)
	var m rpc.Message
	var out []byte
	for {
		n, from, err := f.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed
		}
		if from != fl.server || rpc.ParseMessage(buf[:n], &m) != nil {
			continue
		}
		if m.Kind == rpc.KindResponse {
			if m.TID == f.joinTID {
				f.joined.Store(true)
			}
			continue
		}
		out, err = rpc.AppendMessage(out[:0], &rpc.Message{
			Kind: rpc.KindResponse, TID: m.TID, To: from, ID: f.id, HasID: true,
		})
		if err == nil {
			f.conn.WriteToUDPAddrPort(out, from)
			fl.requests.Add(1)
		}
	}
}

// served returns how many server requests the fillers answered.
func (fl *fillers) served() int64 { return fl.requests.Load() }

func (fl *fillers) close() {
	for _, f := range fl.list {
		f.conn.Close()
	}
	fl.wg.Wait()
}
