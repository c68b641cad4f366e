#!/usr/bin/env node
'use strict'

// udx.js runs ONE udx-native instance (the pinned reference in ./node_modules)
// and lets a Go test drive it over JSON lines: bind sockets on 127.0.0.1,
// create streams, connect them, move bytes and messages, and read counters.
// It is started by the Go package in this directory (interop.StartUDX).
//
// Usage:
//   node udx.js
//
// stdout carries one JSON object per line, of two kinds:
//   events:  {"event":NAME, ...}; see README.md for NAME and fields. Events
//            never carry "id", "info" (except listening) or "peer": the Go
//            side reads those as replies and dht-rpc fields.
//   replies: {"id":N,"ok":true,"result":...} or
//            {"id":N,"ok":false,"error":"...","code":"..."|null}
// stdin takes one JSON command per line: {"op":OP,"id":N,...arguments}. Commands
// run concurrently; replies may come back in any order. Byte fields are hex.
// The JSON-lines plumbing and the argument readers are jsonlines.js; the
// stream helpers are streams.js. Sockets are named by the number the socket op
// returns (1, 2, ...); streams by their local UDX id.
//
// Received stream data is not forwarded: the driver keeps, per stream, a
// running SHA-256 and byte count and the first 64 KiB (op recv). An echo
// stream writes back everything it reads and ends when the remote ends.
//
// Bulk data for writeFile is the PseudoRandom stream of streams.js, which Go
// regenerates (interop.PseudoRandom).
//
// The process destroys every stream, closes its sockets and exits 0 on the
// "exit" op, on stdin EOF, on SIGTERM and on SIGINT.

const UDX = require('udx-native')
const crypto = require('crypto')
const { event, fail, intArg, u32Arg, lookupArg, hexArg, serve } = require('./jsonlines')
const { capped, echoData: echoNow, writeAll, writeBulk, recordData, closeFields, hostArg, Sockets } = require('./streams')

const FIREWALL_EVENTS = 8 // firewall events written per stream; later calls are only counted
const STOP_GRACE_MS = 1000 // wait for sockets to close on exit, then exit anyway
const LOCALHOST = '127.0.0.1' // the host of socket, connect, changeRemote and sendRaw by default

const udx = new UDX()
const sockets = new Sockets(udx)
const streams = new Map() // local id -> entry (see createStream); kept after close

// ---- arguments -----------------------------------------------------------

function portArg (cmd, field) {
  const p = intArg(cmd, field, 65535)
  if (p === 0) throw fail(`${field}: want a port in [1, 65535]`)
  return p
}

function entryArg (cmd, field) {
  return lookupArg(cmd, field, streams, 'stream')
}

function openEntryArg (cmd, field) {
  const e = entryArg(cmd, field)
  if (e.closed) throw fail(`stream ${e.id} is closed`, 'ESTREAMCLOSED')
  return e
}

function connectedEntryArg (cmd, field) {
  const e = openEntryArg(cmd, field)
  if (!e.stream.connected) throw fail(`stream ${e.id} is not connected`, 'ENOTCONN')
  return e
}

// ---- output ----------------------------------------------------------------

// addr formats an address as Go's netip.AddrPort parses it.
function addr (host, port) {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

// ---- streams ---------------------------------------------------------------

function firewallFor (e, mode, only, remoteId) {
  return (socket, port, host) => {
    e.firewallCalls++
    let reject = true
    if (only !== null && socket !== only) {
      reject = true
    } else if (mode === 'accept') {
      reject = false
    } else if (mode === 'connect-on-first') {
      // The hyperdht server pattern: learn the peer's address from its first
      // packet and connect to it through the socket it arrived on.
      if (!e.stream.connected && !e.closed) e.stream.connect(socket, remoteId, port, host)
      reject = false
    }
    if (e.firewallCalls <= FIREWALL_EVENTS) {
      event('firewall', {
        stream: e.id,
        socket: sockets.numberOf(socket),
        from: addr(host, port),
        accepted: !reject,
        calls: e.firewallCalls
      })
    }
    return reject
  }
}

function createStream (cmd) {
  const id = u32Arg(cmd, 'stream')
  const old = streams.get(id)
  if (old !== undefined && !old.closed) throw fail(`stream ${id} exists`, 'EEXIST')

  const mode = cmd.firewall === undefined || cmd.firewall === null ? 'reject' : cmd.firewall
  if (!['reject', 'accept', 'connect-on-first'].includes(mode)) {
    throw fail('firewall: want "reject", "accept" or "connect-on-first"')
  }
  const only = cmd.socket === undefined || cmd.socket === null ? null : sockets.arg(cmd, 'socket')
  const remoteId = mode === 'connect-on-first' ? u32Arg(cmd, 'remoteId') : 0

  const e = {
    id,
    stream: null,
    echo: cmd.echo === true,
    echoPaused: false,
    echoPending: [], // data read before the stream was connected
    echoEnd: false, // the remote ended before the stream was connected
    hash: crypto.createHash('sha256'),
    received: 0,
    kept: [],
    keptBytes: 0,
    written: 0,
    messages: 0,
    firewallCalls: 0,
    remoteEnded: false,
    closed: false,
    error: null
  }
  const opts = { framed: cmd.framed === true, firewall: firewallFor(e, mode, only, remoteId) }
  if (cmd.seq !== undefined && cmd.seq !== null) opts.seq = u32Arg(cmd, 'seq')
  const s = udx.createStream(id, opts)
  e.stream = s
  streams.set(id, e)

  s.on('data', (buf) => {
    recordData(e, buf)
    if (e.echo) echoData(e, buf)
  })
  s.on('end', () => {
    e.remoteEnded = true
    event('stream-end', { stream: id, bytes: e.received, sha256: e.hash.copy().digest('hex') })
    if (e.echo) {
      if (s.connected) s.end()
      else e.echoEnd = true
    }
  })
  s.on('connect', () => {
    event('stream-connect', {
      stream: id,
      socket: sockets.numberOf(s.socket),
      remoteId: s.remoteId,
      remote: addr(s.remoteHost, s.remotePort)
    })
    if (e.echo) {
      const pending = e.echoPending
      e.echoPending = []
      for (const buf of pending) echoData(e, buf)
      if (e.echoEnd) s.end()
    }
  })
  s.on('message', (buf) => {
    e.messages++
    event('message', { stream: id, ...capped(buf) })
  })
  s.on('remote-changed', () => event('remote-changed', { stream: id }))
  s.on('error', (err) => {
    e.error = err
  })
  s.on('close', () => {
    e.closed = true
    event('stream-close', {
      stream: id,
      ...closeFields(e.error),
      bytes: e.received,
      written: e.written
    })
  })
  return null
}

// echoData echoes buf (echoNow), or keeps it for the connect if the stream is
// not connected yet.
function echoData (e, buf) {
  if (!e.stream.connected) {
    e.echoPending.push(buf)
    return
  }
  echoNow(e, buf)
}

function stats (e) {
  const s = e.stream
  return {
    connected: s.connected,
    remoteId: s.remoteId,
    remote: s.remoteHost ? addr(s.remoteHost, s.remotePort) : null,
    rtt: s.rtt,
    cwnd: s.cwnd,
    mtu: s.mtu,
    inflight: s.inflight,
    rtoCount: s.rtoCount,
    retransmits: s.retransmits,
    fastRecoveries: s.fastRecoveries,
    bbrState: s.bbrState,
    bbrBandwidth: s.bbrBandwidth,
    bytesTransmitted: s.bytesTransmitted,
    packetsTransmitted: s.packetsTransmitted,
    bytesReceived: s.bytesReceived,
    packetsReceived: s.packetsReceived,
    received: e.received,
    written: e.written,
    messages: e.messages,
    firewallCalls: e.firewallCalls,
    remoteEnded: e.remoteEnded,
    closed: e.closed
  }
}

// ---- commands --------------------------------------------------------------

const ops = {
  socket: (cmd) => {
    const host = hostArg(cmd, 'host', LOCALHOST)
    const port = intArg(cmd, 'port', 65535, 0)
    const { n, socket: s } = sockets.bind(port, host)
    s.on('message', (buf, from) => {
      event('socket-message', { socket: n, from: addr(from.host, from.port), ...capped(buf) })
    })
    const a = s.address()
    return { socket: n, host: a.host, port: a.port }
  },
  stream: createStream,
  connect: (cmd) => {
    const e = openEntryArg(cmd, 'stream')
    e.stream.connect(sockets.arg(cmd, 'socket'), u32Arg(cmd, 'remoteId'), portArg(cmd, 'port'),
      hostArg(cmd, 'host', LOCALHOST))
    return null
  },
  write: async (cmd) => {
    const e = connectedEntryArg(cmd, 'stream')
    await writeAll(e, hexArg(cmd, 'data'))
    return null
  },
  writeFile: async (cmd) => {
    const e = connectedEntryArg(cmd, 'stream')
    const n = intArg(cmd, 'bytes')
    const sha256 = await writeBulk(e, n, u32Arg(cmd, 'seed'))
    return { sha256, bytes: n }
  },
  flush: async (cmd) => {
    const e = connectedEntryArg(cmd, 'stream')
    if ((await e.stream.flush()) !== true) throw fail(`stream ${e.id}: flush failed`, 'ESTREAMCLOSED')
    return null
  },
  end: (cmd) => {
    connectedEntryArg(cmd, 'stream').stream.end()
    return null
  },
  destroy: (cmd) => {
    const e = entryArg(cmd, 'stream')
    if (!e.closed) e.stream.destroy()
    return null
  },
  send: async (cmd) => {
    const e = openEntryArg(cmd, 'stream')
    return { sent: await e.stream.send(hexArg(cmd, 'data')) }
  },
  trySend: (cmd) => {
    openEntryArg(cmd, 'stream').stream.trySend(hexArg(cmd, 'data'))
    return null
  },
  changeRemote: (cmd) => {
    const e = connectedEntryArg(cmd, 'stream')
    const p = e.stream.changeRemote(sockets.arg(cmd, 'socket'), u32Arg(cmd, 'remoteId'),
      portArg(cmd, 'port'), hostArg(cmd, 'host', LOCALHOST))
    if (p) p.catch(() => {}) // rejected if the stream closes first; the close event says so
    return { immediate: !p }
  },
  relayTo: (cmd) => {
    const e = openEntryArg(cmd, 'stream')
    e.stream.relayTo(openEntryArg(cmd, 'other').stream)
    return null
  },
  keepalive: (cmd) => {
    openEntryArg(cmd, 'stream').stream.setKeepalive(intArg(cmd, 'ms', 0xffffffff))
    return null
  },
  stats: (cmd) => stats(entryArg(cmd, 'stream')),
  recv: (cmd) => {
    const e = entryArg(cmd, 'stream')
    return { data: Buffer.concat(e.kept).toString('hex'), bytes: e.received }
  },
  sendRaw: async (cmd) => {
    const s = sockets.arg(cmd, 'socket')
    return { sent: await s.send(hexArg(cmd, 'data'), portArg(cmd, 'port'), hostArg(cmd, 'host', LOCALHOST)) }
  }
}

// ---- lifecycle -------------------------------------------------------------

serve({
  ops,
  stop: () => {
    for (const e of streams.values()) {
      if (!e.closed) e.stream.destroy()
    }
    return sockets.close(STOP_GRACE_MS)
  }
})

// The Go side waits for "listening" (with an "info" object) before it sends
// commands; udx-native needs no set-up, so say so at once.
event('listening', { info: {}, version: require('udx-native/package.json').version })
