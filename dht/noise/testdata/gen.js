'use strict'

// Prints the golden vectors for package dht/noise as JSON on stdout. Every
// message, key and verdict below comes from the installed reference
// (noise-handshake with noise-curve-ed, and the hyperdht and secret-stream
// classes that wrap them), never written by hand:
//
//   node testdata/gen.js > testdata/vectors.json
//
// handshakes:   complete handshakes with fixed static and ephemeral seeds;
//               each message's payload and bytes, both sides' results.
//               Payloads and messages over 1024 bytes are given by length
//               and SHA-256; such a payload's byte i is i % 251.
// recv:         a message of a handshake altered (truncated, extended, a
//               byte flipped, a key replaced) and what the receiver makes
//               of it: accepted (with the payload) or refused, with the
//               reference's error and its class (size, decrypt, key).
// send:         payloads at the sending side's size limit: whether the
//               reference sends them.
// dh:           noise-curve-ed's DH of a secret seed with a 32-byte string:
//               the shared key, or refused.

const path = require('path')
const crypto = require('crypto')
const modules = path.join(__dirname, '../../../interop/node_modules')
const req = (name) => require(path.join(modules, name))

const Noise = req('noise-handshake')
const curve = req('noise-curve-ed')
const sodium = req('sodium-native')
const c = req('compact-encoding')
const NoiseWrap = req('hyperdht/lib/noise-wrap')
const { NS } = req('hyperdht/lib/constants')
const m = req('hyperdht/lib/messages')
const SecretStreamHandshake = req('@hyperswarm/secret-stream/lib/handshake')
const version = (name) => req(name + '/package.json').version

const hex = (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex')
const seed = (label) => crypto.createHash('sha256').update('hyperlan noise ' + label).digest()
const BIG = 1024

function filled (n) {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = i % 251
  return b
}

// bytesField describes a payload or message: hex, or length and SHA-256.
function bytesField (b) {
  if (b.byteLength <= BIG) return { hex: hex(b) }
  return { length: b.byteLength, sha256: sha256(b) }
}

// payloadOf turns a vector's payload spec (hex string or {fill: n}) into bytes.
function payloadOf (p) {
  if (typeof p === 'string') return Buffer.from(p, 'hex')
  return filled(p.fill)
}

function classify (err) {
  const msg = (err && err.message) || String(err)
  if (/Insufficient bytes|exceeds maximum Noise message length/.test(msg) || err instanceof RangeError) return 'size'
  if (/could not verify data/.test(msg)) return 'decrypt'
  if (/^status: -1$/.test(msg)) return 'key' // crypto_scalarmult_ed25519_noclamp refused
  throw new Error('unclassified reference error: ' + msg)
}

function keyPair (label) {
  return curve.generateKeyPair(seed(label))
}

// ---- handshakes ------------------------------------------------------------

// A spec names the pattern, prologue, key labels and payloads; flavour
// selects the JS class that runs it.
const specs = [
  { name: 'ik-hyperdht', flavour: 'noise', pattern: 'IK', prologue: hex(NS.PEER_HANDSHAKE), payloads: ['', ''] },
  { name: 'ik-hyperdht-payloads', flavour: 'noise', pattern: 'IK', prologue: hex(NS.PEER_HANDSHAKE), payloads: ['68656c6c6f', '00'.repeat(100)] },
  { name: 'ik-other-prologue', flavour: 'noise', pattern: 'IK', prologue: '', payloads: ['01', '02'] },
  { name: 'ik-max-payload', flavour: 'noise', pattern: 'IK', prologue: hex(NS.PEER_HANDSHAKE), payloads: [{ fill: 65519 }, { fill: 65519 }] },
  { name: 'ik-noisewrap', flavour: 'noisewrap', pattern: 'IK', prologue: hex(NS.PEER_HANDSHAKE) },
  { name: 'xx-secretstream', flavour: 'secretstream', pattern: 'XX', prologue: '', payloads: ['', '', ''] },
  { name: 'xx-payloads', flavour: 'noise', pattern: 'XX', prologue: '', payloads: ['616263', '', 'ff'.repeat(40)] },
  { name: 'xx-prologue', flavour: 'noise', pattern: 'XX', prologue: hex(Buffer.from('hyperlan')), payloads: ['', '01', ''] },
  { name: 'xx-max-payload', flavour: 'noise', pattern: 'XX', prologue: '', payloads: [{ fill: 65535 }, { fill: 65519 }, { fill: 65519 }] }
]

// The noise payloads the hyperdht vector sends: what a client and a server
// put in PEER_HANDSHAKE (lib/connect.js, lib/server.js), encoded by
// lib/messages.js.
const wrapPayloads = [
  {
    version: 1,
    error: 0,
    firewall: 1,
    holepunch: null,
    addresses4: [{ host: '127.0.0.1', port: 49737 }],
    addresses6: [],
    udx: { version: 1, reusableSocket: false, id: 7, seq: 0 },
    secretStream: {},
    relayThrough: null,
    relayAddresses: null
  },
  {
    version: 1,
    error: 0,
    firewall: 1,
    holepunch: { id: 1, relays: [] },
    addresses4: [{ host: '127.0.0.1', port: 40000 }],
    addresses6: [],
    udx: { version: 1, reusableSocket: false, id: 9, seq: 0 },
    secretStream: {},
    relayThrough: null,
    relayAddresses: null
  }
]

// side makes one side of a spec; it returns {send(payload), recv(msg),
// result()} over the reference class the flavour names.
function side (spec, initiator) {
  const me = keyPair(spec.name + (initiator ? ' initiator' : ' responder'))
  const peer = keyPair(spec.name + (initiator ? ' responder' : ' initiator'))
  const eph = curve.generateKeyPair(seed(spec.name + (initiator ? ' initiator' : ' responder') + ' ephemeral'))
  const remote = initiator && spec.pattern === 'IK' ? peer.publicKey : null
  const prologue = Buffer.from(spec.prologue, 'hex')

  if (spec.flavour === 'noise') {
    const s = new Noise(spec.pattern, initiator, me, { curve })
    s.initialise(prologue, remote)
    s.e = eph
    return {
      me,
      eph,
      send: (p) => s.send(p),
      recv: (msg) => s.recv(msg),
      result: () => ({ tx: s.tx, rx: s.rx, hash: s.hash, remotePublicKey: s.rs })
    }
  }
  if (spec.flavour === 'noisewrap') {
    const w = new NoiseWrap(me, remote)
    w.handshake.e = eph
    return {
      me,
      eph,
      send: (p) => w.send(p),
      recv: (msg) => w.recv(msg),
      result: () => w.final()
    }
  }
  // secretstream: lib/handshake.js frames each message with a 3-byte length
  // and sends the next message itself when it receives one.
  const h = new SecretStreamHandshake(initiator, me, remote, 'XX')
  h.noise.e = eph
  let pending = null
  let done = null
  const unframe = (r) => {
    if (r === null) throw new Error('secret-stream handshake failed')
    if (r.data) {
      const len = r.data[0] | (r.data[1] << 8) | (r.data[2] << 16)
      if (len !== r.data.byteLength - 3) throw new Error('bad frame')
      pending = r.data.subarray(3)
    }
    if (r.tx) done = r
  }
  return {
    me,
    eph,
    send: () => {
      if (pending === null) unframe(h.send())
      const out = pending
      pending = null
      return out
    },
    recv: (msg) => {
      unframe(h.recv(msg))
      return Buffer.alloc(0)
    },
    result: () => done
  }
}

function resultJSON (r) {
  return { tx: hex(r.tx), rx: hex(r.rx), hash: hex(r.hash), remotePublicKey: hex(r.remotePublicKey) }
}

// play runs spec to the end, or until message stop (0-based), which it
// returns unsent as {sender, receiver, payload, message}.
function play (spec, stop) {
  const ini = side(spec, true)
  const res = side(spec, false)
  const n = spec.pattern === 'IK' ? 2 : 3
  const messages = []
  for (let i = 0; i < n; i++) {
    const [from, to] = i % 2 === 0 ? [ini, res] : [res, ini]
    let payload
    if (spec.flavour === 'noisewrap') payload = c.encode(m.noisePayload, wrapPayloads[i])
    else payload = payloadOf(spec.payloads[i])
    const msg = Buffer.from(from.send(spec.flavour === 'noisewrap' ? wrapPayloads[i] : payload))
    if (i === stop) return { receiver: to, payload, message: msg }
    // The reference zeroes the remote ephemeral key inside the buffer it
    // is given when the handshake completes; give it a copy.
    const got = to.recv(Buffer.from(msg))
    if (spec.flavour === 'noise' && !payload.equals(got)) throw new Error(spec.name + ': payload mismatch')
    messages.push({ payload: bytesField(payload), message: bytesField(msg) })
  }
  return { ini, res, messages }
}

const handshakes = specs.map((spec) => {
  const { ini, res, messages } = play(spec, -1)
  const keys = (s) => ({ seed: hex(seed(spec.name + (s === ini ? ' initiator' : ' responder'))), publicKey: hex(s.me.publicKey), ephemeralSeed: hex(seed(spec.name + (s === ini ? ' initiator' : ' responder') + ' ephemeral')) })
  return {
    name: spec.name,
    flavour: spec.flavour,
    pattern: spec.pattern,
    prologue: spec.prologue,
    initiator: keys(ini),
    responder: keys(res),
    messages,
    initiatorResult: resultJSON(ini.result()),
    responderResult: resultJSON(res.result())
  }
})

// ---- altered messages ------------------------------------------------------

const ORDER8 = 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a' // a point of order 8
const P = (2n ** 255n) - 19n
const le32 = (n) => {
  const b = Buffer.alloc(32)
  for (let i = 0; i < 32; i++) { b[i] = Number(n & 0xffn); n >>= 8n }
  return b
}

// replacement keys: 32-byte strings put where a message carries e.
function replacements () {
  const out = [
    { name: 'identity', key: le32(1n) },
    { name: 'order 8', key: Buffer.from(ORDER8, 'hex') },
    { name: 'y = p (non-canonical 0)', key: le32(P) },
    { name: 'not on the curve', key: le32(2n) },
    { name: 'all ones', key: Buffer.alloc(32, 0xff) }
  ]
  // A valid point plus a point of order 8: on the curve, outside the
  // prime-order subgroup.
  const mixed = Buffer.alloc(32)
  sodium.crypto_core_ed25519_add(mixed, keyPair('mixed').publicKey, Buffer.from(ORDER8, 'hex'))
  out.push({ name: 'torsion component', key: mixed })
  out.push({ name: 'another valid key', key: keyPair('other').publicKey })
  return out
}

function alter (msg, mu) {
  switch (mu.op) {
    case 'truncate': return msg.subarray(0, mu.length)
    case 'append': return Buffer.concat([msg, Buffer.alloc(mu.count)])
    case 'flip': {
      const b = Buffer.from(msg)
      b[mu.offset] ^= mu.mask
      return b
    }
    case 'replace': {
      const b = Buffer.from(msg)
      Buffer.from(mu.hex, 'hex').copy(b, mu.offset)
      return b
    }
  }
  throw new Error('unknown mutation ' + mu.op)
}

function mutations (spec, i, len) {
  const prefix = spec.pattern === 'IK' ? [80, 32][i] : [32, 80, 48][i]
  const keyed = !(spec.pattern === 'XX' && i === 0)
  const minLen = prefix + (keyed ? 16 : 0)
  const list = [
    { op: 'truncate', length: 0 },
    { op: 'truncate', length: minLen - 1 },
    { op: 'truncate', length: len - 1 },
    { op: 'append', count: 1 },
    { op: 'flip', offset: len - 1, mask: 0x80 }
  ]
  if (len > minLen) list.push({ op: 'truncate', length: minLen })
  if (prefix > 32) list.push({ op: 'flip', offset: 40, mask: 1 }) // inside the encrypted s
  if (!(spec.pattern === 'XX' && i === 2)) {
    list.push({ op: 'flip', offset: 0, mask: 1 }) // inside e
    for (const r of replacements()) list.push({ op: 'replace', offset: 0, hex: hex(r.key), why: r.name })
  }
  if (keyed) list.push({ op: 'append', count: 65535 - (len - prefix) + 1 }) // ciphertext of 65536 bytes
  if (keyed && len - prefix < 65535) list.push({ op: 'append', count: 65535 - (len - prefix) }) // of 65535
  if (!keyed) list.push({ op: 'append', count: 70000 }) // clear payload over 65535 bytes
  return list
}

const recv = []
for (const spec of specs) {
  if (spec.flavour !== 'noise') continue
  if (spec.name.includes('max-payload') || spec.name === 'ik-other-prologue') continue
  const n = spec.pattern === 'IK' ? 2 : 3
  for (let i = 0; i < n; i++) {
    const len = play(spec, i).message.byteLength
    for (const mu of mutations(spec, i, len)) {
      const { receiver, message } = play(spec, i)
      const altered = alter(message, mu)
      const v = { handshake: spec.name, message: i + 1, mutation: mu }
      try {
        const payload = receiver.recv(Buffer.from(altered))
        v.accepted = true
        v.payload = bytesField(payload)
      } catch (err) {
        v.accepted = false
        v.error = err.message
        v.class = classify(err)
      }
      recv.push(v)
    }
  }
}

// ---- payload sizes at the sending side's limit ------------------------------

// The reference refuses a ciphertext over 65535 bytes; a clear payload (XX
// message 1) has no limit there. sent says whether it sent the payload.
const send = []
for (const [name, i, size] of [['ik-hyperdht', 0, 65520], ['ik-hyperdht', 1, 65520], ['xx-payloads', 1, 65520], ['xx-payloads', 2, 65520], ['xx-payloads', 0, 65536]]) {
  const spec = specs.find((s) => s.name === name)
  const sides = [side(spec, true), side(spec, false)]
  for (let k = 0; k < i; k++) sides[(k + 1) % 2].recv(Buffer.from(sides[k % 2].send(Buffer.alloc(0))))
  const v = { handshake: name, message: i + 1, payloadLength: size }
  try {
    sides[i % 2].send(Buffer.alloc(size))
    v.sent = true
  } catch (err) {
    v.sent = false
    v.error = err.message
    v.class = classify(err)
  }
  send.push(v)
}

// ---- the DH ------------------------------------------------------------------

function dhVector (name, secretLabel, pub) {
  const kp = keyPair(secretLabel)
  const v = { name, seed: hex(seed(secretLabel)), publicKey: hex(pub) }
  try {
    v.shared = hex(curve.dh(pub, kp))
  } catch (err) {
    v.shared = null
    v.error = err.message
    classify(err)
  }
  return v
}

const dh = []
dh.push(dhVector('base point', 'dh a', Buffer.from('58' + '66'.repeat(31), 'hex')))
dh.push(dhVector('key pair b', 'dh a', keyPair('dh b').publicKey))
dh.push(dhVector('key pair a from b', 'dh b', keyPair('dh a').publicKey))
for (const r of replacements()) dh.push(dhVector(r.name, 'dh a', r.key))
// Small y and their non-canonical twins y + p, with both signs.
for (let y = 0n; y < 19n; y++) {
  for (const [form, value] of [['y', y], ['y+p', y + P]]) {
    for (const sign of [0, 0x80]) {
      const key = le32(value)
      key[31] |= sign
      dh.push(dhVector(`${form} = ${y}${form === 'y+p' ? ' + p' : ''}, sign ${sign ? 1 : 0}`, 'dh a', key))
    }
  }
}
// p - 1 (order 2) with both signs.
for (const sign of [0, 0x80]) {
  const key = le32(P - 1n)
  key[31] |= sign
  dh.push(dhVector(`y = p - 1, sign ${sign ? 1 : 0}`, 'dh a', key))
}
// Strings from a fixed stream: most are not points.
for (let i = 0; i < 48; i++) dh.push(dhVector(`string ${i}`, 'dh a', seed('dh string ' + i)))
// Valid keys with the sign bit flipped: the negated points.
for (let i = 0; i < 8; i++) {
  const pub = Buffer.from(keyPair('dh flip ' + i).publicKey)
  pub[31] ^= 0x80
  dh.push(dhVector(`negated key ${i}`, 'dh a', pub))
}

const out = {
  reference: `noise-handshake ${version('noise-handshake')}, noise-curve-ed ${version('noise-curve-ed')}, hyperdht ${version('hyperdht')}, @hyperswarm/secret-stream ${version('@hyperswarm/secret-stream')}`,
  peerHandshakePrologue: hex(NS.PEER_HANDSHAKE),
  handshakes,
  recv,
  send,
  dh
}
process.stdout.write(JSON.stringify(out, null, 1) + '\n')
