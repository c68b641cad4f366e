package configs

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// The tests parse configs named testFile against an in-memory file system.
const testFile = "/cfg/test.toml"

var (
	testSeed   = strings.Repeat("11", 32)
	testSecret = strings.Repeat("ab", 32)
)

type memFile struct {
	data string
	mode fs.FileMode
	err  error
}

// memFS maps absolute paths to files.
type memFS map[string]memFile

func (m memFS) read(path string, limit int) ([]byte, fs.FileMode, error) {
	f, ok := m[path]
	switch {
	case !ok:
		return nil, 0, &fs.PathError{Op: "stat", Path: path, Err: fs.ErrNotExist}
	case f.err != nil:
		return nil, 0, &fs.PathError{Op: "open", Path: path, Err: f.err}
	case len(f.data) > limit:
		return nil, 0, errTooLarge
	}
	return []byte(f.data), f.mode, nil
}

func testFiles() memFS {
	return memFS{
		"/cfg/node.key":   {data: testSeed + "\n", mode: 0o600},
		"/cfg/net.secret": {data: testSecret + "\n", mode: 0o600},
	}
}

func testNodeKey(t testing.TB) PublicKey {
	seed, _ := hex.DecodeString(testSeed)
	var k PublicKey
	copy(k[:], ed25519.NewKeyFromSeed(seed)[32:])
	return k
}

func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

// base is a minimal valid config; tests append to it or replace lines of it.
var base = []string{
	`[node]`,                     // 1
	`name = "desktop"`,           // 2
	`key_file = "node.key"`,      // 3
	`[network]`,                  // 4
	`secret_file = "net.secret"`, // 5
}

func with(extra ...string) string { return lines(append(append([]string{}, base...), extra...)...) }

func TestParseMinimal(t *testing.T) {
	c, err := parse(testFile, []byte(with()), testFiles().read)
	if err != nil {
		t.Fatal(err)
	}
	key := testNodeKey(t)
	secret, _ := hex.DecodeString(testSecret)
	n := c.Node
	if n.Name != "desktop" || n.KeyFile != "/cfg/node.key" || n.PublicKey != key || hex.EncodeToString(n.Seed[:]) != testSeed {
		t.Errorf("node = %+v", n)
	}
	if n.Interface != DefaultInterface || n.MTU != DefaultMTU || n.ListenPort != 0 || n.KeepAlive != DefaultKeepAlive || n.Routes != nil {
		t.Errorf("node defaults = %+v", n)
	}
	v4, _ := DeriveIPv4(DefaultIPv4Prefix, key)
	ula := DefaultIPv6Prefix(secret, DefaultIPv4Prefix)
	v6, _ := DeriveIPv6(ula, key)
	if n.Address != v4 || n.Address6 != v6 {
		t.Errorf("addresses %s %s, want derived %s %s", n.Address, n.Address6, v4, v6)
	}
	w := c.Network
	if w.SecretFile != "/cfg/net.secret" || string(w.Secret) != string(secret) || w.IPv4 != DefaultIPv4Prefix || w.IPv6 != ula {
		t.Errorf("network = %+v", w)
	}
	if topic, ok := w.Topic(); !ok || topic != Topic(secret) {
		t.Errorf("Topic = %x, %v", topic, ok)
	}
	if c.DHT.Bootstrap != nil || c.Peers != nil || c.Log != (Log{Level: slog.LevelInfo, Format: "text"}) || c.Warnings != nil {
		t.Errorf("config = %+v", c)
	}
}

func TestParseFull(t *testing.T) {
	src := lines(
		`[node]`,
		`name = "router"`,
		`key_file = "/keys/router.key"`,
		`interface = "hl0"`,
		`mtu = 1428`,
		`listen_port = 49737`,
		`keep_alive = "0s"`,
		`address = "10.9.0.1"`,
		`address6 = "fd00:9::1"`,
		`routes = ["192.168.1.0/24", "fd99::/64"]`,
		`[network]`,
		`ipv4 = "10.9.0.0/24"`,
		`ipv6 = "fd00:9::/64"`,
		`[dht]`,
		`bootstrap = ["10.0.0.1:49737", "88.99.3.86@node1.hyperdht.org:49737"]`,
		`[[peer]]`,
		`name = "laptop"`,
		`public_key = "`+laptopKey+`"`,
		`routes = []`,
		`[[peer]]`,
		`name = "nas"`,
		`public_key = "`+nasKeyZBase32+`"`,
		`address = "10.9.0.10"`,
		`[log]`,
		`level = "DEBUG"`,
		`format = "json"`,
	)
	files := memFS{"/keys/router.key": {data: testSeed, mode: 0o640}}
	c, err := parse(testFile, []byte(src), files.read)
	if err != nil {
		t.Fatal(err)
	}
	n := c.Node
	if n.Interface != "hl0" || n.MTU != 1428 || n.ListenPort != 49737 || n.KeepAlive != 0 ||
		n.Address != netip.MustParseAddr("10.9.0.1") || n.Address6 != netip.MustParseAddr("fd00:9::1") || len(n.Routes) != 2 {
		t.Errorf("node = %+v", n)
	}
	if c.Network.Secret != nil || c.Network.IPv6 != netip.MustParsePrefix("fd00:9::/64") {
		t.Errorf("network = %+v", c.Network)
	}
	if _, ok := c.Network.Topic(); ok {
		t.Error("Topic without a secret")
	}
	want := []Bootstrap{
		{Host: "10.0.0.1", Port: 49737},
		{Suggested: netip.MustParseAddr("88.99.3.86"), Host: "node1.hyperdht.org", Port: 49737},
	}
	if len(c.DHT.Bootstrap) != 2 || c.DHT.Bootstrap[0] != want[0] || c.DHT.Bootstrap[1] != want[1] {
		t.Errorf("bootstrap = %v", c.DHT.Bootstrap)
	}
	if got := c.DHT.Bootstrap[1].String(); got != "88.99.3.86@node1.hyperdht.org:49737" {
		t.Errorf("Bootstrap.String = %q", got)
	}
	laptop := mustKey(t, laptopKey)
	v4, _ := DeriveIPv4(c.Network.IPv4, laptop)
	v6, _ := DeriveIPv6(c.Network.IPv6, laptop)
	p := c.Peers
	if len(p) != 2 || p[0].Name != "laptop" || p[0].PublicKey != laptop || p[0].Address != v4 || p[0].Address6 != v6 || p[0].Routes != nil ||
		p[1].PublicKey != mustKey(t, nasKey) || p[1].Address != netip.MustParseAddr("10.9.0.10") {
		t.Errorf("peers = %+v", p)
	}
	if c.Log.Level != slog.LevelDebug || c.Log.Format != "json" {
		t.Errorf("log = %+v", c.Log)
	}
	members := c.Members()
	if len(members) != 3 || members[0].Name != "router" || members[2].IPv4 != p[1].Address {
		t.Errorf("members = %+v", members)
	}
	// The key file is readable by its group: a warning, not an error.
	if len(c.Warnings) != 1 || c.Warnings[0].Error() != testFile+":3:12: node.key_file: key file /keys/router.key can be read by other users (mode 0640)" ||
		c.Warnings[0].Hint == "" {
		t.Errorf("warnings = %v", c.Warnings)
	}
}

func TestParseDefaultsWithoutSecret(t *testing.T) {
	src := lines(`[node]`, `name = "a"`, `key_file = "node.key"`, `[network]`, `ipv4 = "10.5.0.0/16"`,
		`[[peer]]`, `name = "b"`, `public_key = "`+nasKey+`"`, `[dht]`, `bootstrap = []`)
	c, err := parse(testFile, []byte(src), testFiles().read)
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultIPv6Prefix(nil, netip.MustParsePrefix("10.5.0.0/16")); c.Network.IPv6 != want {
		t.Errorf("ipv6 = %s, want %s", c.Network.IPv6, want)
	}
	if c.DHT.Bootstrap == nil || len(c.DHT.Bootstrap) != 0 {
		t.Errorf("bootstrap = [] must give an empty non-nil list, got %#v", c.DHT.Bootstrap)
	}
}

func TestParseDefaultName(t *testing.T) {
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	if !validName(host) {
		t.Skipf("host name %q is not a valid member name", host)
	}
	c, err := parse(testFile, []byte(lines(`[node]`, `key_file = "node.key"`, `[network]`, `secret_file = "net.secret"`)), testFiles().read)
	if err != nil {
		t.Fatal(err)
	}
	if c.Node.Name != host {
		t.Errorf("name = %q, want the host name %q", c.Node.Name, host)
	}
}

// wantError is one expected problem: its position, key, class and message exactly.
type wantError struct {
	line, col int
	key       string
	class     Class
	msg       string
}

func TestParseErrors(t *testing.T) {
	identity := "01" + strings.Repeat("00", 31)
	nodeKey := testNodeKey(t).String()
	tests := []struct {
		name  string
		src   string
		files memFS // nil means testFiles()
		want  []wantError
	}{
		// syntax
		{name: "syntax", src: lines(`[node`, `name = "x"`),
			want: []wantError{{1, 6, "", ClassSyntax, "expected '.' or ']' to end table name, but got '\\n' instead"}}},
		{name: "syntax duplicate key", src: with(`secret_file = "again"`),
			want: []wantError{{6, 1, "", ClassSyntax, "Key 'network.secret_file' has already been defined."}}},

		{name: "nesting limit", src: lines("a = " + strings.Repeat("[", 40) + strings.Repeat("]", 40)),
			want: []wantError{{1, 38, "", ClassSyntax, "arrays and inline tables nested more than 32 deep"}}},
		{name: "dotted key limit", src: with(strings.Repeat("a.", 16) + "b = 1"),
			want: []wantError{{6, 33, "", ClassSyntax, "dotted key of more than 16 parts"}}},

		// unknown keys
		{name: "unknown key", src: with(`[log]`, `levle = "debug"`),
			want: []wantError{{7, 1, "log.levle", ClassUnknownKey, "unknown key"}}},
		{name: "unknown table", src: with(`[peers]`, `name = "x"`),
			want: []wantError{{6, 1, "peers", ClassUnknownKey, "unknown key"}}},
		{name: "unknown key in peer", src: with(`[[peer]]`, `name = "nas"`, `public_key = "`+nasKey+`"`, `endpoint = "1.2.3.4:5"`),
			want: []wantError{{9, 1, "peer[0].endpoint", ClassUnknownKey, "unknown key"}}},

		// wrong types
		{name: "string for integer", src: lines(`[node]`, `key_file = "node.key"`, `mtu = "1280"`, `[network]`, `secret_file = "net.secret"`),
			want: []wantError{{3, 7, "node.mtu", ClassType, "want an integer, found a string"}}},
		{name: "integer for string", src: with(`[log]`, `level = 1`),
			want: []wantError{{7, 9, "log.level", ClassType, "want a string, found an integer"}}},
		{name: "array element", src: with(`[dht]`, `bootstrap = ["1.2.3.4:5", 6]`),
			want: []wantError{{7, 27, "dht.bootstrap[1]", ClassType, "want a string, found an integer"}}},
		{name: "table as value", src: lines(`node = 5`, `[network]`, `secret_file = "net.secret"`),
			want: []wantError{
				{1, 1, "node.key_file", ClassMissing, "required key is missing"},
				{1, 8, "node", ClassType, "want a table, found an integer"},
			}},
		{name: "peer not an array of tables", src: lines(`peer = "x"`, `[node]`, `key_file = "node.key"`, `[network]`, `secret_file = "net.secret"`),
			want: []wantError{{1, 8, "peer", ClassType, "want an array of tables, found a string"}}},

		// missing keys
		{name: "no key file", src: lines(`[node]`, `name = "a"`, `[network]`, `secret_file = "net.secret"`),
			want: []wantError{{1, 1, "node.key_file", ClassMissing, "required key is missing"}}},
		{name: "peer without name and key", src: with(`[[peer]]`, `address = "10.77.0.9"`),
			want: []wantError{
				{6, 1, "peer[0].name", ClassMissing, "required key is missing"},
				{6, 1, "peer[0].public_key", ClassMissing, "required key is missing"},
			}},
		{name: "no members", src: lines(`[node]`, `name = "a"`, `key_file = "node.key"`, `[network]`, `ipv4 = "10.1.0.0/16"`),
			want: []wantError{{4, 1, "network", ClassMissing, "the network has no members: neither a secret_file nor any [[peer]]"}}},

		// bad values
		{name: "mtu", src: lines(`[node]`, `key_file = "node.key"`, `mtu = 1500`, `[network]`, `secret_file = "net.secret"`),
			want: []wantError{{3, 7, "node.mtu", ClassValue, "mtu 1500 is out of range"}}},
		{name: "listen port", src: lines(`[node]`, `key_file = "node.key"`, `listen_port = 70000`, `[network]`, `secret_file = "net.secret"`),
			want: []wantError{{3, 15, "node.listen_port", ClassValue, "listen_port 70000 is out of range"}}},
		{name: "interface", src: lines(`[node]`, `key_file = "node.key"`, `interface = "much-too-long-name"`, `[network]`, `secret_file = "net.secret"`),
			want: []wantError{{3, 13, "node.interface", ClassValue, `"much-too-long-name" is not a valid interface name`}}},
		{name: "keep alive", src: lines(`[node]`, `key_file = "node.key"`, `keep_alive = "5"`, `[network]`, `secret_file = "net.secret"`),
			want: []wantError{{3, 14, "node.keep_alive", ClassValue, `"5" is not a duration`}}},
		{name: "keep alive range", src: lines(`[node]`, `key_file = "node.key"`, `keep_alive = "-1s"`, `[network]`, `secret_file = "net.secret"`),
			want: []wantError{{3, 14, "node.keep_alive", ClassValue, "keep_alive -1s is out of range"}}},
		{name: "name", src: lines(`[node]`, `name = "my laptop"`, `key_file = "node.key"`, `[network]`, `secret_file = "net.secret"`),
			want: []wantError{{2, 8, "node.name", ClassValue, `"my laptop" is not a valid name`}}},
		{name: "log", src: with(`[log]`, `level = "verbose"`, `format = "xml"`),
			want: []wantError{
				{7, 9, "log.level", ClassValue, `unknown log level "verbose"`},
				{8, 10, "log.format", ClassValue, `unknown log format "xml"`},
			}},
		{name: "bootstrap", src: with(`[dht]`, `bootstrap = [`, `  "node1.hyperdht.org",`, `  "[::1]:49737",`, `  "x@h:1",`, `  "h:0",`, `  "bad_host:1",`, `]`),
			want: []wantError{
				{8, 3, "dht.bootstrap[0]", ClassValue, `"node1.hyperdht.org": not host:port`},
				{9, 3, "dht.bootstrap[1]", ClassValue, `"[::1]:49737": the DHT runs over IPv4 only`},
				{10, 3, "dht.bootstrap[2]", ClassValue, `"x@h:1": the part before '@' is not an IPv4 address`},
				{11, 3, "dht.bootstrap[3]", ClassValue, `"h:0": the port is not 1 to 65535`},
				{12, 3, "dht.bootstrap[4]", ClassValue, `"bad_host:1": the host is neither an IPv4 address nor a DNS name`},
			}},

		// public keys
		{name: "key length", src: with(`[[peer]]`, `name = "nas"`, `public_key = "`+nasKey[:60]+`"`),
			want: []wantError{{8, 14, "peer[0].public_key", ClassKey, "public key is neither 64 hex digits nor 52 z-base-32 characters (it has 60)"}}},
		{name: "key not hex", src: with(`[[peer]]`, `name = "nas"`, `public_key = "`+"g"+nasKey[1:]+`"`),
			want: []wantError{{8, 14, "peer[0].public_key", ClassKey, "public key is neither 64 hex digits nor 52 z-base-32 characters (encoding/hex: invalid byte: U+0067 'g')"}}},
		{name: "key not a point", src: with(`[[peer]]`, `name = "nas"`, `public_key = "02`+strings.Repeat("00", 31)+`"`),
			want: []wantError{{8, 14, "peer[0].public_key", ClassKey, "not a valid Ed25519 public key"}}},
		{name: "key of small order", src: with(`[[peer]]`, `name = "nas"`, `public_key = "`+identity+`"`),
			want: []wantError{{8, 14, "peer[0].public_key", ClassKey, "Ed25519 public key of small order"}}},

		// prefixes
		{name: "ipv4 host bits", src: lines(`[node]`, `key_file = "node.key"`, `[network]`, `secret_file = "net.secret"`, `ipv4 = "10.77.0.1/16"`),
			want: []wantError{{5, 8, "network.ipv4", ClassPrefix, "10.77.0.1/16 has host bits set"}}},
		{name: "ipv4 family", src: lines(`[node]`, `key_file = "node.key"`, `[network]`, `secret_file = "net.secret"`, `ipv4 = "fd00::/64"`),
			want: []wantError{{5, 8, "network.ipv4", ClassPrefix, "fd00::/64 is not an IPv4 prefix"}}},
		{name: "ipv4 length", src: lines(`[node]`, `key_file = "node.key"`, `[network]`, `secret_file = "net.secret"`, `ipv4 = "10.0.0.0/31"`),
			want: []wantError{{5, 8, "network.ipv4", ClassPrefix, "prefix length /31 is out of range"}}},
		{name: "ipv4 syntax", src: lines(`[node]`, `key_file = "node.key"`, `[network]`, `secret_file = "net.secret"`, `ipv4 = "10.0.0.0"`),
			want: []wantError{{5, 8, "network.ipv4", ClassPrefix, `"10.0.0.0" is not a prefix`}}},
		{name: "ipv6 family", src: lines(`[node]`, `key_file = "node.key"`, `[network]`, `secret_file = "net.secret"`, `ipv6 = "::ffff:10.0.0.0/104"`),
			want: []wantError{{5, 8, "network.ipv6", ClassPrefix, "::ffff:10.0.0.0/104 is not an IPv6 prefix"}}},
		{name: "route", src: with(`[[peer]]`, `name = "nas"`, `public_key = "`+nasKey+`"`, `routes = ["192.168.1.1/24", "nope"]`),
			want: []wantError{
				{9, 11, "peer[0].routes[0]", ClassPrefix, "192.168.1.1/24 has host bits set"},
				{9, 29, "peer[0].routes[1]", ClassPrefix, `"nope" is not a prefix`},
			}},

		// addresses
		{name: "address outside", src: with(`[[peer]]`, `name = "nas"`, `public_key = "`+nasKey+`"`, `address = "10.78.0.1"`),
			want: []wantError{{9, 11, "peer[0].address", ClassAddress, "10.78.0.1 is outside the network's prefix 10.77.0.0/16"}}},
		{name: "address network", src: with(`[[peer]]`, `name = "nas"`, `public_key = "`+nasKey+`"`, `address = "10.77.0.0"`),
			want: []wantError{{9, 11, "peer[0].address", ClassAddress, "10.77.0.0 is the network's own address"}}},
		{name: "address broadcast", src: lines(`[node]`, `key_file = "node.key"`, `address = "10.77.255.255"`, `[network]`, `secret_file = "net.secret"`),
			want: []wantError{{3, 11, "node.address", ClassAddress, "10.77.255.255 is the network's broadcast address"}}},
		{name: "address family", src: with(`[[peer]]`, `name = "nas"`, `public_key = "`+nasKey+`"`, `address = "fd00::1"`),
			want: []wantError{{9, 11, "peer[0].address", ClassAddress, `"fd00::1" is not an IPv4 address`}}},
		{name: "address6 outside", src: with(`ipv6 = "fd00:1::/64"`, `[[peer]]`, `name = "nas"`, `public_key = "`+nasKey+`"`, `address6 = "fd00:2::1"`),
			want: []wantError{{10, 12, "peer[0].address6", ClassAddress, "fd00:2::1 is outside the network's prefix fd00:1::/64"}}},
		{name: "address6 family", src: with(`[[peer]]`, `name = "nas"`, `public_key = "`+nasKey+`"`, `address6 = "10.77.0.1"`),
			want: []wantError{{9, 12, "peer[0].address6", ClassAddress, `"10.77.0.1" is not an IPv6 address`}}},

		// overlaps
		{name: "same explicit address", src: with(
			`[[peer]]`, `name = "nas"`, `public_key = "`+nasKey+`"`, `address = "10.77.0.9"`,
			`[[peer]]`, `name = "laptop"`, `public_key = "`+laptopKey+`"`, `address = "10.77.0.9"`),
			want: []wantError{{13, 11, "peer[1].address", ClassOverlap, `IPv4 address 10.77.0.9 (explicit) is also the address of peer "nas" (line 9)`}}},
		{name: "derived collision", src: lines(`[node]`, `name = "a"`, `key_file = "node.key"`, `[network]`, `ipv4 = "10.0.0.0/30"`,
			`[[peer]]`, `name = "b"`, `public_key = "`+nasKey+`"`, `[[peer]]`, `name = "c"`, `public_key = "`+laptopKey+`"`),
			want: derivedCollision(t)},
		{name: "route overlaps network", src: with(`[[peer]]`, `name = "nas"`, `public_key = "`+nasKey+`"`, `routes = ["10.0.0.0/8"]`),
			want: []wantError{{9, 11, "peer[0].routes[0]", ClassOverlap, "route 10.0.0.0/8 overlaps the network's prefix 10.77.0.0/16"}}},
		{name: "routes overlap", src: lines(`[node]`, `key_file = "node.key"`, `routes = ["192.168.0.0/16"]`, `[network]`, `secret_file = "net.secret"`,
			`[[peer]]`, `name = "nas"`, `public_key = "`+nasKey+`"`, `routes = ["fd77::/64", "192.168.1.0/24", "fd77::/64"]`),
			want: []wantError{
				{9, 24, "peer[0].routes[1]", ClassOverlap, "route 192.168.1.0/24 overlaps route 192.168.0.0/16 of this node (line 3)"},
				{9, 42, "peer[0].routes[2]", ClassOverlap, "route fd77::/64 overlaps route fd77::/64 of the same member (line 9)"},
			}},

		// duplicates
		{name: "duplicate name", src: with(`[[peer]]`, `name = "desktop"`, `public_key = "`+nasKey+`"`),
			want: []wantError{{7, 8, "peer[0].name", ClassDuplicate, `name "desktop" is also the name of this node (line 2)`}}},
		{name: "duplicate key", src: with(`[[peer]]`, `name = "nas"`, `public_key = "`+nasKey+`"`, `[[peer]]`, `name = "nas2"`, `public_key = "`+nasKeyZBase32+`"`),
			want: []wantError{{11, 14, "peer[1].public_key", ClassDuplicate, `public key is also the key of peer "nas" (line 8)`}}},
		{name: "own key", src: with(`[[peer]]`, `name = "me"`, `public_key = "`+nodeKey+`"`),
			want: []wantError{{8, 14, "peer[0].public_key", ClassDuplicate, "public key is this node's own (from node.key_file)"}}},

		// files
		{name: "key file missing", src: with(), files: memFS{"/cfg/net.secret": {data: testSecret}},
			want: []wantError{{3, 12, "node.key_file", ClassFile, "key file /cfg/node.key: no such file"}}},
		{name: "key file permission", src: with(), files: memFS{"/cfg/node.key": {err: fs.ErrPermission}, "/cfg/net.secret": {data: testSecret}},
			want: []wantError{{3, 12, "node.key_file", ClassFile, "key file /cfg/node.key: permission denied"}}},
		{name: "key file content", src: with(), files: memFS{"/cfg/node.key": {data: "hello\n"}, "/cfg/net.secret": {data: testSecret}},
			want: []wantError{{3, 12, "node.key_file", ClassFile, "key file /cfg/node.key: want 64 hex digits, found 5 bytes"}}},
		{name: "key file not hex", src: with(), files: memFS{"/cfg/node.key": {data: strings.Repeat("x", 64)}, "/cfg/net.secret": {data: testSecret}},
			want: []wantError{{3, 12, "node.key_file", ClassFile, "key file /cfg/node.key: want 64 hex digits: encoding/hex: invalid byte: U+0078 'x'"}}},
		{name: "secret file missing", src: with(), files: memFS{"/cfg/node.key": {data: testSeed}},
			want: []wantError{{5, 15, "network.secret_file", ClassFile, "secret file /cfg/net.secret: no such file"}}},
		{name: "empty file name", src: lines(`[node]`, `key_file = ""`, `[network]`, `secret_file = "net.secret"`),
			want: []wantError{{2, 12, "node.key_file", ClassValue, "empty file name"}}},

		{name: "inline peers", src: lines(append([]string{`peer = [{ name = "nas", public_key = "` + nasKey + `" }, { name = "nas", public_key = "xyz" }]`}, base...)...),
			want: []wantError{
				{1, 117, "peer[1].name", ClassDuplicate, `name "nas" is also the name of peer "nas" (line 1)`},
				{1, 137, "peer[1].public_key", ClassKey, "public key is neither 64 hex digits nor 52 z-base-32 characters (it has 3)"},
			}},

		// many at once, in file order
		{name: "several", src: lines(`[node]`, `key_file = "node.key"`, `mtu = 1`, `colour = "blue"`, `[network]`, `secret_file = "net.secret"`, `ipv4 = "10.0.0.0/33"`, `[log]`, `level = true`),
			want: []wantError{
				{3, 7, "node.mtu", ClassValue, "mtu 1 is out of range"},
				{4, 1, "node.colour", ClassUnknownKey, "unknown key"},
				{7, 8, "network.ipv4", ClassPrefix, `"10.0.0.0/33" is not a prefix`},
				{9, 9, "log.level", ClassType, "want a string, found a boolean"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := tt.files
			if files == nil {
				files = testFiles()
			}
			checkErrors(t, tt.src, files, tt.want)
		})
	}
}

// checkErrors parses src against files and checks that it fails with the errors want, in
// order, each with a hint.
func checkErrors(t *testing.T, src string, files memFS, want []wantError) ErrorList {
	t.Helper()
	c, err := parse(testFile, []byte(src), files.read)
	var list ErrorList
	if !errors.As(err, &list) || c != nil {
		t.Fatalf("parse = %v, %v; want an ErrorList", c, err)
	}
	for i, e := range list {
		if e.File != testFile || e.Hint == "" {
			t.Errorf("error %d: file %q, hint %q", i, e.File, e.Hint)
		}
		var w wantError
		if i < len(want) {
			w = want[i]
		}
		got := wantError{e.Line, e.Col, e.Key, e.Class, e.Msg}
		if got != w {
			t.Errorf("error %d:\n got %d:%d %s [%s] %q\nwant %d:%d %s [%s] %q", i, got.line, got.col, got.key, got.class, got.msg,
				w.line, w.col, w.key, w.class, w.msg)
		}
	}
	if len(list) < len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(list), len(want), list)
	}
	return list
}

// derivedCollision works out which members of a /30 collide: three members share its two
// host addresses, so at least one IPv4 address is claimed twice.
func derivedCollision(t *testing.T) []wantError {
	p := netip.MustParsePrefix("10.0.0.0/30")
	ms := []Member{{Name: "this node", PublicKey: testNodeKey(t)}, {Name: `peer "b"`, PublicKey: mustKey(t, nasKey)}, {Name: `peer "c"`, PublicKey: mustKey(t, laptopKey)}}
	paths := []string{"node.key_file", "peer[0].public_key", "peer[1].public_key"}
	places := []wantError{{3, 12, "", 0, ""}, {8, 14, "", 0, ""}, {11, 14, "", 0, ""}}
	for i := range ms {
		ms[i].IPv4, _ = DeriveIPv4(p, ms[i].PublicKey)
	}
	var want []wantError
	for _, c := range Collisions(ms) {
		first := c.Members[0]
		for _, i := range c.Members[1:] {
			want = append(want, wantError{places[i].line, places[i].col, paths[i], ClassOverlap,
				"IPv4 address " + c.Addr.String() + " (derived from the public key) is also the address of " + ms[first].Name +
					" (line " + strconv.Itoa(places[first].line) + ")"})
		}
	}
	if len(want) == 0 {
		t.Fatal("no collision among three members in a /30")
	}
	return want
}

func TestErrorFormat(t *testing.T) {
	e := &Error{File: "c.toml", Line: 3, Col: 7, Key: "node.mtu", Class: ClassValue, Msg: "mtu 1 is out of range", Hint: "use 1280"}
	if got, want := e.Error(), "c.toml:3:7: node.mtu: mtu 1 is out of range"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	noPos := &Error{File: "c.toml", Class: ClassFile, Msg: "cannot read config file: no such file"}
	if got, want := noPos.Error(), "c.toml: cannot read config file: no such file"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	list := ErrorList{noPos, e}
	if got, want := list.Error(), "c.toml: cannot read config file: no such file\nc.toml:3:7: node.mtu: mtu 1 is out of range\n\thint: use 1280"; got != want {
		t.Errorf("ErrorList.Error() = %q, want %q", got, want)
	}
	var target *Error
	if !errors.As(error(list), &target) || target != noPos {
		t.Errorf("errors.As found %v", target)
	}
	if ClassOverlap.String() != "overlap" || Class(99).String() != "Class(99)" {
		t.Errorf("Class.String: %s, %s", ClassOverlap, Class(99))
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("node.key", testSeed+"\n", 0o600)
	write("net.secret", testSecret+"\n", 0o600)
	cfg := write("hyperlan.toml", with(), 0o644)
	c, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.File != cfg || c.Node.KeyFile != filepath.Join(dir, "node.key") || c.Node.PublicKey != testNodeKey(t) {
		t.Errorf("config = %+v", c)
	}

	checkOne := func(t *testing.T, err error, want wantError) {
		t.Helper()
		var list ErrorList
		if !errors.As(err, &list) || len(list) != 1 {
			t.Fatalf("err = %v, want one error", err)
		}
		e := list[0]
		if got := (wantError{e.Line, e.Col, e.Key, e.Class, e.Msg}); got != want || e.Hint == "" {
			t.Errorf("got %+v (hint %q), want %+v", got, e.Hint, want)
		}
	}
	t.Run("missing config", func(t *testing.T) {
		_, err := Load(filepath.Join(dir, "nope.toml"))
		checkOne(t, err, wantError{0, 0, "", ClassFile, "cannot read config file: no such file"})
	})
	t.Run("config is a directory", func(t *testing.T) {
		_, err := Load(dir)
		checkOne(t, err, wantError{0, 0, "", ClassFile, "cannot read config file: is a directory"})
	})
	t.Run("key file is a directory", func(t *testing.T) {
		if err := os.Mkdir(filepath.Join(dir, "keydir"), 0o700); err != nil {
			t.Fatal(err)
		}
		p := write("dirkey.toml", lines(`[node]`, `key_file = "keydir"`, `[network]`, `secret_file = "net.secret"`), 0o644)
		_, err := Load(p)
		checkOne(t, err, wantError{2, 12, "node.key_file", ClassFile, "key file " + filepath.Join(dir, "keydir") + ": is a directory"})
	})
	t.Run("key file too large", func(t *testing.T) {
		write("big.key", strings.Repeat("0", maxKeyFileSize+1), 0o600)
		p := write("bigkey.toml", lines(`[node]`, `key_file = "big.key"`, `[network]`, `secret_file = "net.secret"`), 0o644)
		_, err := Load(p)
		checkOne(t, err, wantError{2, 12, "node.key_file", ClassFile, "key file " + filepath.Join(dir, "big.key") + ": file too large"})
	})
	t.Run("permission denied", func(t *testing.T) {
		if runtime.GOOS == "windows" || os.Geteuid() == 0 {
			t.Skip("needs a user whom file permissions bind")
		}
		write("locked.key", testSeed, 0o000)
		p := write("locked.toml", lines(`[node]`, `key_file = "locked.key"`, `[network]`, `secret_file = "net.secret"`), 0o644)
		_, err := Load(p)
		checkOne(t, err, wantError{2, 12, "node.key_file", ClassFile, "key file " + filepath.Join(dir, "locked.key") + ": permission denied"})
	})
	t.Run("world-readable secret", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("no Unix permissions")
		}
		write("open.secret", testSecret, 0o644)
		p := write("open.toml", lines(`[node]`, `key_file = "node.key"`, `[network]`, `secret_file = "open.secret"`), 0o644)
		c, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Warnings) != 1 || c.Warnings[0].Line != 4 || c.Warnings[0].Key != "network.secret_file" {
			t.Errorf("warnings = %v", c.Warnings)
		}
	})
}
