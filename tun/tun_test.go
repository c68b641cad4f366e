package tun

import (
	"strings"
	"testing"
)

// Options are checked before anything is opened, so this runs without root.
func TestOpenRejectsBadOptions(t *testing.T) {
	tests := []struct {
		opts Options
		want string
	}{
		{Options{Name: "hyperlan-too-long"}, `interface name "hyperlan-too-long" longer than 15 bytes`},
		{Options{MTU: MinMTU - 1}, "MTU 67 outside 68..65535"},
		{Options{MTU: MaxPacketSize + 1}, "MTU 65536 outside 68..65535"},
	}
	for _, tt := range tests {
		dev, err := Open(tt.opts)
		if err == nil {
			dev.Close()
			t.Errorf("Open(%+v): no error", tt.opts)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%+v): %v, want %q", tt.opts, err, tt.want)
		}
	}
	if mtu, err := (Options{}).mtu(); mtu != DefaultMTU || err != nil {
		t.Errorf("default MTU: %d, %v", mtu, err)
	}
}
