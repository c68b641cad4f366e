package records

import (
	"fmt"
	"net/netip"

	"github.com/hyperlan/hyperlan/dht/compact"
)

// Address helpers shared by the connect-path codecs. An optional address is absent when it
// is not valid (the zero netip.AddrPort); an address list is an array(ipv4Address) or
// array(ipv6Address).

// appendOptIPv4 appends a as an ipv4Address when it is valid and writes nothing otherwise.
func appendOptIPv4(b []byte, what string, a netip.AddrPort) ([]byte, error) {
	if !a.IsValid() {
		return b, nil
	}
	return appendAddr(b, what, a, compact.AppendIPv4Addr)
}

func appendAddr(b []byte, what string, a netip.AddrPort, enc func([]byte, netip.AddrPort) ([]byte, error)) ([]byte, error) {
	b, err := enc(b, a)
	if err != nil {
		return b, fmt.Errorf("records: %s %v: %w", what, a, err)
	}
	return b, nil
}

// appendAddrs appends list as an array of the addresses enc writes.
func appendAddrs(b []byte, what string, list []netip.AddrPort, enc func([]byte, netip.AddrPort) ([]byte, error)) ([]byte, error) {
	b = compact.AppendArrayLen(b, len(list))
	for _, a := range list {
		var err error
		if b, err = appendAddr(b, what, a, enc); err != nil {
			return b, err
		}
	}
	return b, nil
}

// readAddrs reads an array of the size-byte addresses read decodes; an empty array is nil.
// The count is checked against the unread bytes before anything is allocated for it.
func readAddrs(r *compact.Reader, size int, read func(*compact.Reader) netip.AddrPort) []netip.AddrPort {
	n := r.ArrayLen(size)
	if n == 0 {
		return nil
	}
	list := make([]netip.AddrPort, n)
	for i := range list {
		list[i] = read(r)
	}
	return list
}

func readIPv4s(r *compact.Reader) []netip.AddrPort {
	return readAddrs(r, compact.IPv4AddrLen, (*compact.Reader).IPv4Addr)
}

// nonNil turns a nil list into an empty one, for fields whose flag says "present" even when
// the list is empty.
func nonNil(list []netip.AddrPort) []netip.AddrPort {
	if list == nil {
		return []netip.AddrPort{}
	}
	return list
}
