// Package ktable implements the Kademlia routing table that dht-rpc keeps of
// the nodes it knows, generic over the value stored for each node.
//
// The behaviour matches the npm module kademlia-routing-table 1.0.x, which
// dht-rpc uses. A table has an own [ID] and 256 rows. A node belongs to the
// row whose index is the length of the prefix its id shares with the own id
// (see [RowIndex]); the own id itself belongs to the last row, 255. A row
// holds at most k nodes (default [K]), kept sorted by id. There is no
// replacement cache: when a row is full, [Table.Add] refuses the newcomer and
// the caller decides, from [Table.Bucket], whether to evict a member.
//
// [Table.Closest] does not sort by XOR distance. Like the reference, for a
// target whose row index is d it takes whole rows in the order
//
//	d, d-1, ..., 0, d+1, ..., 255
//
// and, within each row, nodes in id order, until it has k nodes. dht-rpc sends
// exactly this list as closerNodes, so keeping the order keeps replies
// byte-identical with JS nodes. Queriers sort by XOR distance themselves
// ([Compare]).
package ktable
