'use strict'

// Prints the golden vectors for package dht/secretstream as JSON on stdout.
// Every hex string is computed by the installed reference (sodium-native and
// @hyperswarm/secret-stream from interop/node_modules), never typed by hand:
//
//   node testdata/gen.js > testdata/vectors.json
//
// secretstream: crypto_secretstream_xchacha20poly1305 cases. Each case starts
//   from init_pull(key, header) (the state init_push would make with that
//   header), optionally forces the 32-bit counter, then applies its ops in
//   order: push (m, ad, tag -> out) or rekey. After each op the 52-byte state
//   k[32] || counter[4] || inonce[8] (padding left out) is recorded.
// ids:         hypercore-crypto namespaces and NoiseSecretStream.id.
// boxes:       crypto_secretbox_easy envelopes as NoiseSecretStream builds them
//              for send(): counter[8] || mac[16] || ciphertext.
// session:     the bytes two real NoiseSecretStreams write to their raw
//              streams, with the header and the message-counter seeds fixed
//              by patching sodium's init_push and randombytes_buf.

const path = require('path')
const modules = path.join(__dirname, '../../../interop/node_modules')
const sodium = require(path.join(modules, 'sodium-native'))
const NoiseSecretStream = require(path.join(modules, '@hyperswarm/secret-stream'))
const { Duplex } = require(path.join(modules, 'streamx'))

const version = (name) => require(path.join(modules, name, 'package.json')).version
const hex = (buf) => Buffer.from(buf).toString('hex')
const seq = (start, n) => Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff))

// ---- crypto_secretstream_xchacha20poly1305 --------------------------------

const STATEBYTES = sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES
const ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
const TAG = {
  message: sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
  push: sodium.crypto_secretstream_xchacha20poly1305_TAG_PUSH,
  rekey: sodium.crypto_secretstream_xchacha20poly1305_TAG_REKEY,
  final: sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
}

function stateHex (state) {
  return hex(state.subarray(0, 44))
}

// Deterministic bytes for message bodies: byte i of message n.
function body (n, len) {
  const b = Buffer.alloc(len)
  for (let i = 0; i < len; i++) b[i] = (n * 31 + i * 7) & 0xff
  return b
}

function runCase (name, key, header, opts, ops) {
  const state = Buffer.alloc(STATEBYTES)
  sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key)
  if (opts.counter !== undefined) state.writeUInt32LE(opts.counter, 32)
  const init = stateHex(state)
  const out = []
  for (const op of ops) {
    if (op.op === 'rekey') {
      sodium.crypto_secretstream_xchacha20poly1305_rekey(state)
      out.push({ op: 'rekey', state: stateHex(state) })
      continue
    }
    const m = op.m
    const ad = op.ad || null
    const c = Buffer.alloc(m.byteLength + ABYTES)
    sodium.crypto_secretstream_xchacha20poly1305_push(state, c, m, ad, op.tag)
    out.push({ op: 'push', tag: op.tag, ad: ad ? hex(ad) : '', m: hex(m), out: hex(c), state: stateHex(state) })
  }
  return { name, key: hex(key), header: hex(header), counter: opts.counter === undefined ? null : opts.counter, init, ops: out }
}

const key = seq(0x00, 32)
const header = seq(0xa0, 24)
const hello = Buffer.from('hello')
const world = Buffer.from('world')

const cases = [
  runCase('messages', key, header, {}, [
    { m: Buffer.alloc(0), tag: TAG.message },
    { m: hello, tag: TAG.message },
    { m: Buffer.alloc(1000, 0x61), tag: TAG.message }
  ]),
  runCase('lengths', seq(0x40, 32), seq(0x10, 24), {},
    [1, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 127, 128, 129, 255, 256, 257, 4096, 5003]
      .map((len, n) => ({ m: body(n, len), tag: TAG.message }))),
  runCase('tag push', key, header, {}, [{ m: hello, tag: TAG.push }, { m: world, tag: TAG.message }]),
  runCase('tag rekey', key, header, {}, [{ m: hello, tag: TAG.rekey }, { m: world, tag: TAG.message }]),
  runCase('tag final', key, header, {}, [{ m: hello, tag: TAG.final }, { m: world, tag: TAG.message }]),
  runCase('unknown tag', key, header, {}, [{ m: hello, tag: 0x80 }, { m: world, tag: 0xff }]),
  runCase('explicit rekey', key, header, {}, [{ m: hello, tag: TAG.message }, { op: 'rekey' }, { m: world, tag: TAG.message }]),
  runCase('counter wrap', key, header, { counter: 0xffffffff }, [{ m: hello, tag: TAG.message }, { m: world, tag: TAG.message }]),
  runCase('associated data', key, header, {}, [
    { m: hello, ad: Buffer.from('ad'), tag: TAG.message },
    { m: Buffer.alloc(0), ad: seq(0, 17), tag: TAG.message },
    { m: world, ad: seq(0, 64), tag: TAG.push }
  ])
]

// ---- ids and message keys --------------------------------------------------

function generichash (msg, k) {
  const out = Buffer.alloc(32)
  sodium.crypto_generichash(out, msg, k)
  return out
}

const nsBase = generichash(Buffer.from('hyperswarm/secret-stream'))
const hash = seq(0x40, 64)
const initiatorId = NoiseSecretStream.id(hash, true)
const responderId = NoiseSecretStream.id(hash, false)

// ---- session transcript ----------------------------------------------------

class Wire extends Duplex {
  constructor (log) {
    super()
    this.log = log
    this.peer = null
  }

  _write (data, cb) {
    this.log.push({ kind: 'frame', data: hex(data) })
    this.peer.push(data)
    cb(null)
  }

  _final (cb) {
    this.peer.push(null)
    cb(null)
  }

  send (buf) {
    this.log.push({ kind: 'message', data: hex(buf) })
    this.peer.emit('message', buf)
    return Promise.resolve(true)
  }

  trySend (buf) {
    this.send(buf)
  }
}

async function session () {
  const tx = seq(0x80, 32)
  const rx = seq(0xc0, 32)
  const headers = [seq(0x30, 24), seq(0x50, 24)]
  const seeds = [Buffer.from('0102030405060708', 'hex'), Buffer.from('ffffffffffffffff', 'hex')]
  const pkI = seq(0x01, 32)
  const pkR = seq(0x21, 32)

  const initPush = sodium.crypto_secretstream_xchacha20poly1305_init_push
  const randombytes = sodium.randombytes_buf
  let nextHeader = 0
  let nextSeed = 0
  sodium.crypto_secretstream_xchacha20poly1305_init_push = (state, hdr, k) => {
    hdr.set(headers[nextHeader++])
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, hdr, k)
  }
  sodium.randombytes_buf = (buf) => {
    if (buf.byteLength !== 8) throw new Error('unexpected randombytes_buf(' + buf.byteLength + ')')
    buf.set(seeds[nextSeed++])
  }

  const logI = []
  const logR = []
  const wireI = new Wire(logI)
  const wireR = new Wire(logR)
  wireI.peer = wireR
  wireR.peer = wireI

  const got = { initiator: { data: [], messages: [] }, responder: { data: [], messages: [] } }
  let I, R
  try {
    I = new NoiseSecretStream(true, wireI, { handshake: { tx, rx, hash, publicKey: pkI, remotePublicKey: pkR } })
    R = new NoiseSecretStream(false, wireR, { handshake: { tx: rx, rx: tx, hash, publicKey: pkR, remotePublicKey: pkI } })
  } finally {
    sodium.crypto_secretstream_xchacha20poly1305_init_push = initPush
    sodium.randombytes_buf = randombytes
  }
  for (const [name, s] of [['initiator', I], ['responder', R]]) {
    s.on('data', (d) => got[name].data.push(hex(d)))
    s.on('message', (m) => got[name].messages.push(hex(m)))
  }
  await Promise.all([I.opened, R.opened])

  const tick = () => new Promise((resolve) => setImmediate(resolve))
  I.write(hello)
  await tick()
  R.write(world)
  await tick()
  I.write(Buffer.alloc(0))
  await tick()
  I.write(Buffer.alloc(3000, 0x7a))
  await tick()
  I.send(Buffer.from('ping'))
  R.trySend(Buffer.from('pong'))
  I.send(Buffer.alloc(0))
  await tick()

  const ended = Promise.all([new Promise((resolve) => I.on('close', resolve)), new Promise((resolve) => R.on('close', resolve))])
  I.end()
  R.end()
  I.resume()
  R.resume()
  await ended

  return {
    hash: hex(hash),
    initiator: { tx: hex(tx), rx: hex(rx), header: hex(headers[0]), seed: hex(seeds[0]), publicKey: hex(pkI), wrote: logI },
    responder: { tx: hex(rx), rx: hex(tx), header: hex(headers[1]), seed: hex(seeds[1]), publicKey: hex(pkR), wrote: logR },
    received: got
  }
}

// ---- secretbox envelopes (send/trySend) --------------------------------------

function envelope (k, counter, m) {
  const nonce = Buffer.alloc(24)
  counter.copy(nonce)
  const c = Buffer.alloc(16 + m.byteLength)
  sodium.crypto_secretbox_easy(c, m, nonce, k)
  return Buffer.concat([counter, c])
}

async function main () {
  const keyI2R = Buffer.alloc(32)
  const keyR2I = Buffer.alloc(32)
  const ns = [0, 1, 2].map((i) => generichash(Buffer.concat([nsBase, Buffer.from([i])])))
  sodium.crypto_generichash_batch(keyI2R, [ns[0], ns[2]], hash)
  sodium.crypto_generichash_batch(keyR2I, [ns[1], ns[2]], hash)

  const boxes = [
    [keyI2R, '0202030405060708', Buffer.from('ping')],
    [keyR2I, '0000000000000000', Buffer.from('pong')],
    [keyI2R, '0302030405060708', Buffer.alloc(0)],
    [keyI2R, 'ffffffffffffffff', body(7, 1100)]
  ].map(([k, counter, m]) => ({ key: hex(k), counter, m: hex(m), envelope: hex(envelope(k, Buffer.from(counter, 'hex'), m)) }))

  const out = {
    versions: {
      'sodium-native': version('sodium-native'),
      '@hyperswarm/secret-stream': version('@hyperswarm/secret-stream'),
      'hypercore-crypto': version('hypercore-crypto')
    },
    secretstream: cases,
    ids: {
      nsBase: hex(nsBase),
      nsInitiator: hex(ns[0]),
      nsResponder: hex(ns[1]),
      nsSend: hex(ns[2]),
      hash: hex(hash),
      initiatorId: hex(initiatorId),
      responderId: hex(responderId),
      sendKeyInitiator: hex(keyI2R),
      sendKeyResponder: hex(keyR2I)
    },
    boxes,
    session: await session()
  }
  process.stdout.write(JSON.stringify(out, null, 1) + '\n')
}

main().catch((err) => {
  process.stderr.write((err && err.stack) || String(err))
  process.stderr.write('\n')
  process.exit(1)
})
