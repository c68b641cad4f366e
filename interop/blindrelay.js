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
// The JSON-lines plumbing and the argument readers are jsonlines.js, the
// stream helpers streams.js: commands {"op":OP,"id":N,...} on stdin, replies
// {"id":N,"ok":...} and events {"event":NAME,...} on stdout.
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
const { event, hex, fail, intArg, u32Arg, boolArg, lookupArg, hexArg, bytesArg, serve } = require('./jsonlines')
const { writeBulk, closeFields, handshakeArg, hostArg, Sockets } = require('./streams')

const STOP_GRACE_MS = 1000 // wait for sockets to close on exit, then exit anyway
const RELAY_FIRST_ID = 1000000 // the relay server's stream ids start here
const LOCALHOST = '127.0.0.1' // the host of socket and control by default

const udx = new UDX()
const sockets = new Sockets(udx)
const controls = new Map() // local id -> {raw, ss, client, session}
const data = new Map() // local id -> data stream entry
let server = null
let nextRelayId = RELAY_FIRST_ID

function controlArg (cmd, field) {
  return lookupArg(cmd, field, controls, 'control stream')
}

function dataArg (cmd, field) {
  return lookupArg(cmd, field, data, 'data stream')
}

function freeId (id) {
  if (controls.has(id) || data.has(id)) throw fail(`stream ${id} exists`, 'EEXIST')
}

// ---- ops -------------------------------------------------------------------

// control opens a control connection. Arguments: stream (local UDX id),
// socket, initiator, handshake, remoteId, and port/host to connect now;
// without port it connects to whoever sends first.
function control (cmd) {
  const id = u32Arg(cmd, 'stream')
  freeId(id)
  const socket = sockets.arg(cmd, 'socket')
  const remoteId = u32Arg(cmd, 'remoteId')
  const handshake = handshakeArg(cmd)
  if (handshake === null) throw fail('handshake: required')
  const initiator = boolArg(cmd, 'initiator')
  const connectNow = cmd.port !== undefined && cmd.port !== null
  const port = connectNow ? intArg(cmd, 'port', 65535) : 0
  const host = hostArg(cmd, 'host', LOCALHOST)

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
  c.ss = new NoiseSecretStream(initiator, null, { autoStart: false })
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
    event('stream-close', { stream: id, ...closeFields(d.error), bytes: d.received })
  })
  return null
}

// pair pairs a data stream through a control connection's client and
// connects it to the relay's stream; it returns the relay's stream id.
function pair (cmd) {
  const c = controlArg(cmd, 'control')
  if (c.client === null) throw fail('no client on that control stream: call the client op first')
  const d = dataArg(cmd, 'stream')
  const initiator = boolArg(cmd, 'initiator')
  const token = hexArg(cmd, 'token', 32)
  return new Promise((resolve, reject) => {
    c.client.pair(initiator, token, d.stream)
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
  const sha256 = await writeBulk(d, n, u32Arg(cmd, 'seed'))
  return { sha256, bytes: n }
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
    const { n, socket } = sockets.bind(intArg(cmd, 'port', 65535, 0), hostArg(cmd, 'host', LOCALHOST))
    return { socket: n, port: socket.address().port }
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
    return sockets.close(STOP_GRACE_MS)
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
