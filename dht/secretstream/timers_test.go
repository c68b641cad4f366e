package secretstream

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestKeepAlive checks in virtual time that a Conn writes an empty frame
// after KeepAlive without writing, restarts the count on every write, and
// stops at CloseWrite.
func TestKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		raw, fake := newPipe(t, 1<<16)
		hi, _ := testResults()
		c, err := New(raw, &hi, Options{KeepAlive: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()

		type frame struct {
			at   time.Duration
			size int
		}
		frames := make(chan frame, 16)
		go func() {
			defer close(frames)
			var buf []byte
			tmp := make([]byte, 256)
			for {
				n, err := fake.Read(tmp)
				buf = append(buf, tmp[:n]...)
				for {
					body, k, err := ParseFrame(buf)
					if err != nil {
						break
					}
					frames <- frame{time.Since(start), len(body)}
					buf = buf[k:]
				}
				if err != nil {
					return
				}
			}
		}()
		next := func() frame {
			t.Helper()
			f, ok := <-frames
			if !ok {
				t.Fatal("raw stream ended")
			}
			return f
		}
		if f := next(); f.at != 0 || f.size != headerBody {
			t.Fatalf("first frame %+v, want the header at once", f)
		}
		for _, want := range []time.Duration{5 * time.Second, 10 * time.Second} {
			if f := next(); f.at != want || f.size != Overhead {
				t.Fatalf("frame %+v, want an empty frame at %v", f, want)
			}
		}
		time.Sleep(2 * time.Second) // now 12 s
		if _, err := c.Write([]byte("data")); err != nil {
			t.Fatal(err)
		}
		if f := next(); f.at != 12*time.Second || f.size != Overhead+4 {
			t.Fatalf("frame %+v, want the data at 12 s", f)
		}
		if f := next(); f.at != 17*time.Second || f.size != Overhead {
			t.Fatalf("frame %+v, want a keep-alive 5 s after the write", f)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if f, ok := <-frames; ok {
			t.Fatalf("frame %+v after CloseWrite", f)
		}
		if got := c.Stats().KeepAlives; got != 3 {
			t.Fatalf("KeepAlives = %d, want 3", got)
		}
	})
}

// TestKeepAliveDropsEmptyFrames: a side with KeepAlive takes the peer's
// empty frames for keep-alives and does not deliver them.
func TestKeepAliveDropsEmptyFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ci, cr, _, _ := connPair(t, 1<<16, Options{KeepAlive: time.Second}, Options{KeepAlive: time.Hour})
		time.Sleep(3500 * time.Millisecond)
		if err := ci.WriteFrame([]byte("data")); err != nil {
			t.Fatal(err)
		}
		f, err := cr.ReadFrame()
		if err != nil || string(f) != "data" {
			t.Fatalf("ReadFrame = %q, %v", f, err)
		}
		if got := cr.Stats().FramesRead; got != 4 {
			t.Fatalf("FramesRead = %d, want 3 keep-alives and the data", got)
		}
	})
}

// TestTimeout: a Conn with Timeout stays up while keep-alives arrive, and
// fails with ErrTimeout once the raw stream is silent for that long.
func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ci, cr, ri, rr := connPair(t, 1<<16, Options{KeepAlive: time.Second},
			Options{Timeout: 3 * time.Second, DropEmptyFrames: true})
		time.Sleep(10 * time.Second)
		if cr.Err() != nil {
			t.Fatalf("timed out with keep-alives: %v", cr.Err())
		}
		// CloseWrite stops the initiator's keep-alives. The responder reads
		// the end, and its timeout still runs, as in the reference.
		if err := ci.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		<-cr.Done()
		if !errors.Is(cr.Err(), ErrTimeout) {
			t.Fatalf("Err = %v, want ErrTimeout", cr.Err())
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("timed out after %v of silence, want at most 3 s", d)
		}
		if !rr.aborted() {
			t.Fatal("the timeout did not abort the raw stream")
		}
		<-ci.Done()
		if !errors.Is(ci.Err(), errPipeReset) || !ri.aborted() {
			t.Fatalf("the initiator's Err = %v, want the reset", ci.Err())
		}
	})
}
