package ktable

import (
	"encoding/binary"
	"encoding/hex"
	"math/bits"
)

// ID is a 32-byte node id or lookup target.
type ID [32]byte

// String returns the id in lower-case hex.
func (id ID) String() string {
	return hex.EncodeToString(id[:])
}

// RowIndex returns the number of leading bits that id shares with own,
// which is the index of the row id belongs to in a table whose id is own.
// Equal ids give 255, the last row, as in the reference (an id that differs
// from own only in its last bit also gives 255).
func RowIndex(own, id ID) int {
	for i := 0; i < len(id); i += 8 {
		x := binary.BigEndian.Uint64(own[i:]) ^ binary.BigEndian.Uint64(id[i:])
		if x != 0 {
			return i*8 + bits.LeadingZeros64(x)
		}
	}
	return rows - 1
}

// Compare orders a and b by XOR distance to target. It returns a negative
// number if a is closer to target than b, zero if a and b are equal, and a
// positive number if b is closer. Bytes are compared from the most
// significant one, as dht-rpc's query does.
func Compare(target, a, b ID) int {
	for i := range target {
		da, db := target[i]^a[i], target[i]^b[i]
		if da != db {
			if da < db {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Distance returns the XOR distance a ^ b.
func Distance(a, b ID) ID {
	var d ID
	for i := range d {
		d[i] = a[i] ^ b[i]
	}
	return d
}
