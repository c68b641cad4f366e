package configs

import (
	"encoding/hex"
	"strings"
	"testing"
)

// TestRelayVector pins the relay key derivation of the package doc: the expected values were
// computed with Python's hashlib.blake2b and Node's crypto (Ed25519), independently of this
// code.
func TestRelayVector(t *testing.T) {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(i)
	}
	rs := RelaySeed(seed)
	if got, want := hex.EncodeToString(rs[:]), "39505c3fa90db6df3fdae06f57888848b84cd760cad202a28419da039462b1f2"; got != want {
		t.Errorf("RelaySeed = %s, want %s", got, want)
	}
	if got, want := RelayPublicKey(seed).String(), "a8851df6a73173c0513f1c58a44a84ff0402d8e0462ea717ad5180c747acba1a"; got != want {
		t.Errorf("RelayPublicKey = %s, want %s", got, want)
	}
}

func testRelayKey(t *testing.T) PublicKey {
	seed, _ := hex.DecodeString(testSeed)
	return RelayPublicKey([32]byte(seed))
}

func TestParseRelay(t *testing.T) {
	relay2 := mustKey(t, laptopKey)
	c, err := parse(testFile, []byte(with(`[dht]`, `relay_through = ["`+desktopKey+`", "`+relay2.ZBase32()+`"]`)), testFiles().read)
	if err != nil {
		t.Fatal(err)
	}
	if c.Node.Relay || c.Node.RelayPublicKey != testRelayKey(t) {
		t.Errorf("node relay %v, key %v; want false, %v", c.Node.Relay, c.Node.RelayPublicKey, testRelayKey(t))
	}
	if got := c.DHT.RelayThrough; len(got) != 2 || got[0] != mustKey(t, desktopKey) || got[1] != relay2 {
		t.Errorf("relay_through = %v", got)
	}
	if c.Warnings != nil {
		t.Errorf("warnings: %v", c.Warnings)
	}

	// A serving node that lists its own relay (a config shared by the members) leaves it out,
	// with a warning.
	own := testRelayKey(t).String()
	c, err = parse(testFile, []byte(lines(`[node]`, `key_file = "node.key"`, `relay = true`, `[network]`, `secret_file = "net.secret"`,
		`[dht]`, `relay_through = ["`+own+`", "`+desktopKey+`"]`)), testFiles().read)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Node.Relay || len(c.DHT.RelayThrough) != 1 || c.DHT.RelayThrough[0] != mustKey(t, desktopKey) {
		t.Errorf("relay %v, relay_through %v; want true and the other relay only", c.Node.Relay, c.DHT.RelayThrough)
	}
	if len(c.Warnings) != 1 || c.Warnings[0].Key != "dht.relay_through[0]" || c.Warnings[0].Line != 7 || c.Warnings[0].Col != 18 ||
		!strings.Contains(c.Warnings[0].Msg, "this node's own relay") {
		t.Errorf("warnings: %v", c.Warnings)
	}

	// No relay_through: nil.
	c, err = parse(testFile, []byte(with(`[dht]`, `bootstrap = []`)), testFiles().read)
	if err != nil || c.DHT.RelayThrough != nil {
		t.Errorf("relay_through = %v, %v; want nil", c.DHT.RelayThrough, err)
	}
}

func TestParseRelayErrors(t *testing.T) {
	own := testRelayKey(t).String()
	tests := []struct {
		name string
		src  string
		want []wantError
	}{
		{name: "relay not a boolean", src: lines(`[node]`, `key_file = "node.key"`, `relay = "yes"`, `[network]`, `secret_file = "net.secret"`),
			want: []wantError{{3, 9, "node.relay", ClassType, "want a boolean, found a string"}}},
		{name: "relay_through not an array", src: with(`[dht]`, `relay_through = "`+desktopKey+`"`),
			want: []wantError{{7, 17, "dht.relay_through", ClassType, "want an array of strings, found a string"}}},
		{name: "bad keys", src: with(`[dht]`, `relay_through = [`, `  "abc",`, `  "`+strings.Repeat("zz", 32)+`",`, `  "`+"01"+strings.Repeat("00", 31)+`",`, `]`),
			want: []wantError{
				{8, 3, "dht.relay_through[0]", ClassKey, "public key is neither 64 hex digits nor 52 z-base-32 characters (it has 3)"},
				{9, 3, "dht.relay_through[1]", ClassKey, "public key is neither 64 hex digits nor 52 z-base-32 characters (encoding/hex: invalid byte: U+007A 'z')"},
				{10, 3, "dht.relay_through[2]", ClassKey, "Ed25519 public key of small order"},
			}},
		{name: "twice", src: with(`[dht]`, `relay_through = ["`+desktopKey+`", "`+mustKey(t, desktopKey).ZBase32()+`"]`),
			want: []wantError{{7, 86, "dht.relay_through[1]", ClassDuplicate, "relay key is listed already (line 7)"}}},
		{name: "a peer's key", src: with(`[[peer]]`, `name = "nas"`, `public_key = "`+nasKey+`"`, `[dht]`, `relay_through = ["`+nasKey+`"]`),
			want: []wantError{{10, 18, "dht.relay_through[0]", ClassKey, `` + nasKey[:8] + `... is the public key of peer "nas", not of a relay`}}},
		{name: "the node's key", src: with(`[dht]`, `relay_through = ["`+testNodeKey(t).String()+`"]`),
			want: []wantError{{7, 18, "dht.relay_through[0]", ClassKey, testNodeKey(t).String()[:8] + "... is the public key of this node, not of a relay"}}},
		{name: "own relay, not serving", src: with(`[dht]`, `relay_through = ["`+own+`"]`),
			want: []wantError{{7, 18, "dht.relay_through[0]", ClassKey, own[:8] + "... is this node's own relay key, but this node does not serve as a relay"}}},
		{name: "unknown key suggests", src: with(`[dht]`, `relay_trough = []`),
			want: []wantError{{7, 1, "dht.relay_trough", ClassUnknownKey, "unknown key"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := checkErrors(t, tt.src, testFiles(), tt.want)
			if tt.name == "unknown key suggests" && list[0].Hint != `did you mean "relay_through"?` {
				t.Errorf("hint %q", list[0].Hint)
			}
		})
	}
}
