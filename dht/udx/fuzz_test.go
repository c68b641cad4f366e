package udx

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// wireSeed adds every captured packet, each of its header prefixes that is
// one byte short, and a few non-UDX datagrams to the corpus.
func wireSeed(f *testing.F) {
	for _, v := range wireVectors {
		pkt := wireBytes(f, v.hex)
		f.Add(pkt)
		f.Add(pkt[:HeaderSize-1])
		bad := bytes.Clone(pkt)
		bad[1] = 2
		f.Add(bad)
	}
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add(append([]byte{0x03}, make([]byte, 30)...))
	f.Add(wireBytes(f, "ff010408 01000000 00004000 00000000 01000000 02000000 03000000 05000000 07000000"))
	f.Add(wireBytes(f, "ff0101ff 01000000 00004000 00000000 01000000 41"))
	// SACK blocks 2^31 from una and from each other (seq is snd.nxt, ack is una).
	f.Add(wireBytes(f, "ff010400 01000000 00004000 02000080 00000000 00000080 01000080 00000000 00000080"))
}

func FuzzParseHeader(f *testing.F) {
	wireSeed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		id, idOK := PeekID(b)
		if err != nil {
			want := ErrNotUDX
			if len(b) < HeaderSize {
				want = ErrShort
			}
			if err != want || h != (Header{}) {
				t.Fatalf("ParseHeader(%x) = %+v, %v; want zero, %v", b, h, err, want)
			}
			if IsUDX(b) || idOK {
				t.Fatalf("%x: IsUDX or PeekID accept what ParseHeader refuses", b)
			}
			return
		}
		if !IsUDX(b) || !idOK || id != h.ID {
			t.Fatalf("%x: IsUDX %v, PeekID %#x %v; header id %#x", b, IsUDX(b), id, idOK, h.ID)
		}
		if enc := h.Append(nil); !bytes.Equal(enc, b[:HeaderSize]) {
			t.Fatalf("Append = %x, want %x", enc, b[:HeaderSize])
		}
		put := bytes.Clone(b)
		put[2] ^= 0xff
		put[19] ^= 0xff
		h.Put(put)
		if !bytes.Equal(put, b) {
			t.Fatalf("Put = %x, want %x", put, b)
		}
	})
}

func FuzzParseSACK(f *testing.F) {
	wireSeed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		body := b[HeaderSize:]
		blocks := ParseSACK(h, body, nil)

		want := 0
		if h.Type&TypeSACK != 0 {
			area := len(body)
			if d := int(h.DataOffset); d > 0 && d < len(body) {
				area = d
			}
			want = area / 8
		}
		if len(blocks) != want {
			t.Fatalf("%x: %d blocks, want %d", b, len(blocks), want)
		}
		for i, blk := range blocks {
			start := Seq(binary.LittleEndian.Uint32(body[8*i:]))
			end := Seq(binary.LittleEndian.Uint32(body[8*i+4:]))
			if blk != (SACKBlock{start, end}) {
				t.Fatalf("%x: block %d = %v", b, i, blk)
			}
			// The rule checked against its definition in 64-bit arithmetic:
			// a before b when (b-a) mod 2^32 is in [1, 2^31).
			una, nxt := h.Ack, h.Seq
			if ValidSACK(blk, una, nxt) != wireValidSACK(blk, una, nxt) {
				t.Fatalf("ValidSACK(%v, %#x, %#x) disagrees with the definition", blk, una, nxt)
			}
		}

		// Re-encoding gives back the SACK area, up to MaxSACKBlocks blocks.
		n := min(len(blocks), MaxSACKBlocks)
		if enc := AppendSACK(nil, blocks); !bytes.Equal(enc, body[:8*n]) {
			t.Fatalf("AppendSACK = %x, want %x", enc, body[:8*n])
		}

		// Appending to a dst with room does not disturb what it holds.
		dst := make([]SACKBlock, 1, 1+len(blocks))
		dst[0] = SACKBlock{1, 2}
		dst = ParseSACK(h, body, dst)
		if len(dst) != 1+len(blocks) || dst[0] != (SACKBlock{1, 2}) {
			t.Fatalf("ParseSACK into dst = %v", dst)
		}
	})
}

// wireValidSACK is udx_sack_is_valid written out with wide integers.
func wireValidSACK(blk SACKBlock, una, nxt Seq) bool {
	// before reports a < b: b is 1 .. 2^31-1 ahead of a, or a is 2^31 ahead
	// of b (the antipodal pair, which a signed 32-bit difference reads as
	// negative both ways).
	before := func(a, b Seq) bool {
		d := (int64(b) - int64(a)) & 0xffffffff
		return d >= 1 && d <= 1<<31
	}
	return before(blk.Start, blk.End) &&
		(blk.End == nxt || before(blk.End, nxt)) &&
		before(blk.Start, nxt) &&
		!before(blk.Start, una)
}

func FuzzPayload(f *testing.F) {
	wireSeed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			if _, err := Payload(h, b); len(b) < HeaderSize && err != ErrShort {
				t.Fatalf("Payload(%d bytes) error = %v, want ErrShort", len(b), err)
			}
			return
		}
		body := b[HeaderSize:]
		p, err := Payload(h, b)
		if int(h.DataOffset) > len(body) {
			if err != ErrDataOffset || p != nil {
				t.Fatalf("%x: Payload = %x, %v; want the drop", b, p, err)
			}
			return
		}
		if err != nil || len(p) != len(body)-int(h.DataOffset) {
			t.Fatalf("%x: Payload = %x, %v", b, p, err)
		}
		if len(p) > 0 && &p[len(p)-1] != &b[len(b)-1] {
			t.Fatal("Payload does not alias the datagram's tail")
		}

		// Rebuilding with zero padding gives the same payload back.
		pkt := h.Append(nil)
		pkt = append(pkt, make([]byte, h.DataOffset)...)
		pkt = append(pkt, p...)
		h2, err := ParseHeader(pkt)
		if err != nil || h2 != h {
			t.Fatalf("reparse = %+v, %v", h2, err)
		}
		if p2, err := Payload(h2, pkt); err != nil || !bytes.Equal(p2, p) {
			t.Fatalf("rebuilt payload = %x, %v", p2, err)
		}
	})
}
