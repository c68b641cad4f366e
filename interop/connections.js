'use strict'

// connections.js is the encrypted-connection half of hyperdht.js: servers
// (dht.createServer, server.listen) and connections (dht.connect on the
// client, the server's 'connection' on the other side), each a
// NoiseSecretStream over a UDX stream. hyperdht.js spreads these ops into its
// own; the protocol (JSON lines, hex bytes, "host:port") is the one
// described there. Servers are named by the number createServer returns
// (1, 2, ...), connections by the number connect or the server-connection
// event gives them (1, 2, ..., one sequence for both sides). Entries are kept
// after close so their stats stay readable.
//
// Servers and connect take relayThrough, blind relays' public keys (relay.js).
//
// Received stream data is not forwarded: per connection the driver keeps a
// running SHA-256 and byte count. An echo connection writes back everything it
// reads and ends when the remote ends; a sink connection only ends when the
// remote ends, so that both sides close. Bulk data (sendBulk) is the
// PseudoRandom stream of streams.js, which Go regenerates.
//
// Events (never carrying "id", "info" or "peer", which the Go side reads as
// replies and dht-rpc fields):
//   server-listening   {server, publicKey, host, port}
//   server-firewall    {server, remotePublicKey, accepted, payload, clientAddress, calls}
//                      (first FIREWALL_EVENTS calls per server)
//   server-connection  {server, conn, side, remote, ...identity}
//   server-close       {server}
//   conn-open          {conn, side, server, remote, ms, ...identity}: the stream opened
//                      (both sides; ms since connect or since the server-connection)
//   conn-message       {conn, data, length, sha256}: a datagram (first MESSAGE_EVENTS
//                      per connection; later ones are only counted)
//   conn-end           {conn, bytes, sha256}: the remote ended; what was read in total
//   conn-close         {conn, error, code, bytes, sha256, written, messages}
// identity is {publicKey, remotePublicKey, handshakeHash, isInitiator}.

const crypto = require('crypto')
const { performance } = require('perf_hooks')
const { event, hex, fail, lookupArg, hexArg } = require('./jsonlines')
const { hostPort } = require('./rpcnode')
const { capped, echoData, writeAll, writeBulk } = require('./streams')

const MESSAGE_EVENTS = 1024 // conn-message events per connection; the messages op returns the same ones
const FIREWALL_EVENTS = 16 // server-firewall events per server

function errorFields (err) {
  return {
    error: err ? err.message || String(err) : null,
    code: err && err.code !== undefined && err.code !== null ? String(err.code) : null
  }
}

function identity (s) {
  return {
    publicKey: hex(s.publicKey),
    remotePublicKey: hex(s.remotePublicKey),
    handshakeHash: hex(s.handshakeHash),
    isInitiator: s.isInitiator
  }
}

// remoteOf is the UDX peer address of a secret stream, or null.
function remoteOf (s) {
  const raw = s.rawStream
  return raw && raw.remoteHost ? hostPort({ host: raw.remoteHost, port: raw.remotePort }) : null
}

// payloadFields is a handshake payload (hyperdht lib/messages.js noisePayload)
// as JSON.
function payloadFields (p) {
  return {
    version: p.version,
    error: p.error,
    firewall: p.firewall,
    holepunch: p.holepunch
      ? { id: p.holepunch.id, relays: p.holepunch.relays.map((r) => ({ relayAddress: hostPort(r.relayAddress), peerAddress: hostPort(r.peerAddress) })) }
      : null,
    addresses4: (p.addresses4 || []).map(hostPort),
    addresses6: (p.addresses6 || []).map(hostPort),
    udx: p.udx ? { version: p.udx.version, reusableSocket: p.udx.reusableSocket, id: p.udx.id, seq: p.udx.seq } : null,
    secretStream: p.secretStream ? { version: p.secretStream.version } : null,
    relayThrough: p.relayThrough ? { publicKey: hex(p.relayThrough.publicKey), token: hex(p.relayThrough.token) } : null,
    relayAddresses: p.relayAddresses ? p.relayAddresses.map(hostPort) : null
  }
}

// connections returns the server and connection ops of a hyperdht node, and
// closeServers(ms), which closes every server (unannouncing it) but waits at
// most ms for that. args are hyperdht.js's argument readers.
function connections (dht, { requiredBytes, keyPairArg, intArg, relayAddressesArg, relayThroughArg }) {
  const servers = new Map() // number -> server entry
  let nextServer = 1
  const conns = new Map() // number -> connection entry
  let nextConn = 1

  function flagArg (cmd, field) {
    const v = cmd[field]
    if (v === undefined || v === null) return false
    if (typeof v !== 'boolean') throw fail(`${field}: want a boolean`)
    return v
  }

  function serverArg (cmd) {
    return lookupArg(cmd, 'server', servers, 'server')
  }

  function connArg (cmd) {
    return lookupArg(cmd, 'conn', conns, 'connection')
  }

  function openConnArg (cmd) {
    const e = connArg(cmd)
    if (e.closed) throw fail(`connection ${e.conn} is closed`, 'ESTREAMCLOSED')
    return e
  }

  // track starts the bookkeeping of a secret stream and returns its entry.
  function track (stream, side, server, { echo, sink }) {
    const e = {
      conn: nextConn++,
      side,
      server,
      stream,
      echo,
      sink,
      started: performance.now(),
      openMs: null,
      opened: false,
      headerMs: null, // from started to the remote's secret-stream header, see watchHeader
      headerWaiters: [],
      hash: crypto.createHash('sha256'),
      received: 0,
      written: 0,
      messageCount: 0,
      messages: [], // the first MESSAGE_EVENTS, as capped()
      remoteEnded: false,
      ended: false,
      closed: false,
      error: null,
      echoPaused: false
    }
    conns.set(e.conn, e)

    stream.on('connect', () => {
      e.opened = true
      e.openMs = performance.now() - e.started
      event('conn-open', { conn: e.conn, side, server, remote: remoteOf(stream), ms: e.openMs, ...identity(stream) })
      watchHeader(e)
    })
    stream.on('data', (buf) => {
      e.hash.update(buf)
      e.received += buf.byteLength
      if (e.echo) echoData(e, buf)
    })
    stream.on('end', () => {
      e.remoteEnded = true
      event('conn-end', { conn: e.conn, bytes: e.received, sha256: e.hash.copy().digest('hex') })
      if (e.echo || e.sink) endConn(e)
    })
    stream.on('message', (buf) => {
      e.messageCount++
      if (e.messages.length < MESSAGE_EVENTS) {
        const m = capped(buf)
        e.messages.push(m)
        event('conn-message', { conn: e.conn, ...m })
      }
    })
    stream.on('error', (err) => {
      e.error = err
    })
    stream.on('close', () => {
      e.closed = true
      event('conn-close', {
        conn: e.conn,
        ...errorFields(e.error),
        bytes: e.received,
        sha256: e.hash.copy().digest('hex'),
        written: e.written,
        messages: e.messageCount
      })
    })
    return e
  }

  function endConn (e) {
    if (e.ended || e.closed) return
    e.ended = true
    e.stream.end()
  }

  // opened resolves once the connection's stream has opened and rejects with
  // its error (or ESTREAMCLOSED) if it closes first.
  // watchHeader records when the remote's secret-stream header has been read, which is when
  // Go's dht.Node.Connect returns; 'connect' comes earlier, once our own header is written.
  // secret-stream has no event for it: its _setup flag turns false when the header has been
  // read, after a chunk of the raw stream (its own listener, attached before 'connect', runs
  // first).
  function watchHeader (e) {
    const done = () => {
      e.headerMs = performance.now() - e.started
      for (const w of e.headerWaiters) w.resolve()
      e.headerWaiters = []
    }
    if (e.stream._setup === false) return done()
    const raw = e.stream.rawStream
    if (!raw) return
    const ondata = () => {
      if (e.stream._setup !== false) return
      raw.off('data', ondata)
      done()
    }
    raw.on('data', ondata)
  }

  // headerRead resolves once the remote's header has been read (see watchHeader), and
  // rejects if the connection closes first.
  function headerRead (e) {
    if (e.headerMs !== null) return Promise.resolve()
    if (e.closed) return Promise.reject(e.error || fail('connection closed before the remote header', 'ESTREAMCLOSED'))
    return new Promise((resolve, reject) => {
      const onclose = () => reject(e.error || fail('connection closed before the remote header', 'ESTREAMCLOSED'))
      e.stream.once('close', onclose)
      e.headerWaiters.push({ resolve: () => { e.stream.off('close', onclose); resolve() } })
    })
  }

  function opened (e) {
    if (e.opened) return Promise.resolve()
    if (e.closed) return Promise.reject(e.error || fail('connection closed before it opened', 'ESTREAMCLOSED'))
    return new Promise((resolve, reject) => {
      const onconnect = () => {
        e.stream.off('close', onclose)
        resolve()
      }
      const onclose = () => {
        e.stream.off('connect', onconnect)
        reject(e.error || fail('connection closed before it opened', 'ESTREAMCLOSED'))
      }
      e.stream.once('connect', onconnect)
      e.stream.once('close', onclose)
    })
  }

  // holepunch: "never" is the server's holepunch: false, "veto" a holepunch callback that
  // refuses every punch (either side); absent, the default.
  function holepunchArg (cmd) {
    switch (cmd.holepunch) {
      case undefined: case null: case '': return undefined
      case 'never': return false
      case 'veto': return () => false
      default: throw fail('holepunch: want "never", "veto" or nothing')
    }
  }

  function createServer (cmd) {
    const keyPair = keyPairArg(cmd)
    const list = cmd.reject === undefined || cmd.reject === null ? [] : cmd.reject
    if (!Array.isArray(list)) throw fail('reject: want an array of hex public keys')
    const reject = new Set(list.map((pk, i) => hexArg({ [`reject[${i}]`]: pk }, `reject[${i}]`, 32).toString('hex')))
    const s = {
      server: nextServer++,
      keyPair,
      flags: { echo: flagArg(cmd, 'echo'), sink: flagArg(cmd, 'sink') },
      firewallCalls: 0,
      srv: null
    }
    const firewall = (remotePublicKey, payload, clientAddress) => {
      const pk = hex(remotePublicKey)
      const refused = reject.has(pk)
      s.firewallCalls++
      if (s.firewallCalls <= FIREWALL_EVENTS) {
        event('server-firewall', {
          server: s.server,
          remotePublicKey: pk,
          accepted: !refused,
          payload: payloadFields(payload),
          clientAddress: clientAddress ? hostPort(clientAddress) : null,
          calls: s.firewallCalls
        })
      }
      return refused
    }
    s.srv = dht.createServer({ firewall, relayThrough: relayThroughArg(cmd), holepunch: holepunchArg(cmd) })
    servers.set(s.server, s)
    s.srv.on('listening', () => {
      const a = s.srv.address()
      event('server-listening', { server: s.server, publicKey: hex(a.publicKey), host: a.host, port: a.port })
    })
    s.srv.on('connection', (stream) => {
      const e = track(stream, 'server', s.server, s.flags)
      event('server-connection', { server: s.server, conn: e.conn, side: 'server', remote: remoteOf(stream), ...identity(stream) })
    })
    s.srv.on('close', () => event('server-close', { server: s.server }))
    return { server: s.server, publicKey: hex(keyPair.publicKey) }
  }

  function closeServers (ms) {
    const closing = Promise.allSettled([...servers.values()].map((s) => s.srv.close()))
    let timer = null
    const late = new Promise((resolve) => { timer = setTimeout(resolve, ms) })
    return Promise.race([closing, late]).finally(() => clearTimeout(timer))
  }

  const ops = {
    createServer,
    listen: async (cmd) => {
      const s = serverArg(cmd)
      await s.srv.listen(s.keyPair)
      const a = s.srv.address()
      return { publicKey: hex(a.publicKey), host: a.host, port: a.port }
    },
    refresh: (cmd) => {
      serverArg(cmd).srv.refresh()
      return null
    },
    close: async (cmd) => {
      await serverArg(cmd).srv.close()
      return null
    },
    connect: async (cmd) => {
      const publicKey = requiredBytes(cmd, 'publicKey', 32)
      const opts = { relayAddresses: relayAddressesArg(cmd), relayThrough: relayThroughArg(cmd), holepunch: holepunchArg(cmd) }
      if (flagArg(cmd, 'noFastOpen')) opts.fastOpen = false
      if (cmd.seed !== undefined && cmd.seed !== null) opts.keyPair = keyPairArg(cmd)
      const flags = { echo: flagArg(cmd, 'echo'), sink: flagArg(cmd, 'sink') }
      const e = track(dht.connect(publicKey, opts), 'client', null, flags)
      await opened(e)
      if (flagArg(cmd, 'header')) await headerRead(e)
      return { conn: e.conn, side: 'client', server: null, remote: remoteOf(e.stream), ms: e.openMs, headerMs: e.headerMs, ...identity(e.stream) }
    },
    write: async (cmd) => {
      const e = openConnArg(cmd)
      await writeAll(e, hexArg(cmd, 'data'))
      return null
    },
    sendBulk: async (cmd) => {
      const e = openConnArg(cmd)
      const n = intArg(cmd, 'bytes')
      const seed = intArg(cmd, 'seed')
      if (seed > 0xffffffff) throw fail('seed: want a uint32')
      const start = performance.now()
      const sha256 = await writeBulk(e, n, seed)
      endConn(e)
      return { sha256, bytes: n, ms: performance.now() - start }
    },
    end: (cmd) => {
      endConn(openConnArg(cmd))
      return null
    },
    destroy: (cmd) => {
      const e = connArg(cmd)
      if (!e.closed) e.stream.destroy()
      return null
    },
    send: async (cmd) => {
      const e = openConnArg(cmd)
      const p = e.stream.send(hexArg(cmd, 'data'))
      // undefined: the stream has no send state yet (not opened)
      return { sent: p === undefined ? false : (await p) === true }
    },
    trySend: (cmd) => {
      openConnArg(cmd).stream.trySend(hexArg(cmd, 'data'))
      return null
    },
    messages: (cmd) => {
      const e = connArg(cmd)
      return { count: e.messageCount, messages: e.messages }
    },
    connStats: (cmd) => {
      const e = connArg(cmd)
      const s = e.stream
      return {
        conn: e.conn,
        side: e.side,
        server: e.server,
        ...identity(s),
        remote: remoteOf(s),
        opened: e.opened,
        openMs: e.openMs,
        received: e.received,
        sha256: e.hash.copy().digest('hex'),
        written: e.written,
        rawBytesRead: s.rawBytesRead,
        rawBytesWritten: s.rawBytesWritten,
        messages: e.messageCount,
        remoteEnded: e.remoteEnded,
        ended: e.ended,
        closed: e.closed,
        ...errorFields(e.error)
      }
    }
  }
  return { ops, closeServers }
}

module.exports = { connections }
