//go:build !linux

package main

import "errors"

// checkNetAdmin fails: the VPN runs on Linux only.
func checkNetAdmin() error {
	return errors.New("hyperlan up runs on Linux only")
}
