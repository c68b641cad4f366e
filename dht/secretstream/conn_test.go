package secretstream

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperlan/hyperlan/dht/noise"
)

// testResults returns the handshake results of the two sides of a session
// with fixed keys: tx and rx crossed, the same hash.
func testResults() (initiator, responder noise.Result) {
	for i := range 32 {
		initiator.Tx[i] = 0x80 + byte(i)
		initiator.Rx[i] = 0xc0 + byte(i)
		initiator.PublicKey[i] = 1 + byte(i)
		initiator.RemotePublicKey[i] = 0x21 + byte(i)
	}
	for i := range 64 {
		initiator.Hash[i] = 0x40 + byte(i)
	}
	initiator.Initiator = true
	responder = noise.Result{
		PublicKey: initiator.RemotePublicKey, RemotePublicKey: initiator.PublicKey,
		Hash: initiator.Hash, Tx: initiator.Rx, Rx: initiator.Tx,
	}
	return initiator, responder
}

// connPair connects an initiator and a responder over a pipe holding limit
// bytes each way, closing both in t.Cleanup.
func connPair(t *testing.T, limit int, optsI, optsR Options) (ci, cr *Conn, ri, rr *pipeEnd) {
	t.Helper()
	ri, rr = newPipe(t, limit)
	hi, hr := testResults()
	ci, cr = startPair(t, ri, rr, &hi, &hr, optsI, optsR)
	return ci, cr, ri, rr
}

func startPair(t *testing.T, ri, rr *pipeEnd, hi, hr *noise.Result, optsI, optsR Options) (ci, cr *Conn) {
	t.Helper()
	for _, p := range []struct {
		end  *pipeEnd
		opts *Options
	}{{ri, &optsI}, {rr, &optsR}} {
		if p.opts.Messages == nil {
			p.opts.Messages = new(MessageHook)
		}
		p.end.onMessage = p.opts.Messages.Deliver
	}
	var err error
	if ci, err = New(ri, hi, optsI); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ci.Close() })
	if cr, err = New(rr, hr, optsR); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cr.Close() })
	return ci, cr
}

// readString reads exactly n bytes.
func readN(t *testing.T, c *Conn, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return buf
}

func TestConnAccessors(t *testing.T) {
	ci, cr, _, _ := connPair(t, 1<<16, Options{}, Options{})
	hi, hr := testResults()
	if !ci.IsInitiator() || cr.IsInitiator() {
		t.Error("IsInitiator wrong")
	}
	if ci.PublicKey() != hi.PublicKey || ci.RemotePublicKey() != hi.RemotePublicKey ||
		cr.PublicKey() != hr.PublicKey || ci.HandshakeHash() != hi.Hash || cr.HandshakeHash() != hi.Hash {
		t.Error("keys or hash wrong")
	}
	if ci.LocalAddr() != nil || ci.RemoteAddr() != nil {
		t.Error("addresses of a raw stream without any")
	}
}

// TestConnData moves data both ways: small writes, a write that is written
// in pieces, concurrent writers, frame boundaries.
func TestConnData(t *testing.T) {
	ci, cr, _, _ := connPair(t, 1<<16, Options{}, Options{})

	if _, err := ci.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, cr, 5); string(got) != "hello" {
		t.Fatalf("read %q", got)
	}
	if _, err := cr.Write([]byte("world")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, ci, 5); string(got) != "world" {
		t.Fatalf("read %q", got)
	}

	// 1 MiB in one Write: one frame, pushed in pieces through the scratch
	// buffer; the reader's buffer grows to hold it.
	big := make([]byte, 1<<20+7)
	for i := range big {
		big[i] = byte(i * 7)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := ci.Write(big)
		errc <- err
	}()
	f, err := cr.ReadFrame()
	if err != nil || !bytes.Equal(f, big) {
		t.Fatalf("ReadFrame of the big write: %d bytes, %v", len(f), err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	// Frames keep their boundaries for ReadFrame, empty ones included.
	sizes := []int{3, 0, 70000, 1, 0}
	go func() {
		for _, n := range sizes {
			if err := cr.WriteFrame(bytes.Repeat([]byte{byte(n)}, n)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for _, n := range sizes {
		f, err := ci.ReadFrame()
		if err != nil || len(f) != n {
			t.Fatalf("ReadFrame = %d bytes, %v; want %d", len(f), err, n)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	// Read across frames, with small buffers; empty frames are skipped.
	go func() {
		for _, s := range []string{"ab", "", "cde", "f"} {
			if err := ci.WriteFrame([]byte(s)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	var got []byte
	buf := make([]byte, 2)
	for len(got) < 6 {
		n, err := cr.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "abcdef" {
		t.Fatalf("read %q", got)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n, err := cr.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}

	// Concurrent writers each get whole frames.
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for range 50 {
				if err := ci.WriteFrame(bytes.Repeat([]byte{byte(w)}, 1000)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 200 {
		f, err := cr.ReadFrame()
		if err != nil || len(f) != 1000 || !bytes.Equal(f, bytes.Repeat(f[:1], 1000)) {
			t.Fatalf("concurrent frames mixed: %v", err)
		}
	}
	wg.Wait()

	st := ci.Stats()
	if st.FramesWritten < 200 || st.BytesWritten < 1<<20 {
		t.Errorf("Stats = %+v", st)
	}
}

// TestConnLargeWrite writes more than one frame can hold: Write splits it,
// WriteFrame refuses it.
func TestConnLargeWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 16 MiB")
	}
	ci, cr, _, _ := connPair(t, 1<<20, Options{}, Options{})
	if err := ci.WriteFrame(make([]byte, MaxWrite+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("WriteFrame(MaxWrite+1) = %v", err)
	}
	data := make([]byte, MaxWrite+10)
	for i := range data {
		data[i] = byte(i >> 8)
	}
	want := sha256.Sum256(data)
	errc := make(chan error, 1)
	go func() {
		_, err := ci.Write(data)
		errc <- err
	}()
	f1, err := cr.ReadFrame()
	if err != nil || len(f1) != MaxWrite {
		t.Fatalf("first frame: %d bytes, %v", len(f1), err)
	}
	h := sha256.New()
	h.Write(f1)
	f2, err := cr.ReadFrame()
	if err != nil || len(f2) != 10 {
		t.Fatalf("second frame: %d bytes, %v", len(f2), err)
	}
	h.Write(f2)
	if [32]byte(h.Sum(nil)) != want {
		t.Fatal("data differs")
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestConnHalfClose ends one side, then the other, as in the reference:
// no end marker, the raw stream's half-close.
func TestConnHalfClose(t *testing.T) {
	ci, cr, _, _ := connPair(t, 1<<16, Options{KeepAlive: time.Hour}, Options{})
	if _, err := ci.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	if err := ci.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := ci.CloseWrite(); err != nil {
		t.Fatalf("second CloseWrite: %v", err)
	}
	if _, err := ci.Write([]byte("x")); !errors.Is(err, ErrWriteAfterEnd) {
		t.Fatalf("Write after CloseWrite: %v", err)
	}
	if got, err := io.ReadAll(cr); err != nil || string(got) != "last" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if _, err := cr.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read after the end: %v", err)
	}
	// The other direction goes on.
	if _, err := cr.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, ci, 4); string(got) != "late" {
		t.Fatalf("read %q", got)
	}
	if err := cr.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := ci.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read after both ended: %v", err)
	}
	if ci.Err() != nil || cr.Err() != nil {
		t.Fatalf("Err after a clean end: %v, %v", ci.Err(), cr.Err())
	}
}

// TestConnClose aborts one side: blocked calls return, the peer gets the raw
// stream's reset.
func TestConnClose(t *testing.T) {
	ci, cr, ri, _ := connPair(t, 1<<16, Options{}, Options{})
	readErr := make(chan error, 1)
	go func() {
		_, err := ci.Read(make([]byte, 10))
		readErr <- err
	}()
	time.Sleep(10 * time.Millisecond) // let the Read block (it returns the same error if not)
	if err := ci.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-readErr; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("blocked Read after Close: %v", err)
	}
	if !ri.aborted() {
		t.Fatal("Close did not abort the raw stream")
	}
	select {
	case <-ci.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if _, err := ci.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	if err := ci.Send([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if err := ci.CloseWrite(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("CloseWrite after Close: %v", err)
	}
	if ci.Err() != nil {
		t.Fatalf("Err after Close = %v", ci.Err())
	}
	if err := ci.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	if _, err := cr.Read(make([]byte, 1)); !errors.Is(err, errPipeReset) {
		t.Fatalf("peer Read: %v, want the raw stream's reset", err)
	}
	<-cr.Done()
	if !errors.Is(cr.Err(), errPipeReset) {
		t.Fatalf("peer Err = %v", cr.Err())
	}
	if _, err := cr.Write([]byte("x")); !errors.Is(err, errPipeReset) {
		t.Fatalf("peer Write: %v", err)
	}
}

// TestConnCloseUnblocksWrite closes a Conn whose Write waits for a peer
// that does not read.
func TestConnCloseUnblocksWrite(t *testing.T) {
	ri, _ := newPipe(t, 1024)
	hi, _ := testResults()
	ci, err := New(ri, &hi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := ci.Write(make([]byte, 100000))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	ci.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("blocked Write after Close: %v", err)
	}
}

// TestConnProtocolErrors feeds a Conn bad input from a fake peer; each
// error ends the Conn with the reference's error and aborts the raw stream.
func TestConnProtocolErrors(t *testing.T) {
	hi, hr := testResults()
	peerHeader := [HeaderSize]byte{1, 2, 3}
	goodHeader := AppendHeader(nil, new(StreamID(&hi.Hash, false)), &peerHeader)
	var peer State
	peer.Init(&hr.Tx, &peerHeader)
	frame := func(m []byte) []byte {
		out := make([]byte, LengthSize, LengthSize+len(m)+Overhead)
		putFrameSize(out, len(m)+Overhead)
		return peer.Push(out, m, nil, TagMessage)
	}
	good := frame([]byte("hello"))
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1

	for _, tc := range []struct {
		name  string
		input []byte
		want  error
	}{
		{"short header", append([]byte{55, 0, 0}, make([]byte, 55)...), ErrHeaderSize},
		{"long header", append([]byte{57, 0, 0}, make([]byte, 57)...), ErrHeaderSize},
		{"data frame first", good, ErrHeaderSize},
		{"own id", AppendHeader(nil, new(StreamID(&hi.Hash, true)), &peerHeader), ErrStreamID},
		{"short frame", append(bytes.Clone(goodHeader), 16, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16), ErrShortMessage},
		{"empty frame", append(bytes.Clone(goodHeader), 0, 0, 0), ErrShortMessage},
		{"bad mac", append(bytes.Clone(goodHeader), flipped...), ErrDecrypt},
		{"good then replayed", append(append(bytes.Clone(goodHeader), good...), good...), ErrDecrypt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, fake := newPipe(t, 1<<16)
			c, err := New(raw, &hi, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			readErr := make(chan error, 1)
			go func() {
				_, err := io.ReadAll(c)
				readErr <- err
			}()
			if _, err := fake.Write(tc.input); err != nil {
				t.Fatal(err)
			}
			raw.waitAborted(t)
			<-c.Done()
			if !errors.Is(c.Err(), tc.want) {
				t.Fatalf("Err = %v, want %v", c.Err(), tc.want)
			}
			if err := <-readErr; !errors.Is(err, tc.want) {
				t.Fatalf("Read: %v, want %v", err, tc.want)
			}
			if _, err := c.Write([]byte("x")); !errors.Is(err, tc.want) {
				t.Fatalf("Write: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestConnTruncated ends the raw stream inside a frame and at a frame
// boundary.
func TestConnTruncated(t *testing.T) {
	hi, hr := testResults()
	for _, cut := range []int{0, 2, 30, headerLen, headerLen + 1, headerLen + 10} {
		raw, fake := newPipe(t, 1<<16)
		c, err := New(raw, &hi, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var peer State
		header := peer.InitPush(&hr.Tx)
		input := AppendHeader(nil, new(StreamID(&hi.Hash, false)), &header)
		input = append(input, 22-LengthSize, 0, 0)
		input = peer.Push(input, []byte("hello"), nil, TagMessage)
		fake.Write(input[:cut])
		fake.CloseWrite()
		want := io.ErrUnexpectedEOF
		if cut == 0 || cut == headerLen {
			want = io.EOF
		}
		if _, err := io.ReadAll(c); err != nil && err != want || err == nil && want != io.EOF {
			t.Errorf("cut at %d: ReadAll error %v, want %v", cut, err, want)
		}
		if c.Err() != nil {
			t.Errorf("cut at %d: Err = %v", cut, c.Err())
		}
		c.Close()
	}
}

func TestConnReadDeadline(t *testing.T) {
	ci, cr, _, _ := connPair(t, 1<<16, Options{}, Options{})
	cr.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	start := time.Now()
	if _, err := cr.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v", err)
	}
	if time.Since(start) < 15*time.Millisecond {
		t.Fatal("Read returned before the deadline")
	}
	cr.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := cr.ReadFrame(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrame past the deadline: %v", err)
	}
	cr.SetReadDeadline(time.Time{})
	ci.Write([]byte("ok"))
	if got := readN(t, cr, 2); string(got) != "ok" {
		t.Fatalf("read %q after clearing the deadline", got)
	}
	// A deadline moved while Read blocks takes effect.
	go func() {
		time.Sleep(10 * time.Millisecond)
		cr.SetDeadline(time.Now())
	}()
	if _, err := cr.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read after SetDeadline(now): %v", err)
	}
}

// TestConnWriteDeadline times a write out before it took any byte (the Conn
// stays usable) and within a frame (the framing is broken: the Conn fails).
// Nothing reads the peer's end until the timeouts have happened.
func TestConnWriteDeadline(t *testing.T) {
	ri, rr := newPipe(t, 100)
	hi, hr := testResults()
	ci, err := New(ri, &hi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ci.Close()
	// The pipe holds 100 bytes: the header and this fill it.
	if _, err := ci.Write(make([]byte, 100-headerLen-Overhead-LengthSize)); err != nil {
		t.Fatal(err)
	}
	ci.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := ci.Write([]byte("blocked")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write into a full pipe: %v", err)
	}
	if ci.Err() != nil {
		t.Fatalf("a write that took nothing failed the Conn: %v", ci.Err())
	}
	ci.SetWriteDeadline(time.Time{})
	cr, err := New(rr, &hr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cr.Close()
	go func() {
		readN(t, cr, 100-headerLen-Overhead-LengthSize)
		if got := readN(t, cr, 5); string(got) != "after" {
			t.Errorf("read %q after the timed-out write", got)
		}
	}()
	if _, err := ci.Write([]byte("after")); err != nil {
		t.Fatalf("Write after the timeout: %v", err)
	}

	// Now a frame bigger than the pipe: it times out half written.
	ri2, _ := newPipe(t, 100)
	ci2, err := New(ri2, &hi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ci2.Close()
	ci2.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := ci2.Write(make([]byte, 500)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("half-written frame: %v", err)
	}
	if !errors.Is(ci2.Err(), os.ErrDeadlineExceeded) {
		t.Fatalf("Err after a half-written frame = %v", ci2.Err())
	}
	if !ri2.aborted() {
		t.Fatal("a half-written frame did not abort the raw stream")
	}
}

func TestConnMessages(t *testing.T) {
	type got struct {
		mu   sync.Mutex
		msgs []string
		ch   chan struct{}
	}
	recv := func(g *got) func([]byte) {
		return func(b []byte) {
			g.mu.Lock()
			g.msgs = append(g.msgs, string(b))
			g.mu.Unlock()
			g.ch <- struct{}{}
		}
	}
	gi, gr := &got{ch: make(chan struct{}, 16)}, &got{ch: make(chan struct{}, 16)}
	hookR := new(MessageHook)
	ci, cr, _, _ := connPair(t, 1<<16, Options{OnMessage: recv(gi)}, Options{OnMessage: recv(gr), Messages: hookR})

	if err := ci.Send([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	<-gr.ch
	if err := cr.TrySend([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	<-gi.ch
	if err := ci.Send(nil); err != nil {
		t.Fatal(err)
	}
	<-gr.ch
	if err := ci.SendBefore([]byte("late"), time.Now().Add(-time.Second)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("SendBefore a passed deadline: %v", err)
	}
	if err := ci.SendBefore([]byte("soon"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	<-gr.ch
	if gr.msgs[0] != "ping" || gr.msgs[1] != "" || gr.msgs[2] != "soon" || gi.msgs[0] != "pong" {
		t.Fatalf("messages %q, %q", gr.msgs, gi.msgs)
	}
	if n, final := ci.MaxMessage(); n != 1152-MessageOverhead || final {
		t.Fatalf("MaxMessage %d, %v; want %d, false", n, final, 1152-MessageOverhead)
	}

	// A replayed envelope is dropped; garbage and short ones too.
	ci.sendMu.Lock()
	env := SealMessage(nil, ci.counter, []byte("ping"), &ci.sendKey)
	ci.sendMu.Unlock()
	hookR.Deliver(env)
	hookR.Deliver([]byte("short"))
	hookR.Deliver(make([]byte, 40))
	hookR.Deliver([]byte{}) // hyperdht's plain relay probe
	st := cr.Stats()
	if st.MessagesReceived != 3 || st.MessagesReplayed != 1 || st.MessagesRejected != 3 {
		t.Fatalf("Stats after bad envelopes = %+v", st)
	}
	if ci.Stats().MessagesSent != 3 {
		t.Fatalf("sender Stats = %+v", ci.Stats())
	}

	// A raw stream without datagrams.
	raw, _ := newPipe(t, 1<<16)
	hi, _ := testResults()
	c, err := New(struct{ RawStream }{raw}, &hi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send(nil); !errors.Is(err, ErrNoMessages) {
		t.Fatalf("Send without datagrams: %v", err)
	}
	if err := c.TrySend(nil); !errors.Is(err, ErrNoMessages) {
		t.Fatalf("TrySend without datagrams: %v", err)
	}
	if err := c.SendBefore(nil, time.Now().Add(time.Second)); !errors.Is(err, ErrNoMessages) {
		t.Fatalf("SendBefore without datagrams: %v", err)
	}
	if n, final := c.MaxMessage(); n != 0 || final {
		t.Fatalf("MaxMessage without datagrams: %d, %v", n, final)
	}
	if err := c.SetWriteDeadline(time.Now()); !errors.Is(err, ErrNoDeadline) {
		t.Fatalf("SetWriteDeadline without a raw deadline: %v", err)
	}
}

// TestConnAllowReplay delivers a replayed envelope twice, as the reference.
func TestConnAllowReplay(t *testing.T) {
	hook := new(MessageHook)
	n := 0
	_, cr, _, _ := connPair(t, 1<<16, Options{}, Options{Messages: hook, AllowReplay: true, OnMessage: func([]byte) { n++ }})
	hi, _ := testResults()
	key := messageKey(&hi.Hash, true)
	env := SealMessage(nil, 77, []byte("again"), &key)
	hook.Deliver(env)
	hook.Deliver(env)
	if n != 2 || cr.Stats().MessagesReceived != 2 {
		t.Fatalf("delivered %d times", n)
	}
	cr.Close()
	hook.Deliver(env)
	if n != 2 {
		t.Fatal("delivered after Close")
	}
}

// TestConnNonceExhausted sends until the counter comes back to its seed.
func TestConnNonceExhausted(t *testing.T) {
	ci, _, _, _ := connPair(t, 1<<16, Options{}, Options{})
	ci.sendMu.Lock()
	ci.counter = ci.seed - 2
	ci.sendMu.Unlock()
	if err := ci.Send([]byte("last")); err != nil {
		t.Fatal(err)
	}
	if err := ci.Send([]byte("one too many")); !errors.Is(err, ErrNonceExhausted) {
		t.Fatalf("Send at the seed: %v", err)
	}
	if !errors.Is(ci.Err(), ErrNonceExhausted) {
		t.Fatalf("Err = %v", ci.Err())
	}
}

// TestConnWriteRollback fails a raw write that took nothing: the push state
// is put back, so the next frame still decrypts.
func TestConnWriteRollback(t *testing.T) {
	ri, rr := newPipe(t, 1<<16)
	flaky := &flakyStream{pipeEnd: ri}
	hi, hr := testResults()
	ci, err := New(flaky, &hi, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ci.Close()
	cr, err := New(rr, &hr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cr.Close()
	flaky.fail.Store(true)
	if _, err := ci.Write([]byte("lost")); err == nil {
		t.Fatal("Write through a failing stream succeeded")
	}
	if ci.Err() != nil {
		t.Fatalf("Err = %v", ci.Err())
	}
	if _, err := ci.Write([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, cr, 4); string(got) != "kept" {
		t.Fatalf("read %q", got)
	}
}

// flakyStream fails one Write, taking nothing, when fail is set.
type flakyStream struct {
	*pipeEnd
	fail atomic.Bool
}

func (f *flakyStream) Write(b []byte) (int, error) {
	if f.fail.Swap(false) {
		return 0, errors.New("flaky: write failed")
	}
	return f.pipeEnd.Write(b)
}
