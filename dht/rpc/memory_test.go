package rpc

import (
	mrand "math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"testing/synctest"

	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/netsim"
)

// rowID returns an id that shares exactly row leading bits with own, so that it belongs to row
// row of a table whose id is own. The bits after the first difference are random.
func rowID(own ktable.ID, row int, rng *mrand.ChaCha8) ktable.ID {
	var id ktable.ID
	rng.Read(id[:])
	i, bit := row/8, byte(0x80)>>(row%8)
	copy(id[:i], own[:i])
	above := ^(bit | (bit - 1)) // the bits of byte i more significant than bit
	id[i] = own[i]&above | ^own[i]&bit | id[i]&(bit-1)
	return id
}

// fillRows inserts rows*perRow synthetic peers straight into n's routing table: perRow peers
// in each of the rows 0 to rows-1, so no row overflows (perRow <= k). Their ids are not the
// hashes of their addresses; the table never checks.
func fillRows(tb testing.TB, n *Node, rows, perRow int) {
	tb.Helper()
	rng := mrand.NewChaCha8([32]byte{1})
	n.mu.Lock()
	defer n.mu.Unlock()
	own := n.table.ID()
	k := 0
	for row := range rows {
		for range perRow {
			id := rowID(own, row, rng)
			if got := ktable.RowIndex(own, id); got != row {
				tb.Fatalf("rowID(row %d) landed in row %d", row, got)
			}
			addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(k >> 8), byte(k)}), 49737)
			n.addNodeLocked(&peer{id: id, addr: addr})
			k++
		}
	}
	if got, want := n.table.Len(), rows*perRow; got != want {
		tb.Fatalf("table holds %d nodes, want %d", got, want)
	}
	if got, want := n.nodes.n, rows*perRow; got != want {
		tb.Fatalf("time-ordered list holds %d nodes, want %d", got, want)
	}
}

// heapInUse returns the bytes of live heap objects after a full collection.
func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// A node with a 1,000-entry routing table (50 rows of 20) stays far below 20 MB of heap. The
// figure is process-wide heap growth, so it includes anything else allocated meanwhile; it is
// an upper bound.
func TestTableMemory(t *testing.T) {
	const (
		rows   = 50
		perRow = ktable.K
		limit  = 20 << 20
	)
	synctest.Test(t, func(t *testing.T) {
		nw := netsim.New(netsim.Options{})
		defer nw.Close()

		base := heapInUse()
		n, err := Bootstrapper(49737, "10.0.0.1", Options{Host: "10.0.0.1", ListenPacket: nw.ListenPacket})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Destroy()
		empty := heapInUse()
		fillRows(t, n, rows, perRow)
		full := heapInUse()
		runtime.KeepAlive(n)

		entries := rows * perRow
		table, total := full-empty, full-base
		t.Logf("empty node %d KiB; %d table entries add %d KiB (%d B/entry); node + table %d KiB",
			(empty-base)>>10, entries, table>>10, table/int64(entries), total>>10)
		if total >= limit {
			t.Errorf("node with %d entries uses %d bytes of heap, want under %d", entries, total, limit)
		}
	})
}
