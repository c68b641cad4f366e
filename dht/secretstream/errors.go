package secretstream

import "errors"

// Errors of the secret-stream protocol. Their text follows the reference's
// messages (NoiseSecretStream in @hyperswarm/secret-stream), with the package
// prefix. A Conn that fails with one of them destroys its raw stream, so the
// peer sees a reset (udx.ErrReset over UDX), as it does when the reference
// fails.
var (
	// ErrHeaderSize means the first frame received was not 56 bytes long
	// ("Invalid header message received").
	ErrHeaderSize = errors.New("secretstream: invalid header message received")

	// ErrStreamID means the first frame received carried a stream id other
	// than the one the peer's role and the handshake hash give ("Invalid
	// header received"): not the same session, or both sides claim the same
	// role.
	ErrStreamID = errors.New("secretstream: invalid header received")

	// ErrShortMessage means a data frame or a message envelope too short to
	// hold its overhead ("Invalid message received").
	ErrShortMessage = errors.New("secretstream: invalid message received")

	// ErrDecrypt means a frame or envelope that does not authenticate: forged,
	// damaged, out of order, or under the wrong key ("pull failed").
	ErrDecrypt = errors.New("secretstream: pull failed")

	// ErrTimeout means nothing arrived on the raw stream for
	// [Options.Timeout] ("Stream timed out").
	ErrTimeout = errors.New("secretstream: stream timed out")

	// ErrNonceExhausted means the unordered-message counter came back to its
	// random start after 2^64 messages ("udp send nonce exchausted").
	ErrNonceExhausted = errors.New("secretstream: message nonce exhausted")

	// ErrHandshake means the Noise handshake run over the raw stream failed
	// ("Noise handshake failed").
	ErrHandshake = errors.New("secretstream: noise handshake failed")
)

// Errors of local misuse. They leave the Conn as it was.
var (
	// ErrFrameTooLarge is returned by [Conn.WriteFrame] for more than
	// MaxWrite bytes. (The reference destroys the stream then.)
	ErrFrameTooLarge = errors.New("secretstream: frame larger than the maximum of 16777198 bytes")

	// ErrWriteAfterEnd is returned by writes after [Conn.CloseWrite].
	ErrWriteAfterEnd = errors.New("secretstream: write after CloseWrite")

	// ErrNoMessages is returned by [Conn.Send] and [Conn.TrySend] when the
	// raw stream cannot carry datagrams (it has no Send method). The
	// reference silently sends nothing then.
	ErrNoMessages = errors.New("secretstream: raw stream cannot send messages")

	// ErrNoDeadline is returned by [Conn.SetWriteDeadline] when the raw
	// stream has no SetWriteDeadline method.
	ErrNoDeadline = errors.New("secretstream: raw stream has no write deadline")
)
