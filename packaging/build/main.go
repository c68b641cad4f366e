// Command build builds hyperlan's Linux packages: the hyperlan binary for each
// architecture asked for, then a .deb and a .rpm of it with nfpm
// (github.com/goreleaser/nfpm/v2) from packaging/nfpm.yaml. It lives in a module of its
// own (packaging/go.mod), so that nfpm's dependencies stay out of hyperlan's.
//
//	go -C packaging run ./build [--version V] [--arch amd64,arm64] [--format deb,rpm]
//	                            [--out DIR] [--binary FILE]
//
// It prints the path of each package it writes. The binaries are static (CGO_ENABLED=0)
// and stamped with the version (-X main.version). The packages' file times are
// $SOURCE_DATE_EPOCH, or the time of the last commit, so that a build is reproducible.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the packagers
	_ "github.com/goreleaser/nfpm/v2/rpm"
)

// options say what to build. The zero value of a field means its default.
type options struct {
	root    string    // the repository root; default: found from the working directory
	version string    // default: from git (see gitVersion)
	arches  []string  // Go architectures; default: this machine's
	formats []string  // nfpm packagers; default deb and rpm
	out     string    // output directory; default ROOT/packaging/dist
	binary  string    // a Linux hyperlan binary to package instead of building one (one arch)
	mtime   time.Time // file times in the packages; default: see package doc
	log     io.Writer // progress; nil discards
}

func main() {
	var o options
	var arches, formats string
	flag.StringVar(&o.version, "version", "", "package version (default: from git describe, or 0.0.0~git<date>.<commit>)")
	flag.StringVar(&arches, "arch", "", "comma-separated Go architectures (default: this machine's)")
	flag.StringVar(&formats, "format", "deb,rpm", "comma-separated package formats: deb, rpm")
	flag.StringVar(&o.out, "out", "", "output directory (default: packaging/dist)")
	flag.StringVar(&o.binary, "binary", "", "package this Linux binary instead of building one (with one --arch)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: go -C packaging run ./build [flags]\n\nBuild hyperlan's .deb and .rpm packages.\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "build: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	o.arches, o.formats = split(arches), split(formats)
	o.log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	paths, err := build(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n", err)
		os.Exit(1)
	}
	for _, p := range paths {
		fmt.Println(p)
	}
}

// build builds what o asks for and returns the paths of the packages.
func build(ctx context.Context, o options) ([]string, error) {
	if o.log == nil {
		o.log = io.Discard
	}
	var err error
	if o.root == "" {
		if o.root, err = findRoot(); err != nil {
			return nil, err
		}
	}
	if o.version == "" {
		o.version = gitVersion(ctx, o.root)
	}
	if len(o.arches) == 0 {
		o.arches = []string{goEnv(ctx, "GOARCH")}
	}
	if len(o.formats) == 0 {
		o.formats = []string{"deb", "rpm"}
	}
	if o.binary != "" && len(o.arches) != 1 {
		return nil, errors.New("--binary packages one binary: give exactly one --arch")
	}
	if o.out == "" {
		o.out = filepath.Join(o.root, "packaging", "dist")
	}
	if o.mtime.IsZero() {
		o.mtime = sourceDate(ctx, o.root)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "hyperlan-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	var paths []string
	for _, arch := range o.arches {
		bin := o.binary
		if bin == "" {
			bin = filepath.Join(tmp, "hyperlan-"+arch)
			if err := goBuild(ctx, o, arch, bin); err != nil {
				return nil, err
			}
		}
		for _, format := range o.formats {
			p, err := pack(o, format, arch, bin)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", format, arch, err)
			}
			fmt.Fprintf(o.log, "wrote %s\n", p)
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// goBuild builds the hyperlan command for linux/arch into out.
func goBuild(ctx context.Context, o options, arch, out string) error {
	fmt.Fprintf(o.log, "building hyperlan %s for linux/%s\n", o.version, arch)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-s -w -X main.version="+o.version, "-o", out, "./cmd/hyperlan")
	cmd.Dir = o.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goArch(arch), goARMEnv(arch))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build for linux/%s: %w\n%s", arch, err, bytes.TrimSpace(out))
	}
	return nil
}

// goArch and goARMEnv split nfpm's arm spellings (arm5, arm6, arm7) into GOARCH and GOARM.
func goArch(arch string) string {
	if strings.HasPrefix(arch, "arm") && arch != "arm64" {
		return "arm"
	}
	return arch
}

func goARMEnv(arch string) string {
	if v, ok := strings.CutPrefix(arch, "arm"); ok && v != "64" && v != "" {
		return "GOARM=" + v
	}
	return "GOARM="
}

// pack writes the package of format for arch, containing the binary bin, into o.out.
func pack(o options, format, arch, bin string) (string, error) {
	vars := map[string]string{"VERSION": o.version, "ARCH": arch, "BINARY": bin}
	cfg, err := nfpm.ParseFileWithEnvMapping(filepath.Join(o.root, "packaging", "nfpm.yaml"),
		func(k string) string { return vars[k] })
	if err != nil {
		return "", fmt.Errorf("packaging/nfpm.yaml: %w", err)
	}
	info, err := cfg.Get(format)
	if err != nil {
		return "", err
	}
	info = nfpm.WithDefaults(info)
	info.MTime = o.mtime
	// The config's paths start at the repository root, where nfpm's CLI runs.
	for _, c := range info.Contents {
		if c.Source != "" && !filepath.IsAbs(c.Source) {
			c.Source = filepath.Join(o.root, c.Source)
		}
	}
	for _, s := range []*string{&info.Scripts.PreInstall, &info.Scripts.PostInstall, &info.Scripts.PreRemove, &info.Scripts.PostRemove} {
		if *s != "" && !filepath.IsAbs(*s) {
			*s = filepath.Join(o.root, *s)
		}
	}
	p, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	path := filepath.Join(o.out, p.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := p.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	return path, f.Close()
}

// findRoot returns the repository root: the nearest directory at or above the working
// directory whose go.mod is hyperlan's.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/hyperlan/hyperlan\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the hyperlan repository above the working directory")
		}
		dir = parent
	}
}

// gitVersion is the version of the checkout: the tag it is at (v1.2.3 -> 1.2.3; five
// commits later 1.2.3+git5.abcdef0, which sorts after it), else 0.0.0~git<commit
// date>.<commit>, which sorts before any release; "0.0.0~dev" without git.
func gitVersion(ctx context.Context, root string) string {
	if v, err := git(ctx, root, "describe", "--tags", "--match", "v[0-9]*"); err == nil {
		v = strings.TrimPrefix(v, "v")
		// 1.2.3-5-gabcdef0: the tag, the commits since, and the commit.
		if rest, hash, ok := cutLast(v, "-g"); ok {
			if tag, n, ok := cutLast(rest, "-"); ok {
				return tag + "+git" + n + "." + hash
			}
		}
		return v
	}
	if v, err := git(ctx, root, "log", "-1", "--date=format:%Y%m%d", "--format=%cd.%h"); err == nil && v != "" {
		return "0.0.0~git" + v
	}
	return "0.0.0~dev"
}

// sourceDate is $SOURCE_DATE_EPOCH, else the time of the last commit, else now.
func sourceDate(ctx context.Context, root string) time.Time {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		s, _ = git(ctx, root, "log", "-1", "--format=%ct")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC()
	}
	return time.Now().UTC().Truncate(time.Second)
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

func goEnv(ctx context.Context, key string) string {
	out, err := exec.CommandContext(ctx, "go", "env", key).Output()
	if err != nil {
		return "amd64"
	}
	return strings.TrimSpace(string(out))
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func split(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
