package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the release version, set at build time with
// -ldflags "-X main.version=v1.2.3"; empty means the module version from the build info.
var version = ""

const versionUsage = `Usage: hyperlan version

Print the version of hyperlan, the Go version it was built with, and the platform:

  hyperlan v0.1.0 go1.26.0 linux/amd64

A build from a source checkout reports "devel" as the version.
`

func runVersion(_ context.Context, c *cli, args []string) error {
	if err := parseFlagsNoArgs(newFlagSet("version"), args); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "hyperlan %s %s %s/%s\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
