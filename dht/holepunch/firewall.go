package holepunch

import "strconv"

// Firewall is how reachable a socket is, as the NAT classification sees it. The values are
// the wire values of hyperdht's FIREWALL (records.Firewall in the payloads): RANDOM and
// above count as random.
type Firewall uint64

const (
	Unknown    Firewall = 0 // not classified yet
	Open       Firewall = 1 // reachable at its public address
	Consistent Firewall = 2 // one public port for every destination
	Random     Firewall = 3 // a new public port for each destination
)

func (f Firewall) String() string {
	switch f {
	case Unknown:
		return "unknown"
	case Open:
		return "open"
	case Consistent:
		return "consistent"
	case Random:
		return "random"
	}
	return "firewall(" + strconv.FormatUint(uint64(f), 10) + ")"
}

// coerce treats an open side as a consistent one, as the strategies do.
func (f Firewall) coerce() Firewall {
	if f == Open {
		return Consistent
	}
	return f
}
