package udx

// MTU search states (libudx UDX_MTU_STATE_*).
const (
	mtuBase     = iota // nothing acked yet: MTUBase is not yet confirmed
	mtuSearch          // probing upward from the confirmed size
	mtuComplete        // the ceiling was confirmed or too many probes were lost
)

// mtuMaxProbes is how many probes at one size may be lost before the search
// stops (UDX_MTU_MAX_PROBES).
const mtuMaxProbes = 3

// mtuProber is the sender's packetisation-layer MTU search (udx.md §5, in
// the manner of RFC 8899): from MTUBase it turns one new DATA packet at a
// time into a probe padded (data_offset) to the next size, and every probe
// acked raises the confirmed size by MTUStep, up to max. Sizes count the
// whole IP packet, as libudx's do. The receiver only strips the padding.
//
// The ceiling is MTUMax, lowered to the route MTU the kernel reports when
// the stream connects (limitToRoute); a path narrower than its first hop is
// found by the probes being lost.
type mtuProber struct {
	mtu    int  // confirmed size
	max    int  // ceiling of the search
	target int  // size the next probe is padded to
	state  int  // mtuBase, mtuSearch or mtuComplete
	probes int  // probes sent at target and not acked
	wanted bool // the next eligible new packet becomes a probe
}

// reset starts over at MTUBase (on connect and change of remote).
func (m *mtuProber) reset() {
	*m = mtuProber{mtu: MTUBase, max: MTUMax, target: MTUBase, state: mtuBase}
}

// limitToRoute caps the search at route, the MTU of the route to the peer
// as the kernel reports it, or 0 if unknown (libudx udx_stream_connect): the
// ceiling becomes min(MTUMax, route), and a route no wider than MTUBase ends
// the search before it starts, leaving the stream at MTUBase. Call it after
// reset.
func (m *mtuProber) limitToRoute(route int) {
	switch {
	case route <= 0 || route >= m.max:
	case route <= MTUBase:
		m.max, m.state = MTUBase, mtuComplete
	default:
		m.max = route
	}
}

// padding returns the padding that makes a DATA packet of n payload bytes a
// probe, and whether it may be one: it must carry data and need 0 to 255
// bytes of padding (libudx mtu_probeify_packet).
func (m *mtuProber) padding(n int, ipv6 bool) (int, bool) {
	if !m.wanted || n == 0 {
		return 0, false
	}
	pad := m.target - (n + MTUBase - MaxPayload(MTUBase, ipv6))
	if pad < 0 || pad > 255 {
		return 0, false
	}
	return pad, true
}

// sent notes that a probe went out.
func (m *mtuProber) sent() {
	m.probes++
	m.wanted = false
}

// acked is called for every packet newly acked, probe reports whether it was
// a probe. It returns whether the confirmed size changed. The first ack of
// all confirms MTUBase and starts the search.
func (m *mtuProber) acked(probe bool) bool {
	changed := false
	if m.state == mtuSearch && m.probes > 0 && probe {
		m.probes = 0
		changed = m.mtu != m.target
		m.mtu = m.target
		if m.target >= m.max {
			m.state = mtuComplete
		} else {
			m.target = min(m.target+MTUStep, m.max)
			m.wanted = true
		}
	}
	if m.state == mtuBase {
		m.state = mtuSearch
		m.wanted = true
	}
	return changed
}

// lost is called when a probe is declared lost (it is then resent
// unpadded): after mtuMaxProbes losses at one size the search ends.
func (m *mtuProber) lost() {
	if m.state != mtuSearch {
		return
	}
	if m.probes >= mtuMaxProbes {
		m.state = mtuComplete
	} else {
		m.wanted = true
	}
}
