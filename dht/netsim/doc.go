// Package netsim is an in-memory UDP internet for tests.
//
// A [Network] is a flat address space: any IPv4 or IPv6 address can be bound
// with [Network.ListenPacket], which returns a [*Conn] implementing
// [net.PacketConn] plus the two netip methods of [*net.UDPConn]
// ([Conn.ReadFromUDPAddrPort], [Conn.WriteToUDPAddrPort]). There are no
// hosts, interfaces or routes: every bound address:port is reachable from
// every other, and the receiver sees the sender's bound address as the
// source. No real socket is opened, so tests need neither root nor network.
//
// # Packet model
//
// Every packet written goes through the same link model, in this order:
//
//  1. A packet longer than [Options.MTU] is dropped.
//  2. [Options.Filter] (or the one set by [Network.SetFilter]) may drop it.
//  3. It is lost with probability [Options.Loss].
//  4. It is held for [Options.Delay] plus a uniform random [0, Jitter).
//  5. It is queued at the endpoint bound to the destination, if any and if
//     that endpoint has fewer than [Options.QueueLen] packets waiting;
//     otherwise it is dropped, as a kernel drops UDP on a full buffer.
//
// Writes never block and never fail because of the network: like UDP, a
// packet to an address nobody listens on simply disappears. Packets held for
// the same time are delivered in the order they were written, so with no
// Jitter every sender-receiver pair is FIFO; with Jitter packets overtake each
// other. The random choices come from one PCG generator seeded with
// [Options.Seed]: the same writes in the same order give the same losses and
// delays. [Network.Stats] counts what happened; at any moment
// Sent = Delivered + Dropped + packets still in flight.
//
// NAT boxes and firewalls are not modelled yet; the place they plug in is
// Network.route, which today delivers every packet unchanged.
//
// # Virtual time (testing/synctest)
//
// The package blocks only on channels it creates and waits only with the
// [time] package: a delayed packet is a [time.AfterFunc] timer (one per
// Network, re-armed for the earliest packet in flight) and a read deadline is
// a [time.Timer] channel. It starts no goroutine of its own; the only
// goroutines are the short-lived ones the runtime starts to run an AfterFunc
// callback, and [Network.Close] waits for those. So inside a
// [testing/synctest] bubble:
//
//   - A goroutine blocked in ReadFrom is durably blocked, so virtual time
//     advances to the next packet arrival or read deadline. A packet written
//     at t0 is readable at exactly t0+Delay; a read with a deadline d from now
//     fails at exactly now+d.
//   - Create the Network and its Conns inside the bubble that uses them and
//     never share them with another bubble or with code outside it: channels
//     and timers belong to the bubble that made them.
//   - Close every Conn, or the Network, before the bubble's function returns
//     (a t.Cleanup registered inside the bubble works). A goroutine still
//     blocked in ReadFrom when the bubble ends is reported as a deadlock.
//   - Once the bubble's root goroutine returns, time stops, so packets still
//     in flight then are never delivered; that is not an error.
//   - The internal mutexes are not durably blocking, but they are held only
//     for a few instructions and never while calling Filter.
//
// Outside a bubble the same code runs on the real clock.
//
// netsim is test infrastructure: import it only from _test.go files.
package netsim
