package configs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzRead is the fuzz target's file system: any "*.key" holds a seed and any "*.secret" a
// secret; nothing else exists. Parse never touches the real file system under fuzzing.
func fuzzRead(path string, limit int) ([]byte, fs.FileMode, error) {
	switch {
	case strings.HasSuffix(path, ".key"):
		return []byte(testSeed), 0o600, nil
	case strings.HasSuffix(path, ".secret"):
		return []byte(testSecret), 0o644, nil
	}
	return nil, 0, fs.ErrNotExist
}

func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob("examples/*.toml")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		with(),
		lines(`[node]`, `key_file = "a.key"`, `[network]`, `ipv4 = "10.0.0.0/30"`,
			`peer = [{ name = "b", public_key = "`+nasKey+`" }, { name = "c", public_key = "`+laptopKey+`", routes = ["10.0.0.0/8"] }]`),
		lines(`[node]`, `"key_file" = 'x.key'`, `routes = ["192.168.0.0/16", "192.168.1.0/24"]`, `[[peer]]`, `name = "é"`, `[peer.sub]`, `x = [[[1]]]`),
		lines(`[network]`, `ipv6 = """fd00::/64"""`, `[dht]`, `bootstrap = ["1.2.3.4@h:1", "[::1]:2"]`, `[log]`, `level = 2024-01-01`),
		"a = [" + strings.Repeat("[", 300) + strings.Repeat("]", 300) + "]\n",
		"\xff\x00[",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse("/fuzz/c.toml", data, fuzzRead)
		if (c == nil) == (err == nil) {
			t.Fatalf("config %v and error %v", c, err)
		}
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %v is not a non-empty ErrorList", err)
			}
			maxLine := bytes.Count(data, []byte("\n")) + 1
			for _, e := range list {
				if e.Class < ClassSyntax || e.Class > ClassFile || e.Msg == "" || e.Hint == "" ||
					e.Line < 0 || e.Line > maxLine || (e.Line == 0) != (e.Col == 0) || e.Col < 0 {
					t.Fatalf("bad error %#v", e)
				}
			}
			return
		}
		if n := c.Network; !n.IPv4.Contains(c.Node.Address) || !n.IPv6.Contains(c.Node.Address6) {
			t.Fatalf("node addresses %s %s outside %s %s", c.Node.Address, c.Node.Address6, n.IPv4, n.IPv6)
		}
		for _, p := range c.Peers {
			if !c.Network.IPv4.Contains(p.Address) || !c.Network.IPv6.Contains(p.Address6) {
				t.Fatalf("peer %s addresses %s %s outside the network", p.Name, p.Address, p.Address6)
			}
		}
		if col := Collisions(c.Members()); col != nil {
			t.Fatalf("accepted a config with collisions %v", col)
		}
		if c.Node.MTU < MinMTU || c.Node.MTU > MaxMTU {
			t.Fatalf("mtu %d", c.Node.MTU)
		}
	})
}
