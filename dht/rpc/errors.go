package rpc

import (
	"errors"
	"fmt"
)

// Wire error codes of dht-rpc (lib/errors.js). Codes from 16 up belong to applications;
// hyperdht uses 16 (SEQ_REUSED) and 17 (SEQ_TOO_LOW).
const (
	CodeOK             = 0
	CodeUnknownCommand = 1
	CodeInvalidToken   = 2
)

var (
	// ErrTimeout: a request got no response after all its retransmissions (REQUEST_TIMEOUT).
	ErrTimeout = errors.New("rpc: request timed out")
	// ErrDestroyed: the request was cancelled before a response arrived (REQUEST_DESTROYED).
	ErrDestroyed = errors.New("rpc: request destroyed")
	// ErrTooFewNodes: a committing query found no node to commit to.
	ErrTooFewNodes = errors.New("rpc: too few nodes responded")
	// ErrNoToken: a closest reply carried no token, so it cannot be auto-committed.
	ErrNoToken = errors.New("rpc: no token received for closest node")
	// ErrNotIPv4: dht-rpc addresses are IPv4 only.
	ErrNotIPv4 = errors.New("rpc: address is not IPv4")
)

// Error is a non-zero error code carried by a response. A response with an error still
// completes [Node.Request]; [Response.Err] turns its code into an *Error.
type Error struct {
	Code uint64
	// Name, when set, describes an application code (e.g. "seq too low").
	Name string
}

func (e *Error) Error() string {
	if e.Name != "" {
		return fmt.Sprintf("rpc: remote error %d: %s", e.Code, e.Name)
	}
	switch e.Code {
	case CodeUnknownCommand:
		return "rpc: remote error 1: unknown command"
	case CodeInvalidToken:
		return "rpc: remote error 2: invalid token"
	}
	return fmt.Sprintf("rpc: remote error %d", e.Code)
}

// Is reports whether target is an *Error with the same code, so errors.Is(err,
// &rpc.Error{Code: rpc.CodeInvalidToken}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}
