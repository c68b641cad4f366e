package udx

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

// wireSACKBody returns a body of n bytes in which each 8-byte slot i holds
// the block [10i+1, 10i+2), so a parsed block shows which slot it came from.
func wireSACKBody(n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint32(b[i:], uint32(10*(i/8)+1))
		binary.LittleEndian.PutUint32(b[i+4:], uint32(10*(i/8)+2))
	}
	return b
}

// TestSACKCount checks libudx's count rule (process_packet): the SACK area
// is data_offset bytes when 0 < data_offset < len(body), else the body, and
// holds floor(size/8) blocks.
func TestSACKCount(t *testing.T) {
	tests := []struct {
		name string
		typ  Type
		doff uint8
		body int
		want int
	}{
		{"empty body", TypeSACK, 0, 0, 0},
		{"7 bytes", TypeSACK, 0, 7, 0},
		{"one block", TypeSACK, 0, 8, 1},
		{"two blocks", TypeSACK, 0, 16, 2},
		{"trailing bytes ignored", TypeSACK, 0, 23, 2},
		{"50 blocks", TypeSACK, 0, 400, 50},
		{"not capped at 50", TypeSACK, 0, MaxDatagram - HeaderSize, 253},
		{"doff bounds area to one block", TypeSACK, 8, 24, 1},
		{"doff 9 bounds area to one block", TypeSACK, 9, 24, 1},
		{"doff 15 bounds area to one block", TypeSACK, 15, 24, 1},
		{"doff 7 bounds area to nothing", TypeSACK, 7, 24, 0},
		{"doff 16 of 17", TypeSACK, 16, 17, 2},
		{"doff equal to body: whole body", TypeSACK, 24, 24, 3},
		{"doff past body: whole body", TypeSACK, 200, 24, 3},
		{"doff with empty body", TypeSACK, 8, 0, 0},
		{"no SACK bit", 0, 0, 16, 0},
		{"DATA without SACK bit", TypeData, 0, 16, 0},
		{"SACK with other bits", TypeSACK | TypeData | 0x40, 0, 16, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Header{Type: tt.typ, DataOffset: tt.doff}
			got := ParseSACK(h, wireSACKBody(tt.body), nil)
			if len(got) != tt.want {
				t.Fatalf("ParseSACK gave %d blocks, want %d", len(got), tt.want)
			}
			for i, blk := range got {
				if want := (SACKBlock{Seq(10*i + 1), Seq(10*i + 2)}); blk != want {
					t.Fatalf("block %d = %v, want %v", i, blk, want)
				}
			}
		})
	}
}

// TestSACKWholeDatagram parses k blocks out of a full datagram (V9).
func TestSACKWholeDatagram(t *testing.T) {
	for k := range MaxSACKBlocks + 1 {
		blocks := make([]SACKBlock, k)
		for i := range blocks {
			blocks[i] = SACKBlock{Seq(2*i + 1), Seq(2*i + 2)}
		}
		h := Header{Type: TypeSACK, ID: 7, RWnd: wireRWnd}
		pkt := AppendSACK(h.Append(nil), blocks)
		if len(pkt) != HeaderSize+8*k {
			t.Fatalf("k=%d: datagram is %d bytes", k, len(pkt))
		}
		ph, err := ParseHeader(pkt)
		if err != nil {
			t.Fatal(err)
		}
		if got := ParseSACK(ph, pkt[HeaderSize:], nil); len(got) != k || !slices.Equal(got, blocks) {
			t.Fatalf("k=%d: ParseSACK = %v", k, got)
		}
	}
}

func TestSACKAppend(t *testing.T) {
	got := AppendSACK([]byte{0xaa}, []SACKBlock{{2, 3}, {5, 7}})
	want := wireBytes(t, "aa 02000000 03000000 05000000 07000000")
	if !bytes.Equal(got, want) {
		t.Errorf("AppendSACK = %x, want %x", got, want)
	}
	if got := AppendSACK(nil, nil); len(got) != 0 {
		t.Errorf("AppendSACK(nil, nil) = %x", got)
	}

	// With more runs than fit, the lowest MaxSACKBlocks are kept, as libudx
	// does (61 holes gave a 420-byte datagram ending in [99,100), udx.md §1.4).
	var many []SACKBlock
	for s := Seq(1); len(many) < 61; s += 2 {
		many = append(many, SACKBlock{s, s + 1})
	}
	h := Header{Type: TypeSACK}
	pkt := AppendSACK(h.Append(nil), many)
	if len(pkt) != 420 {
		t.Fatalf("datagram with 61 runs is %d bytes, want 420", len(pkt))
	}
	blocks := ParseSACK(h, pkt[HeaderSize:], nil)
	if !slices.Equal(blocks, many[:MaxSACKBlocks]) || blocks[len(blocks)-1] != (SACKBlock{99, 100}) {
		t.Errorf("kept %v", blocks)
	}
}

// TestSACKWrap encodes blocks that cross the wrap of the sequence space (V13).
func TestSACKWrap(t *testing.T) {
	blocks := []SACKBlock{{0xfffffffe, 0xffffffff}, {0xffffffff, 2}, {4, 5}}
	h := Header{Type: TypeSACK, ID: 1, RWnd: wireRWnd, Seq: 9, Ack: 0xfffffffd}
	pkt := AppendSACK(h.Append(nil), blocks)
	want := wireBytes(t, "ff010400 01000000 00004000 09000000 fdffffff"+
		"feffffff ffffffff ffffffff 02000000 04000000 05000000")
	if !bytes.Equal(pkt, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", pkt, want)
	}
	ph, err := ParseHeader(pkt)
	if err != nil || ph != h {
		t.Fatalf("ParseHeader = %+v, %v", ph, err)
	}
	got := ParseSACK(ph, pkt[HeaderSize:], nil)
	if !slices.Equal(got, blocks) {
		t.Fatalf("ParseSACK = %v", got)
	}
	// The peer has sent up to 9 and its cumulative ack is now 0xfffffffd.
	for i, blk := range got {
		if !ValidSACK(blk, ph.Ack, 9) {
			t.Errorf("block %v not valid across the wrap", blk)
		}
		if i > 0 && !got[i-1].End.LessEq(blk.Start) {
			t.Errorf("blocks %v and %v out of order", got[i-1], blk)
		}
	}
}

func TestSACKParseNoAlloc(t *testing.T) {
	pkt := wireBytes(t, wireVectors[2].hex)
	h, _ := ParseHeader(pkt)
	dst := make([]SACKBlock, 0, MaxSACKBlocks)
	allocs := testing.AllocsPerRun(100, func() {
		dst = ParseSACK(h, pkt[HeaderSize:], dst[:0])
	})
	if allocs != 0 || len(dst) != 2 {
		t.Errorf("ParseSACK: %v allocs, %d blocks", allocs, len(dst))
	}
	// It appends after what dst already holds.
	dst = append(dst[:0], SACKBlock{100, 101})
	dst = ParseSACK(h, pkt[HeaderSize:], dst)
	if want := []SACKBlock{{100, 101}, {2, 3}, {5, 7}}; !slices.Equal(dst, want) {
		t.Errorf("ParseSACK appended %v, want %v", dst, want)
	}
}

// TestValidSACK checks libudx udx_sack_is_valid's rule: start < end,
// end <= snd.nxt, start < snd.nxt, start >= snd.una, all serial.
func TestValidSACK(t *testing.T) {
	tests := []struct {
		name     string
		blk      SACKBlock
		una, nxt Seq
		want     bool
	}{
		{"inside", SACKBlock{2, 3}, 1, 10, true},
		{"whole window", SACKBlock{1, 10}, 1, 10, true},
		{"starts at una", SACKBlock{1, 2}, 1, 10, true},
		{"ends at nxt", SACKBlock{9, 10}, 1, 10, true},
		{"empty", SACKBlock{3, 3}, 1, 10, false},
		{"reversed", SACKBlock{4, 3}, 1, 10, false},
		{"end past nxt", SACKBlock{9, 11}, 1, 10, false},
		{"start at nxt", SACKBlock{10, 11}, 1, 10, false},
		{"start before una", SACKBlock{0, 2}, 1, 10, false},
		{"all acked", SACKBlock{0, 1}, 1, 10, false},
		{"nothing in flight", SACKBlock{5, 6}, 5, 5, false},
		{"across wrap", SACKBlock{0xfffffffe, 2}, 0xfffffff0, 0x10, true},
		{"ends at wrap", SACKBlock{0xfffffff0, 0}, 0xfffffff0, 0, true},
		{"across wrap, start before una", SACKBlock{0xffffffef, 2}, 0xfffffff0, 0x10, false},
		{"across wrap, end past nxt", SACKBlock{0xfffffffe, 0x11}, 0xfffffff0, 0x10, false},
		{"una after wrap", SACKBlock{0xffffffff, 1}, 0, 4, false},
		// Exactly 2^31 from una: libudx reads start-una as negative and refuses.
		{"start antipodal to una", SACKBlock{0x80000000, 0x80000001}, 0, 0x80000002, false},
		// A block 2^31 wide passes, as in libudx (no sender has that much in flight).
		{"start antipodal to end", SACKBlock{0, 0x80000000}, 0, 0x80000000, true},
	}
	for _, tt := range tests {
		if got := ValidSACK(tt.blk, tt.una, tt.nxt); got != tt.want {
			t.Errorf("%s: ValidSACK(%v, una %#x, nxt %#x) = %v, want %v", tt.name, tt.blk, tt.una, tt.nxt, got, tt.want)
		}
	}
}

// TestSACKCaptureValid applies the rule to the §1.4 capture: ack 1, blocks
// [2,3) and [5,7).
func TestSACKCaptureValid(t *testing.T) {
	pkt := wireBytes(t, wireVectors[2].hex)
	h, _ := ParseHeader(pkt)
	blocks := ParseSACK(h, pkt[HeaderSize:], nil)
	for _, blk := range blocks {
		if !ValidSACK(blk, h.Ack, 7) {
			t.Errorf("%v not valid for a sender with una 1, nxt 7", blk)
		}
	}
	if ValidSACK(blocks[1], h.Ack, 6) {
		t.Errorf("%v valid for a sender that has sent only up to 6", blocks[1])
	}
	if ValidSACK(blocks[0], 3, 7) {
		t.Errorf("%v valid after a cumulative ack of 3", blocks[0])
	}
}

func BenchmarkAppendSACK(b *testing.B) {
	blocks := make([]SACKBlock, MaxSACKBlocks)
	for i := range blocks {
		blocks[i] = SACKBlock{Seq(2*i + 1), Seq(2*i + 2)}
	}
	h := Header{Type: TypeSACK, RWnd: wireRWnd}
	buf := make([]byte, 0, HeaderSize+8*MaxSACKBlocks)
	b.ReportAllocs()
	b.SetBytes(int64(cap(buf)))
	for b.Loop() {
		buf = AppendSACK(h.Append(buf[:0]), blocks)
	}
}

func BenchmarkParseSACK(b *testing.B) {
	blocks := make([]SACKBlock, MaxSACKBlocks)
	for i := range blocks {
		blocks[i] = SACKBlock{Seq(2*i + 1), Seq(2*i + 2)}
	}
	body := AppendSACK(nil, blocks)
	h := Header{Type: TypeSACK}
	dst := make([]SACKBlock, 0, MaxSACKBlocks)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		dst = ParseSACK(h, body, dst[:0])
	}
}
