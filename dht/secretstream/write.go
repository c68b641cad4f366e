package secretstream

import (
	"net"
	"time"
)

// Write encrypts p and writes it to the raw stream as one frame, or as
// several of MaxWrite bytes when it is longer (the reference refuses such
// writes; see WriteFrame). It returns when the raw stream has taken every
// frame, which for UDX means queued, not delivered. An empty p writes
// nothing. It returns ErrWriteAfterEnd after CloseWrite, the error that ended
// the Conn, net.ErrClosed after Close, or the raw stream's error; see
// SetWriteDeadline for timeouts.
func (c *Conn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.writableLocked(); err != nil {
		return 0, err
	}
	n := 0
	for n < len(p) {
		m := p[n:min(len(p), n+MaxWrite)]
		if err := c.writeFrameLocked(m); err != nil {
			return n, err
		}
		n += len(m)
	}
	return n, nil
}

// WriteFrame writes p as exactly one frame, which the peer receives as one
// unit (one 'data' event in the reference, one ReadFrame here). An empty p
// makes an empty frame, which the peer may drop as a keep-alive. It fails
// with ErrFrameTooLarge, writing nothing, when p is longer than MaxWrite;
// other errors are Write's.
func (c *Conn) WriteFrame(p []byte) error {
	if len(p) > MaxWrite {
		return ErrFrameTooLarge
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.writableLocked(); err != nil {
		return err
	}
	return c.writeFrameLocked(p)
}

func (c *Conn) writableLocked() error {
	if err := c.opErr(); err != nil {
		return err
	}
	if c.ended.Load() {
		return ErrWriteAfterEnd
	}
	return nil
}

// writeFrameLocked encrypts m into one frame and writes it. If the raw
// stream fails before taking any byte of it, the push state is put back and
// the Conn stays usable (a write deadline, say); if it fails after taking
// part of it, the framing is broken and the Conn fails.
func (c *Conn) writeFrameLocked(m []byte) error {
	size := len(m) + Overhead
	var (
		took int
		err  error
	)
	if LengthSize+size <= len(c.wbuf) {
		frame := c.wbuf[:LengthSize+size]
		putFrameSize(frame, size)
		saved := c.push
		c.push.Push(frame[:LengthSize], m, nil, TagMessage)
		took, err = c.raw.Write(frame)
		if err != nil && took == 0 {
			c.push = saved
		}
	} else {
		putFrameSize(c.wbuf, size)
		err = c.push.pushPieces(c.wbuf, LengthSize, m, func(piece []byte) error {
			n, err := c.raw.Write(piece)
			took += n
			return err
		})
	}
	if err != nil {
		if took > 0 {
			c.fail(err)
		}
		if e := c.opErr(); e != nil {
			return e
		}
		return err
	}
	c.lastWrite.Store(c.now())
	c.stats.framesWritten.Add(1)
	c.stats.bytesWritten.Add(int64(len(m)))
	return nil
}

// CloseWrite ends our direction: it stops the keep-alives and ends the raw
// stream's sending side (a UDX END after the data written). Reading goes on
// until the peer ends too. Later writes fail with ErrWriteAfterEnd. It is
// idempotent.
func (c *Conn) CloseWrite() error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.opErr(); err != nil {
		return err
	}
	if c.ended.Swap(true) {
		return nil
	}
	return c.raw.CloseWrite()
}

// timerLoop writes keep-alives and enforces the idle timeout, as the
// reference's timers do: the keep-alive fires after Options.KeepAlive
// without a frame written, the timeout after Options.Timeout without bytes
// read from the raw stream.
func (c *Conn) timerLoop() {
	defer c.wg.Done()
	var keepAlive, timeout <-chan time.Time
	var kt, tt *time.Timer
	if d := c.opts.KeepAlive; d > 0 {
		kt = time.NewTimer(d)
		defer kt.Stop()
		keepAlive = kt.C
	}
	if d := c.opts.Timeout; d > 0 {
		tt = time.NewTimer(d)
		defer tt.Stop()
		timeout = tt.C
	}
	for {
		select {
		case <-c.dead:
			return
		case <-keepAlive:
			if c.ended.Load() {
				keepAlive = nil
				continue
			}
			d := c.opts.KeepAlive
			if idle := time.Duration(c.now() - c.lastWrite.Load()); idle < d {
				kt.Reset(d - idle)
				continue
			}
			c.sendKeepAlive()
			next := d - time.Duration(c.now()-c.lastWrite.Load())
			if next <= 0 {
				next = d // skipped: a write is blocked, or failed
			}
			kt.Reset(next)
		case <-timeout:
			d := c.opts.Timeout
			idle := time.Duration(c.now() - c.lastRead.Load())
			if idle >= d {
				c.fail(ErrTimeout)
				return
			}
			tt.Reset(d - idle)
		}
	}
}

// sendKeepAlive writes an empty frame, unless a write is under way (which
// makes one unnecessary) or the Conn is ending.
func (c *Conn) sendKeepAlive() {
	if !c.writeMu.TryLock() {
		return
	}
	defer c.writeMu.Unlock()
	if c.writableLocked() != nil {
		return
	}
	if c.writeFrameLocked(nil) == nil {
		c.stats.keepAlives.Add(1)
	}
}

// Interface check: a Conn is a net.Conn.
var _ net.Conn = (*Conn)(nil)
