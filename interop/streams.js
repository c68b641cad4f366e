'use strict'

// streams.js is what the drivers that move bytes over streams share: the bulk
// data generator, the description of a payload in an event, waiting for a
// stream event, and echoing with backpressure. connections.js uses it; udx.js
// still carries its own copies.
//
// Bulk data is the stream Go regenerates with interop.PseudoRandom: xorshift32
// (x ^= x << 13; x ^= x >>> 17; x ^= x << 5, on uint32) starting from the
// seed, or from 0x9e3779b9 when the seed is 0. Each step's new state is written
// as 4 little-endian bytes; the stream is those bytes in order, cut to the
// requested length. Seed 1 starts 21 20 04 00.

const crypto = require('crypto')

const SEED_ZERO = 0x9e3779b9 // state used for seed 0, where xorshift32 would stay 0
const EVENT_DATA_MAX = 256 // bytes of a payload copied into its event

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
    data: buf.subarray(0, EVENT_DATA_MAX).toString('hex'),
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
      const err = new Error('stream closed')
      err.code = 'ESTREAMCLOSED'
      reject(err)
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

module.exports = { PseudoRandom, capped, waitFor, echoData }
