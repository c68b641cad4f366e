package peers

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/hyperlan/hyperlan/configs"
	"github.com/hyperlan/hyperlan/dht"
	"github.com/hyperlan/hyperlan/dht/secretstream"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// newEngine builds the engine on its deps; nothing runs yet.
func newEngine(cfg *configs.Config, kp dht.KeyPair, relayKP *dht.KeyPair, deps Deps, log *slog.Logger) *Engine {
	e := &Engine{
		cfg: cfg, kp: kp, relayKP: relayKP, self: cfg.Node.PublicKey, log: log, timing: defaultTiming,
		node: deps.Node, dev: deps.TUN, router: deps.Router,
		peers:   make(map[configs.PublicKey]*peer),
		refused: make(map[configs.PublicKey]time.Time),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		fatal:   make(chan error, 1),
		done:    make(chan struct{}),
	}
	if cfg.Network.Secret != nil {
		e.secret = cfg.Network.Secret
		e.topic = configs.Topic(cfg.Network.Secret)
	}
	// The smallest message every UDX stream carries, less the secret-stream envelope: a
	// stream starts at udx.MTUBase and dht-rpc (and so every connection) runs over IPv4.
	e.floor = udx.MaxPayload(udx.MTUBase, false) - secretstream.MessageOverhead
	size, count := rxPoolSize(deps.TUN)
	e.rx = newBufferPool(count, size)
	e.toTUN = make(chan *buffer, rxQueue)
	e.ctx, e.cancel = context.WithCancel(context.Background())

	e.selfAddrs = append(e.selfAddrs, netip.PrefixFrom(cfg.Node.Address, 32))
	if cfg.Node.Address6.IsValid() {
		e.selfAddrs = append(e.selfAddrs, netip.PrefixFrom(cfg.Node.Address6, 128))
	}
	for _, r := range cfg.Node.Routes {
		e.selfRoutes = append(e.selfRoutes, r.Masked())
	}
	for _, pc := range cfg.Peers {
		e.peers[pc.PublicKey] = &peer{key: pc.PublicKey, name: pc.Name, configured: true, cfg: pc}
	}
	var relays [][32]byte
	for _, k := range cfg.DHT.RelayThrough {
		if relayKP != nil && k == configs.PublicKey(relayKP.PublicKey) {
			continue // not through itself; configs leaves it out too
		}
		relays = append(relays, k)
		e.relayKeys = append(e.relayKeys, k)
	}
	if len(relays) > 0 {
		e.relayThrough = dht.Relays(relays...)
	}
	e.server = e.newServer()
	e.rebuildLocked()
	return e
}

// newServer makes the VPN's DHT server (not listening yet).
func (e *Engine) newServer() *dht.Server {
	return e.node.CreateServer(dht.ServerOptions{
		Firewall:     e.firewall,
		OnConnection: e.accept,
		OnMessage:    e.onDatagram,
		RelayThrough: e.relayThrough,
		OnUpgrade:    e.onUpgrade,
	})
}

// start applies the first router config and starts the goroutines.
func (e *Engine) start() error {
	e.mu.Lock()
	c := e.routerConfigLocked()
	e.routes, e.dirty = &c, false
	e.mu.Unlock()
	if err := e.router.Set(c); err != nil {
		return err
	}
	e.log.Info("engine up", "name", e.cfg.Node.Name, "key", e.self, "interface", e.dev.Name(),
		"ipv4", e.cfg.Node.Address, "ipv6", e.cfg.Node.Address6, "secret", e.secret != nil, "peers", len(e.cfg.Peers),
		"relay_through", len(e.relayKeys), "relay", e.relayKP != nil)
	e.wg.Add(4)
	go e.routineReadTUN()
	go e.routineWriteTUN()
	go e.routineManage()
	go e.routineDiscover()
	if e.relayKP != nil {
		e.wg.Add(1)
		go e.routineRelay()
	}
	return nil
}

// fail ends Run with err (the first failure wins).
func (e *Engine) fail(err error) {
	select {
	case e.fatal <- err:
	default:
	}
}

// poke wakes routineManage.
func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// shutdown stops everything and releases the deps, once: it unannounces the topic and the
// server while the node still runs, stops the goroutines (cancel, then close every session
// and the device to unblock them), waits for them, then closes the router (removing the
// addresses and routes) and destroys the node.
func (e *Engine) shutdown() {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closing = true
		announced := !e.announced.IsZero()
		e.mu.Unlock()
		e.cancel()

		ctx, cancel := context.WithTimeout(context.Background(), e.timing.shutdownGrace)
		if announced {
			e.node.Unannounce(ctx, e.topic, e.kp)
		}
		e.mu.Lock()
		server, relay := e.server, e.relay
		e.mu.Unlock()
		server.Close(ctx)
		if relay != nil {
			relay.Close(ctx)
		}
		cancel()

		e.conns.Range(func(_, v any) bool {
			v.(*session).close(net.ErrClosed)
			return true
		})
		errDev := e.dev.Close()
		e.wg.Wait()
		errRouter := e.router.Close()
		errNode := e.node.Destroy(context.Background(), dht.DestroyOptions{Force: true})
		e.closeErr = errors.Join(errRouter, errDev, errNode)
		e.log.Info("engine down", "err", e.closeErr)
		close(e.done)
	})
}
