package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hyperlan/hyperlan/interop"
)

// The whole VPN mesh demo, as root: three members behind NATs reach each other, the demo
// exits 0 with its summary, and no namespace or link of it is left. Skipped without root,
// ip, nft or ping; failed instead under HYPERLAN_REQUIRE_NETNS=1.
func TestDemoVPNMesh(t *testing.T) {
	if testing.Short() {
		t.Skip("the VPN demo takes a few seconds")
	}
	interop.RequireNetns(t)
	if problem := vpnDemoProblem(); problem != "" {
		if os.Getenv(interop.RequireNetnsEnv) == "1" {
			t.Fatalf("the VPN demo cannot run: %s (%s=1)", problem, interop.RequireNetnsEnv)
		}
		t.Skipf("the VPN demo cannot run: %s; set %s=1 to fail instead", problem, interop.RequireNetnsEnv)
	}
	linksBefore := rootLinks(t)
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"demo", "--timeout", "90s"}, nil, &out, &errs)
	got := out.String()
	if code != exitOK {
		t.Fatalf("demo exit %d; stderr:\n%s\nstdout:\n%s", code, errs.String(), got)
	}
	checkContains(t, got,
		"built 7 namespaces",
		"the DHT is up",
		"every member reached every other",
		"summary: 3 members reached each other by virtual IPv4 and IPv6 in all 6 directions",
		"0 of 36 final pings lost",
		"cleaned up: stopped 3 members and 4 DHT nodes, deleted 7 namespaces",
	)
	// The live status shows the IPv6 pings next to the IPv4 ones, and every member pinged
	// every other's IPv6 address at the end.
	checkContains(t, got, "PING IPv4", "PING IPv6")
	if n := len(regexp.MustCompile(`(?m)^  \w+ +-> \w+ +fd[0-9a-f:]+ +3/3 replies`).FindAllString(got, -1)); n != 6 {
		t.Errorf("%d IPv6 final pings with 3/3 replies, want 6", n)
	}
	if strings.Contains(got, "Skipping") {
		t.Errorf("the demo skipped the VPN mesh as root:\n%s", got)
	}
	t.Logf("demo output:\n%s", got)
	prefix := demoNSPrefix + strconv.FormatInt(int64(os.Getpid()), 36) + "-"
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
	if after := rootLinks(t); after != linksBefore {
		t.Errorf("links of the root namespace changed:\nbefore:\n%s\nafter:\n%s", linksBefore, after)
	}
}

// rootLinks lists the names of the root namespace's links.
func rootLinks(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			names = append(names, f[1])
		}
	}
	return strings.Join(names, "\n")
}
