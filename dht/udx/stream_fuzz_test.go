package udx

import (
	"bytes"
	"encoding/binary"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/dht/netsim"
)

// FuzzStreamPackets feeds arbitrary packets, in a sequence, to a connected
// stream that has data of its own in flight. Whatever arrives, the stream
// must not panic, must deliver only the bytes the packets carried at their
// seqs (no corruption), and must keep its accounting consistent.
//
// The input is a list of records: 1 byte n, then n bytes of datagram (the
// header's id bytes are overwritten with the stream's id so packets reach
// it).
func FuzzStreamPackets(f *testing.F) {
	pkt := func(h Header, payload string) []byte {
		b := append(h.Append(nil), payload...)
		return append([]byte{byte(len(b))}, b...)
	}
	f.Add(pkt(Header{Type: TypeData, Seq: 0}, "hello"))
	f.Add(bytes.Join([][]byte{
		pkt(Header{Type: TypeData, Seq: 1}, "b"),
		pkt(Header{Type: TypeData, Seq: 0}, "a"),
		pkt(Header{Type: TypeData | TypeEnd, Seq: 2}, "c"),
	}, nil))
	f.Add(bytes.Join([][]byte{
		pkt(Header{Type: TypeSACK, Ack: 1, RWnd: 1 << 20}, "\x02\x00\x00\x00\x05\x00\x00\x00"),
		pkt(Header{Type: TypeSACK, Ack: 0, RWnd: 0}, "\x01\x00\x00\x00\x03\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00"),
		pkt(Header{Type: TypeHeartbeat}, ""),
		pkt(Header{Type: TypeMessage}, "m"),
		pkt(Header{Type: TypeData, DataOffset: 3, Seq: 0}, "\x00\x00\x00x"),
		pkt(Header{Type: TypeDestroy, Seq: 5}, ""),
	}, nil))
	f.Add(pkt(Header{Type: 0xff, Seq: 0x7fffffff, Ack: 0x80000000}, "zz"))
	f.Fuzz(runFuzzOne)
}

func runFuzzOne(t *testing.T, in []byte) {
	synctest.Test(t, func(t *testing.T) {
		n := netsim.New(netsim.Options{})
		defer n.Close()
		u := NewInstance()
		sock := listen(t, u, n, "10.0.0.1:1000")
		raw := rawPeer(t, n, "10.0.0.2:2000")
		s := newTestStream(t, u, 1, StreamOptions{OnMessage: func([]byte) {}})
		s.Connect(sock, 2, raw.LocalAddrPort())
		s.Write(make([]byte, 5000)) // 5 packets in flight, seqs 0-4

		// The expected stream: what the packets put at each seq, first
		// copy wins, up to a gap or an END.
		held := map[Seq][]byte{}
		ended := map[Seq]bool{}
		for len(in) > 0 {
			k := int(in[0])
			in = in[1:]
			if k > len(in) {
				k = len(in)
			}
			b := bytes.Clone(in[:k])
			in = in[k:]
			if len(b) >= 8 {
				binary.LittleEndian.PutUint32(b[4:], 1)
			}
			if h, err := ParseHeader(b); err == nil && h.Type&TypeHeartbeat == 0 && h.Type&(TypeData|TypeEnd) != 0 {
				if p, err := Payload(h, b); err == nil {
					if _, dup := held[h.Seq]; !dup {
						held[h.Seq] = bytes.Clone(p)
						ended[h.Seq] = h.Type&TypeEnd != 0
					}
				}
			}
			raw.WriteToUDPAddrPort(b, sock.LocalAddrPort())
			synctest.Wait()
		}
		time.Sleep(time.Minute) // let timers run: RTOs, ErrTimeout
		s.mu.Lock()
		c := s.c
		if c.snd.inflight < 0 || c.snd.sacked < 0 || c.snd.inflight > len(c.snd.sent) {
			t.Errorf("inflight %d sacked %d sent %d", c.snd.inflight, c.snd.sacked, len(c.snd.sent))
		}
		nxt := c.rcv.nxt
		s.mu.Unlock()
		var want []byte
		for seq := Seq(0); seq != nxt; seq++ {
			p, ok := held[seq]
			if !ok {
				t.Fatalf("ack %d passed seq %d that never arrived", nxt, seq)
			}
			want = append(want, p...)
			if ended[seq] {
				break
			}
		}
		s.SetReadDeadline(time.Now().Add(time.Millisecond))
		var got []byte
		buf := make([]byte, 512)
		for {
			n, err := s.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		// A DESTROY discards unread data; otherwise it must all be there.
		if s.Err() == nil && !bytes.Equal(got, want) {
			t.Fatalf("read %q, want %q", got, want)
		}
	})
}
