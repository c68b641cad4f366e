package interop

// A STUN-like probe for the NAT lab (NATLAB.md's natprobe.py, in Go): a
// reflector on a public host tells a probing socket which address it came
// from, which behind a NAT is the mapping the NAT chose for that socket toward
// that reflector. Asking reflectors on two addresses (or two ports) shows
// whether the mapping depends on the destination; a reflector the socket never
// sent to can poke the mapping to show the NAT's filtering.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const (
	probeRequest = "natlab-probe " // + nonce
	probeReply   = "natlab-mapped "
	probePoke    = "natlab-poke " // + the poking reflector's address
	probeRetry   = 250 * time.Millisecond
	probeMaxSize = 512
)

// Reflector is a UDP socket in a lab namespace that answers every probe from
// [MappedAddr] with the probe's source address, and can [Reflector.Poke]
// addresses it never heard from. It is closed in t.Cleanup. Its methods are
// safe for concurrent use.
type Reflector struct {
	pc   net.PacketConn
	addr netip.AddrPort
	done chan struct{} // closed when the reply loop has returned
}

// StartReflector opens a reflector on addr inside ns (addr must be one of the
// namespace's addresses, and its port not 0).
func StartReflector(t testing.TB, ns *Netns, addr netip.AddrPort) *Reflector {
	t.Helper()
	pc, err := ns.ListenPacket("udp4", addr.String())
	if err != nil {
		t.Fatalf("interop: reflector: %v", err)
	}
	r := &Reflector{pc: pc, addr: addr, done: make(chan struct{})}
	go r.run()
	t.Cleanup(func() {
		r.pc.Close()
		<-r.done
	})
	return r
}

// Addr returns the reflector's address.
func (r *Reflector) Addr() netip.AddrPort { return r.addr }

// run answers probes until the socket is closed.
func (r *Reflector) run() {
	defer close(r.done)
	buf := make([]byte, probeMaxSize)
	for {
		n, from, err := r.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		msg := string(buf[:n])
		if !strings.HasPrefix(msg, probeRequest) {
			continue
		}
		nonce := strings.TrimPrefix(msg, probeRequest)
		_, _ = r.pc.WriteTo([]byte(probeReply+nonce+" "+from.String()), from)
	}
}

// Poke sends one unsolicited datagram, "natlab-poke <reflector address>", from
// the reflector's socket to to. [IsPoke] recognizes it.
func (r *Reflector) Poke(to netip.AddrPort) error {
	_, err := r.pc.WriteTo([]byte(probePoke+r.addr.String()), net.UDPAddrFromAddrPort(to))
	return err
}

// IsPoke reports whether b is a datagram from [Reflector.Poke], and from
// which reflector.
func IsPoke(b []byte) (netip.AddrPort, bool) {
	s, ok := strings.CutPrefix(string(b), probePoke)
	if !ok {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddrPort(s)
	return a, err == nil
}

// MappedAddr asks the reflector at reflector which address the socket pc
// came from, resending every 250 ms until the answer arrives or ctx is done.
// It reads from pc meanwhile and discards every other datagram, so it must
// not run beside other readers of pc. It leaves pc's read deadline unset.
func MappedAddr(ctx context.Context, pc net.PacketConn, reflector netip.AddrPort) (netip.AddrPort, error) {
	var nonceBytes [8]byte
	_, _ = rand.Read(nonceBytes[:])
	nonce := hex.EncodeToString(nonceBytes[:])
	to := net.UDPAddrFromAddrPort(reflector)
	want := probeReply + nonce + " "
	defer pc.SetReadDeadline(time.Time{})

	buf := make([]byte, probeMaxSize)
	for {
		if _, err := pc.WriteTo([]byte(probeRequest+nonce), to); err != nil {
			return netip.AddrPort{}, fmt.Errorf("interop: probe %v: %w", reflector, err)
		}
		resend := time.Now().Add(probeRetry)
		for time.Now().Before(resend) {
			if err := ctx.Err(); err != nil {
				return netip.AddrPort{}, fmt.Errorf("interop: probe %v: %w", reflector, context.Cause(ctx))
			}
			deadline := resend
			if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
				deadline = d
			}
			_ = pc.SetReadDeadline(deadline)
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				return netip.AddrPort{}, fmt.Errorf("interop: probe %v: %w", reflector, err)
			}
			if s, ok := strings.CutPrefix(string(buf[:n]), want); ok {
				a, err := netip.ParseAddrPort(s)
				if err != nil {
					return netip.AddrPort{}, fmt.Errorf("interop: probe %v: bad answer %q", reflector, buf[:n])
				}
				return a, nil
			}
		}
	}
}
