package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary double as the hyperlan command for the scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"hyperlan": main})
}

// TestScripts runs testdata/script/*.txtar. Besides the standard commands they have
//
//	exitcode N prog [args...]
//
// which runs prog like exec and requires exit status N, leaving its output to the stdout
// and stderr commands, and
//
//	perm FILE MODE
//
// which requires FILE's permission bits to be MODE (octal, e.g. 0600). The condition
// [root] holds when the test runs as root (which reads files of any mode).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": cmdExitCode,
			"perm":     cmdPerm,
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			// Under -race a successful exit otherwise sleeps 1 s in the race runtime.
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			return nil
		},
	})
}

func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N prog [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: bad status %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: perm FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	if err != nil {
		ts.Fatalf("perm: bad mode %q", args[1])
	}
	fi, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := fi.Mode().Perm(); got != fs.FileMode(want) {
		ts.Fatalf("%s: mode %04o, want %04o", args[0], got, want)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantPos []string
		wantB   string
		wantV   bool
	}{
		{"flags first", []string{"-b", "x", "-v", "T"}, []string{"T"}, "x", true},
		{"flags after positional", []string{"T", "--b", "x", "-v"}, []string{"T"}, "x", true},
		{"interleaved", []string{"A", "-b=x", "B"}, []string{"A", "B"}, "x", false},
		{"double dash", []string{"-v", "--", "-b", "x"}, []string{"-b", "x"}, "", true},
		{"none", nil, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFlagSet("test")
			b := fs.String("b", "", "")
			v := fs.Bool("v", false, "")
			pos, err := parseFlags(fs, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pos, tt.wantPos) || *b != tt.wantB || *v != tt.wantV {
				t.Fatalf("got pos %q b %q v %v, want %q %q %v", pos, *b, *v, tt.wantPos, tt.wantB, tt.wantV)
			}
		})
	}
}

func TestFlagError(t *testing.T) {
	tests := []struct{ name, args, want string }{
		{"unknown long", "--bogus", "unknown flag --bogus"},
		{"unknown short", "-x", "unknown flag -x"},
		{"missing value", "--timeout", "--timeout needs a value"},
		{"bad value", "--timeout=soon", `--timeout: invalid value "soon": parse error`},
		{"bad bool", "--latest=maybe", `--latest: invalid value "maybe": parse error`},
		{"bad short bool", "-b=maybe", `-b: invalid value "maybe": parse error`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFlagSet("test")
			fs.Duration("timeout", 0, "")
			fs.Bool("latest", false, "")
			fs.Bool("b", false, "")
			_, err := parseFlags(fs, []string{tt.args})
			var ce *cliError
			if !errors.As(err, &ce) || ce.code != exitUsage {
				t.Fatalf("err %v, want a usage error", err)
			}
			if got := err.Error(); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
