package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hyperlan/hyperlan/configs"
)

// hintCommand matches a command a config hint tells the user to run.
var hintCommand = regexp.MustCompile(`'hyperlan ([^']+)'`)

// The commands the config's hints name exist and do what the hint says: following the hints
// for a missing key file and secret file makes a config that loads, and every other command
// a hint names takes the flags it is given there.
func TestConfigHintsRun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "home.toml")
	body := "[node]\nname = \"desktop\"\nkey_file = \"desktop.key\"\n" +
		"[network]\nsecret_file = \"home.secret\"\n" +
		"[[peer]]\nname = \"laptop\"\npublic_key = \"" + key2 + "\"\n" +
		"[[peer]]\nname = \"nas\"\npublic_key = \"not a key\"\n" +
		"[[peer]]\nname = \"twin\"\npublic_key = \"" + key2 + "\"\n" +
		"[[peer]]\nname = \"nokey\"\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := configs.Load(path)
	if err == nil {
		t.Fatal("a config without its files loaded")
	}
	var followed, checked int
	for _, e := range configErrors(path, err) {
		for _, m := range hintCommand.FindAllStringSubmatch(e.Hint, -1) {
			args := strings.Fields(m[1])
			if len(args) >= 3 && args[1] == "--out" && args[2] != "FILE" {
				// A file to make: make it.
				var out, errs bytes.Buffer
				if code := run(context.Background(), args, nil, &out, &errs); code != exitOK {
					t.Errorf("hint %q: 'hyperlan %s' exits %d: %s", e.Hint, m[1], code, errs.String())
				}
				followed++
				continue
			}
			// Any other command: it exists, and its usage lists the flags the hint gives.
			var out, errs bytes.Buffer
			if code := run(context.Background(), []string{args[0], "--help"}, nil, &out, &errs); code != exitOK {
				t.Errorf("hint %q: 'hyperlan %s --help' exits %d: %s", e.Hint, args[0], code, errs.String())
				continue
			}
			for _, a := range args[1:] {
				if strings.HasPrefix(a, "--") && !strings.Contains(out.String(), a+" ") {
					t.Errorf("hint %q: 'hyperlan %s' has no flag %s", e.Hint, args[0], a)
				}
			}
			checked++
		}
	}
	if followed != 2 || checked < 3 {
		t.Errorf("%d hints followed and %d commands checked, want 2 and at least 3; errors:\n%v", followed, checked, err)
	}

	// With the files made and the bad peers gone, the config loads.
	body = body[:strings.Index(body, "[[peer]]\nname = \"nas\"")]
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := configs.Load(path); err != nil {
		t.Errorf("after following the hints:\n%v", err)
	}
}
