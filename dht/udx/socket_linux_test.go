//go:build linux

package udx

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Real sockets on the batched path get libudx's PMTU mode: DF on, path-MTU cache ignored.
func TestSocketProbeMTUMode(t *testing.T) {
	pc, err := NewInstance().ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := pc.(*Socket)
	defer s.Close()
	if s.batch == nil {
		t.Skip("no batched path on this kernel")
	}
	var mode int
	var gerr error
	if err := s.batch.rc.Control(func(fd uintptr) {
		mode, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	if mode != unix.IP_PMTUDISC_PROBE {
		t.Fatalf("IP_MTU_DISCOVER = %d, want IP_PMTUDISC_PROBE (%d)", mode, unix.IP_PMTUDISC_PROBE)
	}
}
