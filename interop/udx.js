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
// The JSON-lines plumbing is jsonlines.js. Sockets are named by the number the socket op returns (1, 2, ...); streams by
// their local UDX id.
//
// Received stream data is not forwarded: the driver keeps, per stream, a
// running SHA-256 and byte count and the first 64 KiB (op recv). An echo
// stream writes back everything it reads and ends when the remote ends.
//
// Bulk data for writeFile is a byte stream that Go regenerates
// (interop.PseudoRandom): xorshift32 (x ^= x << 13; x ^= x >>> 17;
// x ^= x << 5, on uint32) starting from the seed, or from 0x9e3779b9 when the
// seed is 0. Each step's new state is written as 4 little-endian bytes; the
// stream is those bytes in order, cut to the requested length.
//
// The process destroys every stream, closes its sockets and exits 0 on the
// "exit" op, on stdin EOF, on SIGTERM and on SIGINT.

const UDX = require('udx-native')
const crypto = require('crypto')
const { event, hexArg, serve } = require('./jsonlines')

const EVENT_DATA_MAX = 256 // bytes of a message or datagram copied into its event
const RECV_KEEP = 64 * 1024 // bytes of received stream data kept for the recv op
const CHUNK = 64 * 1024 // writeFile chunk size; a multiple of 4
const FIREWALL_EVENTS = 8 // firewall events written per stream; later calls are only counted
const STOP_GRACE_MS = 1000 // wait for sockets to close on exit, then exit anyway
const SEED_ZERO = 0x9e3779b9 // state used for seed 0, where xorshift32 would stay 0

const udx = new UDX()
const sockets = new Map() // number -> UDXSocket
const socketNumbers = new Map() // UDXSocket -> number
let nextSocket = 1
const streams = new Map() // local id -> entry (see newEntry); kept after close

// ---- arguments -----------------------------------------------------------

function fail (message, code) {
  const err = new Error(message)
  if (code) err.code = code
  return err
}

function intArg (cmd, field, max) {
  const n = cmd[field]
  if (!Number.isSafeInteger(n) || n < 0 || (max !== undefined && n > max)) {
    throw fail(`${field}: want an integer in [0, ${max === undefined ? '2^53' : max}]`)
  }
  return n
}

const u32Arg = (cmd, field) => intArg(cmd, field, 0xffffffff)

function hostArg (cmd, field, dflt) {
  const h = cmd[field]
  if (h === undefined || h === null) return dflt
  if (typeof h !== 'string' || !UDX.isIP(h)) throw fail(`${field}: want an IP address`)
  return h
}

function portArg (cmd, field) {
  const p = intArg(cmd, field, 65535)
  if (p === 0) throw fail(`${field}: want a port in [1, 65535]`)
  return p
}

function socketArg (cmd, field) {
  const n = cmd[field]
  const s = sockets.get(n)
  if (s === undefined) throw fail(`${field}: no socket ${JSON.stringify(n)}`)
  return s
}

function entryArg (cmd, field) {
  const id = cmd[field]
  const e = streams.get(id)
  if (e === undefined) throw fail(`${field}: no stream ${JSON.stringify(id)}`)
  return e
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

// capped describes a payload in an event: at most EVENT_DATA_MAX bytes of it,
// its full length and the SHA-256 of all of it.
function capped (buf) {
  return {
    data: buf.subarray(0, EVENT_DATA_MAX).toString('hex'),
    length: buf.byteLength,
    sha256: crypto.createHash('sha256').update(buf).digest('hex')
  }
}

// ---- bulk data -------------------------------------------------------------

class PseudoRandom {
  constructor (seed) {
    this.x = seed === 0 ? SEED_ZERO : seed
    this.odd = false
  }

  // next returns the next len bytes. Only the last call may ask for a length
  // that is not a multiple of 4: the rest of that last word is dropped.
  next (len) {
    if (this.odd) throw new Error('PseudoRandom: read after a partial word')
    const words = Math.ceil(len / 4)
    const buf = Buffer.allocUnsafe(words * 4)
    let x = this.x
    for (let i = 0; i < words; i++) {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      x >>>= 0
      buf.writeUInt32LE(x, i * 4)
    }
    this.x = x
    this.odd = len % 4 !== 0
    return buf.subarray(0, len)
  }
}

// ---- streams ---------------------------------------------------------------

function waitFor (stream, name) {
  return new Promise((resolve, reject) => {
    const onevent = () => {
      stream.off('close', onclose)
      resolve()
    }
    const onclose = () => {
      stream.off(name, onevent)
      reject(fail('stream closed', 'ESTREAMCLOSED'))
    }
    stream.once(name, onevent)
    stream.once('close', onclose)
  })
}

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
        socket: socketNumbers.get(socket) ?? null,
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
  const only = cmd.socket === undefined || cmd.socket === null ? null : socketArg(cmd, 'socket')
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
    e.hash.update(buf)
    e.received += buf.byteLength
    if (e.keptBytes < RECV_KEEP) {
      const part = Buffer.from(buf.subarray(0, RECV_KEEP - e.keptBytes))
      e.kept.push(part)
      e.keptBytes += part.byteLength
    }
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
      socket: socketNumbers.get(s.socket) ?? null,
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
    const err = e.error
    event('stream-close', {
      stream: id,
      error: err ? err.message || String(err) : null,
      code: err && err.code ? String(err.code) : null,
      bytes: e.received,
      written: e.written
    })
  })
  return null
}

function echoData (e, buf) {
  const s = e.stream
  if (!s.connected) {
    e.echoPending.push(buf)
    return
  }
  e.written += buf.byteLength
  if (s.write(buf) === false && !e.echoPaused) {
    e.echoPaused = true
    s.pause()
    s.once('drain', () => {
      e.echoPaused = false
      s.resume()
    })
  }
}

async function writeAll (e, buf) {
  e.written += buf.byteLength
  if (e.stream.write(buf) === false) await waitFor(e.stream, 'drain')
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
    const host = hostArg(cmd, 'host', '127.0.0.1')
    const port = cmd.port === undefined || cmd.port === null ? 0 : intArg(cmd, 'port', 65535)
    const s = udx.createSocket()
    s.bind(port, host)
    const n = nextSocket++
    sockets.set(n, s)
    socketNumbers.set(s, n)
    s.on('message', (buf, from) => {
      event('socket-message', { socket: n, from: addr(from.host, from.port), ...capped(buf) })
    })
    const a = s.address()
    return { socket: n, host: a.host, port: a.port }
  },
  stream: createStream,
  connect: (cmd) => {
    const e = openEntryArg(cmd, 'stream')
    e.stream.connect(socketArg(cmd, 'socket'), u32Arg(cmd, 'remoteId'), portArg(cmd, 'port'),
      hostArg(cmd, 'host', '127.0.0.1'))
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
    const gen = new PseudoRandom(u32Arg(cmd, 'seed'))
    const hash = crypto.createHash('sha256')
    for (let left = n; left > 0;) {
      const chunk = gen.next(Math.min(CHUNK, left))
      left -= chunk.byteLength
      hash.update(chunk)
      await writeAll(e, chunk)
    }
    return { sha256: hash.digest('hex'), bytes: n }
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
    const p = e.stream.changeRemote(socketArg(cmd, 'socket'), u32Arg(cmd, 'remoteId'),
      portArg(cmd, 'port'), hostArg(cmd, 'host', '127.0.0.1'))
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
    const s = socketArg(cmd, 'socket')
    return { sent: await s.send(hexArg(cmd, 'data'), portArg(cmd, 'port'), hostArg(cmd, 'host', '127.0.0.1')) }
  }
}

// ---- lifecycle -------------------------------------------------------------

serve({
  ops,
  stop: () => {
    for (const e of streams.values()) {
      if (!e.closed) e.stream.destroy()
    }
    // A socket closes once its streams are gone. A relayed leg may never
    // report its close (udx-native quirk), so do not wait for ever.
    const closed = Promise.all([...sockets.values()].map((s) => s.close()))
    return Promise.race([closed, new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS))])
  }
})

// The Go side waits for "listening" (with an "info" object) before it sends
// commands; udx-native needs no set-up, so say so at once.
event('listening', { info: {}, version: require('udx-native/package.json').version })
