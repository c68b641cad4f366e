package udx

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchLen is how many datagrams one recvmmsg reads and one send batch holds.
const batchLen = 64

// gsoMaxBytes bounds the payload of one UDP_SEGMENT send (a UDP datagram's length field).
const gsoMaxBytes = 65000

// batchConn is batched I/O on a real UDP socket: recvmmsg on the read goroutine, and a send
// queue that collects the datagrams produced while one read batch is dispatched and writes
// them with one sendmmsg, runs of equal-size datagrams to one address as one UDP_SEGMENT
// (GSO) message when the kernel supports it. Sends outside a batch are left to the caller.
type batchConn struct {
	rc syscall.RawConn
	v6 bool // an AF_INET6 socket: IPv4 destinations are sent v4-mapped

	// Receive side, used only by the read goroutine.
	rbuf   []byte
	rmsgs  [batchLen]unix.Mmsghdr
	riovs  [batchLen]unix.Iovec
	rnames [batchLen]unix.RawSockaddrInet6
	rn     int
	rerr   error
	recvFn func(fd uintptr) bool

	// Send side.
	mu     sync.Mutex
	open   bool                     // guarded by mu; a read batch is being dispatched: queue
	sbuf   []byte                   // guarded by mu; the queued datagrams, back to back
	slen   [batchLen]int            // guarded by mu
	sto    [batchLen]netip.AddrPort // guarded by mu
	sn     int                      // guarded by mu; queued datagrams
	soff   int                      // guarded by mu; bytes of sbuf they use
	gso    bool                     // guarded by mu; UDP_SEGMENT works
	smsgs  [batchLen]unix.Mmsghdr
	siovs  [batchLen]unix.Iovec
	snames [batchLen]unix.RawSockaddrInet6
	soob   [batchLen][unix.SizeofCmsghdr + 8]byte
	scount int // messages built in smsgs
	sdone  int // messages of smsgs sent so far
	serr   error
	sendFn func(fd uintptr) bool
}

// setProbeMTU sets the don't-fragment bit on every datagram and makes the kernel ignore its
// path-MTU cache, as libudx does (IP_MTU_DISCOVER = IP_PMTUDISC_PROBE, udx.md §5.1): MTU probes
// must be lost on a narrower path, not fragmented. Failures are ignored: probing then still
// works where the path does not fragment.
func setProbeMTU(fd, family int) {
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE)
	if family == unix.AF_INET6 {
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_PROBE)
	}
}

// newBatchConn returns the batched path for pc, or nil when pc is not a real UDP socket or
// the kernel lacks recvmmsg/sendmmsg (the caller then uses the portable path).
func newBatchConn(pc net.PacketConn) *batchConn {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return nil
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	b := &batchConn{rc: rc, rbuf: make([]byte, batchLen*MaxDatagram), sbuf: make([]byte, batchLen*MaxDatagram)}
	var family int
	var probeErr error
	if err := rc.Control(func(fd uintptr) {
		sa, err := unix.Getsockname(int(fd))
		if err != nil {
			probeErr = err
			return
		}
		switch sa.(type) {
		case *unix.SockaddrInet4:
			family = unix.AF_INET
		case *unix.SockaddrInet6:
			family = unix.AF_INET6
		}
		// recvmmsg with MSG_DONTWAIT on an empty socket: EAGAIN if it exists, ENOSYS if not.
		_, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rmsgs[0])), 0, unix.MSG_DONTWAIT, 0, 0)
		if e == unix.ENOSYS {
			probeErr = e
		}
		if _, err := unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT); err == nil {
			b.gso = true
		}
		setProbeMTU(int(fd), family)
	}); err != nil || probeErr != nil || family == 0 {
		return nil
	}
	b.v6 = family == unix.AF_INET6
	for i := range b.rmsgs {
		b.riovs[i].Base = &b.rbuf[i*MaxDatagram]
		b.riovs[i].SetLen(MaxDatagram)
		h := &b.rmsgs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.rnames[i]))
		h.Iov = &b.riovs[i]
		h.SetIovlen(1)
	}
	b.recvFn = b.recv
	b.sendFn = b.send
	return b
}

// recv is the RawConn.Read callback: one recvmmsg; false asks the poller to wait.
func (b *batchConn) recv(fd uintptr) bool {
	for i := range b.rmsgs {
		b.rmsgs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
	}
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rmsgs[0])), batchLen, 0, 0, 0)
	if e == unix.EAGAIN || e == unix.EWOULDBLOCK {
		return false
	}
	if e != 0 {
		b.rn, b.rerr = 0, e
		return true
	}
	b.rn, b.rerr = int(n), nil
	return true
}

// readBatch reads up to batchLen datagrams, waiting for the first, and calls fn for each
// with the datagram and its sender. Sends made while fn runs (by any goroutine) are queued
// and written together, in order, before readBatch returns. A non-nil error is the socket's
// (net.ErrClosed after Close).
func (b *batchConn) readBatch(fn func(b []byte, from netip.AddrPort)) error {
	if err := b.rc.Read(b.recvFn); err != nil {
		return err
	}
	if b.rerr != nil {
		return b.rerr
	}
	b.mu.Lock()
	b.open = true
	b.mu.Unlock()
	for i := range b.rn {
		m := &b.rmsgs[i]
		data := b.rbuf[i*MaxDatagram : i*MaxDatagram+int(m.Len)]
		fn(data, sockaddrToAddrPort(&b.rnames[i]))
	}
	b.mu.Lock()
	b.flushLocked()
	b.open = false
	b.mu.Unlock()
	return nil
}

func sockaddrToAddrPort(rsa *unix.RawSockaddrInet6) netip.AddrPort {
	switch rsa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		p := (*[2]byte)(unsafe.Pointer(&rsa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(rsa.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}

// putSockaddr writes to into rsa for a socket of the conn's family and returns its length,
// 0 if the address cannot be sent from this socket.
func (b *batchConn) putSockaddr(rsa *unix.RawSockaddrInet6, to netip.AddrPort) uint32 {
	addr := to.Addr()
	if !b.v6 {
		if !addr.Unmap().Is4() {
			return 0
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: addr.Unmap().As4()}
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		p[0], p[1] = byte(to.Port()>>8), byte(to.Port())
		return unix.SizeofSockaddrInet4
	}
	*rsa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: addr.As16()}
	if addr.Is6() && !addr.Is4In6() {
		rsa.Scope_id = scopeID(addr.Zone())
	}
	p := (*[2]byte)(unsafe.Pointer(&rsa.Port))
	p[0], p[1] = byte(to.Port()>>8), byte(to.Port())
	return unix.SizeofSockaddrInet6
}

func scopeID(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}

// writeTo sends one datagram: queued while a read batch is dispatched (written with the
// batch, in order), at once otherwise. It reports false when p was not queued and the caller
// must send it itself; a sendmmsg of one datagram measured no cheaper than sendto.
func (b *batchConn) writeTo(p []byte, to netip.AddrPort) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return false
	}
	if b.sn == batchLen || b.soff+len(p) > len(b.sbuf) {
		b.flushLocked()
	}
	b.soff += copy(b.sbuf[b.soff:], p)
	b.slen[b.sn] = len(p)
	b.sto[b.sn] = to
	b.sn++
	return true
}

// buildLocked sets message i to send p to to; it reports false for an unsendable address.
func (b *batchConn) buildLocked(i int, p []byte, to netip.AddrPort) bool {
	nl := b.putSockaddr(&b.snames[i], to)
	if nl == 0 {
		return false
	}
	h := &b.smsgs[i].Hdr
	*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&b.snames[i])), Namelen: nl, Iov: &b.siovs[i]}
	h.SetIovlen(1)
	if len(p) > 0 {
		b.siovs[i].Base = &p[0]
	} else {
		b.siovs[i].Base = nil
	}
	b.siovs[i].SetLen(len(p))
	return true
}

// setSegment makes message i a GSO message of segments of size seg.
func (b *batchConn) setSegment(i, seg int) {
	oob := b.soob[i][:]
	c := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	c.Level = unix.SOL_UDP
	c.Type = unix.UDP_SEGMENT
	c.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&oob[unix.CmsgLen(0)])) = uint16(seg)
	h := &b.smsgs[i].Hdr
	h.Control = &oob[0]
	h.SetControllen(unix.CmsgSpace(2))
}

// flushLocked writes the queued datagrams.
func (b *batchConn) flushLocked() {
	if b.sn == 0 {
		return
	}
	gso := b.gso
	for {
		m, off := 0, 0
		for i := 0; i < b.sn; {
			l, to := b.slen[i], b.sto[i]
			j, total := i+1, l
			if gso {
				// A run: same address, same size, the last may be shorter.
				for j < b.sn && b.sto[j] == to && b.slen[j] <= l && total+b.slen[j] <= gsoMaxBytes && j-i < 64 {
					total += b.slen[j]
					j++
					if b.slen[j-1] < l {
						break
					}
				}
			}
			if b.buildLocked(m, b.sbuf[off:off+total], to) {
				if j-i > 1 {
					b.setSegment(m, l)
				}
				m++
			}
			off += total
			i = j
		}
		b.scount = m
		err := b.sendLocked()
		if gso && errors.Is(err, unix.EIO) {
			// The path cannot segment (no checksum offload): send plainly from now on. The
			// datagrams sent before the failure go out twice; UDX ignores duplicates.
			b.gso, gso = false, false
			continue
		}
		break
	}
	b.sn, b.soff = 0, 0
}

// sendLocked writes messages smsgs[:scount], waiting while the socket buffer is full. A
// message the kernel refuses is dropped, as a failed UDP send is; the first error is
// returned.
func (b *batchConn) sendLocked() error {
	b.sdone, b.serr = 0, nil
	var first error
	for b.sdone < b.scount {
		if err := b.rc.Write(b.sendFn); err != nil {
			return err
		}
		if b.serr != nil {
			if first == nil {
				first = b.serr
			}
			if errors.Is(b.serr, unix.EIO) && b.smsgs[b.sdone].Hdr.Control != nil {
				return b.serr // a GSO failure: the caller retries without
			}
			b.sdone++ // drop it
			b.serr = nil
		}
	}
	return first
}

// send is the RawConn.Write callback: one sendmmsg of the unsent messages.
func (b *batchConn) send(fd uintptr) bool {
	for b.sdone < b.scount {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.smsgs[b.sdone])), uintptr(b.scount-b.sdone), 0, 0, 0)
		if e == unix.EAGAIN || e == unix.EWOULDBLOCK {
			return false
		}
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			b.serr = e
			return true
		}
		b.sdone += int(n)
	}
	return true
}
