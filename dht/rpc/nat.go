package rpc

import "net/netip"

// natSampler votes on this node's public address from the addresses other nodes report
// seeing us at (the "to" field of their messages). It follows npm nat-sampler 1.x: a ring of
// the last 16 observations, each stored twice (with its port and with port 0); an observation
// only counts as a repeat of one of the last four of its kind; the winning entry must reach a
// threshold that grows with the number of samples (at most 13). A consistent host with varying
// ports yields the host with port 0 (a randomizing NAT).
//
// Not safe for concurrent use.
type natSampler struct {
	host netip.Addr // zero when unknown
	port uint16     // 0 when unknown or randomized
	size int

	a, b      *natEntry
	threshold int
	top       int
	samples   []*natEntry // pairs: (host,port) then (host,0)
}

type natEntry struct {
	host netip.Addr
	port uint16
	hits int
}

const natRing = 32 // entries: 16 observations

// addr returns the sampled address, or the zero AddrPort when the host is unknown. The port
// is 0 for a randomizing NAT.
func (s *natSampler) addr() netip.AddrPort {
	if !s.host.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(s.host, s.port)
}

// add records one observation of our address.
func (s *natSampler) add(host netip.Addr, port uint16) {
	host = host.Unmap()
	a := s.bump(host, port, 2)
	b := s.bump(host, 0, 1)
	if len(s.samples) < natRing {
		s.size++
		switch {
		case s.size < 4:
			s.threshold = s.size
		case s.size < 8:
			s.threshold = s.size - 1
		case s.size < 12:
			s.threshold = s.size - 2
		default:
			s.threshold = s.size - 3
		}
		s.samples = append(s.samples, a, b)
		s.top += 2
	} else {
		if s.top == natRing {
			s.top = 0
		}
		s.samples[s.top].hits--
		s.samples[s.top] = a
		s.samples[s.top+1].hits--
		s.samples[s.top+1] = b
		s.top += 2
	}
	if s.a == nil || s.a.hits < a.hits {
		s.a = a
	}
	if s.b == nil || s.b.hits < b.hits {
		s.b = b
	}
	switch {
	case s.a.hits >= s.threshold:
		s.host, s.port = s.a.host, s.a.port
	case s.b.hits >= s.threshold:
		s.host, s.port = s.b.host, 0
	default:
		s.host, s.port = netip.Addr{}, 0
	}
}

// bump looks for (host, port) among the last four entries of its kind (offset 2 for the
// port-carrying entries, 1 for the host-only ones) and counts a hit on it, or returns a new
// entry with one hit.
func (s *natSampler) bump(host netip.Addr, port uint16, off int) *natEntry {
	for i := 0; i < 4; i++ {
		j := (s.top - off - 2*i) & (natRing - 1)
		if j >= len(s.samples) {
			break
		}
		if e := s.samples[j]; e.port == port && e.host == host {
			e.hits++
			return e
		}
	}
	return &natEntry{host: host, port: port, hits: 1}
}
