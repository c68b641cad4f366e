#!/usr/bin/env node
'use strict'

// blindrelay.js runs npm blind-relay (the pinned reference in ./node_modules)
// over @hyperswarm/secret-stream connections on udx-native, and lets a Go
// test drive it over JSON lines. It is started by the Go package in this
// directory (interop.StartBlindRelay).
//
// Usage:
//   node blindrelay.js
//
// The JSON-lines plumbing is jsonlines.js: commands {"op":OP,"id":N,...} on
// stdin, replies {"id":N,"ok":...} and events {"event":NAME,...} on stdout.
// Byte fields are hex. Sockets are named by the number the socket op
// returns; streams by their local UDX id (one udx-native instance, so ids are
// unique across sockets). Events never carry "id", "info" (except listening)
// or "peer".
//
// A driver plays any mix of roles:
//   - control connections: a raw stream and a NoiseSecretStream on it,
//     started with a handshake the test gives (as secretstream.js opens
//     them); the side without an address connects to whoever sends first;
//   - one relay server (relay.Server) whose streams get ids from 1000000
//     up, and sessions on control connections (server.accept);
//   - clients on control connections (relay.Client.from), which pair data
//     streams: a raw stream, connected after pairing to the relay's stream
//     through the control connection's socket and remote address, as
//     hyperdht does.
// Data streams keep a running SHA-256 and byte count of what they read.
//
// Events:
//   control-open   {stream}                          secret stream 'connect'
//   control-close  {stream, error}
//   session-close  {stream}                           a relay session's channel closed
//   client-close   {stream}                           a client's channel closed
//   relay-pair     {stream, isInitiator, token, relayStream, remoteId}
//                                                     the server paired a token (per side)
//   stream-end     {stream, bytes, sha256}            a data stream's remote ended
//   stream-close   {stream, error, code, bytes}
//
// The process destroys everything and exits 0 on the "exit" op, on stdin EOF,
// on SIGTERM and on SIGINT.

const UDX = require('udx-native')
const NoiseSecretStream = require('@hyperswarm/secret-stream')
const relay = require('blind-relay')
const crypto = require('crypto')
const { event, hex, hexArg, bytesArg, serve } = require('./jsonlines')

const CHUNK = 64 * 1024 // writeFile chunk size; a multiple of 4
const STOP_GRACE_MS = 1000 // wait for sockets to close on exit, then exit anyway
const SEED_ZERO = 0x9e3779b9 // state used for seed 0 (as udx.js)
const RELAY_FIRST_ID = 1000000 // the relay server's stream ids start here

const udx = new UDX()
const sockets = new Map() // number -> UDXSocket
let nextSocket = 1
const controls = new Map() // local id -> {raw, ss, client, session}
const data = new Map() // local id -> data stream entry
let server = null
let nextRelayId = RELAY_FIRST_ID

function fail (message, code) {
  const err = new Error(message)
  if (code) err.code = code
  return err
}

function intArg (cmd, field, max, dflt) {
  const n = cmd[field]
  if ((n === undefined || n === null) && dflt !== undefined) return dflt
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw fail(`${field}: want an integer in [0, ${max}]`)
  return n
}

const u32Arg = (cmd, field, dflt) => intArg(cmd, field, 0xffffffff, dflt)

function hostArg (cmd, field) {
  const h = cmd[field]
  if (h === undefined || h === null) return '127.0.0.1'
  if (typeof h !== 'string' || !UDX.isIP(h)) throw fail(`${field}: want an IP address`)
  return h
}

function socketArg (cmd, field) {
  const s = sockets.get(cmd[field])
  if (s === undefined) throw fail(`${field}: no socket ${JSON.stringify(cmd[field])}`)
  return s
}

function controlArg (cmd, field) {
  const c = controls.get(cmd[field])
  if (c === undefined) throw fail(`${field}: no control stream ${JSON.stringify(cmd[field])}`)
  return c
}

function dataArg (cmd, field) {
  const d = data.get(cmd[field])
  if (d === undefined) throw fail(`${field}: no data stream ${JSON.stringify(cmd[field])}`)
  return d
}

function freeId (id) {
  if (controls.has(id) || data.has(id)) throw fail(`stream ${id} exists`, 'EEXIST')
}

// ---- bulk data (the stream udx.js's writeFile writes) ---------------------

function * pseudoRandom (seed, len) {
  let x = seed === 0 ? SEED_ZERO : seed
  for (let left = len; left > 0;) {
    const n = Math.min(CHUNK, left)
    const buf = Buffer.allocUnsafe(Math.ceil(n / 4) * 4)
    for (let i = 0; i < buf.byteLength; i += 4) {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      x >>>= 0
      buf.writeUInt32LE(x, i)
    }
    left -= n
    yield buf.subarray(0, n)
  }
}

function waitDrain (stream) {
  return new Promise((resolve, reject) => {
    const ondrain = () => {
      stream.off('close', onclose)
      resolve()
    }
    const onclose = () => {
      stream.off('drain', ondrain)
      reject(fail('stream closed', 'ESTREAMCLOSED'))
    }
    stream.once('drain', ondrain)
    stream.once('close', onclose)
  })
}

// ---- ops -------------------------------------------------------------------

function handshakeArg (cmd) {
  const h = cmd.handshake
  if (h === undefined || h === null) throw fail('handshake: required')
  return {
    tx: hexArg(h, 'tx', 32),
    rx: hexArg(h, 'rx', 32),
    hash: hexArg(h, 'hash', 64),
    publicKey: hexArg(h, 'publicKey', 32),
    remotePublicKey: hexArg(h, 'remotePublicKey', 32)
  }
}

// control opens a control connection. Arguments: stream (local UDX id),
// socket, initiator, handshake, remoteId, and port/host to connect now;
// without port it connects to whoever sends first.
function control (cmd) {
  const id = u32Arg(cmd, 'stream')
  freeId(id)
  const socket = socketArg(cmd, 'socket')
  const remoteId = u32Arg(cmd, 'remoteId')
  const handshake = handshakeArg(cmd)
  if (typeof cmd.initiator !== 'boolean') throw fail('initiator: want a boolean')
  const connectNow = cmd.port !== undefined && cmd.port !== null
  const port = connectNow ? intArg(cmd, 'port', 65535) : 0
  const host = hostArg(cmd, 'host')

  const c = { raw: null, ss: null, client: null, session: null, started: false, error: null }
  const start = () => {
    if (c.started) return
    c.started = true
    c.ss.start(c.raw, { handshake })
  }
  c.raw = udx.createStream(id, {
    firewall (sock, p, h) {
      if (sock !== socket) return true
      if (!c.raw.connected && !c.raw.destroyed) {
        c.raw.connect(sock, remoteId, p, h)
        start()
      }
      return false
    }
  })
  c.ss = new NoiseSecretStream(cmd.initiator, null, { autoStart: false })
  c.ss.on('connect', () => event('control-open', { stream: id }))
  c.ss.on('error', (err) => { c.error = err })
  c.ss.on('close', () => event('control-close', { stream: id, error: c.error ? c.error.message : null }))
  controls.set(id, c)
  if (connectNow) {
    c.raw.connect(socket, remoteId, port, host)
    start()
  }
  return null
}

function createServer () {
  if (server !== null) throw fail('the server exists', 'EEXIST')
  server = new relay.Server({
    createStream (opts) {
      return udx.createStream(nextRelayId++, opts)
    }
  })
  return null
}

function accept (cmd) {
  if (server === null) throw fail('no server: call the server op first')
  const id = cmd.stream
  const c = controlArg(cmd, 'stream')
  if (c.session !== null) throw fail(`control stream ${id} has a session`, 'EEXIST')
  const session = server.accept(c.ss, { id: bytesArg(cmd, 'channelId') })
  c.session = session
  session.on('error', () => {})
  session.on('close', () => event('session-close', { stream: id }))
  session.on('pair', (isInitiator, token, stream, remoteId) => {
    event('relay-pair', { stream: id, isInitiator, token: hex(token), relayStream: stream.id, remoteId })
  })
  return null
}

function client (cmd) {
  const id = cmd.stream
  const c = controlArg(cmd, 'stream')
  if (c.client !== null) throw fail(`control stream ${id} has a client`, 'EEXIST')
  c.client = relay.Client.from(c.ss, { id: bytesArg(cmd, 'channelId') })
  c.client.on('close', () => event('client-close', { stream: id }))
  return null
}

// dataStream creates a raw stream to pair (it rejects packets until it is
// connected).
function dataStream (cmd) {
  const id = u32Arg(cmd, 'stream')
  freeId(id)
  const d = { id, stream: udx.createStream(id), hash: crypto.createHash('sha256'), received: 0, written: 0, error: null }
  data.set(id, d)
  const s = d.stream
  s.on('data', (buf) => {
    d.hash.update(buf)
    d.received += buf.byteLength
  })
  s.on('end', () => event('stream-end', { stream: id, bytes: d.received, sha256: d.hash.copy().digest('hex') }))
  s.on('error', (err) => { d.error = err })
  s.on('close', () => {
    const err = d.error
    event('stream-close', {
      stream: id,
      error: err ? err.message || String(err) : null,
      code: err && err.code ? String(err.code) : null,
      bytes: d.received
    })
  })
  return null
}

// pair pairs a data stream through a control connection's client and
// connects it to the relay's stream; it returns the relay's stream id.
function pair (cmd) {
  const c = controlArg(cmd, 'control')
  if (c.client === null) throw fail('no client on that control stream: call the client op first')
  const d = dataArg(cmd, 'stream')
  if (typeof cmd.initiator !== 'boolean') throw fail('initiator: want a boolean')
  const token = hexArg(cmd, 'token', 32)
  return new Promise((resolve, reject) => {
    c.client.pair(cmd.initiator, token, d.stream)
      .on('error', reject)
      .on('data', (remoteId) => {
        const { remotePort, remoteHost, socket } = c.raw
        d.stream.connect(socket, remoteId, remotePort, remoteHost)
        resolve({ remoteId })
      })
  })
}

function unpair (cmd) {
  const c = controlArg(cmd, 'control')
  if (c.client === null) throw fail('no client on that control stream')
  c.client.unpair(hexArg(cmd, 'token', 32))
  return null
}

async function writeFile (cmd) {
  const d = dataArg(cmd, 'stream')
  const n = intArg(cmd, 'bytes', Number.MAX_SAFE_INTEGER)
  const hash = crypto.createHash('sha256')
  for (const chunk of pseudoRandom(u32Arg(cmd, 'seed'), n)) {
    hash.update(chunk)
    d.written += chunk.byteLength
    if (d.stream.write(chunk) === false) await waitDrain(d.stream)
  }
  return { sha256: hash.digest('hex'), bytes: n }
}

function serverStats () {
  if (server === null) throw fail('no server')
  const s = server.stats
  return {
    sessionsAccepted: s.sessions.accepted,
    sessionsOpened: s.sessions.opened,
    sessionsClosed: s.sessions.closed,
    pairingsRequested: s.pairings.requested,
    pairingsMatched: s.pairings.matched,
    pairingsCancelled: s.pairings.cancelled,
    pairingsPending: s.pairings.pending,
    pairingsActive: s.pairings.active,
    streamsOpened: s.streams.opened,
    streamsClosed: s.streams.closed,
    streamsErrors: s.streams.errors
  }
}

const ops = {
  socket: (cmd) => {
    const s = udx.createSocket()
    s.bind(intArg(cmd, 'port', 65535, 0), hostArg(cmd, 'host'))
    const n = nextSocket++
    sockets.set(n, s)
    return { socket: n, port: s.address().port }
  },
  control,
  server: createServer,
  accept,
  client,
  data: dataStream,
  pair,
  unpair,
  writeFile,
  end: (cmd) => {
    dataArg(cmd, 'stream').stream.end()
    return null
  },
  destroyControl: (cmd) => {
    controlArg(cmd, 'stream').ss.destroy()
    return null
  },
  serverStats
}

serve({
  ops,
  stop: () => {
    for (const d of data.values()) d.stream.destroy()
    for (const c of controls.values()) {
      c.ss.destroy()
      if (!c.started) c.raw.destroy()
    }
    const closed = Promise.all([...sockets.values()].map((s) => s.close()))
    return Promise.race([closed, new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS))])
  }
})

event('listening', {
  info: {},
  versions: {
    'blind-relay': require('blind-relay/package.json').version,
    protomux: require('protomux/package.json').version,
    'udx-native': require('udx-native/package.json').version,
    '@hyperswarm/secret-stream': require('@hyperswarm/secret-stream/package.json').version
  }
})
