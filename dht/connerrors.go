package dht

// ConnError is an error of the connection layer, named by the reference's code (hyperdht
// lib/errors.js), so that a Go program and a JS program report the same failure the same way.
// Compare with errors.Is against the Err* values below; Msg may carry more detail.
type ConnError struct {
	Code string // the reference's code, such as "PEER_NOT_FOUND"
	Msg  string
	Err  error // the cause, if any
}

func (e *ConnError) Error() string {
	s := "dht: " + e.Code + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is matches any *ConnError with the same code.
func (e *ConnError) Is(target error) bool {
	t, ok := target.(*ConnError)
	return ok && t.Code == e.Code
}

func (e *ConnError) Unwrap() error { return e.Err }

// with returns a copy of e with another message and cause.
func (e *ConnError) with(msg string, cause error) *ConnError {
	c := *e
	if msg != "" {
		c.Msg = msg
	}
	c.Err = cause
	return &c
}

// The connection errors a caller can meet. Each matches (errors.Is) every error of its code.
var (
	// ErrPeerNotFound: no node knows a server for the key (no FIND_PEER reply carried a record).
	ErrPeerNotFound = &ConnError{Code: "PEER_NOT_FOUND", Msg: "peer not found"}
	// ErrPeerConnectionFailed: a server was found but no handshake completed; a server whose
	// firewall rejects the client answers nothing, so a refusal looks like this too.
	ErrPeerConnectionFailed = &ConnError{Code: "PEER_CONNECTION_FAILED", Msg: "could not connect to peer"}
	// ErrBadHandshakeReply: a PEER_HANDSHAKE response was malformed or came from elsewhere.
	ErrBadHandshakeReply = &ConnError{Code: "BAD_HANDSHAKE_REPLY", Msg: "bad handshake reply"}
	// ErrHandshakeInvalid: the Noise handshake failed.
	ErrHandshakeInvalid = &ConnError{Code: "HANDSHAKE_INVALID", Msg: "received invalid handshake"}
	// ErrServerIncompatible: the server answered with another payload version.
	ErrServerIncompatible = &ConnError{Code: "SERVER_INCOMPATIBLE", Msg: "server is using an incompatible version"}
	// ErrServerError: the server answered the handshake with an error.
	ErrServerError = &ConnError{Code: "SERVER_ERROR", Msg: "server returned an error"}
	// ErrHolepunchAborted: no direct path opened in time (the punch ran out, the random-punch
	// limit, or a failed LAN ping to a server that cannot be punched to).
	ErrHolepunchAborted = &ConnError{Code: "HOLEPUNCH_ABORTED", Msg: "holepunch aborted"}
	// ErrCannotHolepunch: the server is behind a NAT and offers no way to punch to it.
	ErrCannotHolepunch = &ConnError{Code: "CANNOT_HOLEPUNCH", Msg: "cannot holepunch to remote"}
	// ErrBadHolepunchReply: a PEER_HOLEPUNCH response was malformed or came from elsewhere.
	ErrBadHolepunchReply = &ConnError{Code: "BAD_HOLEPUNCH_REPLY", Msg: "bad holepunch reply"}
	// ErrHolepunchInvalid: the server's holepunch payload did not open or decode.
	ErrHolepunchInvalid = &ConnError{Code: "HOLEPUNCH_INVALID", Msg: "invalid holepunch payload"}
	// ErrHolepunchProbeTimeout: after the probes one side's NAT was still unclassified.
	ErrHolepunchProbeTimeout = &ConnError{Code: "HOLEPUNCH_PROBE_TIMEOUT", Msg: "holepunching probe did not finish in time"}
	// ErrHolepunchDoubleRandomizedNATs: both NATs give a new port per destination; no punch
	// can work (a relay can).
	ErrHolepunchDoubleRandomizedNATs = &ConnError{Code: "HOLEPUNCH_DOUBLE_RANDOMIZED_NATS", Msg: "both remote and local NATs are randomized"}
	// ErrRemoteAborted: the server gave the holepunch up (its payload carried an error).
	ErrRemoteAborted = &ConnError{Code: "REMOTE_ABORTED", Msg: "remote aborted"}
	// ErrRemoteNotHolepunchable: no punch strategy fits the two NATs.
	ErrRemoteNotHolepunchable = &ConnError{Code: "REMOTE_NOT_HOLEPUNCHABLE", Msg: "remote is not holepunchable"}
	// ErrRemoteNotHolepunching: the server did not agree to punch.
	ErrRemoteNotHolepunching = &ConnError{Code: "REMOTE_NOT_HOLEPUNCHING", Msg: "remote is not holepunching"}
	// ErrAlreadyListening: Listen on a server that listens.
	ErrAlreadyListening = &ConnError{Code: "ALREADY_LISTENING", Msg: "already listening"}
	// ErrKeyPairAlreadyUsed: another server of this node listens on the key pair.
	ErrKeyPairAlreadyUsed = &ConnError{Code: "KEYPAIR_ALREADY_USED", Msg: "keypair already used"}
	// ErrNodeDestroyed: the node was destroyed.
	ErrNodeDestroyed = &ConnError{Code: "NODE_DESTROYED", Msg: "node destroyed"}
	// ErrServerClosed: Accept or Listen on a closed server (no reference code; net.ErrClosed
	// is wrapped so that errors.Is(err, net.ErrClosed) holds as well).
	ErrServerClosed = &ConnError{Code: "SERVER_CLOSED", Msg: "server closed"}
)
