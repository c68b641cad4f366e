package main

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/rpc"
)

// Patching tid and target in place yields the request a full encoding would.
func TestRequestTemplatePatch(t *testing.T) {
	server := netip.MustParseAddrPort("127.0.0.1:49737")
	for _, cmd := range []uint64{rpc.CmdPing, rpc.CmdFindNode} {
		req, targetOff, err := requestTemplate(server, cmd)
		if err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint16(req[tidOffset:], 0x1234)
		var target [32]byte
		for i := range target {
			target[i] = byte(200 - i)
		}
		if targetOff >= 0 {
			copy(req[targetOff:], target[:])
		}
		var m rpc.Message
		if err := rpc.ParseMessage(req, &m); err != nil {
			t.Fatalf("%s: %v", commandName(cmd), err)
		}
		want := rpc.Message{
			Kind: rpc.KindRequest, TID: 0x1234, To: server, Internal: true, Command: cmd,
			HasTarget: cmd == rpc.CmdFindNode,
		}
		if want.HasTarget {
			want.Target = target
		}
		if m.Kind != want.Kind || m.TID != want.TID || m.To != want.To || m.HasID || m.HasToken ||
			!m.Internal || m.Command != want.Command || m.HasTarget != want.HasTarget ||
			m.Target != want.Target || m.Value != nil {
			t.Errorf("%s: patched request decodes as %+v, want %+v", commandName(cmd), m, want)
		}
	}
}

func TestSummaryMedian(t *testing.T) {
	round := func(ping, find int64) *result {
		res := &result{}
		res.load[rpc.CmdPing] = &loadResult{answered: ping, measured: time.Second}
		res.load[rpc.CmdFindNode] = &loadResult{answered: find, measured: time.Second}
		return res
	}
	r := &report{results: map[string][]*result{"go": {round(30, 1), round(10, 3), round(20, 2)}}}
	s := r.summary("go")
	if got := s.load[rpc.CmdPing].answered; got != 20 {
		t.Errorf("median ping round answered %d, want 20", got)
	}
	if got := s.load[rpc.CmdFindNode].answered; got != 2 {
		t.Errorf("median find_node round answered %d, want 2", got)
	}
	if r.summary("js") != nil {
		t.Error("summary of a target that did not run is not nil")
	}
	if rate, cpu, usr := r.ratio(); rate != nil || cpu != nil || usr != nil {
		t.Error("ratio without both targets is not nil")
	}
}
