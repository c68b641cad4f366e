package dht_test

// TestDependencyRules enforces the layering of docs/design.md and STYLE.md B2: which of our
// packages may import which, that the DHT never imports the VPN, that OS-specific modules stay
// in their packages, and that test infrastructure is imported only by tests.

import (
	"encoding/json"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/hyperlan/hyperlan"

// allowed lists, for each package of ours, the packages of ours its non-test code may import.
// A package missing here may import none of ours, except where a rule below says otherwise.
var allowed = map[string][]string{
	"dht/compact":      nil,
	"dht/ktable":       nil,
	"dht/netsim":       nil,
	"dht/udx":          nil,
	"dht/protomux":     nil,
	"dht/noise":        {"dht/compact"},
	"dht/rpc":          {"dht/compact", "dht/ktable", "dht/udx"},
	"dht/secretstream": {"dht/udx", "dht/noise"},
	"dht/records":      {"dht/compact", "dht/rpc"},
	"dht/holepunch":    {"dht/compact", "dht/rpc", "dht/udx"},
	"dht/blindrelay":   {"dht/protomux", "dht/udx"},
	"tun":              nil,
	"routing":          nil,
	"configs":          nil,
	"interop":          nil,
}

// prefixRules allow whole subtrees.
var prefixRules = []struct {
	pkg   string   // package path prefix (relative to the module)
	allow []string // allowed import prefixes of ours
	why   string
}{
	{"dht", []string{"dht/"}, "the public HyperDHT API composes the layers below it"},
	{"dht/dhttest", []string{"dht/"}, "test helpers build testnets from the layers"},
	{"dht/internal/", []string{"dht/"}, "private helpers of the DHT layers"},
	{"tun/tuntest", []string{"tun"}, "the fake device implements tun's interfaces"},
	{"peers", []string{"dht", "dht/", "tun", "routing", "configs"}, "the VPN engine takes a DHT node, a TUN device and a router, and runs a validated config (members' keys, addresses, the network secret and its topic) so that the CLI and tests hand it the one type configs checked"},
	{"cmd/", []string{""}, "the CLI wires everything"},
	{"interop/bench/", []string{"dht", "dht/", "interop", "interop/bench/internal/"}, "benchmark tools drive our layers against the reference, with their shared process and /proc helpers"},
	{"interop/labdht", []string{"dht", "dht/"}, "test helper: a private DHT of our nodes in a lab namespace, for the tests above dht"},
}

// testOnly packages must never be imported by non-test code outside themselves.
var testOnly = []string{"dht/netsim", "dht/dhttest", "tun/tuntest", "interop", "interop/labdht"}

// osOnly modules may be imported only by these packages. interop (test-only, see testOnly) uses
// unix.Setns in netns_linux.go to open test sockets inside network namespaces: the syscall
// package has no SYS_SETNS on amd64 or 386, and a hard-coded number per architecture would be
// worse than the one module every Linux-specific package here already uses. cmd/hyperlan uses
// it the same way in demolab_linux.go: `hyperlan demo` opens its members' sockets, TUN devices
// and routers inside the namespaces it builds, and interop is test-only.
var osOnly = map[string][]string{
	"golang.org/x/sys/unix":          {"tun", "routing", "dht/udx", "interop", "cmd/hyperlan"},
	"github.com/vishvananda/netlink": {"tun", "routing"},
	"golang.zx2c4.com/wireguard/tun": {"tun"},
	"github.com/vishvananda/netns":   {"tun", "routing"},
}

type listedPackage struct {
	ImportPath string
	Imports    []string
	GoFiles    []string
}

func TestDependencyRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []listedPackage
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 4 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") {
				checkOurs(t, rel, strings.TrimPrefix(imp, module+"/"))
			}
			checkOS(t, rel, imp)
		}
	}
}

func checkOurs(t *testing.T, pkg, imp string) {
	t.Helper()
	if slices.Contains(testOnly, imp) && !strings.HasPrefix(pkg, imp) && !strings.HasPrefix(pkg, "interop/bench/") {
		t.Errorf("%s imports %s: test infrastructure may be imported only from _test.go files", pkg, imp)
		return
	}
	if strings.HasPrefix(pkg, "dht") {
		for _, vpn := range []string{"peers", "tun", "routing", "configs", "cmd"} {
			if imp == vpn || strings.HasPrefix(imp, vpn+"/") {
				t.Errorf("%s imports %s: the DHT is a library and never imports the VPN", pkg, imp)
				return
			}
		}
	}
	if list, ok := allowed[pkg]; ok {
		if !slices.Contains(list, imp) {
			t.Errorf("%s imports %s: not among its allowed layers %v (a new edge is a design change)", pkg, imp, list)
		}
		return
	}
	for _, r := range prefixRules {
		if pkg == r.pkg || (strings.HasSuffix(r.pkg, "/") && strings.HasPrefix(pkg, r.pkg)) {
			for _, a := range r.allow {
				if imp == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(imp, a)) || a == "" {
					return
				}
			}
			t.Errorf("%s imports %s: outside what %s may import (%s)", pkg, imp, r.pkg, r.why)
			return
		}
	}
	t.Errorf("%s imports %s: %s has no dependency rule yet; add one to %s", pkg, imp, pkg, path.Base("deps_test.go"))
}

func checkOS(t *testing.T, pkg, imp string) {
	t.Helper()
	for mod, pkgs := range osOnly {
		if imp != mod && !strings.HasPrefix(imp, mod+"/") {
			continue
		}
		for _, p := range pkgs {
			if pkg == p || strings.HasPrefix(pkg, p+"/") {
				return
			}
		}
		t.Errorf("%s imports %s: OS-specific code belongs in %v", pkg, imp, pkgs)
	}
}
