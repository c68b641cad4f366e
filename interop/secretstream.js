#!/usr/bin/env node
'use strict'

// secretstream.js runs @hyperswarm/secret-stream's NoiseSecretStream (the
// pinned reference in ./node_modules) over udx-native streams and lets a Go
// test drive it over JSON lines. It is started by the Go package in this
// directory (interop.StartSecretStream).
//
// Usage:
//   node secretstream.js
//
// The JSON-lines plumbing and the argument readers are jsonlines.js, the
// stream helpers streams.js: commands {"op":OP,"id":N,...} on stdin, replies
// {"id":N,"ok":...} and events {"event":NAME,...} on stdout.
// Byte fields are hex. Sockets are named by the number the socket op returns;
// streams by their local UDX id. Events never carry "id", "info" (except
// listening) or "peer".
//
// A stream is opened in one op: a udx-native stream, then a NoiseSecretStream
// on it, started once the raw stream is connected, as hyperdht does
// (autoStart: false, then start(rawStream, {handshake})). With a handshake
// ({tx, rx, hash, publicKey, remotePublicKey}, given by the test) it sends its
// header at once; without one it runs secret-stream's own Noise XX with the
// key pair of the given seed.
//
// The driver does not forward received data: per stream it keeps a running
// SHA-256 and byte count, the number of 'data' events and of empty ones, and
// the first 64 KiB (op recv). An echo stream writes every chunk back as one
// write and ends when the remote ends.
//
// Events:
//   ss-open     {stream, handshakeHash, publicKey, remotePublicKey}   'connect'
//   ss-end      {stream, bytes, sha256}                               'end'
//   ss-message  {stream, data (first 256 bytes), length, sha256}      'message'
//   ss-close    {stream, error, code, bytes, frames, emptyFrames}     'close'
//
// The process destroys every stream, closes its sockets and exits 0 on the
// "exit" op, on stdin EOF, on SIGTERM and on SIGINT.

const UDX = require('udx-native')
const NoiseSecretStream = require('@hyperswarm/secret-stream')
const crypto = require('crypto')
const { event, hex, fail, intArg, u32Arg, boolArg, lookupArg, hexArg, bytesArg, serve } = require('./jsonlines')
const { capped, waitFor, writeHashed, recordData, closeFields, handshakeArg, hostArg, Sockets } = require('./streams')

const CHUNK = 64 * 1024 // default writeRandom chunk
const STOP_GRACE_MS = 1000 // wait for sockets to close on exit, then exit anyway
const LOCALHOST = '127.0.0.1' // the host of socket and open by default

const udx = new UDX()
const sockets = new Sockets(udx)
const streams = new Map() // local id -> entry (see open); kept after close

function entryArg (cmd) {
  return lookupArg(cmd, 'stream', streams, 'stream')
}

function openEntryArg (cmd) {
  const e = entryArg(cmd)
  if (e.closed) throw fail(`stream ${e.id} is closed`, 'ESTREAMCLOSED')
  return e
}

// open creates the raw stream and the secret stream on it. Arguments:
//   stream      local UDX id
//   socket      the socket to connect through
//   initiator   the secret stream's role
//   handshake   {tx, rx, hash, publicKey, remotePublicKey}, or null for XX
//   seed        32-byte key-pair seed for XX (ignored with a handshake)
//   remoteId    the peer's UDX id
//   port, host  the peer's address: connect now. Without port, connect to
//               whoever sends the first packet (the hyperdht server pattern)
//   keepAlive   ms (0: none); timeout ms (0: none); echo bool
function open (cmd) {
  const id = u32Arg(cmd, 'stream')
  const old = streams.get(id)
  if (old !== undefined && !old.closed) throw fail(`stream ${id} exists`, 'EEXIST')
  const socket = sockets.arg(cmd, 'socket')
  const remoteId = u32Arg(cmd, 'remoteId')
  const handshake = handshakeArg(cmd)
  const seed = handshake === null ? hexArg(cmd, 'seed', 32) : null
  const keepAlive = u32Arg(cmd, 'keepAlive', 0)
  const timeout = u32Arg(cmd, 'timeout', 0)
  const connectNow = cmd.port !== undefined && cmd.port !== null
  const port = connectNow ? intArg(cmd, 'port', 65535) : 0
  const host = hostArg(cmd, 'host', LOCALHOST)
  const initiator = boolArg(cmd, 'initiator')

  const e = {
    id,
    raw: null,
    ss: null,
    echo: cmd.echo === true,
    started: false,
    hash: crypto.createHash('sha256'),
    received: 0,
    frames: 0,
    emptyFrames: 0,
    kept: [],
    keptBytes: 0,
    messages: 0,
    remoteEnded: false,
    closed: false,
    error: null
  }
  // start() takes the handshake or the key pair; the constructor's options
  // are only used by an automatic start.
  const keyPair = handshake === null ? NoiseSecretStream.keyPair(seed) : null
  const start = () => {
    if (e.started) return
    e.started = true
    e.ss.start(e.raw, handshake !== null ? { handshake } : { keyPair })
  }
  e.raw = udx.createStream(id, {
    firewall (sock, p, h) {
      if (sock !== socket) return true
      if (!e.raw.connected && !e.closed) {
        e.raw.connect(sock, remoteId, p, h)
        start()
      }
      return false
    }
  })
  const ss = new NoiseSecretStream(initiator, null, { autoStart: false, keepAlive })
  e.ss = ss
  if (timeout > 0) ss.setTimeout(timeout)
  streams.set(id, e)

  ss.on('connect', () => {
    event('ss-open', {
      stream: id,
      handshakeHash: hex(ss.handshakeHash),
      publicKey: hex(ss.publicKey),
      remotePublicKey: hex(ss.remotePublicKey)
    })
  })
  ss.on('data', (buf) => {
    e.frames++
    if (buf.byteLength === 0) e.emptyFrames++
    recordData(e, buf)
    if (e.echo && buf.byteLength > 0 && ss.write(buf) === false) {
      ss.pause()
      ss.once('drain', () => ss.resume())
    }
  })
  ss.on('end', () => {
    e.remoteEnded = true
    event('ss-end', { stream: id, bytes: e.received, sha256: e.hash.copy().digest('hex') })
    if (e.echo) ss.end()
  })
  ss.on('message', (buf) => {
    e.messages++
    event('ss-message', { stream: id, ...capped(buf) })
  })
  ss.on('error', (err) => {
    e.error = err
  })
  ss.on('close', () => {
    e.closed = true
    event('ss-close', {
      stream: id,
      ...closeFields(e.error),
      bytes: e.received,
      frames: e.frames,
      emptyFrames: e.emptyFrames
    })
  })

  if (connectNow) {
    e.raw.connect(socket, remoteId, port, host)
    start()
  }
  return null
}

// write writes buf on the secret stream and waits for drain when its write
// buffer is full.
async function write (e, buf) {
  if (e.ss.write(buf) === false) await waitFor(e.ss, 'drain')
}

function stats (e) {
  const ss = e.ss
  return {
    received: e.received,
    frames: e.frames,
    emptyFrames: e.emptyFrames,
    messages: e.messages,
    rawBytesRead: ss.rawBytesRead,
    rawBytesWritten: ss.rawBytesWritten,
    remoteEnded: e.remoteEnded,
    closed: e.closed,
    error: e.error ? e.error.message || String(e.error) : null
  }
}

const ops = {
  socket: (cmd) => {
    const { n, socket } = sockets.bind(intArg(cmd, 'port', 65535, 0), hostArg(cmd, 'host', LOCALHOST))
    return { socket: n, port: socket.address().port }
  },
  open,
  // write writes data as one write (one frame); empty data is a keep-alive
  // frame (sendKeepAlive).
  write: async (cmd) => {
    const e = openEntryArg(cmd)
    const data = hexArg(cmd, 'data')
    if (data.byteLength === 0) e.ss.sendKeepAlive()
    else await write(e, data)
    return null
  },
  // writeRandom writes `bytes` random bytes in writes of `chunk` bytes and
  // returns their SHA-256 once the last write was taken.
  writeRandom: async (cmd) => {
    const e = openEntryArg(cmd)
    const n = intArg(cmd, 'bytes', Number.MAX_SAFE_INTEGER)
    const chunk = intArg(cmd, 'chunk', 16 * 1024 * 1024, CHUNK) || CHUNK
    const sha256 = await writeHashed(n, chunk, crypto.randomBytes, (buf) => write(e, buf))
    return { sha256, bytes: n }
  },
  end: (cmd) => {
    openEntryArg(cmd).ss.end()
    return null
  },
  destroy: (cmd) => {
    const e = entryArg(cmd)
    const message = cmd.error === undefined || cmd.error === null ? null : String(cmd.error)
    if (!e.closed) e.ss.destroy(message === null ? undefined : new Error(message))
    return null
  },
  send: async (cmd) => {
    const e = openEntryArg(cmd)
    const sent = await e.ss.send(hexArg(cmd, 'data'))
    return { sent: sent === true }
  },
  trySend: (cmd) => {
    openEntryArg(cmd).ss.trySend(hexArg(cmd, 'data'))
    return null
  },
  setKeepAlive: (cmd) => {
    openEntryArg(cmd).ss.setKeepAlive(u32Arg(cmd, 'ms'))
    return null
  },
  stats: (cmd) => stats(entryArg(cmd)),
  recv: (cmd) => {
    const e = entryArg(cmd)
    return { data: hex(Buffer.concat(e.kept)), bytes: e.received }
  },
  // streamId returns NoiseSecretStream.id(hash, initiator), for checks.
  streamId: (cmd) => ({ id: hex(NoiseSecretStream.id(bytesArg(cmd, 'hash', 64), cmd.initiator === true)) })
}

serve({
  ops,
  stop: () => {
    for (const e of streams.values()) {
      if (e.closed) continue
      e.ss.destroy()
      if (!e.started) e.raw.destroy() // the secret stream never took it over
    }
    return sockets.close(STOP_GRACE_MS)
  }
})

event('listening', {
  info: {},
  versions: {
    'udx-native': require('udx-native/package.json').version,
    '@hyperswarm/secret-stream': require('@hyperswarm/secret-stream/package.json').version
  }
})
