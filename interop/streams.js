'use strict'

// streams.js is what the drivers that move bytes over streams share (udx.js,
// secretstream.js, blindrelay.js, connections.js): the bulk data generator and
// writer, the description of a payload in an event, waiting for a stream
// event, writing and echoing with backpressure, the bookkeeping of received
// data, the error fields of a close event, and the udx-native sockets a driver
// binds with their arguments.
//
// Bulk data is the stream Go regenerates with interop.PseudoRandom: xorshift32
// (x ^= x << 13; x ^= x >>> 17; x ^= x << 5, on uint32) starting from the
// seed, or from 0x9e3779b9 when the seed is 0. Each step's new state is written
// as 4 little-endian bytes; the stream is those bytes in order, cut to the
// requested length. Seed 1 starts 21 20 04 00.

const crypto = require('crypto')
const UDX = require('udx-native')
const { fail, lookupArg, hex, hexArg } = require('./jsonlines')

const SEED_ZERO = 0x9e3779b9 // state used for seed 0, where xorshift32 would stay 0
const EVENT_DATA_MAX = 256 // bytes of a payload copied into its event
const BULK_CHUNK = 64 * 1024 // write size of writeBulk; a multiple of 4
const RECV_KEEP = 64 * 1024 // bytes of received data recordData keeps

class PseudoRandom {
  constructor (seed) {
    this.x = seed === 0 ? SEED_ZERO : seed >>> 0
    this.odd = false
  }

  // next returns the next len bytes in a new buffer. Only the last call may
  // ask for a length that is not a multiple of 4: the rest of that last word
  // is dropped.
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

// capped describes a payload in an event: at most EVENT_DATA_MAX bytes of it
// (hex), its full length and the SHA-256 of all of it.
function capped (buf) {
  return {
    data: hex(buf.subarray(0, EVENT_DATA_MAX)),
    length: buf.byteLength,
    sha256: crypto.createHash('sha256').update(buf).digest('hex')
  }
}

// waitFor resolves on the stream's next `name` event and rejects with code
// ESTREAMCLOSED if the stream closes first.
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

// echoData writes buf on e.stream (an echo: what was just read from it),
// counting it in e.written. When the stream's write buffer is full it pauses
// reading until the next drain; e.echoPaused says it is paused.
function echoData (e, buf) {
  const s = e.stream
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

// writeAll writes buf on e.stream, counting it in e.written, and waits for
// drain when the stream's write buffer is full.
async function writeAll (e, buf) {
  e.written += buf.byteLength
  if (e.stream.write(buf) === false) await waitFor(e.stream, 'drain')
}

// writeHashed writes n bytes made by next(len), at most chunk bytes a call,
// each with `await write(buf)`, and returns their SHA-256 (hex).
async function writeHashed (n, chunk, next, write) {
  const hash = crypto.createHash('sha256')
  for (let left = n; left > 0;) {
    const buf = next(Math.min(chunk, left))
    left -= buf.byteLength
    hash.update(buf)
    await write(buf)
  }
  return hash.digest('hex')
}

// writeBulk writes the first n bytes of PseudoRandom(seed) on e.stream with
// writeAll, BULK_CHUNK bytes at a time, and returns their SHA-256 (hex).
function writeBulk (e, n, seed) {
  const gen = new PseudoRandom(seed)
  return writeHashed(n, BULK_CHUNK, (len) => gen.next(len), (buf) => writeAll(e, buf))
}

// recordData counts buf, just read, in e: its running SHA-256 e.hash, e.received,
// and the first RECV_KEEP bytes of the stream in e.kept (e.keptBytes long).
function recordData (e, buf) {
  e.hash.update(buf)
  e.received += buf.byteLength
  if (e.keptBytes < RECV_KEEP) {
    const part = Buffer.from(buf.subarray(0, RECV_KEEP - e.keptBytes))
    e.kept.push(part)
    e.keptBytes += part.byteLength
  }
}

// closeFields are the error and code fields of a stream's close event: err's
// message (or err as a string) and its code, each null when there is none.
function closeFields (err) {
  return {
    error: err ? err.message || String(err) : null,
    code: err && err.code ? String(err.code) : null
  }
}

// handshakeArg reads cmd.handshake, a finished Noise handshake
// {tx, rx, hash, publicKey, remotePublicKey} in hex, as NoiseSecretStream's
// start() takes it; null when absent.
function handshakeArg (cmd) {
  const h = cmd.handshake
  if (h === undefined || h === null) return null
  return {
    tx: hexArg(h, 'tx', 32),
    rx: hexArg(h, 'rx', 32),
    hash: hexArg(h, 'hash', 64),
    publicKey: hexArg(h, 'publicKey', 32),
    remotePublicKey: hexArg(h, 'remotePublicKey', 32)
  }
}

// ---- udx-native sockets ----------------------------------------------------

// hostArg reads the IP address argument cmd[field] (as udx-native's isIP
// takes it); dflt when it is absent or null.
function hostArg (cmd, field, dflt) {
  const h = cmd[field]
  if (h === undefined || h === null) return dflt
  if (typeof h !== 'string' || !UDX.isIP(h)) throw fail(`${field}: want an IP address`)
  return h
}

// Sockets are the udx-native sockets a driver binds on its UDX instance,
// named by number (1, 2, ...) in the order they were bound.
class Sockets {
  constructor (udx) {
    this.udx = udx
    this.sockets = new Map() // number -> UDXSocket
    this.numbers = new Map() // UDXSocket -> number
    this.next = 1
  }

  // bind binds a new socket to host and port and returns it with its number. A
  // socket that fails to bind is not named.
  bind (port, host) {
    const socket = this.udx.createSocket()
    socket.bind(port, host)
    const n = this.next++
    this.sockets.set(n, socket)
    this.numbers.set(socket, n)
    return { n, socket }
  }

  // arg reads the socket named by cmd[field].
  arg (cmd, field) {
    return lookupArg(cmd, field, this.sockets, 'socket')
  }

  // numberOf is the number of socket, or null if it is not one of these.
  numberOf (socket) {
    return this.numbers.get(socket) ?? null
  }

  // close closes every socket (each once its streams are gone) and resolves
  // when all have closed or after ms, whichever comes first: a relayed leg may
  // never report its close (udx-native quirk).
  close (ms) {
    const closed = Promise.all([...this.sockets.values()].map((s) => s.close()))
    return Promise.race([closed, new Promise((resolve) => setTimeout(resolve, ms))])
  }
}

module.exports = {
  PseudoRandom,
  capped,
  waitFor,
  echoData,
  writeAll,
  writeHashed,
  writeBulk,
  recordData,
  closeFields,
  handshakeArg,
  hostArg,
  Sockets
}
