package udx

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchLen is how many datagrams one recvmmsg reads at most. A socket starts reading
// recvSlotsMin at a time and doubles that, up to batchLen, each time a read comes back full,
// so a socket that receives little (a holepunch socket) keeps a small buffer.
const (
	batchLen     = 64
	recvSlotsMin = 8
)

// Receive offload (UDP_GRO). A socket whose reads come back full at batchLen datagrams is
// busy: it asks the kernel to hand it runs of equal-size datagrams from one sender as one
// message (the segments of a sender's UDP_SEGMENT send, or what the driver coalesced),
// which saves the kernel splitting them up and queueing, waking and copying each on its
// own. Such a message can be up to 64 KiB, so every slot of a socket in this mode is that
// large; it reads groSlotsMin messages at a time, doubling up to groSlotsMax.
const (
	groSlotSize = 1 << 16 // larger than any UDP payload (the kernel's IP_MAX_MTU is 65535)
	groSlotsMin = 4
	groSlotsMax = batchLen
	groSegsMax  = 64 // segments of most messages (the kernel's UDP_GRO_CNT_MAX); a local
	// UDP_SEGMENT send arrives whole with up to UDP_MAX_SEGMENTS (128 on newer kernels)
)

// cmsgBuf holds one control message with up to 8 bytes of data (a UDP_SEGMENT or UDP_GRO
// size), 8-byte aligned as the kernel's cmsghdr is.
type cmsgBuf [(unix.SizeofCmsghdr + 8 + 7) / 8]uint64

const cmsgBufSize = int(unsafe.Sizeof(cmsgBuf{}))

func (c *cmsgBuf) bytes() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&c[0])), cmsgBufSize)
}

// gsoMaxBytes bounds the payload of one UDP_SEGMENT send (a UDP datagram's length field).
const gsoMaxBytes = 65000

// gsoMaxSegments bounds the datagrams of one UDP_SEGMENT send (the kernel's UDP_MAX_SEGMENTS
// is 64 on older kernels).
const gsoMaxSegments = 64

// batchConn is batched I/O on a real UDP socket: recvmmsg on the read goroutine (with
// UDP_GRO once the socket is busy), and
// writeBatch, which writes a batch of the socket's send queue with one sendmmsg, runs of
// equal-size datagrams to one address as one UDP_SEGMENT (GSO) message when the kernel
// supports it.
type batchConn struct {
	rc syscall.RawConn
	v6 bool // an AF_INET6 socket: IPv4 destinations are sent v4-mapped

	// Receive side, used only by the read goroutine.
	rbuf      []byte // rslots buffers of rsize bytes
	rsize     int    // bytes of a slot: MaxDatagram, groSlotSize with gro
	rslots    int    // messages one recvmmsg reads
	rfull     bool   // the last read filled every slot: grow before the next
	rmsgs     [batchLen]unix.Mmsghdr
	riovs     [batchLen]unix.Iovec
	rnames    [batchLen]unix.RawSockaddrInet6
	roob      [batchLen]cmsgBuf        // UDP_GRO's segment size, with gro
	rsegs     []rseg                   // the datagrams of the last read
	rfrom     [batchLen]netip.AddrPort // the sender of each message of the last read
	rn        int
	rerr      error
	recvFn    func(fd uintptr) bool
	groOK     bool         // the kernel takes UDP_GRO; set before the read goroutine starts
	gro       atomic.Bool  // UDP_GRO is on: a message may hold several datagrams (atomic for tests)
	rgro      uint64       // messages that held more than one datagram
	groFailed bool         // setting UDP_GRO failed: not tried again
	grows     atomic.Int32 // reads after a full one (grow calls), for other goroutines (tests)

	// Send side, used only by the holder of the send queue's writer role (the queue's
	// mutex orders the holders).
	gso    bool // UDP_SEGMENT works
	smsgs  [queueDatagrams]unix.Mmsghdr
	siovs  [queueDatagrams]unix.Iovec
	snames [queueDatagrams]unix.RawSockaddrInet6
	soob   [queueDatagrams]cmsgBuf
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

// routeMTU returns the MTU of the kernel's route to to: IP_MTU (IPV6_MTU) of a UDP socket
// connected to it, which is how libudx's udx__get_link_mtu reads it; 0 when that fails.
func routeMTU(to netip.AddrPort) int {
	addr := to.Addr().Unmap()
	family, level, opt := unix.AF_INET6, unix.IPPROTO_IPV6, unix.IPV6_MTU
	var sa unix.Sockaddr
	if addr.Is4() {
		family, level, opt = unix.AF_INET, unix.IPPROTO_IP, unix.IP_MTU
		sa = &unix.SockaddrInet4{Port: int(to.Port()), Addr: addr.As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(to.Port()), Addr: addr.As16(), ZoneId: scopeID(addr.Zone())}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	if unix.Connect(fd, sa) != nil {
		return 0
	}
	mtu, err := unix.GetsockoptInt(fd, level, opt)
	if err != nil || mtu < 0 {
		return 0
	}
	return mtu
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
	b := &batchConn{rc: rc}
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
		if _, err := unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO); err == nil {
			b.groOK = true
		}
		setProbeMTU(int(fd), family)
	}); err != nil || probeErr != nil || family == 0 {
		return nil
	}
	b.v6 = family == unix.AF_INET6
	b.setRecvSlots(recvSlotsMin)
	for i := range b.rmsgs {
		h := &b.rmsgs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.rnames[i]))
		h.Iov = &b.riovs[i]
		h.SetIovlen(1)
	}
	b.recvFn = b.recv
	b.sendFn = b.send
	return b
}

// rseg is one datagram of a read: rbuf[start:end], sent by rfrom[msg].
type rseg struct {
	start, end int32
	msg        int32
}

// setRecvSlots makes recvmmsg read n messages at a time, into a new buffer.
func (b *batchConn) setRecvSlots(n int) {
	b.rsize = MaxDatagram
	segs := n
	gro := b.gro.Load()
	if gro {
		b.rsize, segs = groSlotSize, n*groSegsMax
	}
	b.rslots, b.rbuf = n, make([]byte, n*b.rsize)
	if cap(b.rsegs) < segs {
		b.rsegs = make([]rseg, 0, segs)
	}
	for i := range n {
		b.riovs[i].Base = &b.rbuf[i*b.rsize]
		b.riovs[i].SetLen(b.rsize)
		if gro {
			b.rmsgs[i].Hdr.Control = &b.roob[i].bytes()[0]
		}
	}
}

// grow makes the next read take more messages after one that filled every slot: up to
// batchLen datagram slots, then, when the kernel offers it, UDP_GRO's large slots.
func (b *batchConn) grow() {
	defer b.grows.Add(1)
	switch {
	case b.gro.Load() && b.rslots < groSlotsMax:
		b.setRecvSlots(min(2*b.rslots, groSlotsMax))
	case b.gro.Load():
	case b.rslots < batchLen:
		b.setRecvSlots(min(2*b.rslots, batchLen))
	case b.groOK && !b.groFailed:
		b.enableGRO()
	}
}

// enableGRO turns UDP_GRO on. The datagrams queued before it arrive one per message, as
// before; that is fine, every slot takes one.
func (b *batchConn) enableGRO() {
	var serr error
	if err := b.rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1)
	}); err != nil || serr != nil {
		b.groFailed = true // one try
		return
	}
	b.gro.Store(true)
	b.setRecvSlots(groSlotsMin)
}

// recv is the RawConn.Read callback: one recvmmsg; false asks the poller to wait.
func (b *batchConn) recv(fd uintptr) bool {
	for i := range b.rslots {
		h := &b.rmsgs[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		if h.Control != nil {
			h.SetControllen(cmsgBufSize) // the kernel set it to what it wrote
		}
	}
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rmsgs[0])), uintptr(b.rslots), 0, 0, 0)
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

// readBatch reads what one recvmmsg returns, waiting for the first datagram, and returns
// how many datagrams that is; datagram returns them. A non-nil error is the socket's
// (net.ErrClosed after Close).
func (b *batchConn) readBatch() (int, error) {
	if b.rfull {
		b.grow() // the last batch has been dispatched
	}
	if err := b.rc.Read(b.recvFn); err != nil {
		return 0, err
	}
	if b.rerr != nil {
		return 0, b.rerr
	}
	b.rfull = b.rn == b.rslots
	segs := b.rsegs[:0]
	for i := range b.rn {
		b.rfrom[i] = sockaddrToAddrPort(&b.rnames[i])
		start, n := i*b.rsize, int(b.rmsgs[i].Len)
		seg := max(n, 1) // an empty datagram is one segment too
		if h := &b.rmsgs[i].Hdr; h.Control != nil {
			if h.Flags&unix.MSG_CTRUNC != 0 {
				continue // the segment size did not fit (it always does): no way to split
			}
			if s := groSegment(h); s > 0 && s < n {
				seg = s
				b.rgro++
			}
		}
		for off := 0; off < max(n, 1); off += seg {
			segs = append(segs, rseg{start: int32(start + off), end: int32(start + min(off+seg, n)), msg: int32(i)})
		}
	}
	b.rsegs = segs
	return len(segs), nil
}

// groSegment returns the segment size of a message read with UDP_GRO on, 0 when the
// message is one datagram.
func groSegment(h *unix.Msghdr) int {
	if h.Control == nil {
		return 0
	}
	oob := unsafe.Slice(h.Control, h.Controllen)
	for len(oob) >= unix.SizeofCmsghdr {
		c := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(c.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0
		}
		if c.Level == unix.SOL_UDP && c.Type == unix.UDP_GRO && l >= unix.CmsgLen(4) {
			return int(*(*int32)(unsafe.Pointer(&oob[unix.CmsgLen(0)])))
		}
		oob = oob[min(unix.CmsgSpace(l-unix.SizeofCmsghdr), len(oob)):]
	}
	return 0
}

// datagram returns datagram i of the last readBatch and its sender; the bytes are valid
// until the next readBatch.
func (b *batchConn) datagram(i int) ([]byte, netip.AddrPort) {
	s := b.rsegs[i]
	return b.rbuf[s.start:s.end:s.end], b.rfrom[s.msg]
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

// build sets message i to send p to to; it reports false for an unsendable address.
func (b *batchConn) build(i int, p []byte, to netip.AddrPort) bool {
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
	oob := b.soob[i].putSegment(seg)
	h := &b.smsgs[i].Hdr
	h.Control = &oob[0]
	h.SetControllen(len(oob))
}

// putSegment writes a UDP_SEGMENT control message of segment size seg into c and returns
// its bytes.
func (c *cmsgBuf) putSegment(seg int) []byte {
	oob := c.bytes()[:unix.CmsgSpace(2)]
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&oob[unix.CmsgLen(0)])) = uint16(seg)
	return oob
}

// writeBatch writes the datagrams of q in order, waiting while the socket buffer is full.
// A datagram the kernel refuses is dropped, as a failed UDP send is. It is called only by
// the holder of the send queue's writer role.
func (b *batchConn) writeBatch(q *sendBatch) {
	gso := b.gso
	for {
		m := 0
		for i := 0; i < q.n; {
			p, to := q.datagram(i)
			l := len(p)
			j, total := i+1, l
			if gso {
				// A run: same address, same size, the last may be shorter; the datagrams
				// are adjacent in q.buf.
				for j < q.n && j-i < gsoMaxSegments {
					pj, toj := q.datagram(j)
					if toj != to || len(pj) > l || total+len(pj) > gsoMaxBytes {
						break
					}
					total += len(pj)
					j++
					if len(pj) < l {
						break
					}
				}
			}
			if b.build(m, q.buf[q.end[i]-l:q.end[i]-l+total], to) {
				if j-i > 1 {
					b.setSegment(m, l)
				}
				m++
			}
			i = j
		}
		b.scount = m
		err := b.sendAll()
		if gso && errors.Is(err, unix.EIO) {
			// The path cannot segment (no checksum offload): send plainly from now on. The
			// datagrams sent before the failure go out twice; UDX ignores duplicates.
			b.gso, gso = false, false
			continue
		}
		return
	}
}

// sendAll writes messages smsgs[:scount], waiting while the socket buffer is full. A
// message the kernel refuses is dropped, as a failed UDP send is; the first error is
// returned.
func (b *batchConn) sendAll() error {
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
