package dht

import (
	"context"
	"time"

	"github.com/hyperlan/hyperlan/dht/udx"
)

// The client's side of the blind-relay fallback (hyperdht lib/connect.js relayConnection and
// the relayed branch of its onsocket; relay.go has the shared parts).

// defaultRepunchInterval is the first wait before a relayed connection punches again
// (ConnectOptions.RepunchInterval); maxRepunchBackoff bounds its doubling.
const (
	defaultRepunchInterval = time.Minute
	maxRepunchBackoff      = 16
)

// startRelay starts pairing at the blind relay when either side named one, as the
// reference's connect does after the handshake: the server's relay wins, and the side whose
// relay it is initiates. It reports whether it started.
func (c *connector) startRelay() bool {
	leg := c.n.newRelayLeg(c.payload.RelayThrough, c.relay, false, c.opts.RelayKeepAlive)
	if leg == nil {
		return false
	}
	c.mu.Lock()
	c.leg = leg
	c.mu.Unlock()
	leg.start(c.raw,
		func(p relayPath) { c.offer(socketChoice{sock: p.sock, addr: p.addr, path: PathRelay, id: p.id}) },
		c.fail)
	return true
}

// relaying reports whether a blind relay may carry the connection: it is pairing or paired.
func (c *connector) relaying() bool {
	c.mu.Lock()
	leg := c.leg
	c.mu.Unlock()
	return leg.active()
}

// startRelayed connects the raw stream to the relay's stream for it and starts the session
// there; holepunching goes on, and watch moves the stream to the first direct path found.
func (c *connector) startRelayed(ctx context.Context, choice socketChoice) (*Conn, error) {
	if err := c.raw.Connect(choice.sock, choice.id, choice.addr); err != nil {
		c.abandon()
		return nil, err
	}
	c.mu.Lock()
	leg := c.leg
	c.mu.Unlock()
	greet(c.raw)
	info := c.info(choice)
	info.Relay = leg.key
	c.n.cacheRelays(c.remote, c.payload.RelayAddresses, c.tried)
	conn, err := c.n.startSession(c.raw, &c.result, c.hook, c.opts.OnMessage, c.keepAlive)
	if err != nil {
		c.abandon()
		return nil, err
	}
	c.n.recordConn(conn, c.raw, info)
	go c.watch(conn)
	if err := c.waitOpen(ctx, conn); err != nil {
		return nil, err // the session is closed: watch stops the rest
	}
	return conn, nil
}

// watch runs while conn goes through the relay: the first direct path found replaces it. A
// holepunch that ends without one is tried again after RepunchInterval, doubling, as long as
// the connection lasts. It returns when conn ends or once upgraded.
func (c *connector) watch(conn *Conn) {
	interval := c.opts.RepunchInterval
	if interval == 0 {
		interval = defaultRepunchInterval
	}
	longest := interval * maxRepunchBackoff
	var (
		retry  *time.Timer
		retryC <-chan time.Time
	)
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	schedule := func() {
		if interval < 0 || retryC != nil {
			return
		}
		retry = time.NewTimer(interval)
		retryC = retry.C
		interval = min(interval*2, longest)
	}
	c.mu.Lock()
	running := c.directRunning
	c.mu.Unlock()
	if !running {
		schedule()
	}
	for {
		select {
		case ch := <-c.connect:
			if ch.path != PathRelay {
				c.upgrade(conn, ch)
				return
			}
		case <-c.failed:
			schedule()
		case <-retryC:
			retryC = nil
			c.mu.Lock()
			r := c.reply
			c.mu.Unlock()
			c.startDirect(r, false)
		case <-c.raw.Done():
			c.abandon()
			return
		}
	}
}

// upgrade moves the relayed stream to the direct path ch (the reference's changeRemote, then
// confirmDirectUpgrade): holepunching stops, and the connection to the relay is closed once
// a packet arrived on the new path.
func (c *connector) upgrade(conn *Conn, ch socketChoice) {
	// What is in flight moves along (see relay.go: the peer may never have sent through the
	// relay, which then drops it).
	if err := c.raw.MoveRemote(ch.sock, udx.StreamID(c.payload.UDX.ID), ch.addr); err != nil {
		c.abandon()
		return
	}
	c.n.holdSocket(ch.sock, c.raw)
	c.mu.Lock()
	leg := c.leg
	c.mu.Unlock()
	info := c.info(ch)
	info.Relay, info.Upgraded = leg.key, true
	c.n.updateConnInfo(conn, info)
	c.bgCancel()
	c.stopPuncher()
	c.wg.Wait()
	if f := c.opts.OnUpgrade; f != nil {
		go f(conn, info)
	}
	leg.confirmDirect(c.raw)
}
