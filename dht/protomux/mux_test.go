package protomux

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// recorder collects what a channel's callbacks saw.
type recorder struct {
	mu     sync.Mutex
	opened [][]byte
	msgs   []string
	closed []bool
	wake   chan struct{}
}

func newRecorder() *recorder { return &recorder{wake: make(chan struct{}, 1)} }

func (r *recorder) note(f func()) {
	r.mu.Lock()
	f()
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *recorder) options(protocol string, id []byte) ChannelOptions {
	return ChannelOptions{
		Protocol: protocol, ID: id,
		OnOpen:  func(_ *Channel, hs []byte) { r.note(func() { r.opened = append(r.opened, bytes.Clone(hs)) }) },
		OnClose: func(_ *Channel, remote bool) { r.note(func() { r.closed = append(r.closed, remote) }) },
	}
}

func (r *recorder) onMessage(b []byte) { r.note(func() { r.msgs = append(r.msgs, string(b)) }) }

// waitFor waits until cond holds on the recorder's state.
func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.wake:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// checkGoroutines fails the test if it ends with more goroutines than it
// started with (a short grace for exiting ones).
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		for range 100 {
			if runtime.NumGoroutine() <= before {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
	})
}

func muxPair(t *testing.T) (a, b *Mux, pa, pb *pipeEnd) {
	pa, pb = framePipe()
	a, b = New(pa, Options{}), New(pb, Options{})
	t.Cleanup(func() {
		a.Close()
		b.Close()
		<-a.Done()
		<-b.Done()
	})
	return a, b, pa, pb
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestMuxOpenMessagesClose(t *testing.T) {
	checkGoroutines(t)
	a, b, _, _ := muxPair(t)
	ra, rb := newRecorder(), newRecorder()
	cha, err := a.CreateChannel(ra.options("p", []byte("id")))
	if err != nil {
		t.Fatal(err)
	}
	chb, err := b.CreateChannel(rb.options("p", []byte("id")))
	if err != nil {
		t.Fatal(err)
	}
	sa := AddMessage(cha, Raw{}, ra.onMessage)
	sb := AddMessage(chb, Raw{}, rb.onMessage)
	if err := sa.Send([]byte("early")); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("Send before Open: %v, want ErrNotOpen", err)
	}
	if err := cha.Open([]byte("hs-a")); err != nil {
		t.Fatal(err)
	}
	if err := cha.Open(nil); !errors.Is(err, ErrAlreadyOpen) {
		t.Fatalf("second Open: %v", err)
	}
	// Sent before the peer opened: held there until it does.
	for _, m := range []string{"one", "two"} {
		if err := sa.Send([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := chb.Open([]byte("hs-b")); err != nil {
		t.Fatal(err)
	}
	a.Start()
	b.Start()
	if err := cha.WaitOpen(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := chb.WaitOpen(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := sb.Send([]byte("three")); err != nil {
		t.Fatal(err)
	}
	rb.waitFor(t, "b's messages", func() bool { return len(rb.msgs) == 2 })
	ra.waitFor(t, "a's message", func() bool { return len(ra.msgs) == 1 })
	if string(ra.opened[0]) != "hs-b" || string(rb.opened[0]) != "hs-a" || rb.msgs[0] != "one" || rb.msgs[1] != "two" || ra.msgs[0] != "three" {
		t.Fatalf("a: %q %q, b: %q %q", ra.opened, ra.msgs, rb.opened, rb.msgs)
	}
	if !a.Opened("p", []byte("id")) {
		t.Error("Opened = false for an open channel")
	}
	if _, err := a.CreateChannel(ChannelOptions{Protocol: "p", ID: []byte("id")}); !errors.Is(err, ErrDuplicateChannel) {
		t.Errorf("second channel: %v, want ErrDuplicateChannel", err)
	}

	cha.Close()
	ra.waitFor(t, "a closed", func() bool { return len(ra.closed) == 1 })
	rb.waitFor(t, "b closed", func() bool { return len(rb.closed) == 1 })
	if ra.closed[0] || !rb.closed[0] {
		t.Errorf("closed remote: a %v, b %v; want false, true", ra.closed, rb.closed)
	}
	if err := sb.Send(nil); !errors.Is(err, ErrChannelClosed) {
		t.Errorf("Send after the peer closed: %v", err)
	}
	if a.Opened("p", []byte("id")) {
		t.Error("Opened = true after close")
	}
}

func TestMuxPairHandler(t *testing.T) {
	checkGoroutines(t)
	a, b, _, _ := muxPair(t)
	rb := newRecorder()
	var got [][]byte
	b.Pair("svc", nil, func(id []byte) {
		got = append(got, bytes.Clone(id))
		if string(id) == "no" {
			return // declined: rejected
		}
		ch, err := b.CreateChannel(rb.options("svc", id))
		if err != nil {
			t.Error(err)
			return
		}
		AddMessage(ch, Raw{}, rb.onMessage)
		if err := ch.Open([]byte("welcome")); err != nil {
			t.Error(err)
		}
	})
	a.Start()
	b.Start()

	ra := newRecorder()
	ok, err := a.CreateChannel(ra.options("svc", []byte("yes")))
	if err != nil {
		t.Fatal(err)
	}
	m := AddMessage(ok, Raw{}, nil)
	ok.Open(nil)
	m.Send([]byte("hi"))
	no, _ := a.CreateChannel(ChannelOptions{Protocol: "svc", ID: []byte("no")})
	no.Open(nil)
	none, _ := a.CreateChannel(ChannelOptions{Protocol: "other"})
	none.Open(nil)

	if err := ok.WaitOpen(ctx(t)); err != nil {
		t.Fatal(err)
	}
	ra.waitFor(t, "open", func() bool { return len(ra.opened) == 1 })
	if string(ra.opened[0]) != "welcome" {
		t.Errorf("handshake %q", ra.opened[0])
	}
	rb.waitFor(t, "message", func() bool { return len(rb.msgs) == 1 && rb.msgs[0] == "hi" })
	for _, ch := range []*Channel{no, none} {
		if err := ch.WaitOpen(ctx(t)); !errors.Is(err, ErrRejected) {
			t.Errorf("%s %q: WaitOpen = %v, want ErrRejected", ch.Protocol(), ch.ID(), err)
		}
	}
	if len(got) != 2 || string(got[0]) != "yes" || string(got[1]) != "no" {
		t.Errorf("handler called with %q", got)
	}
}

func TestMuxCloseEndsEverything(t *testing.T) {
	checkGoroutines(t)
	a, b, _, _ := muxPair(t)
	ra, rb := newRecorder(), newRecorder()
	cha, _ := a.CreateChannel(ra.options("p", nil))
	chb, _ := b.CreateChannel(rb.options("p", nil))
	cha.Open(nil)
	chb.Open(nil)
	a.Start()
	b.Start()
	if err := chb.WaitOpen(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	<-a.Done()
	if !ra.closed[0] {
		t.Error("a's channel: OnClose remote = false after Mux.Close")
	}
	if err := cha.Err(); !errors.Is(err, ErrClosed) {
		t.Errorf("a's channel Err = %v", err)
	}
	if _, err := a.CreateChannel(ChannelOptions{Protocol: "q"}); !errors.Is(err, ErrClosed) {
		t.Errorf("CreateChannel after Close: %v", err)
	}
	// The peer's stream was aborted: it ends with the error.
	select {
	case <-b.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("b did not end")
	}
	if err := b.Err(); !errors.Is(err, errReset) {
		t.Errorf("b.Err = %v, want the reset", err)
	}
	rb.waitFor(t, "b closed", func() bool { return len(rb.closed) == 1 && rb.closed[0] })
}

func TestMuxGracefulEnd(t *testing.T) {
	checkGoroutines(t)
	a, b, pa, _ := muxPair(t)
	rb := newRecorder()
	cha, _ := a.CreateChannel(ChannelOptions{Protocol: "p"})
	chb, _ := b.CreateChannel(rb.options("p", nil))
	m := AddMessage(cha, Raw{}, nil)
	AddMessage(chb, Raw{}, rb.onMessage)
	cha.Open(nil)
	chb.Open(nil)
	a.Start()
	b.Start()
	for i := range 50 {
		m.Send([]byte{byte(i)})
	}
	if err := a.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	pa.CloseWrite() // a's direction ends: b reads io.EOF after the 50 messages
	select {
	case <-b.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("b did not end")
	}
	if err := b.Err(); err != nil {
		t.Errorf("b.Err = %v after a clean end", err)
	}
	if len(rb.msgs) != 50 || len(rb.closed) != 1 {
		t.Errorf("b got %d messages, closed %v", len(rb.msgs), rb.closed)
	}
}

func TestMuxProtocolError(t *testing.T) {
	checkGoroutines(t)
	pa, pb := framePipe()
	b := New(pb, Options{})
	defer b.Close()
	b.Start()
	pa.WriteFrame([]byte{0, controlOpen, 7}) // an open cut after the channel id
	select {
	case <-b.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("b did not end")
	}
	if err := b.Err(); !errors.Is(err, ErrTruncated) {
		t.Errorf("Err = %v, want ErrTruncated", err)
	}
	if _, err := pa.ReadFrame(); !errors.Is(err, errReset) {
		t.Errorf("the peer reads %v, want a reset", err)
	}
}

func TestMuxDecodeErrorEnds(t *testing.T) {
	checkGoroutines(t)
	a, b, _, _ := muxPair(t)
	cha, _ := a.CreateChannel(ChannelOptions{Protocol: "p"})
	chb, _ := b.CreateChannel(ChannelOptions{Protocol: "p"})
	send := AddMessage(cha, Raw{}, nil)
	AddMessage(chb, failing{}, func(struct{}) { t.Error("handler called") })
	cha.Open(nil)
	chb.Open(nil)
	a.Start()
	b.Start()
	send.Send([]byte("x"))
	<-b.Done()
	if err := b.Err(); !errors.Is(err, errFailing) {
		t.Errorf("Err = %v, want the codec's error", err)
	}
}

var errFailing = errors.New("failing codec")

type failing struct{}

func (failing) Append(b []byte, _ struct{}) []byte { return b }
func (failing) Parse([]byte) (struct{}, error)     { return struct{}{}, errFailing }

// TestMuxHoldsMessagesUntilOpen checks that messages for a channel paired
// but not yet opened here are held, that reading stops past the limit, and
// that everything arrives in order once it opens.
func TestMuxHoldsMessagesUntilOpen(t *testing.T) {
	checkGoroutines(t)
	a, b, pa, _ := muxPair(t)
	rb := newRecorder()
	var chb *Channel
	paired := make(chan struct{})
	b.Pair("p", nil, func(id []byte) {
		chb, _ = b.CreateChannel(rb.options("p", nil))
		AddMessage(chb, Raw{}, rb.onMessage)
		close(paired) // opened later, from the test
	})
	cha, _ := a.CreateChannel(ChannelOptions{Protocol: "p"})
	m := AddMessage(cha, Raw{}, nil)
	cha.Open(nil)
	a.Start()
	b.Start()
	<-paired
	const n = 200
	payload := make([]byte, 1000)
	for i := range n {
		payload[0] = byte(i)
		m.Send(payload)
	}
	// b holds about maxBuffered, then stops reading and the pipe fills up:
	// a cannot write them all.
	var held int
	for range 100 {
		time.Sleep(5 * time.Millisecond)
		b.mu.Lock()
		held = b.buffered
		b.mu.Unlock()
		if held > maxBuffered {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	if held == 0 || held > maxBuffered+pendingCost(payload) {
		t.Errorf("b holds %d bytes, want some and at most %d", held, maxBuffered+pendingCost(payload))
	}
	if got := pa.written(); got >= n {
		t.Errorf("a wrote all %d frames while b held them", got)
	}
	if err := chb.Open(nil); err != nil {
		t.Fatal(err)
	}
	rb.waitFor(t, "all messages", func() bool { return len(rb.msgs) == n })
	for i, s := range rb.msgs {
		if s[0] != byte(i) {
			t.Fatalf("message %d is number %d", i, s[0])
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buffered != 0 {
		t.Errorf("buffered = %d after open", b.buffered)
	}
}

func TestMuxFrameTooLarge(t *testing.T) {
	pa, _ := framePipe()
	m := New(pa, Options{MaxFrame: 64})
	defer m.Close()
	ch, _ := m.CreateChannel(ChannelOptions{Protocol: "p"})
	msg := AddMessage(ch, Raw{}, nil)
	ch.Open(nil)
	// A frame of 64: channel 1, type 0, 62 bytes.
	if err := msg.Send(make([]byte, 63)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("Send of 63 bytes: %v, want ErrFrameTooLarge", err)
	}
	if err := msg.Send(make([]byte, 62)); err != nil {
		t.Errorf("Send of 62 bytes: %v", err)
	}
	// Corked, a batch is split before it grows too large.
	m.Cork()
	for range 3 {
		if err := msg.Send(make([]byte, 30)); err != nil {
			t.Fatal(err)
		}
	}
	if err := msg.Send(make([]byte, 62)); err != nil { // alone in a frame, not in a batch
		t.Fatal(err)
	}
	m.Uncork()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.outq {
		if len(f) > 64 {
			t.Errorf("frame of %d bytes", len(f))
		}
	}
}
