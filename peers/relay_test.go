package peers

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/hyperlan/hyperlan/configs"
)

// TestRelayServed: a member with node.relay serves a blind relay on the key derived from
// its seed (beside its VPN server, on a key of its own), shows it in its status, and leaves
// its own relay out of the relays it connects through; members still connect directly when
// they can. The NAT lab test (natlab_relay_test.go) relays between random NATs.
func TestRelayServed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newTestlab(t, nil)
		r, a := l.newMember("r", 0x71), l.newMember("a", 0x72)
		var seed [32]byte
		copy(seed[:], r.kp.Seed())
		relayKey := configs.RelayPublicKey(seed)
		other := a.key // any valid key will do as a second relay
		rc := r.config(a)
		rc.Node.Relay = true
		rc.DHT.RelayThrough = []configs.PublicKey{relayKey, other}
		r.start(rc)
		ac := a.config(r)
		ac.DHT.RelayThrough = []configs.PublicKey{relayKey}
		a.start(ac)
		a.mustPing(r)

		var st Status
		for range 100 {
			if st = r.e.Status(); st.Relay != nil && st.Relay.Serving {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if st.Relay == nil || !st.Relay.Serving || st.Relay.PublicKey != relayKey || st.Relay.PublicKey == r.key {
			t.Errorf("r's relay: %+v, want serving on %v", st.Relay, relayKey)
		}
		if len(st.RelayThrough) != 1 || st.RelayThrough[0] != other {
			t.Errorf("r relays through %v, want only %v (not itself)", st.RelayThrough, other)
		}
		as := a.e.Status()
		if as.Relay != nil || len(as.RelayThrough) != 1 || as.RelayThrough[0] != relayKey {
			t.Errorf("a's status: relay %+v, relay_through %v", as.Relay, as.RelayThrough)
		}
		if ps, _ := a.peerStatus(r); !ps.Connected || ps.Relayed || ps.Upgraded || ps.Relay != (configs.PublicKey{}) {
			t.Errorf("a sees r: %+v, want a direct connection", ps)
		}
	})
}
