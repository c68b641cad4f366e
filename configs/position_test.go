package configs

import (
	"testing"
)

func TestPositions(t *testing.T) {
	src := "# comment\n" + // 1
		"top = 1 # trailing\n" + // 2
		"[node]\n" + // 3
		"  name = \"a # not a comment\"\n" + // 4
		"routes = [\n" + // 5
		"  \"10.0.0.0/8\", # first\n" + // 6
		"  '192.168.0.0/16',\n" + // 7
		"]\n" + // 8
		"[[peer]]\n" + // 9
		"name = \"x\"\n" + // 10
		"[[ peer ]]\n" + // 11
		"\"public key\" = \"\"\"\n" + // 12
		"multi ] line \"\"\"\n" + // 13
		"sub.key = 2\n" + // 14
		"[peer.extra]\n" + // 15
		"k = 3\n" + // 16
		"[network]\n" + // 17
		"inline = { a = 1, b = [ 2, 3 ], c = { d = 4 } }\n" + // 18
		"list = [{ name = \"p\" }, { name = \"q\" }]\n" + // 19
		"date = 1979-05-27 07:32:00Z\n" + // 20
		"after = 'x'\r\n" + // 21
		"'lit.key' = '''a\n" + // 22
		"'''\n" + // 23
		"last = 1" // 24
	p := indexPositions([]byte(src))
	tests := []struct {
		path     string
		key, val position // a zero val means the same as key
	}{
		{path: "top", key: position{2, 1}, val: position{2, 7}},
		{path: "node", key: position{3, 1}},
		{path: "node.name", key: position{4, 3}, val: position{4, 10}},
		{path: "node.routes", key: position{5, 1}, val: position{5, 10}},
		{path: "node.routes[0]", key: position{6, 3}, val: position{6, 3}},
		{path: "node.routes[1]", key: position{7, 3}, val: position{7, 3}},
		{path: "peer[0]", key: position{9, 1}},
		{path: "peer[0].name", key: position{10, 1}, val: position{10, 8}},
		{path: "peer[1]", key: position{11, 1}},
		{path: `peer[1]."public key"`, key: position{12, 1}, val: position{12, 16}},
		{path: "peer[1].sub.key", key: position{14, 1}, val: position{14, 11}},
		{path: "peer[1].extra", key: position{15, 1}},
		{path: "peer[1].extra.k", key: position{16, 1}, val: position{16, 5}},
		{path: "peer[1].extra.missing", key: position{15, 1}, val: position{15, 1}}, // falls back to the table
		{path: "network.inline.b[1]", key: position{18, 28}, val: position{18, 28}},
		{path: "network.inline.c.d", key: position{18, 39}, val: position{18, 43}},
		{path: "network.list[1].name", key: position{19, 27}, val: position{19, 34}},
		{path: "network.date", key: position{20, 1}, val: position{20, 8}},
		{path: "network.after", key: position{21, 1}, val: position{21, 9}},
		{path: `network."lit.key"`, key: position{22, 1}, val: position{22, 13}},
		{path: "network.last", key: position{24, 1}, val: position{24, 8}},
		{path: "nowhere", key: position{}, val: position{}},
	}
	for _, tt := range tests {
		if got := p.key(tt.path); got != tt.key {
			t.Errorf("key(%s) = %v, want %v", tt.path, got, tt.key)
		}
		want := tt.val
		if want == (position{}) {
			want = tt.key
		}
		if got := p.value(tt.path); got != want {
			t.Errorf("value(%s) = %v, want %v", tt.path, got, want)
		}
	}
}

func TestPathParent(t *testing.T) {
	for in, want := range map[string]string{"peer[1].routes[0]": "peer[1].routes", "peer[1].routes": "peer[1]", "peer[1]": "peer", "peer": ""} {
		if got := pathParent(in); got != want {
			t.Errorf("pathParent(%q) = %q, want %q", in, got, want)
		}
	}
}
