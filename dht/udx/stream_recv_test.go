package udx

import (
	"slices"
	"testing"
)

func TestRecvBufferWrap(t *testing.T) {
	r := recvBuffer{nxt: 0xfffffffe}
	for _, seq := range []Seq{0xffffffff, 1, 0} {
		if !r.onPacket(seq, false, []byte{byte(seq)}) {
			t.Fatalf("seq %#x refused", seq)
		}
	}
	if got := r.sack(nil); !slices.Equal(got, []SACKBlock{{0xffffffff, 2}}) {
		t.Fatalf("sack across the wrap: %v", got)
	}
	r.onPacket(0xfffffffe, false, []byte{0xfe})
	buf := make([]byte, 8)
	if n := r.read(buf); n != 4 || r.nxt != 2 || !slices.Equal(buf[:n], []byte{0xfe, 0xff, 0, 1}) {
		t.Fatalf("read %x, nxt %#x", buf[:n], r.nxt)
	}
}

func TestRecvBufferLimits(t *testing.T) {
	var r recvBuffer
	if r.onPacket(oooWindow, false, []byte("far")) {
		t.Fatal("packet oooWindow ahead stored")
	}
	if !r.onPacket(oooWindow-1, false, []byte("edge")) {
		t.Fatal("packet just inside the window refused")
	}
	// At most MaxSACKBlocks blocks, ascending: the lowest ones, and last
	// the run of the packet received most recently.
	for seq := Seq(2); seq < 200; seq += 2 {
		r.onPacket(seq, false, nil)
	}
	r.onPacket(151, false, nil)
	got := r.sack(nil)
	if len(got) != MaxSACKBlocks || got[0] != (SACKBlock{2, 3}) || got[48] != (SACKBlock{98, 99}) || got[49] != (SACKBlock{150, 153}) {
		t.Fatalf("sack: %d blocks, first %v, last two %v", len(got), got[0], got[len(got)-2:])
	}
	r.onPacket(51, false, nil) // the latest is among the lowest: the next run up comes last
	got = r.sack(nil)
	if len(got) != MaxSACKBlocks || got[24] != (SACKBlock{50, 53}) || got[49] != (SACKBlock{102, 103}) {
		t.Fatalf("sack: %d blocks, 25th %v, last %v", len(got), got[24], got[len(got)-1])
	}
	// An END bounds what is accepted after it.
	var e recvBuffer
	e.onPacket(3, true, nil)
	if e.onPacket(4, false, []byte("x")) {
		t.Fatal("data after END stored")
	}
	for seq := Seq(0); seq < 3; seq++ {
		e.onPacket(seq, false, []byte("y"))
	}
	if !e.eof || e.nxt != 4 || e.buffered() != 3 {
		t.Fatalf("eof %v nxt %d buffered %d", e.eof, e.nxt, e.buffered())
	}
	if w := e.window(); w != recvWindow-3 {
		t.Fatalf("window %d", w)
	}
}
