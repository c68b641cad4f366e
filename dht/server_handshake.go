package dht

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/hyperlan/hyperlan/dht/noise"
	"github.com/hyperlan/hyperlan/dht/records"
	"github.com/hyperlan/hyperlan/dht/rpc"
	"github.com/hyperlan/hyperlan/dht/secretstream"
	"github.com/hyperlan/hyperlan/dht/udx"
)

// handshakeInitialTimeout is how long a server waits for a client it answered to make contact
// over UDX before it gives the handshake up (the reference's HANDSHAKE_INITIAL_TIMEOUT).
const handshakeInitialTimeout = 10 * time.Second

// serverHandshake is the server's side of one client handshake, from Noise message 1 until
// the raw stream connects or the wait ends. The same message 1 arriving again (a retry, a
// second relay) shares it and gets the same answer: a second responder would answer with other
// keys.
type serverHandshake struct {
	s     *Server
	key   string // message 1
	slot  int    // holepunch id
	ready chan struct{}

	reply []byte // set before ready closes; nil: stay silent

	mu      sync.Mutex
	raw     *udx.Stream // nil once connected or given up
	hook    *secretstream.MessageHook
	result  noise.Result
	remote  records.NoisePayload
	timeout *time.Timer
	cleared bool
}

// onHandshake implements handshakeServer.
func (s *Server) onHandshake(msg []byte, peer netip.AddrPort, req *rpc.Request) []byte {
	key := string(msg)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	if h := s.handshakes[key]; h != nil {
		s.mu.Unlock()
		<-h.ready
		return h.reply
	}
	h := &serverHandshake{s: s, key: key, slot: s.takeSlotLocked(), ready: make(chan struct{})}
	s.handshakes[key] = h
	kp := s.kp
	s.mu.Unlock()
	h.reply = h.run(kp, msg, peer, req)
	close(h.ready)
	return h.reply
}

func (s *Server) takeSlotLocked() int {
	for i, used := range s.slots {
		if !used {
			s.slots[i] = true
			return i
		}
	}
	s.slots = append(s.slots, true)
	return len(s.slots) - 1
}

// run answers message 1; it returns message 2 or nil.
func (h *serverHandshake) run(kp KeyPair, msg []byte, peer netip.AddrPort, req *rpc.Request) []byte {
	s, n := h.s, h.s.n
	hs, err := noise.NewResponder(noise.IK, kp.SecretKey, nil, noise.PeerHandshakePrologue[:])
	if err != nil {
		h.clearLater()
		return nil
	}
	plain, err := hs.Recv(msg)
	if err != nil {
		h.clearLater()
		return nil
	}
	remote, _, err := records.ParseNoisePayload(plain)
	if err != nil {
		h.clearLater()
		return nil
	}
	remoteKey, _ := hs.RemotePublicKey()
	direct := !peer.IsValid()
	client := peer
	if direct {
		client = req.From
	}
	if s.isClosed() || (s.opts.Firewall != nil && s.opts.Firewall(remoteKey, &remote, client)) {
		h.clearLater()
		return nil
	}

	code := records.ConnErrorNone
	switch {
	case remote.Version != records.NoisePayloadVersion:
		code = records.ConnErrorVersionMismatch
	case remote.UDX == nil:
		code = records.ConnErrorAborted
	}
	var addrs []netip.AddrPort
	public, open := n.rpc.RemoteAddr()
	if open {
		addrs = append(addrs, public)
	}
	if !s.opts.NoLocalAddresses {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		addrs = append(addrs, n.addrs.filter(ctx, n.localAddresses())...)
		cancel()
	}

	var raw *udx.Stream
	if code == records.ConnErrorNone {
		h.hook = new(secretstream.MessageHook)
		raw, err = n.newRawStream(h.hook, func(sock *udx.Socket, from netip.AddrPort) bool {
			h.onSocket(sock, from)
			return true
		})
		if err != nil {
			h.clearLater()
			return nil
		}
	}
	reply := records.NoisePayload{
		Error:        code,
		Firewall:     records.FirewallUnknown,
		Addresses4:   addrs,
		UDX:          &records.UDXInfo{},
		SecretStream: &records.SecretStreamInfo{},
	}
	if open {
		reply.Firewall = records.FirewallOpen
	}
	// A server behind a NAT would offer its holepunch slot and relays here (Holepunch);
	// without holepunching support it offers none, so clients dial the address the relay saw
	// it at, which is right whenever the server is reachable without punching.
	if raw != nil {
		reply.UDX.ID = uint64(raw.ID())
	}
	if ra := s.ann.relayAddrs(); len(ra) > 0 {
		reply.RelayAddresses = ra
	}
	plain2, err := records.AppendNoisePayload(nil, &reply)
	if err == nil {
		msg, err = hs.Send(plain2)
	}
	var result noise.Result
	if err == nil {
		result, err = hs.Result()
	}
	if err != nil || s.isClosed() {
		if raw != nil {
			raw.Destroy()
		}
		h.clearLater()
		return nil
	}
	if raw == nil {
		h.clearLater()
		return msg
	}

	h.mu.Lock()
	h.raw, h.result, h.remote = raw, result, remote
	h.mu.Unlock()
	if remote.Firewall == records.FirewallOpen || direct {
		sock := n.socket()
		if direct {
			if rs, ok := req.Socket().(*udx.Socket); ok {
				sock = rs
			}
		}
		h.onSocket(sock, client)
		return msg
	}
	// Wait for the client to reach us: its first packet runs onSocket through the raw
	// stream's firewall.
	h.mu.Lock()
	if h.raw != nil {
		h.timeout = time.AfterFunc(handshakeInitialTimeout, h.abort)
	}
	h.mu.Unlock()
	return msg
}

// onSocket connects the raw stream to the client at from through sock, starts the encrypted
// session and hands it to the server. Later calls do nothing.
func (h *serverHandshake) onSocket(sock *udx.Socket, from netip.AddrPort) {
	h.mu.Lock()
	raw := h.raw
	h.raw = nil
	if h.timeout != nil {
		h.timeout.Stop()
	}
	h.mu.Unlock()
	if raw == nil {
		return
	}
	h.clearLater()
	if !from.IsValid() || from.Port() == 0 {
		raw.Destroy()
		return
	}
	if err := raw.Connect(sock, udx.StreamID(h.remote.UDX.ID), from); err != nil {
		raw.Destroy()
		return
	}
	c, err := h.s.n.startSession(raw, &h.result, h.hook, h.s.opts.OnMessage)
	if err != nil {
		raw.Destroy()
		return
	}
	h.s.deliver(c)
}

// abort gives the handshake up: the client never made contact, or the server closed.
func (h *serverHandshake) abort() {
	h.mu.Lock()
	raw := h.raw
	h.raw = nil
	h.mu.Unlock()
	if raw != nil {
		raw.Destroy()
	}
	h.clearLater()
}

// clearLater forgets the handshake after HandshakeClearWait and frees its holepunch slot.
func (h *serverHandshake) clearLater() {
	h.mu.Lock()
	if h.cleared {
		h.mu.Unlock()
		return
	}
	h.cleared = true
	h.mu.Unlock()
	s := h.s
	time.AfterFunc(s.opts.HandshakeClearWait, func() {
		s.mu.Lock()
		if s.handshakes[h.key] == h {
			delete(s.handshakes, h.key)
		}
		if h.slot < len(s.slots) {
			s.slots[h.slot] = false
		}
		s.mu.Unlock()
	})
}

// onHolepunch implements handshakeServer: without holepunching support the server does not
// answer holepunch rounds (it offered no relays to punch through).
func (s *Server) onHolepunch(uint64, []byte, netip.AddrPort, *rpc.Request) []byte { return nil }

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
