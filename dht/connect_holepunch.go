package dht

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/hyperlan/hyperlan/dht/holepunch"
	"github.com/hyperlan/hyperlan/dht/ktable"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// The client's side of holepunching (hyperdht lib/connect.js holepunch, probeRound,
// roundPunch, updateHolepunch and abort; hyperdht.md §5.3). After a relayed handshake with a
// server behind a NAT, the client starts an initiator puncher and sends two rounds of sealed
// holepunch payloads to the server through relays, from the puncher's socket:
//
//   - the probe round, through the relay the server named for ours (or its first), with our
//     NAT so far and the server's address as we know it (after a low-TTL punch there, so
//     that a consistent server's answering punch gets through at once);
//   - once both NATs are classified and not both random, the punch round, through the relay
//     our handshake went through, with our token for the server's host and the server's
//     token echoed; both sides then run their strategies.
//
// The first punch to reach any of our sockets connects the stream. A LAN ping races the
// rounds when the server shares our public address.

// unknownFirewallWait is how long the client lets a server that has not classified its NAT
// finish before analysing (the reference's 1 s).
const unknownFirewallWait = time.Second

// tryLaterBase is the least wait before a delayed punch; up as much again is added at random
// (the reference's 10 to 20 s).
const tryLaterBase = 10 * time.Second

// punchRun is one holepunch attempt of a connection on the client (a relayed connection may
// make more than one).
type punchRun struct {
	c      *connector
	p      *holepunch.Puncher
	secure *records.SecurePayload
	id     uint64 // the server's holepunch slot
	again  bool   // a relayed connection punches again
}

// startDirect starts a direct attempt for a server behind a NAT, on c.bg: the rounds and the
// punch, raced with the same-LAN shortcut on the first attempt. Paths arrive on c.connect;
// the attempt's end without one is reported once on c.failed.
func (c *connector) startDirect(r *handshakeReply, first bool) {
	pl := &c.payload
	holepunchable := pl.Holepunch != nil && len(pl.Holepunch.Relays) > 0
	c.mu.Lock()
	c.directRunning = true
	c.mu.Unlock()
	var once sync.Once
	fail := func(err error) {
		once.Do(func() {
			c.mu.Lock()
			c.directRunning = false
			c.mu.Unlock()
			c.fail(err)
		})
	}

	if first && !c.opts.NoLocalConnection && r.client.Addr() == r.server.Addr() {
		var theirs []netip.AddrPort
		for _, a := range pl.Addresses4 {
			if !isReserved(a.Addr()) {
				theirs = append(theirs, a)
			}
		}
		if len(theirs) > 0 {
			addr, ok := matchAddress(c.n.localAddresses(), theirs)
			if !ok {
				addr = theirs[0]
			}
			c.wg.Go(func() {
				if _, err := c.n.rpc.Ping(c.bg, addr); err == nil {
					c.offer(socketChoice{sock: c.n.serverSocket(), addr: addr, path: PathLAN})
				} else if !holepunchable {
					fail(ErrHolepunchAborted)
				}
			})
			if !holepunchable {
				return
			}
		}
	}
	if !holepunchable {
		fail(ErrCannotHolepunch)
		return
	}

	p, err := c.n.newPuncher(true, pl.Firewall,
		func(sock *udx.Socket, from netip.AddrPort) {
			c.offer(socketChoice{sock: sock, addr: from, path: PathHolepunch})
		},
		func() { fail(ErrHolepunchAborted) })
	if err != nil {
		fail(err)
		return
	}
	run := &punchRun{c: c, p: p, secure: records.NewSecurePayload(records.HolepunchSecret(c.result.Hash)), id: pl.Holepunch.ID, again: !first}
	c.mu.Lock()
	old := c.puncher
	c.puncher = p
	c.mu.Unlock()
	if old != nil {
		old.Destroy()
	}
	c.wg.Go(func() {
		// The puncher stays until the connector stops it: a path it found may be in use.
		if err := run.rounds(c.bg, r); err != nil {
			// As in the reference, the attempt ends as HOLEPUNCH_ABORTED (destroying its
			// puncher aborts it first); the round's error is kept as the cause.
			if c.bg.Err() == nil && !errors.Is(err, ErrHolepunchAborted) {
				err = ErrHolepunchAborted.with("", err)
			}
			fail(err)
		}
	})
}

// offer proposes a path; the first one offered wins.
func (c *connector) offer(ch socketChoice) {
	if ch.path != PathRelay {
		c.found.Store(true)
	}
	select {
	case c.connect <- ch:
	default:
	}
}

// rounds runs the probe and punch rounds; it returns once both sides punch (the result
// arrives through the puncher) or with the error that ends the attempt.
func (pr *punchRun) rounds(ctx context.Context, r *handshakeReply) error {
	relays := pr.c.payload.Holepunch.Relays
	serverRelay := relays[0]
	for _, rl := range relays {
		if rl.RelayAddress == r.node {
			serverRelay = rl
			break
		}
	}
	if pr.again {
		// The server may have moved since the handshake: the relays forward to where its
		// latest announcement came from.
		serverRelay.PeerAddress = netip.AddrPort{}
	}
	server := r.server
	token, peer, err := pr.probe(ctx, server, serverRelay, true)
	if err != nil {
		return err
	}
	// The server may have moved to another socket; its reply through our own relay says
	// where it punches from.
	if (pr.again || serverRelay.RelayAddress == r.node) && peer != server {
		server = peer
		pr.p.OpenSession(server)
	}
	if !pr.c.opts.Holepunch.allows(pr.p) {
		return pr.abort(ctx, serverRelay, ErrHolepunchAborted.with("client aborted holepunch", nil))
	}
	return pr.punch(ctx, server, token, r.node, serverRelay)
}

// probe sends the probe round: it learns the server's NAT and token, and waits for our own
// analysis. It returns the server's token and the server's address as the relay saw it.
func (pr *punchRun) probe(ctx context.Context, server netip.AddrPort, serverRelay records.RelayInfo, retry bool) (*[32]byte, netip.AddrPort, error) {
	p := pr.p
	fastOpen := server
	if pr.c.opts.NoFastOpen {
		fastOpen = netip.AddrPort{}
	} else {
		p.OpenSession(server)
	}
	nat := p.NAT()
	reply, err := pr.send(ctx, serverRelay.PeerAddress, serverRelay.RelayAddress, &records.HolepunchPayload{
		Firewall:      records.Firewall(nat.Firewall()),
		Addresses:     nat.Addresses(),
		RemoteAddress: fastOpen,
	})
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	nat.Add(reply.to, reply.from)
	if fw, _, _ := p.Remote(); fw == holepunch.Unknown {
		if err := sleepCtx(ctx, unknownFirewallWait); err != nil {
			return nil, netip.AddrPort{}, err
		}
	}
	stable := p.Analyze(ctx, false)
	if err := ctx.Err(); err != nil {
		return nil, netip.AddrPort{}, err
	}
	if !stable {
		if p.Analyze(ctx, true) {
			return pr.probe(ctx, server, serverRelay, false)
		}
		if err := ctx.Err(); err != nil {
			return nil, netip.AddrPort{}, err
		}
	}
	remote, _, _ := p.Remote()
	if (remote == holepunch.Unknown || reply.payload.Token == nil) && retry {
		return pr.probe(ctx, server, serverRelay, false)
	}
	local := p.NAT().Firewall()
	switch {
	case remote == holepunch.Unknown || local == holepunch.Unknown:
		return nil, netip.AddrPort{}, pr.abort(ctx, serverRelay, ErrHolepunchProbeTimeout)
	case remote >= holepunch.Random && local >= holepunch.Random:
		return nil, netip.AddrPort{}, pr.abort(ctx, serverRelay, ErrHolepunchDoubleRandomizedNATs)
	}
	return reply.payload.Token, reply.peer, nil
}

// punch sends the punch round through our own relay and starts our strategy once the
// server agreed. A punch involving a random NAT waits while the node's random-punch limit
// holds, and again when the server answers TRY_LATER, but only while a blind relay may carry
// the connection meanwhile; a delayed punch goes through the server's relay (the reference's
// roundPunch and tryLater).
func (pr *punchRun) punch(ctx context.Context, server netip.AddrPort, remoteToken *[32]byte, clientRelay netip.AddrPort, serverRelay records.RelayInfo) error {
	p := pr.p
	nat := p.NAT()
	nat.Freeze()
	remote, _, _ := p.Remote()
	random := remote >= holepunch.Random || nat.Firewall() >= holepunch.Random
	lim := pr.c.n.punch.limiter
	token := pr.secure.Token(server.Addr())
	payload := func(punching bool) *records.HolepunchPayload { // fresh: send stamps its round
		return &records.HolepunchPayload{
			Firewall:    records.Firewall(nat.Firewall()),
			Punching:    punching,
			Addresses:   nat.Addresses(),
			Token:       &token,
			RemoteToken: remoteToken,
		}
	}
	delayed := false
	for {
		for random && lim.Blocked() {
			if !pr.c.relaying() {
				return ErrHolepunchAborted.with("a random punch ran less than the random-punch interval ago", nil)
			}
			if !delayed {
				// Tell the server we are here, then wait.
				delayed = true
				if _, err := pr.send(ctx, server, clientRelay, payload(false)); err != nil {
					return err
				}
			}
			if err := pr.tryLater(ctx); err != nil {
				return err
			}
		}
		release := func() {}
		if random {
			release = lim.Reserve()
		}
		// A delayed punch goes through the server's relay. The reference sends no token
		// then, so a punch put off by TRY_LATER never verifies the server's address and a
		// random punch cannot start; ours sends it, and the server echoes it either way.
		peer, relay := server, clientRelay
		if delayed {
			peer, relay = serverRelay.PeerAddress, serverRelay.RelayAddress
		}
		reply, err := pr.send(ctx, peer, relay, payload(true))
		release()
		if err != nil {
			return err
		}
		if reply.tryLater {
			if err := pr.tryLater(ctx); err != nil {
				return err
			}
			delayed = true
			continue
		}
		if _, _, punching := p.Remote(); !punching {
			return ErrRemoteNotHolepunching
		}
		if !p.Punch() {
			return ErrRemoteNotHolepunchable
		}
		return nil
	}
}

// tryLater waits 10 to 20 s before a delayed punch, while a relay may carry the connection.
func (pr *punchRun) tryLater(ctx context.Context) error {
	if !pr.c.relaying() {
		return ErrHolepunchAborted.with("the server asked to try later and no relay carries the connection", nil)
	}
	return sleepCtx(ctx, tryLaterBase+rand.N(tryLaterBase))
}

// abort tells the server we give up (best effort) and returns err; the connector then stops
// the puncher.
func (pr *punchRun) abort(ctx context.Context, serverRelay records.RelayInfo, err error) error {
	if pr.c.found.Load() {
		// A direct path was found meanwhile (a fast-open punch got through while our NAT was still
		// unclassified, say): an abort would make the server drop the stream it is about
		// to get.
		return err
	}
	pr.send(ctx, serverRelay.PeerAddress, serverRelay.RelayAddress, &records.HolepunchPayload{
		Error: records.ConnErrorAborted, Firewall: records.FirewallUnknown,
	})
	return err
}

// roundReply is a server's answer to one round.
type roundReply struct {
	from, to netip.AddrPort // the relay, and us as it saw us
	peer     netip.AddrPort // the server as the relay saw it
	payload  records.HolepunchPayload
	tryLater bool // the server put our punch off (TRY_LATER), as it may while a relay pairs
}

// send seals payload (stamped with the next round number) and sends it to the server at peer
// through relay, from the puncher's socket, then opens the answer and records what the
// server said about itself.
func (pr *punchRun) send(ctx context.Context, peer, relay netip.AddrPort, payload *records.HolepunchPayload) (*roundReply, error) {
	c := pr.c
	if err := ctx.Err(); err != nil {
		return nil, err // rpc.Request would send it all the same
	}
	c.mu.Lock()
	payload.Round = uint64(c.rounds)
	c.rounds++
	c.mu.Unlock()
	sealed, err := pr.secure.Seal(nil, payload)
	if err != nil {
		return nil, err
	}
	value, err := records.AppendHolepunch(nil, &records.Holepunch{Mode: records.ModeFromClient, ID: pr.id, Payload: sealed, PeerAddress: peer})
	if err != nil {
		return nil, err
	}
	target := ktable.ID(c.target)
	res, err := c.n.rpc.Request(ctx, relay, rpc.Outgoing{Command: records.CmdPeerHolepunch, Target: &target, Value: value},
		&rpc.RequestOptions{Socket: pr.p.Socket()})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	hp, _, err := records.ParseHolepunch(res.Value)
	if res.Value == nil || err != nil || hp.Mode != records.ModeReply || res.From != relay {
		return nil, ErrBadHolepunchReply
	}
	remote, err := pr.secure.Open(hp.Payload)
	if err != nil {
		return nil, ErrHolepunchInvalid.with("", err)
	}
	if remote.Error == records.ConnErrorTryLater && payload.Punching && c.relaying() {
		return &roundReply{from: res.From, to: res.To, peer: hp.PeerAddress, payload: remote, tryLater: true}, nil
	}
	if remote.Error != records.ConnErrorNone {
		return nil, ErrRemoteAborted.with("remote aborted with "+remote.Error.String(), nil)
	}
	var verified netip.Addr
	if payload.Token != nil && remote.RemoteToken != nil && *payload.Token == *remote.RemoteToken {
		verified = peer.Addr()
		if !peer.IsValid() { // the relay chose: it says where it forwarded to
			verified = hp.PeerAddress.Addr()
		}
	}
	pr.p.UpdateRemote(remote.Punching, holepunch.Firewall(remote.Firewall), remote.Addresses, verified)
	out := &roundReply{from: res.From, to: res.To, peer: hp.PeerAddress, payload: remote}
	if !out.peer.IsValid() {
		out.peer = relay
	}
	return out, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
