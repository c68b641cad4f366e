package dht

import (
	"errors"

	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
)

var (
	// ErrNotFound: no node returned a valid record for the key, hash or topic.
	ErrNotFound = errors.New("dht: no record found")
	// ErrValueTooLarge: a value does not fit the datagram a put travels in.
	ErrValueTooLarge = errors.New("dht: value too large")
	// ErrSeqTooLow: the storing nodes hold a mutable value with a higher seq (wire code 17).
	ErrSeqTooLow error = &rpc.Error{Code: records.CodeSeqTooLow, Name: "seq too low"}
	// ErrSeqReused: the storing nodes hold another value under the same seq (wire code 16).
	ErrSeqReused error = &rpc.Error{Code: records.CodeSeqReused, Name: "seq reused"}
	// ErrNoStoringNodes: a put or announce found no node to store at.
	ErrNoStoringNodes = rpc.ErrTooFewNodes
)
