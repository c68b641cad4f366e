package secretstream

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestWaitOpen(t *testing.T) {
	ci, cr, _, _ := connPair(t, 1<<16, Options{}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []*Conn{ci, cr} {
		if err := c.WaitOpen(ctx); err != nil {
			t.Fatalf("WaitOpen: %v", err)
		}
		select {
		case <-c.Opened():
		default:
			t.Fatal("Opened not closed after WaitOpen")
		}
	}
}

func TestWaitOpenWithoutPeer(t *testing.T) {
	ri, _ := newPipe(t, 1<<16)
	hi, _ := testResults()
	c, err := New(ri, &hi, Options{Messages: new(MessageHook)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.WaitOpen(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitOpen with a silent peer: %v", err)
	}
	c.Close()
	if err := c.WaitOpen(context.Background()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WaitOpen after Close: %v", err)
	}
}
