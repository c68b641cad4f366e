package netsim

import (
	"net/netip"
	"time"
)

// A packet is one datagram on its way through the Network.
type packet struct {
	at       time.Time // when it is due at the receiver; zero if not delayed
	seq      uint64    // write order, for packets due at the same time
	from, to netip.AddrPort
	b        []byte // owned by the packet
}

// flight is a binary min-heap of the packets being delayed, ordered by
// (at, seq), so packets due at the same instant keep their write order.
type flight []packet

func (f flight) less(i, j int) bool {
	if f[i].at.Equal(f[j].at) {
		return f[i].seq < f[j].seq
	}
	return f[i].at.Before(f[j].at)
}

func (f *flight) push(p packet) {
	*f = append(*f, p)
	h := *f
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

// pop removes and returns the earliest packet. f must not be empty.
func (f *flight) pop() packet {
	h := *f
	p := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = packet{}
	h = h[:last]
	for i := 0; ; {
		m, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h.less(l, m) {
			m = l
		}
		if r < len(h) && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*f = h
	return p
}
