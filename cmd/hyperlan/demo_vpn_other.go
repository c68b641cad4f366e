//go:build !linux

package main

import (
	"context"
	"time"
)

// vpnDemoProblem says why the VPN mesh demo cannot run here.
func vpnDemoProblem() string { return "it needs Linux (network namespaces)" }

func runVPNDemo(ctx context.Context, c *cli, timeout time.Duration, verbose bool) error {
	return failf("the VPN mesh demo needs Linux")
}
