#!/usr/bin/env node
'use strict'

// peer.js is one UDX endpoint of the pinned reference (udx-native in
// interop/node_modules) for udxbench: one socket on 127.0.0.1 and one stream,
// driven over JSON lines. The Go endpoint is `udxbench serve-go`, which speaks
// the same protocol, so every endpoint of the benchmark is a process of one shape.
// interop/udx.js is not used because it hashes every received byte and writes an
// event per message, which would be measured too.
//
// Usage:
//   node peer.js
//
// stdout carries one JSON object per line:
//   events:  {"event":"ready","port":P,"impl":"js","version":V} once the socket is bound
//   replies: {"id":N,"ok":true,"result":...} or {"id":N,"ok":false,"error":"...","code":...}
// stdin takes one JSON command per line, {"op":OP,"id":N,...}:
//   connect       {"stream":ID,"remoteId":RID,"port":P}: create stream ID (firewall
//                 rejects all) and connect it to stream RID at 127.0.0.1:P
//   recvBulk      {"seed":S,"block":B}: replies once the peer's END arrives with
//                 {"bytes","ms","mismatch"}: bytes read, ms from the first byte to
//                 the END, and the offset of the first byte that differs from the
//                 data sendBulk writes (-1 when all match); then ends its own side
//   sendBulk      {"bytes":N,"seed":S,"block":B}: writes N bytes, then END; replies
//                 {"ms"} once everything is queued (not yet acked)
//   sendMessages  {"ms":D,"size":L}: sends L-byte messages for D ms, keeping
//                 WINDOW sends in flight; replies {"sent","failed","ms"}: datagrams
//                 written to the socket, and sends the socket refused
//   msgStats      replies {"messages","bytes","perSecond":[...]}: messages received,
//                 and how many arrived in each second since the first one
//   stats         the stream's counters: {"retransmits","packetsSent","packetsReceived"},
//                 as they were when the remote's END arrived if it has
//   exit          destroy the stream, close the socket and exit 0
// The process also exits on stdin EOF, SIGTERM and SIGINT.
//
// Bulk data is the first B bytes of interop.PseudoRandom(S) (xorshift32, see
// interop/udx.js), repeated: generated before the clock starts so that neither
// side measures its generator.

const UDX = require('udx-native')
const { performance } = require('perf_hooks')
const { event, serve } = require('../../jsonlines')

const CHUNK = 64 * 1024 // bytes per write; the Go endpoint uses the same
const WINDOW = 64 // message sends in flight (send() resolves once the datagram is written)
const SEED_ZERO = 0x9e3779b9
const STOP_GRACE_MS = 1000

const udx = new UDX()
const socket = udx.createSocket()
socket.bind(0, '127.0.0.1')
let stream = null
let final = null // the stream's counters when the remote ended: they read 0 once it has closed
const rx = { messages: 0, bytes: 0, first: 0, perSecond: [] }

function fail (message) {
  return new Error(message)
}

function intArg (cmd, field) {
  const n = cmd[field]
  if (!Number.isSafeInteger(n) || n < 0) throw fail(`${field}: want a non-negative integer`)
  return n
}

// block returns the first n bytes of PseudoRandom(seed); n is a multiple of 4.
function block (seed, n) {
  if (n <= 0 || n % 4 !== 0) throw fail('block: want a positive multiple of 4')
  const buf = Buffer.allocUnsafe(n)
  let x = seed === 0 ? SEED_ZERO : seed
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    buf.writeUInt32LE(x, i)
  }
  return buf
}

// streamStats reads the counters of s; retransmits is a 16-bit counter in libudx.
function streamStats (s) {
  return { retransmits: s.retransmits, packetsSent: s.packetsTransmitted, packetsReceived: s.packetsReceived }
}

function connectedStream () {
  if (stream === null || !stream.connected) throw fail('no connected stream')
  return stream
}

const ops = {
  connect: (cmd) => {
    if (stream !== null) throw fail('stream exists')
    stream = udx.createStream(intArg(cmd, 'stream'))
    stream.on('error', () => {})
    stream.on('end', () => { final = streamStats(stream) })
    stream.on('message', (buf) => {
      const now = performance.now()
      if (rx.messages === 0) rx.first = now
      rx.messages++
      rx.bytes += buf.byteLength
      const sec = Math.floor((now - rx.first) / 1000)
      while (rx.perSecond.length <= sec) rx.perSecond.push(0)
      rx.perSecond[sec]++
    })
    stream.connect(socket, intArg(cmd, 'remoteId'), intArg(cmd, 'port'), '127.0.0.1')
    return null
  },

  recvBulk: (cmd) => {
    const s = connectedStream()
    const want = block(intArg(cmd, 'seed'), intArg(cmd, 'block'))
    let bytes = 0
    let first = 0
    let mismatch = -1
    return new Promise((resolve, reject) => {
      s.on('data', (buf) => {
        if (bytes === 0) first = performance.now()
        if (mismatch < 0) {
          // Compare buf with the repeated block, piece by piece across block ends.
          for (let off = 0; off < buf.byteLength && mismatch < 0;) {
            const at = (bytes + off) % want.byteLength
            const n = Math.min(buf.byteLength - off, want.byteLength - at)
            if (buf.compare(want, at, at + n, off, off + n) !== 0) mismatch = bytes + off
            off += n
          }
        }
        bytes += buf.byteLength
      })
      s.once('end', () => {
        const ms = performance.now() - first
        s.end()
        resolve({ bytes, ms, mismatch })
      })
      s.once('close', () => reject(fail('stream closed before END')))
    })
  },

  sendBulk: async (cmd) => {
    const s = connectedStream()
    const n = intArg(cmd, 'bytes')
    const data = block(intArg(cmd, 'seed'), intArg(cmd, 'block'))
    if (data.byteLength % CHUNK !== 0) throw fail('block: want a multiple of 64 KiB')
    s.on('data', () => {}) // read (and drop) the receiver's side so the stream can close
    const start = performance.now()
    for (let sent = 0; sent < n;) {
      const at = sent % data.byteLength
      const len = Math.min(CHUNK, n - sent)
      sent += len
      if (s.write(data.subarray(at, at + len)) === false) {
        await new Promise((resolve, reject) => {
          const onclose = () => reject(fail('stream closed'))
          s.once('drain', () => {
            s.off('close', onclose)
            resolve()
          })
          s.once('close', onclose)
        })
      }
    }
    s.end()
    return { ms: performance.now() - start }
  },

  sendMessages: async (cmd) => {
    const s = connectedStream()
    const ms = intArg(cmd, 'ms')
    const msg = block(1, Math.ceil(intArg(cmd, 'size') / 4) * 4).subarray(0, cmd.size)
    const start = performance.now()
    const end = start + ms
    let sent = 0
    let failed = 0
    const lane = async () => {
      while (performance.now() < end) {
        if (await s.send(msg)) {
          sent++
        } else {
          if (!s.connected || s.destroying) throw fail('stream closed')
          failed++
        }
      }
    }
    const lanes = []
    for (let i = 0; i < WINDOW; i++) lanes.push(lane())
    await Promise.all(lanes)
    return { sent, failed, ms: performance.now() - start }
  },

  msgStats: () => ({ messages: rx.messages, bytes: rx.bytes, perSecond: rx.perSecond }),

  stats: () => {
    if (stream === null) throw fail('no stream')
    return final ?? streamStats(stream)
  }
}

serve({
  ops,
  stop: () => {
    if (stream !== null && !stream.destroyed) stream.destroy()
    return Promise.race([socket.close(), new Promise((resolve) => setTimeout(resolve, STOP_GRACE_MS))])
  }
})

event('ready', {
  port: socket.address().port,
  impl: 'js',
  version: require('udx-native/package.json').version
})
