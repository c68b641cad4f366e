package secretstream

import (
	"sync/atomic"
	"time"
)

// MessageHook carries the raw stream's datagrams to a Conn. A UDX stream's
// message callback is fixed when the stream is created, before the Conn
// exists, so create the hook first, give its Deliver method to the stream and
// the hook to New in Options.Messages:
//
//	hook := new(secretstream.MessageHook)
//	raw, _ := inst.NewStream(id, udx.StreamOptions{OnMessage: hook.Deliver})
//	conn, _ := secretstream.New(raw, &result, secretstream.Options{Messages: hook, OnMessage: handle})
//
// Datagrams that arrive before New has set up the keys, or after the Conn
// ended, are dropped, as the reference drops them. The zero value is ready
// to use. A hook serves one Conn.
type MessageHook struct {
	c atomic.Pointer[Conn]
}

// Deliver hands one datagram received on the raw stream to the Conn. b is
// only read during the call.
func (h *MessageHook) Deliver(b []byte) {
	if c := h.c.Load(); c != nil {
		c.onMessage(b)
	}
}

// onMessage opens an envelope and passes the message to Options.OnMessage
// (NoiseSecretStream _onmessage). Bad envelopes are dropped silently and
// counted.
func (c *Conn) onMessage(env []byte) {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	m, counter, err := OpenMessage(c.rbuf[:0], env, &c.recvKey)
	if err != nil {
		c.stats.msgRejected.Add(1)
		return
	}
	if cap(m) > cap(c.rbuf) {
		c.rbuf = m[:0]
	}
	if !c.opts.AllowReplay && !c.replay.accept(counter) {
		c.stats.msgReplayed.Add(1)
		return
	}
	c.stats.msgReceived.Add(1)
	if c.opts.OnMessage != nil {
		c.opts.OnMessage(m)
	}
}

// Send seals b and sends it as one unordered, unreliable datagram on the raw
// stream (NoiseSecretStream send): it may be lost, duplicated or reordered,
// and is not retransmitted. The envelope is len(b)+MessageOverhead bytes and
// must fit one datagram; a UDX stream refuses a longer one with
// udx.ErrMessageTooLarge. It fails with ErrNoMessages when the raw stream
// has no Send method; other errors are the raw stream's, or the Conn's after
// it ended. b is not retained.
func (c *Conn) Send(b []byte) error {
	s, ok := c.raw.(interface{ Send([]byte) error })
	if !ok {
		return ErrNoMessages
	}
	return c.sendMessage(b, s.Send)
}

// TrySend is Send through the raw stream's TrySend (NoiseSecretStream
// trySend), which never waits.
func (c *Conn) TrySend(b []byte) error {
	s, ok := c.raw.(interface{ TrySend([]byte) error })
	if !ok {
		return ErrNoMessages
	}
	return c.sendMessage(b, s.TrySend)
}

// SendBefore is Send through the raw stream's SendBefore (udx.Stream.SendBefore):
// it waits for room to send until deadline at the latest, and then drops the
// message with os.ErrDeadlineExceeded.
func (c *Conn) SendBefore(b []byte, deadline time.Time) error {
	s, ok := c.raw.(interface {
		SendBefore([]byte, time.Time) error
	})
	if !ok {
		return ErrNoMessages
	}
	return c.sendMessage(b, func(m []byte) error { return s.SendBefore(m, deadline) })
}

// Cork holds the raw stream's sending until the matching Uncork (udx.Stream.Cork), so
// that a burst of messages leaves together; it does nothing when the raw stream has no
// Cork method. Every Cork needs an Uncork.
func (c *Conn) Cork() {
	if s, ok := c.raw.(corker); ok {
		s.Cork()
	}
}

// Uncork releases a Cork.
func (c *Conn) Uncork() {
	if s, ok := c.raw.(corker); ok {
		s.Uncork()
	}
}

// SetMessageBatchEnd passes fn to the raw stream's SetMessageBatchEnd
// (udx.Stream.SetMessageBatchEnd): fn is called, on the goroutine that delivers
// the datagrams, after each batch of them that held one or more for this Conn,
// once they all went through Options.OnMessage (opened and passed on, or
// dropped). It reports false, and fn is never called, when the raw stream has
// no such method.
func (c *Conn) SetMessageBatchEnd(fn func()) bool {
	s, ok := c.raw.(interface{ SetMessageBatchEnd(func()) })
	if ok {
		s.SetMessageBatchEnd(fn)
	}
	return ok
}

type corker interface {
	Cork()
	Uncork()
}

// MaxMessage returns the longest message Send takes now, from the raw stream's
// MaxMessage (udx.Stream.MaxMessage) less the envelope, and whether that limit is
// final (the raw stream's path MTU search has ended). It returns 0, false when the
// raw stream has no MaxMessage method.
func (c *Conn) MaxMessage() (n int, final bool) {
	s, ok := c.raw.(interface{ MaxMessage() (int, bool) })
	if !ok {
		return 0, false
	}
	n, final = s.MaxMessage()
	return max(n-MessageOverhead, 0), final
}

func (c *Conn) sendMessage(b []byte, send func([]byte) error) error {
	if err := c.opErr(); err != nil {
		return err
	}
	c.sendMu.Lock()
	c.counter++
	if c.counter == c.seed {
		c.sendMu.Unlock()
		c.fail(ErrNonceExhausted)
		return ErrNonceExhausted
	}
	if need := len(b) + MessageOverhead; cap(c.sbuf) < need {
		c.sbuf = make([]byte, 0, max(need, msgBufSize))
	}
	c.sbuf = SealMessage(c.sbuf[:0], c.counter, b, &c.sendKey)
	err := send(c.sbuf)
	c.sendMu.Unlock()
	if err != nil {
		return err
	}
	c.stats.msgSent.Add(1)
	return nil
}
