package main

import (
	"errors"
	"os"
	"strconv"
	"strings"
)

// capNetAdmin is CAP_NET_ADMIN's bit in the capability sets (linux/capability.h).
const capNetAdmin = 12

// checkNetAdmin fails when this process lacks CAP_NET_ADMIN in its effective set, which
// creating the TUN interface and setting its addresses and routes need. When the set
// cannot be read it lets the device tell instead.
func checkNetAdmin() error {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		v, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil || caps&(1<<capNetAdmin) != 0 {
			return nil
		}
		return errors.New("hyperlan up needs root or the CAP_NET_ADMIN capability, which this process has not got")
	}
	return nil
}
