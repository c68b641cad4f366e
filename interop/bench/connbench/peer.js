#!/usr/bin/env node
'use strict'

// peer.js is one hyperdht endpoint of the pinned reference (hyperdht in
// interop/node_modules) for connbench: one node on 127.0.0.1 that either
// listens (a server) or connects to one (a client), driven over JSON lines. It
// measures how long an encrypted connection takes to open and how fast it moves
// bulk data. The Go endpoint is `connbench serve-go`, which speaks the same
// protocol (plus startProfile/stopProfile), so that JS->JS and Go->Go run as
// processes of one shape; the DHT network (bootstrapper and nodes) is the
// benchmark's, interop/hyperdht.js or serve-go processes. interop/hyperdht.js
// itself is not used as an endpoint because it writes an event per read and
// per connection, which would be measured too.
//
// Usage:
//   node peer.js --port N --bootstrap H:P[,H:P...] [--adaptive | --ephemeral]
//
// The node is persistent-capable (ephemeral:false) unless a flag says
// otherwise, as in interop/hyperdht.js, so on loopback connections open
// directly, without holepunching.
//
// stdout carries one JSON object per line:
//   events:  {"event":"ready","port":P,"impl":"js","version":V} once the node
//            has bootstrapped (the process exits 1 if it cannot)
//   replies: {"id":N,"ok":true,"result":...} or {"id":N,"ok":false,"error":"...","code":...}
// stdin takes one JSON command per line, {"op":OP,"id":N,...}:
//   listen     {"seed":HEX32}: create a server with keyPair(seed) and listen;
//              replies {"publicKey"} once announced. Each accepted connection
//              reads everything (checking it when expect ran), and ends when
//              the remote ends.
//   connects   {"publicKey":HEX32,"count":N}: N sequential connects, each
//              opened, then destroyed and waited for; replies {"openMs":[...],
//              "connectMs":[...],"failed","codes":{CODE:count}}: ms from
//              dht.connect to the stream's open (the server's header arrived,
//              see open below) and to its 'connect' event, for each connect
//              that opened
//   sendBulk   {"publicKey":HEX32,"bytes":N,"seed":S,"block":B}: connect,
//              write N bytes, end, and wait for the server's end, which comes
//              after it has read everything; replies {"openMs","ms","bytes"}:
//              ms from the first write to the server's end
//   expect     {"seed":S,"block":B}: the server compares what its next
//              connections read with the data sendBulk writes for S and B
//   received   the server's connections that read data, oldest first:
//              [{"bytes","ms","mismatch"}] with ms from the first byte to the
//              end, and the offset of the first byte that differs from the
//              expected data (-1 when all match, or when nothing was expected)
//   exit       destroy the node and exit 0
// The process also exits on stdin EOF, SIGTERM and SIGINT.
//
// Bulk data is the first B bytes of interop.PseudoRandom(S) (see
// interop/streams.js), repeated; it is generated before the clock starts.
// The server compares every byte it reads with the same data (Buffer.compare,
// a few ms per 256 MiB), as udxbench does: hashing would cost the JS server's
// one thread far more than the Go server's CPUs (see README.md).

const HyperDHT = require('hyperdht')
const { performance } = require('perf_hooks')
const { event, hex, hexArg, exitAfter, errorText, finish, serve } = require('../../jsonlines')
const { parseNodeArgs, createNode } = require('../../rpcnode')
const { PseudoRandom, waitFor } = require('../../streams')

const CHUNK = 64 * 1024 // bytes per write
const STOP_GRACE_MS = 5000
const SERVER_CLOSE_MS = 1000 // on exit, wait this long at most for the server's unannounce

const config = parseNodeArgs(['node', ...process.argv.slice(2)], {
  script: 'peer.js',
  usageText: 'usage: peer.js --port N --bootstrap H:P[,H:P] [--adaptive | --ephemeral]\n',
  portRequired: true
})
const dht = createNode(HyperDHT, config)
let server = null
let expected = null // the data the server's connections should read, once expect ran
const received = [] // per accepted connection that read data: {bytes, ms, mismatch}

function fail (message, code) {
  const err = new Error(message)
  if (code) err.code = code
  return err
}

function intArg (cmd, field) {
  const n = cmd[field]
  if (!Number.isSafeInteger(n) || n < 0) throw fail(`${field}: want a non-negative integer`)
  return n
}

// block returns the first n bytes of PseudoRandom(seed); n is a positive
// multiple of CHUNK.
function block (seed, n) {
  if (n <= 0 || n % CHUNK !== 0) throw fail('block: want a positive multiple of 64 KiB')
  if (seed > 0xffffffff) throw fail('seed: want a uint32')
  return new PseudoRandom(seed).next(n)
}

// open connects to publicKey and resolves, once the stream is open, with the
// stream and connectMs, the ms from dht.connect to the stream's 'connect'
// event. Open means what Go's dht.Connect waits for: connected, and the
// server's secret-stream header has arrived. 'connect' comes earlier, once our
// own header is written; secret-stream has no event for the peer's header, so
// open checks its _setup flag, which turns false when the header has been
// read, after every chunk of the raw stream (its own listener, attached before
// 'connect', runs first). It rejects with the connection's error if the stream
// closes first.
function open (publicKey) {
  const start = performance.now()
  const s = dht.connect(publicKey)
  let error = null
  s.on('error', (err) => { error = err })
  return new Promise((resolve, reject) => {
    s.once('connect', () => {
      const connectMs = performance.now() - start
      if (s._setup === false) {
        resolve({ s, connectMs })
        return
      }
      const raw = s.rawStream
      const ondata = () => {
        if (s._setup !== false) return
        raw.off('data', ondata)
        resolve({ s, connectMs })
      }
      raw.on('data', ondata)
    })
    s.once('close', () => reject(error || fail('closed before it opened', 'ESTREAMCLOSED')))
  })
}

function closed (s) {
  return s.destroyed ? Promise.resolve() : new Promise((resolve) => s.once('close', resolve))
}

function accept (s) {
  const r = { bytes: 0, ms: 0, mismatch: -1 }
  const want = expected
  let first = 0
  s.on('error', () => {})
  s.on('data', (buf) => {
    if (r.bytes === 0) {
      first = performance.now()
      received.push(r)
    }
    if (want !== null && r.mismatch < 0) {
      // Compare buf with the repeated block, piece by piece across block ends.
      for (let off = 0; off < buf.byteLength && r.mismatch < 0;) {
        const at = (r.bytes + off) % want.byteLength
        const n = Math.min(buf.byteLength - off, want.byteLength - at)
        if (buf.compare(want, at, at + n, off, off + n) !== 0) r.mismatch = r.bytes + off
        off += n
      }
    }
    r.bytes += buf.byteLength
  })
  s.on('end', () => {
    if (r.bytes > 0) r.ms = performance.now() - first
    s.end()
  })
}

const ops = {
  listen: async (cmd) => {
    if (server !== null) throw fail('already listening')
    const keyPair = HyperDHT.keyPair(hexArg(cmd, 'seed', 32))
    server = dht.createServer(accept)
    await server.listen(keyPair)
    return { publicKey: hex(keyPair.publicKey) }
  },

  connects: async (cmd) => {
    const publicKey = hexArg(cmd, 'publicKey', 32)
    const count = intArg(cmd, 'count')
    const openMs = []
    const connectMs = []
    const codes = {}
    let failed = 0
    for (let i = 0; i < count; i++) {
      const start = performance.now()
      let s
      try {
        const o = await open(publicKey)
        s = o.s
        connectMs.push(o.connectMs)
      } catch (err) {
        failed++
        const code = (err && err.code) || 'UNKNOWN'
        codes[code] = (codes[code] || 0) + 1
        continue
      }
      openMs.push(performance.now() - start)
      s.on('error', () => {})
      s.destroy()
      await closed(s)
    }
    return { openMs, connectMs, failed, codes }
  },

  sendBulk: async (cmd) => {
    const publicKey = hexArg(cmd, 'publicKey', 32)
    const n = intArg(cmd, 'bytes')
    const data = block(intArg(cmd, 'seed'), intArg(cmd, 'block'))
    const connectStart = performance.now()
    const { s } = await open(publicKey)
    const openMs = performance.now() - connectStart
    s.on('data', () => {}) // read (nothing is expected) so the server's end arrives
    const ended = waitFor(s, 'end')
    ended.catch(() => {}) // awaited below; the writes may fail first
    const start = performance.now()
    for (let sent = 0; sent < n;) {
      const at = sent % data.byteLength
      const len = Math.min(CHUNK, n - sent)
      sent += len
      if (s.write(data.subarray(at, at + len)) === false) await waitFor(s, 'drain')
    }
    s.end()
    await ended
    return { openMs, ms: performance.now() - start, bytes: n }
  },

  expect: (cmd) => {
    expected = block(intArg(cmd, 'seed'), intArg(cmd, 'block'))
    return null
  },

  received: () => received
}

serve({
  ops,
  stop: () => {
    exitAfter(STOP_GRACE_MS, 'peer.js: destroy did not finish in time')
    let timer = null
    const closing = server === null ? Promise.resolve() : server.close().catch(() => {})
    const late = new Promise((resolve) => { timer = setTimeout(resolve, SERVER_CLOSE_MS) })
    return Promise.race([closing, late])
      .finally(() => clearTimeout(timer))
      .then(() => dht.destroy({ force: true }))
      .catch((err) => process.stderr.write(`peer.js: destroy: ${errorText(err)}\n`))
  }
})

dht.fullyBootstrapped().then(
  () => event('ready', {
    port: dht.io.serverSocket.address().port,
    impl: 'js',
    version: require('hyperdht/package.json').version
  }),
  (err) => {
    process.stderr.write(`peer.js: node failed to start: ${errorText(err)}\n`)
    finish(1)
  }
)
