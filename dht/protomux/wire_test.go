package protomux

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestOpenMessage(t *testing.T) {
	tests := []struct {
		name string
		o    openMsg
		hex  string // from testdata/vectors.json
	}{
		{"plain", openMsg{channel: 1, protocol: "test-proto"}, "01010a746573742d70726f746f00"},
		{"id and handshake", openMsg{channel: 1, protocol: "test-proto", id: []byte{0xab, 0xcd, 0xef}, handshake: []byte{1, 2}},
			"01010a746573742d70726f746f03abcdef0102"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := appendOpen(nil, tt.o)
			if got := hexOf(b); got != tt.hex {
				t.Fatalf("appendOpen = %s, want %s", got, tt.hex)
			}
			o, err := parseOpen(b[1:])
			if err != nil || !reflect.DeepEqual(o, tt.o) && !(len(o.handshake) == 0 && len(tt.o.handshake) == 0) {
				t.Fatalf("parseOpen = %+v, %v; want %+v", o, err, tt.o)
			}
			// Every cut inside the fixed fields fails; cuts in the
			// handshake only shorten it.
			fixed := len(b) - len(tt.o.handshake)
			for i := 1; i < fixed; i++ {
				if _, err := parseOpen(b[1:i]); !errors.Is(err, ErrTruncated) {
					t.Errorf("parseOpen(%x) = %v, want ErrTruncated", b[1:i], err)
				}
			}
		})
	}
}

func TestFrameHeadTruncated(t *testing.T) {
	for _, f := range [][]byte{{}, {1}, {0xfd, 1}, {1, 0xfe, 0, 0}} {
		if _, _, _, err := frameHead(f); !errors.Is(err, ErrTruncated) {
			t.Errorf("frameHead(%x) = %v, want ErrTruncated", f, err)
		}
	}
}

func TestBatchRoundTrip(t *testing.T) {
	var b batch
	items := []batchItem{{1, []byte{0, 1}}, {1, []byte{1}}, {0, appendControlID(nil, controlClose, 3)}, {300, bytes.Repeat([]byte{7}, 300)}}
	for _, it := range items {
		b.push(it.channel, it.body)
	}
	f := b.frame()
	ch, typ, p, err := frameHead(f)
	if err != nil || ch != 0 || typ != controlBatch {
		t.Fatalf("frameHead = %d, %d, %v", ch, typ, err)
	}
	var got []batchItem
	err = parseBatch(p, func(channel uint64, body []byte, more bool) error {
		got = append(got, batchItem{channel, body})
		if more != (len(got) < len(items)) {
			t.Errorf("item %d: more = %v", len(got), more)
		}
		return nil
	})
	if err != nil || !reflect.DeepEqual(got, items) {
		t.Fatalf("parseBatch = %v, %v; want %v", got, err, items)
	}
}
