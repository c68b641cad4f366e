package configs

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/BurntSushi/toml"
)

// TestExamples loads every example config from a copy next to key and secret files made
// for it, as a user would after following its comments.
func TestExamples(t *testing.T) {
	paths, err := filepath.Glob("examples/*.toml")
	if err != nil || len(paths) < 3 {
		t.Fatalf("examples: %v, %v", paths, err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var files struct {
				Node struct {
					KeyFile string `toml:"key_file"`
				}
				Network struct {
					SecretFile string `toml:"secret_file"`
				}
			}
			if _, err := toml.Decode(string(data), &files); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			for _, name := range []string{files.Node.KeyFile, files.Network.SecretFile} {
				if name == "" {
					continue
				}
				if filepath.IsAbs(name) {
					t.Fatalf("%s names %s: examples use relative paths so that the test can create them", path, name)
				}
				writeRandomHex(t, filepath.Join(dir, name))
			}
			cfg := filepath.Join(dir, filepath.Base(path))
			if err := os.WriteFile(cfg, data, 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := Load(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Warnings) != 0 {
				t.Errorf("warnings: %v", c.Warnings)
			}
			if len(c.Peers) == 0 {
				t.Error("an example without peers")
			}
		})
	}
}

func writeRandomHex(t *testing.T, path string) {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	if err := os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}
