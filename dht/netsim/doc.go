// Package netsim is an in-memory UDP internet for tests.
//
// A [Network] is a flat address space: any IPv4 or IPv6 address can be bound
// with [Network.ListenPacket], which returns a [*Conn] implementing
// [net.PacketConn] plus the two netip methods of [*net.UDPConn]
// ([Conn.ReadFromUDPAddrPort], [Conn.WriteToUDPAddrPort]). There are no
// hosts, interfaces or routes: every bound address:port is reachable from
// every other, and the receiver sees the sender's bound address as the
// source, except behind the NAT boxes a test adds (see below). No real socket is opened, so tests need neither root nor network.
//
// # Packet model
//
// Every packet written goes through the same link model, in this order:
//
//  1. A packet longer than [Options.MTU] is dropped.
//  2. [Options.Filter] (or the one set by [Network.SetFilter]) may drop it.
//     Then NAT boxes, if any, rewrite its addresses or refuse it.
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
// delays. [Network.Stats] counts what happened:
// Sent = Delivered + Dropped + packets still in flight.
//
// NAT boxes ([Network.AddNAT]) sit between the Filter and the loss step: a
// LAN's packets leave with its router's public address and a mapped port,
// and inbound packets pass only where the router's mapping and filtering
// allow (consistent or random mapping, port-restricted or full-cone
// filtering). Without NATs the network is flat. Packets carry no TTL: a
// datagram sent with a low TTL on a real network arrives here like any other.
//
// # Virtual time (testing/synctest)
//
// The package blocks only on channels it creates and waits only with the
// [time] package: delayed packets wait on one [time.AfterFunc] timer per
// Network, re-armed for the earliest packet in flight, and a read with a
// deadline selects on a [time.Timer] channel. It starts no goroutine of its
// own; the only goroutines are the short-lived ones the runtime starts to
// run the timer callback, and [Network.Close] waits for those. So inside a
// [testing/synctest] bubble:
//
//   - A goroutine blocked in ReadFrom is durably blocked (a select on
//     channels made in the bubble), so virtual time advances to the next
//     packet arrival or read deadline. A packet written at t0 is read at
//     exactly t0+Delay; a read with a deadline d ahead fails at exactly
//     now+d. Locking the internal mutexes is not durably blocking, but they
//     are held only briefly and never while Filter runs.
//   - A delayed packet is delivered by the timer callback, a goroutine of
//     its own, at its arrival instant. A goroutine that sleeps until that
//     same instant wakes in no fixed order with it, so call [testing/synctest.Wait]
//     before looking at anything that does not block: Stats, a non-blocking
//     read, state recorded by the receiver.
//   - Create the Network and its Conns inside the bubble that uses them and
//     do not share them with another bubble or with code outside it. A
//     Network made outside the bubble does not fail loudly: its channels are
//     not the bubble's, a reader blocked on them is not durably blocked, and
//     virtual time stops, so the test hangs.
//   - Close every Conn, or the Network, before the bubble ends; a Cleanup
//     registered inside the bubble runs early enough. A goroutine still
//     blocked in ReadFrom when the bubble's function returns makes
//     synctest.Test fail with "deadlock: main bubble goroutine has exited
//     but blocked goroutines remain".
//   - Once the bubble's function returns, virtual time stops, so packets
//     still in flight are never delivered; that is not an error.
//   - With zero Delay and Jitter, delivery happens inside the write, before
//     it returns: no Wait is needed to see it.
//
// Outside a bubble the same code runs on the real clock.
//
// netsim is test infrastructure: import it only from _test.go files.
package netsim
