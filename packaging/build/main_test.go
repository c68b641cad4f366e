package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blakesmith/ar"
)

// wantFiles are the files and directories of the packages, with their modes.
var wantFiles = map[string]os.FileMode{
	"/usr/bin/hyperlan":                                   0o755,
	"/usr/lib/systemd/system/hyperlan@.service":           0o644,
	"/etc/hyperlan/":                                      os.ModeDir | 0o700,
	"/usr/share/doc/hyperlan/examples/home-lan.toml":      0o644,
	"/usr/share/doc/hyperlan/examples/laptop-nas.toml":    0o644,
	"/usr/share/doc/hyperlan/examples/subnet-router.toml": 0o644,
	"/usr/share/doc/hyperlan/README.md":                   0o644,
}

var mtime = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// The .deb and .rpm of a stand-in binary: the .deb holds exactly the files wanted, with
// their modes and contents, the control fields and the maintainer scripts.
func TestPackages(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "hyperlan")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho stand-in\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "dist")
	paths, err := build(context.Background(), options{
		version: "1.2.3", arches: []string{"arm64"}, out: out, binary: bin, mtime: mtime,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(out, "hyperlan_1.2.3_arm64.deb"), filepath.Join(out, "hyperlan-1.2.3-1.aarch64.rpm")}
	if !slices.Equal(paths, want) {
		t.Fatalf("packages %q, want %q", paths, want)
	}

	control, data := readDeb(t, paths[0])
	got := map[string]os.FileMode{}
	for name, f := range data {
		got[name] = f.mode
		if !f.mtime.Equal(mtime) {
			t.Errorf("%s: mtime %v, want %v", name, f.mtime, mtime)
		}
	}
	// Parent directories nfpm adds for the deb ("/usr/", "/usr/share/", ...) are fine.
	for name := range got {
		if _, ok := wantFiles[name]; !ok && strings.HasSuffix(name, "/") && !strings.HasPrefix(name, "/etc/hyperlan") {
			delete(got, name)
		}
	}
	if !maps.Equal(got, wantFiles) {
		t.Errorf("deb files:\n%s\nwant:\n%s", listing(got), listing(wantFiles))
	}
	if b := data["/usr/bin/hyperlan"].body; !bytes.Equal(b, []byte("#!/bin/sh\necho stand-in\n")) {
		t.Errorf("/usr/bin/hyperlan is not the binary: %q", b)
	}
	unit, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "hyperlan@.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data["/usr/lib/systemd/system/hyperlan@.service"].body, unit) {
		t.Errorf("the unit in the deb differs from packaging/hyperlan@.service")
	}

	fields := string(control["control"].body)
	for _, want := range []string{"Package: hyperlan\n", "Version: 1.2.3\n", "Architecture: arm64\n", "Section: net\n",
		"Maintainer: hyperlan developers\n", "Homepage: https://github.com/hyperlan/hyperlan\n",
		"Description: Serverless peer-to-peer mesh VPN over HyperDHT\n"} {
		if !strings.Contains(fields, want) {
			t.Errorf("control lacks %q:\n%s", want, fields)
		}
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		f, ok := control[s]
		if !ok || f.mode&0o111 == 0 || !bytes.HasPrefix(f.body, []byte("#!/bin/sh\n")) {
			t.Errorf("control script %s: %+v", s, f)
		}
	}

	// dpkg agrees, where it is installed.
	if dpkg := tool(t, "dpkg-deb"); dpkg != "" {
		out, err := exec.Command(dpkg, "--field", paths[0], "Package", "Version", "Architecture").CombinedOutput()
		if err != nil || string(out) != "Package: hyperlan\nVersion: 1.2.3\nArchitecture: arm64\n" {
			t.Errorf("dpkg-deb --field: %v\n%s", err, out)
		}
		out, err = exec.Command(dpkg, "--contents", paths[0]).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "./usr/lib/systemd/system/hyperlan@.service") {
			t.Errorf("dpkg-deb --contents: %v\n%s", err, out)
		}
	}

	// The rpm: the lead's magic, and rpm's own listing where it is installed.
	rpm, err := os.ReadFile(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(rpm, []byte{0xed, 0xab, 0xee, 0xdb}) {
		t.Errorf("%s does not start with an rpm lead", paths[1])
	}
	if rpmBin := tool(t, "rpm"); rpmBin != "" {
		out, err := exec.Command(rpmBin, "-qlp", paths[1]).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "/usr/lib/systemd/system/hyperlan@.service") {
			t.Errorf("rpm -qlp: %v\n%s", err, out)
		}
		out, err = exec.Command(rpmBin, "-qp", "--queryformat", "%{NAME} %{VERSION} %{ARCH}\n", paths[1]).CombinedOutput()
		if err != nil || string(out) != "hyperlan 1.2.3 aarch64\n" {
			t.Errorf("rpm -qp --queryformat: %v\n%s", err, out)
		}
		out, err = exec.Command(rpmBin, "-qp", "--scripts", paths[1]).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "postinstall scriptlet") || !strings.Contains(string(out), "preuninstall scriptlet") {
			t.Errorf("rpm -qp --scripts: %v\n%s", err, out)
		}
	}
}

// tool returns the path of a packaging tool (dpkg-deb, rpm, systemd-analyze), or "" to skip
// its checks where it is missing; CI (HYPERLAN_REQUIRE_NETNS=1, where .ci/run installs them)
// fails instead.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("HYPERLAN_REQUIRE_NETNS") == "1" {
			t.Fatalf("%s is not installed (CI installs it): %v", name, err)
		}
		t.Logf("%s is not installed: its checks are skipped", name)
		return ""
	}
	return p
}

// TestUnitVerifies: systemd-analyze verify accepts an instance of the unit, its ExecStart
// pointed at a stand-in binary (verify checks that the command exists).
func TestUnitVerifies(t *testing.T) {
	analyze := tool(t, "systemd-analyze")
	if analyze == "" {
		t.Skip("systemd-analyze is not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "hyperlan")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "hyperlan@.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("ExecStart=/usr/bin/hyperlan ")) {
		t.Fatal("the unit's ExecStart does not run /usr/bin/hyperlan")
	}
	unit = bytes.ReplaceAll(unit, []byte("/usr/bin/hyperlan "), []byte(bin+" "))
	path := filepath.Join(dir, "hyperlan@home.service")
	if err := os.WriteFile(path, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The real build: the binary for this machine, stamped with the version, in a .deb.
func TestBuildBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the hyperlan binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("runs the Linux binary it builds")
	}
	out := t.TempDir()
	paths, err := build(context.Background(), options{
		version: "0.0.0~test1", arches: []string{runtime.GOARCH}, formats: []string{"deb"}, out: out, mtime: mtime,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, data := readDeb(t, paths[0])
	bin := filepath.Join(out, "hyperlan")
	if err := os.WriteFile(bin, data["/usr/bin/hyperlan"].body, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "hyperlan 0.0.0~test1 "; !strings.HasPrefix(string(got), want) {
		t.Fatalf("hyperlan version: %q, want %q...", got, want)
	}
}

func TestVersions(t *testing.T) {
	for _, c := range []struct{ arch, goarch, goarm string }{
		{"amd64", "amd64", "GOARM="}, {"arm64", "arm64", "GOARM="}, {"arm7", "arm", "GOARM=7"}, {"arm6", "arm", "GOARM=6"},
	} {
		if goArch(c.arch) != c.goarch || goARMEnv(c.arch) != c.goarm {
			t.Errorf("%s: %s %s, want %s %s", c.arch, goArch(c.arch), goARMEnv(c.arch), c.goarch, c.goarm)
		}
	}
}

type debFile struct {
	mode  os.FileMode
	mtime time.Time
	body  []byte
}

// readDeb returns the members of the .deb's control and data archives, by name ("control",
// "/usr/bin/hyperlan", directories with a trailing slash).
func readDeb(t *testing.T, path string) (control, data map[string]debFile) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := ar.NewReader(f)
	var names []string
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		switch h.Name {
		case "debian-binary":
			b, _ := io.ReadAll(r)
			if string(b) != "2.0\n" {
				t.Errorf("debian-binary %q", b)
			}
		case "control.tar.gz":
			control = readTarGz(t, r, "./")
		case "data.tar.gz":
			data = readTarGz(t, r, ".")
		}
	}
	if !slices.Equal(names, []string{"debian-binary", "control.tar.gz", "data.tar.gz"}) {
		t.Fatalf("deb members %q", names)
	}
	return control, data
}

func readTarGz(t *testing.T, r io.Reader, trim string) map[string]debFile {
	t.Helper()
	z, err := gzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(z)
	out := map[string]debFile{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(h.Name, trim)
		if name == "" || name == "/" {
			continue
		}
		mode := h.FileInfo().Mode() & (os.ModeDir | os.ModePerm)
		if mode.IsDir() && !strings.HasSuffix(name, "/") {
			name += "/"
		}
		out[name] = debFile{mode: mode, mtime: h.ModTime.UTC(), body: body}
	}
}

func listing(m map[string]os.FileMode) string {
	var lines []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		lines = append(lines, fmt.Sprintf("  %v %s", m[name], name))
	}
	return strings.Join(lines, "\n")
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
