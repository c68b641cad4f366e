package main

import (
	"net"
	"syscall"
)

// ignorePMTU makes c send its datagrams whole, with DF set, whatever path MTU the kernel
// has learnt (IP_PMTUDISC_PROBE): a probe of the tunnel's full size then arrives only when
// the VPN carries that size, instead of in fragments.
func ignorePMTU(c *net.UDPConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MTU_DISCOVER, syscall.IP_PMTUDISC_PROBE)
	})
	if err != nil {
		return err
	}
	return serr
}
