'use strict'

// Prints the golden vectors for package dht/records as JSON on stdout. Every hex string is
// produced by the installed reference (npm hyperdht, compact-encoding, sodium-native), never
// written by hand:
//
//   node testdata/gen.js > testdata/vectors.json
//
// codecs:     a message value and its encoding (the Go test encodes and decodes it)
// decode:     input the reference accepts leniently, and what it decodes to
// reject:     input the reference refuses to decode
// namespaces: hyperdht lib/constants.js NS
// signing:    announce and mutable signables and signatures for fixed keys
// smallOrder: signatures with small-order keys or R, which libsodium refuses
// store:      requests run through the reference's lib/persistent.js (with its lib/router.js
//             forwards) on a fake node, and the reply each one got
// connect:    the connect-path messages and sealed holepunch payloads (see connect.js)

const path = require('path')
const modules = path.join(__dirname, '../../../interop/node_modules')
const mod = (name) => require(path.join(modules, name))

const c = mod('compact-encoding')
const sodium = mod('sodium-universal')
const m = mod('hyperdht/lib/messages.js')
const { NS, COMMANDS } = mod('hyperdht/lib/constants.js')
const Persistent = mod('hyperdht/lib/persistent.js')
const Router = mod('hyperdht/lib/router.js')

const version = (name) => mod(name + '/package.json').version
const hex = (b) => Buffer.from(b).toString('hex')
const unhex = (h) => Buffer.from(h, 'hex')
const fill = (byte, n = 32) => Buffer.alloc(n, byte)

function hash(...parts) {
  const out = Buffer.alloc(32)
  sodium.crypto_generichash_batch(out, parts)
  return out
}

function keyPair(seedByte) {
  const publicKey = Buffer.alloc(32)
  const secretKey = Buffer.alloc(64)
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, fill(seedByte))
  return { publicKey, secretKey, seed: fill(seedByte) }
}

function addr(s) {
  const i = s.lastIndexOf(':')
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) }
}

const addrString = (a) => `${a.host}:${a.port}`

// JSON forms of message values.
const peerJSON = (p) => ({ publicKey: hex(p.publicKey), relayAddresses: p.relayAddresses.map(addrString) })
const peerFrom = (j) => ({ publicKey: unhex(j.publicKey), relayAddresses: j.relayAddresses.map(addr) })

const codecs = {
  peer: {
    enc: m.peer,
    from: peerFrom,
    to: peerJSON
  },
  announce: {
    enc: m.announce,
    from: (j) => ({
      peer: j.peer ? peerFrom(j.peer) : null,
      refresh: j.refresh ? unhex(j.refresh) : null,
      signature: j.signature ? unhex(j.signature) : null,
      bump: j.bump
    }),
    to: (v) => ({
      peer: v.peer ? peerJSON(v.peer) : null,
      refresh: v.refresh ? hex(v.refresh) : null,
      signature: v.signature ? hex(v.signature) : null,
      bump: v.bump
    })
  },
  lookupReply: {
    // Encoded as a storing node does: from already-encoded peers.
    enc: m.lookupRawReply,
    from: (j) => ({ peers: j.peers.map((p) => c.encode(m.peer, peerFrom(p))), bump: j.bump }),
    to: (v) => ({ peers: v.peers.map(peerJSON), bump: v.bump })
  },
  mutable: {
    enc: m.mutableGetResponse,
    from: (j) => ({ seq: j.seq, value: unhex(j.value), signature: unhex(j.signature) }),
    to: (v) => ({ seq: v.seq, value: hex(v.value), signature: hex(v.signature) })
  },
  mutablePut: {
    enc: m.mutablePutRequest,
    from: (j) => ({
      publicKey: unhex(j.publicKey),
      seq: j.seq,
      value: unhex(j.value),
      signature: unhex(j.signature)
    }),
    to: (v) => ({
      publicKey: hex(v.publicKey),
      seq: v.seq,
      value: hex(v.value),
      signature: hex(v.signature)
    })
  }
}

const out = {
  reference: ['hyperdht', 'compact-encoding', 'sodium-native', 'record-cache', 'xache']
    .map((n) => `${n} ${version(n)}`)
    .join(', '),
  codecs: [],
  decode: [],
  reject: [],
  namespaces: {},
  signing: {},
  smallOrder: [],
  store: []
}

function enc(name, codec, value) {
  const { enc, from, to } = codecs[codec]
  const buf = c.encode(enc, from(value))
  const back = to(c.decode(enc, buf))
  out.codecs.push({ name, codec, value: back, hex: hex(buf) })
}

function dec(name, codec, h) {
  const { enc, to } = codecs[codec]
  out.decode.push({ name, codec, hex: h, value: to(c.decode(enc, unhex(h))) })
}

function rej(name, codec, h) {
  try {
    c.decode(codecs[codec].enc, unhex(h))
  } catch {
    out.reject.push({ name, codec, hex: h })
    return
  }
  throw new Error(`${name}: the reference accepts ${h}`)
}

const A = keyPair(1)
const B = keyPair(2)
const pkA = hex(A.publicKey)
const pkB = hex(B.publicKey)
const sig = (b) => hex(fill(b, 64))

// --- codecs ---

enc('peer/no relays', 'peer', { publicKey: pkA, relayAddresses: [] })
enc('peer/one relay', 'peer', { publicKey: pkA, relayAddresses: ['127.0.0.1:49737'] })
enc('peer/three relays', 'peer', {
  publicKey: pkB,
  relayAddresses: ['1.2.3.4:1', '10.0.0.1:65535', '192.168.1.20:4000']
})
enc('peer/five relays', 'peer', {
  publicKey: pkB,
  relayAddresses: ['1.1.1.1:1', '2.2.2.2:2', '3.3.3.3:3', '4.4.4.4:4', '255.255.255.255:0']
})

enc('announce/empty', 'announce', { peer: null, refresh: null, signature: null, bump: 0 })
enc('announce/peer', 'announce', {
  peer: { publicKey: pkA, relayAddresses: [] },
  refresh: null,
  signature: sig(0x5a),
  bump: 0
})
enc('announce/peer relays bump', 'announce', {
  peer: { publicKey: pkA, relayAddresses: ['127.0.0.1:49737', '8.8.8.8:53', '9.9.9.9:9', '6.6.6.6:6'] },
  refresh: null,
  signature: sig(0x11),
  bump: 1700000000000
})
enc('announce/small bump', 'announce', {
  peer: { publicKey: pkB, relayAddresses: ['1.2.3.4:258'] },
  refresh: null,
  signature: sig(0x22),
  bump: 7
})
enc('announce/refresh only', 'announce', { peer: null, refresh: hex(fill(0x33)), signature: null, bump: 0 })
enc('announce/all fields', 'announce', {
  peer: { publicKey: pkA, relayAddresses: ['1.2.3.4:5'] },
  refresh: hex(fill(0x44)),
  signature: sig(0x55),
  bump: 65536
})
enc('announce/max bump', 'announce', { peer: null, refresh: null, signature: null, bump: Number.MAX_SAFE_INTEGER })

const pA = { publicKey: pkA, relayAddresses: ['127.0.0.1:49737'] }
const pB = { publicKey: pkB, relayAddresses: [] }
const pC = { publicKey: hex(fill(0xcc)), relayAddresses: ['1.2.3.4:1', '5.6.7.8:2', '9.10.11.12:3'] }
enc('lookupReply/empty', 'lookupReply', { peers: [], bump: 0 })
enc('lookupReply/one', 'lookupReply', { peers: [pA], bump: 0 })
enc('lookupReply/three bump', 'lookupReply', { peers: [pA, pB, pC], bump: 1700000000000 })

enc('mutable/empty value', 'mutable', { seq: 0, value: '', signature: sig(0x01) })
enc('mutable/hello', 'mutable', { seq: 5, value: hex(Buffer.from('hello')), signature: sig(0x02) })
enc('mutable/large seq', 'mutable', { seq: 4294967296, value: hex(fill(0x7e, 300)), signature: sig(0x03) })

enc('mutablePut/hello', 'mutablePut', { publicKey: pkA, seq: 5, value: hex(Buffer.from('hello')), signature: sig(0x04) })
enc('mutablePut/empty value', 'mutablePut', { publicKey: pkB, seq: 0, value: '', signature: sig(0x05) })
enc('mutablePut/seq 253', 'mutablePut', { publicKey: pkB, seq: 253, value: 'ff', signature: sig(0x06) })

// --- lenient decodes ---

const relay = '7f00000149c2' // 127.0.0.1:49737
dec('peer/long-form count', 'peer', pkA + 'fd0100' + relay)
dec('peer/trailing bytes', 'peer', pkA + '00' + 'ffff')
dec('announce/unknown flag bits', 'announce', 'f0')
dec('announce/bump flag with zero bump', 'announce', '0800')
dec('announce/trailing bytes', 'announce', '02' + hex(fill(0x33)) + 'abcdef')
dec('announce/long-form flags', 'announce', 'fd0500' + pkA + '00' + sig(0x09))
dec('lookupReply/no bump', 'lookupReply', '01' + pkA + '01' + relay)
dec('lookupReply/trailing bytes', 'lookupReply', '00' + '05' + 'ffff')
dec('mutable/trailing bytes', 'mutable', '01' + '00' + sig(0x07) + '00')
dec('mutablePut/long-form seq', 'mutablePut', pkA + 'fe05000000' + '0161' + sig(0x08))

// --- rejected ---

rej('peer/count past end', 'peer', pkA + '02' + relay)
rej('announce/bump above 2^53', 'announce', '08' + 'ff' + 'ffffffffffffff7f')
rej('announce/peer flag, no peer', 'announce', '01')
rej('announce/signature flag, short signature', 'announce', '04' + 'ab'.repeat(63))
rej('lookupReply/count past end', 'lookupReply', '02' + pkA + '00')
rej('lookupReply/bad bump', 'lookupReply', '00fd01')
rej('mutable/value past end', 'mutable', '0005616263')
rej('mutablePut/no signature', 'mutablePut', pkA + '0000')

// --- namespaces ---

for (const k of Object.keys(NS)) out.namespaces[k] = hex(NS[k])
out.namespaces.root = hex(hash(Buffer.from('hyperswarm/dht')))

// --- signing ---

function annSignable(ns, target, id, token, peerBytes, refresh) {
  return Buffer.concat([ns, hash(target, id, token, peerBytes, refresh || Buffer.alloc(0))])
}

function signDetached(msg, secretKey) {
  const s = Buffer.alloc(64)
  sodium.crypto_sign_detached(s, msg, secretKey)
  return s
}

{
  const target = hash(A.publicKey)
  const token = fill(0xaa)
  const id = fill(0xbb)
  const ann = {
    peer: { publicKey: A.publicKey, relayAddresses: [addr('127.0.0.1:49737')] },
    refresh: null,
    signature: null,
    bump: 0
  }
  ann.signature = Persistent.signAnnounce(target, token, id, ann, A)
  const signable = annSignable(NS.ANNOUNCE, target, id, token, c.encode(m.peer, ann.peer))
  if (!sodium.crypto_sign_verify_detached(ann.signature, signable, A.publicKey)) throw new Error('signable')

  const refresh = fill(0x77)
  const annR = { peer: { publicKey: B.publicKey, relayAddresses: [] }, refresh, signature: null, bump: 9 }
  annR.signature = Persistent.signUnannounce(target, token, id, annR, B)

  const mutSig = Persistent.signMutable(5, Buffer.from('hello'), A)

  out.signing = {
    seed: hex(A.seed),
    publicKey: pkA,
    secretKey: hex(A.secretKey),
    target: hex(target),
    announce: {
      ns: 'ANNOUNCE',
      target: hex(target),
      nodeID: hex(id),
      token: hex(token),
      peer: hex(c.encode(m.peer, ann.peer)),
      refresh: null,
      signable: hex(signable),
      signature: hex(ann.signature),
      value: hex(c.encode(m.announce, ann))
    },
    unannounceWithRefresh: {
      ns: 'UNANNOUNCE',
      seed: hex(B.seed),
      target: hex(target),
      nodeID: hex(id),
      token: hex(token),
      peer: hex(c.encode(m.peer, annR.peer)),
      refresh: hex(refresh),
      signable: hex(annSignable(NS.UNANNOUNCE, target, id, token, c.encode(m.peer, annR.peer), refresh)),
      signature: hex(annR.signature),
      value: hex(c.encode(m.announce, annR))
    },
    mutable: {
      seq: 5,
      value: hex(Buffer.from('hello')),
      signable: hex(Buffer.concat([NS.MUTABLE_PUT, hash(c.encode(m.mutableSignable, { seq: 5, value: Buffer.from('hello') }))])),
      signature: hex(mutSig),
      put: hex(c.encode(m.mutablePutRequest, { publicKey: A.publicKey, seq: 5, value: Buffer.from('hello'), signature: mutSig }))
    }
  }
}

// --- small-order keys and R: libsodium refuses all of these ---
{
  const points = [
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'
  ]
  const withSign = (h) => h.slice(0, 62) + (parseInt(h.slice(62), 16) | 0x80).toString(16).padStart(2, '0')
  const all = points.concat(points.map(withSign))
  const msg = Buffer.from('small order')
  // Every small-order key with every small-order R and s = 0: for each key, one of the R
  // values is [s]B - [k]A, so a verifier without the small-order checks accepts it.
  for (const pk of all) {
    for (const r of all) {
      const s = unhex(r + '00'.repeat(32))
      if (sodium.crypto_sign_verify_detached(s, msg, unhex(pk))) throw new Error('libsodium accepted ' + pk)
    }
  }
  out.smallOrder = { points: all, message: hex(msg) }
  // And a real key with a small-order R (s = 0): refused as well.
  const s = unhex(points[1] + '00'.repeat(32))
  if (sodium.crypto_sign_verify_detached(s, msg, A.publicKey)) throw new Error('libsodium accepted R = identity')
}

// --- store: requests through lib/persistent.js ---
{
  const NOW = 1700000000000
  Date.now = () => NOW
  // record-cache picks LOOKUP records with Math.random; a fixed sequence keeps this output
  // reproducible (the Go test does not depend on which records are picked).
  let seed = 1
  Math.random = () => {
    seed = (seed * 48271) % 2147483647
    return (seed - 1) / 2147483646
  }

  const NODE_ID = fill(0xbb)
  const TOKEN = fill(0xaa)
  const FROM = '10.0.0.1:4000'

  const dht = { id: NODE_ID, _router: null }
  dht._router = new Router(dht, { forwards: { maxSize: 65536, maxAge: 0 } })
  const persistent = new Persistent(dht, {
    records: { maxSize: 65536, maxAge: 0 },
    refreshes: { maxSize: 65536, maxAge: 0 },
    bumps: { maxSize: 65536, maxAge: 0 },
    mutables: { maxSize: 32768, maxAge: 0 },
    immutables: { maxSize: 32768, maxAge: 0 }
  })

  function dispatch(req) {
    switch (req.command) {
      case COMMANDS.FIND_PEER: return persistent.onfindpeer(req)
      case COMMANDS.LOOKUP: return persistent.onlookup(req)
      case COMMANDS.ANNOUNCE: return persistent.onannounce(req)
      case COMMANDS.UNANNOUNCE: return persistent.onunannounce(req)
      case COMMANDS.MUTABLE_PUT: return persistent.onmutableput(req)
      case COMMANDS.MUTABLE_GET: return persistent.onmutableget(req)
      case COMMANDS.IMMUTABLE_PUT: return persistent.onimmutableput(req)
      case COMMANDS.IMMUTABLE_GET: return persistent.onimmutableget(req)
    }
    throw new Error('command ' + req.command)
  }

  const run = (name, command, { target = null, token = TOKEN, value = null, from = FROM } = {}) => {
    let expect = { kind: 'drop' }
    const req = {
      command,
      target,
      token,
      value,
      from: addr(from),
      reply(v, opts = {}) {
        expect = {
          kind: 'reply',
          value: v ? hex(v) : null,
          token: opts.token !== false,
          closerNodes: opts.closerNodes !== false
        }
      },
      error(code, opts = {}) {
        expect = { kind: 'error', code, token: opts.token === true, closerNodes: opts.closerNodes !== false }
      }
    }
    // Every record a LOOKUP may choose from, for a check that does not depend on the order
    // or on which 20 are picked.
    let pool = null
    if (command === COMMANDS.LOOKUP && target) {
      const k = hex(target)
      pool = persistent.records.get(k).map(hex)
      const fwd = dht._router.get(k) // no expiry here, so the refresh this implies is harmless
      if (fwd) pool.push(hex(fwd.record))
      pool.sort()
    }
    dispatch(req)
    const step = {
      name,
      command,
      target: target && hex(target),
      token: token && hex(token),
      value: value && hex(value),
      from,
      expect
    }
    if (pool) step.pool = pool
    out.store.push(step)
  }

  const forward = (name, target) => {
    const f = dht._router.get(target)
    out.store.push({
      name,
      command: -1, // a local Forward lookup, not a request
      target: hex(target),
      expect: f ? { relay: addrString(f.relay), record: hex(f.record) } : null
    })
  }

  const localUnannounce = (name, target, publicKey) => {
    persistent.unannounce(target, publicKey)
    out.store.push({ name, command: -2, target: hex(target), publicKey: hex(publicKey) })
  }

  function announce(k, target, opts = {}) {
    const ann = {
      peer: { publicKey: k.publicKey, relayAddresses: (opts.relays || []).map(addr) },
      refresh: opts.refresh || null,
      signature: null,
      bump: opts.bump || 0
    }
    const signer = opts.unannounce ? Persistent.signUnannounce : Persistent.signAnnounce
    ann.signature = signer(target, opts.signToken || TOKEN, opts.signID || NODE_ID, ann, opts.signer || k)
    return c.encode(m.announce, ann)
  }

  const T = hash(Buffer.from('topic'))
  const T2 = hash(Buffer.from('topic 2'))
  const T3 = hash(Buffer.from('topic 3'))
  const selfA = hash(A.publicKey)
  const selfB = hash(B.publicKey)
  const uint = (n) => c.encode(c.uint, n)

  run('lookup/empty topic', COMMANDS.LOOKUP, { target: T })
  run('lookup/no target', COMMANDS.LOOKUP, {})
  run('announce/A to topic', COMMANDS.ANNOUNCE, { target: T, value: announce(A, T, { relays: ['1.2.3.4:5', '5.6.7.8:9'] }) })
  run('lookup/topic with A', COMMANDS.LOOKUP, { target: T })
  run('find peer/topic records are invisible', COMMANDS.FIND_PEER, { target: T })
  run('announce/B with four relays and a bump', COMMANDS.ANNOUNCE, {
    target: T,
    value: announce(B, T, { relays: ['1.1.1.1:1', '2.2.2.2:2', '3.3.3.3:3', '4.4.4.4:4'], bump: NOW - 1000 })
  })
  run('lookup/topic with A and B', COMMANDS.LOOKUP, { target: T })
  run('announce/bump too far ahead is ignored', COMMANDS.ANNOUNCE, { target: T, value: announce(A, T, { bump: NOW + 61000 }) })
  run('lookup/bump unchanged', COMMANDS.LOOKUP, { target: T })
  run('announce/lower bump is ignored', COMMANDS.ANNOUNCE, { target: T, value: announce(A, T, { bump: NOW - 5000 }) })
  run('announce/bump within the drift', COMMANDS.ANNOUNCE, { target: T, value: announce(B, T, { bump: NOW + 59000 }) })
  run('lookup/bump raised', COMMANDS.LOOKUP, { target: T })
  run('announce/re-announce in the fresh generation keeps the first record', COMMANDS.ANNOUNCE, {
    target: T,
    value: announce(A, T, { relays: ['9.9.9.9:9'] })
  })
  run('lookup/first record kept', COMMANDS.LOOKUP, { target: T })

  {
    const good = announce(A, T, { relays: ['1.2.3.4:5'] })
    const forged = Buffer.from(good)
    forged[forged.length - 1] ^= 1
    run('announce/forged signature', COMMANDS.ANNOUNCE, { target: T, value: forged })
    const tampered = Buffer.from(good)
    tampered[1 + 32 + 1 + 3] ^= 1 // a relay address byte
    run('announce/tampered relay', COMMANDS.ANNOUNCE, { target: T, value: tampered })
    run('announce/signed by another key', COMMANDS.ANNOUNCE, { target: T, value: announce(A, T, { signer: B }) })
    run('announce/signed for another node', COMMANDS.ANNOUNCE, { target: T, value: announce(A, T, { signID: fill(0xbc) }) })
    run('announce/signed for another token', COMMANDS.ANNOUNCE, { target: T, value: announce(A, T, { signToken: fill(0xab) }) })
    run('announce/signed for another target', COMMANDS.ANNOUNCE, { target: T2, value: good })
    run('announce/signed under the unannounce namespace', COMMANDS.ANNOUNCE, { target: T, value: announce(A, T, { unannounce: true }) })
    run('announce/no token', COMMANDS.ANNOUNCE, { target: T, token: null, value: good })
    run('announce/no target', COMMANDS.ANNOUNCE, { value: good })
    run('announce/no value', COMMANDS.ANNOUNCE, { target: T })
    run('announce/empty value', COMMANDS.ANNOUNCE, { target: T, value: Buffer.alloc(0) })
    run('announce/truncated', COMMANDS.ANNOUNCE, { target: T, value: good.subarray(0, good.length - 1) })
    run('announce/trailing bytes are ignored', COMMANDS.ANNOUNCE, { target: T2, value: Buffer.concat([announce(A, T2), unhex('abcd')]) })
    const noSig = c.encode(m.announce, { peer: { publicKey: A.publicKey, relayAddresses: [] }, refresh: null, signature: null, bump: 0 })
    run('announce/no signature', COMMANDS.ANNOUNCE, { target: T, value: noSig })
    run('announce/neither peer nor refresh', COMMANDS.ANNOUNCE, { target: T, value: unhex('00') })
  }
  run('lookup/nothing changed', COMMANDS.LOOKUP, { target: T })

  // A long-form relay count: the reference verifies against the canonical re-encoding.
  {
    const peer = { publicKey: B.publicKey, relayAddresses: [addr('127.0.0.1:49737')] }
    const canonical = c.encode(m.peer, peer)
    const raw = Buffer.concat([B.publicKey, unhex('fd0100'), canonical.subarray(33)])
    const overCanonical = signDetached(annSignable(NS.ANNOUNCE, T2, NODE_ID, TOKEN, canonical), B.secretKey)
    const overRaw = signDetached(annSignable(NS.ANNOUNCE, T2, NODE_ID, TOKEN, raw), B.secretKey)
    run('announce/long-form count signed over the raw bytes', COMMANDS.ANNOUNCE, {
      target: T2,
      value: Buffer.concat([unhex('05'), raw, overRaw])
    })
    run('announce/long-form count signed over the canonical encoding', COMMANDS.ANNOUNCE, {
      target: T2,
      value: Buffer.concat([unhex('05'), raw, overCanonical])
    })
    run('lookup/canonical record stored', COMMANDS.LOOKUP, { target: T2 })
  }

  // announceSelf: a key announcing under its own hash becomes the forward.
  run('announce/A under its own hash', COMMANDS.ANNOUNCE, { target: selfA, value: announce(A, selfA, { relays: ['4.3.2.1:1'], bump: NOW }), from: '10.0.0.2:5000' })
  run('find peer/A', COMMANDS.FIND_PEER, { target: selfA })
  run('find peer/no target', COMMANDS.FIND_PEER, {})
  forward('forward/A from its announce source', selfA)
  run('lookup/A self target shows the forward, no bump', COMMANDS.LOOKUP, { target: selfA })
  run('announce/B under A\'s hash is a topic record', COMMANDS.ANNOUNCE, { target: selfA, value: announce(B, selfA) })
  run('lookup/A self target: B\'s record and the forward', COMMANDS.LOOKUP, { target: selfA })
  run('find peer/still A', COMMANDS.FIND_PEER, { target: selfA })
  run('announce/A again from elsewhere', COMMANDS.ANNOUNCE, { target: selfA, value: announce(A, selfA), from: '10.0.0.3:6000' })
  forward('forward/replaced', selfA)
  run('find peer/replaced record', COMMANDS.FIND_PEER, { target: selfA })

  // UNANNOUNCE
  run('unannounce/signed under the announce namespace', COMMANDS.UNANNOUNCE, { target: T, value: announce(A, T) })
  run('unannounce/no token', COMMANDS.UNANNOUNCE, { target: T, token: null, value: announce(A, T, { unannounce: true }) })
  run('unannounce/A from topic', COMMANDS.UNANNOUNCE, { target: T, value: announce(A, T, { unannounce: true }) })
  run('lookup/only B left', COMMANDS.LOOKUP, { target: T })
  run('unannounce/unknown key is fine', COMMANDS.UNANNOUNCE, { target: T, value: announce(A, T, { unannounce: true }) })
  run('unannounce/A self target', COMMANDS.UNANNOUNCE, { target: selfA, value: announce(A, selfA, { unannounce: true }) })
  run('find peer/A gone', COMMANDS.FIND_PEER, { target: selfA })
  run('lookup/B still under A\'s hash', COMMANDS.LOOKUP, { target: selfA })
  localUnannounce('local unannounce/B from A\'s hash', selfA, B.publicKey)
  run('lookup/A self target empty', COMMANDS.LOOKUP, { target: selfA })

  // Refresh chains: r0 = H(r1), r1 = H(r2).
  {
    const r2 = fill(0x31)
    const r1 = hash(r2)
    const r0 = hash(r1)
    const refreshOnly = (r) => c.encode(m.announce, { peer: null, refresh: r, signature: null, bump: 0 })
    const T4 = hash(Buffer.from('topic 4'))
    run('announce/A with refresh r0', COMMANDS.ANNOUNCE, { target: T4, value: announce(A, T4, { refresh: r0, relays: ['7.7.7.7:7'] }) })
    run('unannounce/A', COMMANDS.UNANNOUNCE, { target: T4, value: announce(A, T4, { unannounce: true }) })
    run('lookup/gone', COMMANDS.LOOKUP, { target: T4 })
    run('refresh/r1 revives', COMMANDS.ANNOUNCE, { target: T, value: refreshOnly(r1) })
    run('lookup/revived under its own topic', COMMANDS.LOOKUP, { target: T4 })
    run('lookup/not under the request target', COMMANDS.LOOKUP, { target: T })
    run('refresh/r1 again is refused', COMMANDS.ANNOUNCE, { target: T4, value: refreshOnly(r1) })
    run('refresh/r0 is refused', COMMANDS.ANNOUNCE, { target: T4, value: refreshOnly(r0) })
    run('refresh/r2 continues the chain', COMMANDS.ANNOUNCE, { target: T4, value: refreshOnly(r2) })
    run('refresh/no token', COMMANDS.ANNOUNCE, { target: T4, token: null, value: refreshOnly(hash(fill(0x32))) })
    run('refresh/unknown', COMMANDS.ANNOUNCE, { target: T4, value: refreshOnly(fill(0x39)) })

    const q1 = fill(0x41)
    const q0 = hash(q1)
    run('announce/B under its own hash with refresh', COMMANDS.ANNOUNCE, { target: selfB, value: announce(B, selfB, { refresh: q0 }), from: '10.0.0.4:7000' })
    run('unannounce/B self', COMMANDS.UNANNOUNCE, { target: selfB, value: announce(B, selfB, { unannounce: true }) })
    forward('forward/B gone', selfB)
    run('refresh/B from a new address', COMMANDS.ANNOUNCE, { target: T, value: refreshOnly(q1), from: '10.0.0.5:8000' })
    forward('forward/B back with the new relay', selfB)
  }

  // More than 20 records: LOOKUP picks 20.
  for (let i = 0; i < 23; i++) {
    const k = keyPair(0x50 + i)
    run(`announce/flood ${i}`, COMMANDS.ANNOUNCE, { target: T3, value: announce(k, T3, { relays: [`10.1.0.${i}:${1000 + i}`] }) })
  }
  run('lookup/20 of 23', COMMANDS.LOOKUP, { target: T3 })

  // Mutable values.
  {
    const target = selfA
    const put = (k, seq, value, opts = {}) => {
      const signature = Persistent.signMutable(seq, value, opts.signer || k)
      return c.encode(m.mutablePutRequest, { publicKey: k.publicKey, seq, value, signature })
    }
    const hello = Buffer.from('hello')
    run('mutable get/nothing stored', COMMANDS.MUTABLE_GET, { target, value: uint(0) })
    run('mutable put/seq 1', COMMANDS.MUTABLE_PUT, { target, value: put(A, 1, hello) })
    run('mutable get/seq 0', COMMANDS.MUTABLE_GET, { target, value: uint(0) })
    run('mutable get/seq 1', COMMANDS.MUTABLE_GET, { target, value: uint(1) })
    run('mutable get/seq 2 is newer than stored', COMMANDS.MUTABLE_GET, { target, value: uint(2) })
    run('mutable get/no value', COMMANDS.MUTABLE_GET, { target })
    run('mutable get/empty value', COMMANDS.MUTABLE_GET, { target, value: Buffer.alloc(0) })
    run('mutable get/no target', COMMANDS.MUTABLE_GET, { value: uint(0) })
    run('mutable get/no token is fine', COMMANDS.MUTABLE_GET, { target, token: null, value: uint(0) })
    run('mutable put/seq reused', COMMANDS.MUTABLE_PUT, { target, value: put(A, 1, Buffer.from('other')) })
    run('mutable put/seq too low', COMMANDS.MUTABLE_PUT, { target, value: put(A, 0, hello) })
    run('mutable put/same seq same value', COMMANDS.MUTABLE_PUT, { target, value: put(A, 1, hello) })
    run('mutable put/seq 2', COMMANDS.MUTABLE_PUT, { target, value: put(A, 2, Buffer.from('newer')) })
    run('mutable get/latest', COMMANDS.MUTABLE_GET, { target, value: uint(0) })
    run('mutable put/bad signature', COMMANDS.MUTABLE_PUT, { target, value: put(A, 3, hello, { signer: B }) })
    run('mutable put/key does not match target', COMMANDS.MUTABLE_PUT, { target, value: put(B, 3, hello) })
    run('mutable put/no token', COMMANDS.MUTABLE_PUT, { target, token: null, value: put(A, 3, hello) })
    run('mutable put/truncated', COMMANDS.MUTABLE_PUT, { target, value: put(A, 3, hello).subarray(0, 90) })
    run('mutable put/empty value', COMMANDS.MUTABLE_PUT, { target: selfB, value: put(B, 0, Buffer.alloc(0)) })
    run('mutable get/empty value stored', COMMANDS.MUTABLE_GET, { target: selfB, value: uint(0) })
    run('mutable put/empty then non-empty at the same seq', COMMANDS.MUTABLE_PUT, { target: selfB, value: put(B, 0, hello) })
  }

  // Immutable values.
  {
    const v = Buffer.from('immutable value')
    run('immutable get/nothing stored', COMMANDS.IMMUTABLE_GET, { target: hash(v) })
    run('immutable put/hash mismatch', COMMANDS.IMMUTABLE_PUT, { target: hash(Buffer.from('x')), value: v })
    run('immutable put/no token', COMMANDS.IMMUTABLE_PUT, { target: hash(v), token: null, value: v })
    run('immutable put/no value', COMMANDS.IMMUTABLE_PUT, { target: hash(v) })
    run('immutable put', COMMANDS.IMMUTABLE_PUT, { target: hash(v), value: v })
    run('immutable get', COMMANDS.IMMUTABLE_GET, { target: hash(v) })
    run('immutable get/no target', COMMANDS.IMMUTABLE_GET, {})
    run('immutable put/empty value', COMMANDS.IMMUTABLE_PUT, { target: hash(Buffer.alloc(0)), value: Buffer.alloc(0) })
    run('immutable get/empty value is a value', COMMANDS.IMMUTABLE_GET, { target: hash(Buffer.alloc(0)) })
  }

  persistent.destroy()
  dht._router.destroy()
}

out.connect = require('./connect.js')({ mod, hex, unhex, fill })

process.stdout.write(JSON.stringify(out, null, 1) + '\n')
