package secretstream

import (
	"crypto/subtle"
	"errors"
	"io"
	"os"
	"time"
)

// frameReader splits a raw stream into frames, reading into one buffer that
// grows to the largest frame seen (at most LengthSize+MaxFrame bytes, and
// only as the bytes of that frame arrive).
type frameReader struct {
	raw        io.Reader
	onData     func() // called after each read that returned bytes; may be nil
	buf        []byte
	start, end int   // buf[start:end] is read and not yet returned
	last       int   // size of the last frame returned
	err        error // the raw stream's error, returned once the buffer is used up
}

// next returns the body of the next frame. It aliases the buffer and is
// valid until the next call. At the raw stream's end it returns io.EOF, or
// io.ErrUnexpectedEOF if the end cuts a frame; other errors are the raw
// stream's.
func (r *frameReader) next() ([]byte, error) {
	for {
		if body, n, err := ParseFrame(r.buf[r.start:r.end]); err == nil {
			r.start += n
			r.last = n
			return body, nil
		}
		if r.err != nil {
			if r.err == io.EOF && r.start != r.end {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, r.err
		}
		r.makeRoom()
		n, err := r.raw.Read(r.buf[r.end:])
		r.end += n
		if n > 0 && r.onData != nil {
			r.onData()
		}
		if err != nil {
			r.err = err
		}
	}
}

// makeRoom makes space after r.end for the frame being read.
func (r *frameReader) makeRoom() {
	if r.start == r.end {
		r.start, r.end = 0, 0
		// A buffer grown for a large frame is kept while large frames
		// come, and given up after a small one.
		if r.buf == nil || len(r.buf) > shrinkAbove && r.last <= readBufSize {
			r.buf = make([]byte, readBufSize)
		}
		return
	}
	need := LengthSize
	if r.end-r.start >= LengthSize {
		need += frameSize(r.buf[r.start:])
	}
	if r.start+need <= len(r.buf) {
		return // the frame fits where it starts, and is incomplete: there is room
	}
	r.end = copy(r.buf, r.buf[r.start:r.end])
	r.start = 0
	if need <= len(r.buf) || r.end < len(r.buf) {
		return
	}
	// Full, and the frame is longer: grow, at most doubling, so that the
	// buffer follows the bytes that arrive rather than the length claimed.
	grown := make([]byte, min(need, 2*len(r.buf)))
	copy(grown, r.buf[:r.end])
	r.buf = grown
}

// readLoop reads the peer's header, then decrypts frames and hands them to
// the readers one at a time, until the raw stream ends or fails or the Conn
// is closed.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	defer close(c.frames)
	err := c.readFrames()
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		c.stats.eof.Store(err == io.EOF)
		c.readErr = err
	case err != nil:
		c.fail(err) // does nothing if the Conn was closed or failed first
		c.readErr = err
	}
}

// readFrames returns why reading stopped, or nil if the Conn died first.
func (c *Conn) readFrames() error {
	body, err := c.fr.next()
	if err != nil {
		return err
	}
	id, header, err := ParseHeader(body)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(id[:], c.remoteID[:]) != 1 {
		return ErrStreamID
	}
	c.pull.Init(&c.hs.Rx, &header)
	close(c.opened)
	dropEmpty := c.opts.KeepAlive > 0 || c.opts.DropEmptyFrames

	for {
		body, err := c.fr.next()
		if err != nil {
			return err
		}
		// Decrypt in place: the plaintext replaces the ciphertext, one byte
		// after the start of the body.
		plain, _, err := c.pull.Pull(body[1:1], body, nil)
		if err != nil {
			return err
		}
		c.stats.framesRead.Add(1)
		c.stats.bytesRead.Add(int64(len(plain)))
		if len(plain) == 0 && dropEmpty {
			continue
		}
		select {
		case c.frames <- plain:
		case <-c.dead:
			return nil
		}
		select {
		case <-c.release:
		case <-c.dead:
			return nil
		}
	}
}

// Read reads decrypted data. Frame boundaries are not kept (see
// [Conn.ReadFrame]); empty frames are skipped. It returns io.EOF after the
// peer ended its side, the error that ended the Conn, or net.ErrClosed after
// Close, and os.ErrDeadlineExceeded past the read deadline.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for len(c.pending) == 0 {
		if err := c.nextFrameLocked(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// ReadFrame returns the plaintext of the next frame whole, or what Read has
// left of the current one; it may be empty unless empty frames are dropped
// (Options.KeepAlive, Options.DropEmptyFrames). The slice is valid until the
// next Read, ReadFrame or Close. Errors are Read's.
func (c *Conn) ReadFrame() ([]byte, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if len(c.pending) == 0 {
		if err := c.nextFrameLocked(); err != nil {
			return nil, err
		}
	}
	f := c.pending
	c.pending = nil
	return f, nil
}

// nextFrameLocked releases the frame held, if any, and takes the next one
// into c.pending.
func (c *Conn) nextFrameLocked() error {
	if c.holding {
		c.holding = false
		c.release <- struct{}{}
	}
	expired := c.readDL.wait()
	select {
	case <-expired:
		return os.ErrDeadlineExceeded
	default:
	}
	select {
	case f, ok := <-c.frames:
		if !ok {
			if err := c.opErr(); err != nil {
				return err
			}
			return c.readErr
		}
		c.holding = true
		c.pending = f
		return nil
	case <-c.dead:
		return c.opErr()
	case <-expired:
		return os.ErrDeadlineExceeded
	}
}

// SetReadDeadline sets the deadline for Read and ReadFrame; a blocked call
// sees the change. The zero time means none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.readDL.set(t)
	return nil
}

// SetWriteDeadline sets the raw stream's write deadline (it fails with
// ErrNoDeadline when the stream has none). A write that times out before any
// byte of a frame reached the raw stream leaves the Conn usable; one that
// times out within a frame has broken the framing and fails the Conn.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if d, ok := c.raw.(interface{ SetWriteDeadline(time.Time) error }); ok {
		return d.SetWriteDeadline(t)
	}
	return ErrNoDeadline
}

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}
