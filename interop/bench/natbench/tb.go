package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// tb is the testing.TB that the NAT lab of package interop takes, for a program: its setup
// helpers fail with Fatal, register teardown with Cleanup and skip with Skipf when the
// machine lacks something. Fatal and Skip end the calling goroutine, as in a test, so lab
// code runs inside [tb.do]. The embedded interface is nil: a method the lab does not call
// would panic.
type tb struct {
	testing.TB
	log io.Writer

	mu       sync.Mutex
	cleanups []func() // guarded by mu
	errs     []string // guarded by mu
}

func newTB(log io.Writer) *tb { return &tb{log: log} }

// do runs f on a goroutine of its own and returns the errors f reported with Error, Fatal or
// Skip (a skip is an error here: the benchmark cannot run).
func (t *tb) do(f func()) error {
	t.mu.Lock()
	before := len(t.errs)
	t.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.errs) == before {
		return nil
	}
	return errors.New(strings.Join(t.errs[before:], "; "))
}

// close runs the cleanups, last registered first.
func (t *tb) close() {
	for {
		t.mu.Lock()
		if len(t.cleanups) == 0 {
			t.mu.Unlock()
			return
		}
		f := t.cleanups[len(t.cleanups)-1]
		t.cleanups = t.cleanups[:len(t.cleanups)-1]
		t.mu.Unlock()
		t.do(f)
	}
}

func (t *tb) Helper()          {}
func (t *tb) Name() string     { return "natbench" }
func (t *tb) Cleanup(f func()) { t.mu.Lock(); t.cleanups = append(t.cleanups, f); t.mu.Unlock() }

func (t *tb) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.errs) > 0
}

func (t *tb) Log(args ...any)                 { fmt.Fprintln(t.log, append([]any{"natbench:"}, args...)...) }
func (t *tb) Logf(format string, args ...any) { fmt.Fprintf(t.log, "natbench: "+format+"\n", args...) }

func (t *tb) Error(args ...any) { t.fail(fmt.Sprint(args...)) }
func (t *tb) Errorf(format string, args ...any) {
	t.fail(fmt.Sprintf(format, args...))
}

func (t *tb) Fatal(args ...any) { t.fail(fmt.Sprint(args...)); runtime.Goexit() }
func (t *tb) Fatalf(format string, args ...any) {
	t.fail(fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func (t *tb) Skip(args ...any) { t.fail(fmt.Sprint(args...)); runtime.Goexit() }
func (t *tb) Skipf(format string, args ...any) {
	t.fail(fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func (t *tb) fail(msg string) {
	t.mu.Lock()
	t.errs = append(t.errs, msg)
	t.mu.Unlock()
}
