#!/usr/bin/env node
'use strict'

// noise.js runs Noise handshakes with the pinned reference (noise-handshake
// with noise-curve-ed, as hyperdht and @hyperswarm/secret-stream use them) and
// lets a Go test drive them message by message over JSON lines. It is started
// by the Go package in this directory (interop.StartNoise).
//
// Usage:
//   node noise.js
//
// Protocol: jsonlines.js (one command per line on stdin, replies and events
// on stdout). Byte fields are hex. Sessions are named by the number "new"
// returns (1, 2, ...).
//
//   new     {pattern: "IK"|"XX", initiator, flavour?, seed?, remotePublicKey?, prologue?}
//           -> {session, publicKey}
//           flavour "noise" (default) is noise-handshake itself, with the
//           prologue given, or for a null prologue hyperdht's
//           NS.PEER_HANDSHAKE under IK and nothing under XX (what NoiseWrap
//           and secret-stream pass). Flavour "secret-stream" is
//           @hyperswarm/secret-stream's lib/handshake.js (XX only, empty
//           prologue and payloads); it sends its next message itself on
//           receiving one (see recv). seed null: a random key pair
//           (crypto_sign_keypair). Ephemeral keys are always random.
//   send    {session, payload} -> {message, complete}
//   recv    {session, message} -> {payload, complete, reply}
//           reply is the next message a secret-stream session wrote in
//           response (framing removed), else null.
//   result  {session} -> {tx, rx, hash, publicKey, remotePublicKey}
//   close   {session}
//
// A refused message is an error reply whose code says why: ESIZE (message
// too short or ciphertext too long), EDECRYPT (tag did not verify), EKEY (the
// DH refused a public key), EFAILED (secret-stream's handshake reports only
// that it failed), ESTATE (out of turn).
//
// The process exits 0 on the "exit" op, on stdin EOF, on SIGTERM and SIGINT.

const Noise = require('noise-handshake')
const curve = require('noise-curve-ed')
const { NS } = require('hyperdht/lib/constants')
const SecretStreamHandshake = require('@hyperswarm/secret-stream/lib/handshake')
const { event, hex, fail, boolArg, lookupArg, hexArg, bytesArg, serve } = require('./jsonlines')

const sessions = new Map() // number -> session
let nextSession = 1

// codeOf names the reason noise-handshake threw err.
function codeOf (err) {
  const msg = String(err && err.message)
  if (err instanceof RangeError || /Insufficient bytes|exceeds maximum/.test(msg)) return 'ESIZE'
  if (msg.includes('could not verify data')) return 'EDECRYPT'
  if (msg === 'status: -1') return 'EKEY'
  return null
}

function sessionArg (cmd) {
  return lookupArg(cmd, 'session', sessions, 'session')
}

// unframe strips secret-stream's 3-byte little-endian length.
function unframe (data) {
  const len = data[0] | (data[1] << 8) | (data[2] << 16)
  if (len !== data.byteLength - 3) throw new Error('secret-stream framed a message badly')
  return data.subarray(3)
}

function noiseSession (cmd, keyPair, remote) {
  let prologue = bytesArg(cmd, 'prologue')
  if (prologue === null) prologue = cmd.pattern === 'IK' ? NS.PEER_HANDSHAKE : Buffer.alloc(0)
  const state = new Noise(cmd.pattern, cmd.initiator, keyPair, { curve })
  state.initialise(prologue, remote)
  let turn = cmd.initiator ? 'send' : 'recv'
  const step = (want, fn) => {
    if (state.complete || turn !== want) throw fail(`${want} out of turn`, 'ESTATE')
    turn = null // spent after a failure, as the reference's state is
    const out = fn()
    turn = want === 'send' ? 'recv' : 'send'
    return out
  }
  return {
    send: (payload) => step('send', () => ({ message: hex(state.send(payload)), complete: state.complete })),
    // A copy: the reference zeroes the remote ephemeral key inside the
    // buffer it is given once the handshake completes.
    recv: (msg) => step('recv', () => ({ payload: hex(state.recv(Buffer.from(msg))), complete: state.complete, reply: null })),
    result: () => state.complete ? { tx: state.tx, rx: state.rx, hash: state.hash, remotePublicKey: state.rs } : null
  }
}

function secretStreamSession (cmd, keyPair, remote) {
  if (cmd.pattern !== 'XX') throw fail('flavour secret-stream runs XX only')
  if (bytesArg(cmd, 'prologue') !== null) throw fail('flavour secret-stream takes no prologue')
  const h = new SecretStreamHandshake(cmd.initiator, keyPair, remote, 'XX')
  let sent = false
  let done = null
  return {
    send: (payload) => {
      if (!cmd.initiator || sent) throw fail('a secret-stream session sends only the first message itself', 'ESTATE')
      if (payload.byteLength !== 0) throw fail('secret-stream sends empty payloads only')
      sent = true
      const r = h.send()
      if (r === null) throw fail('secret-stream handshake failed', 'EFAILED')
      return { message: hex(unframe(r.data)), complete: false }
    },
    recv: (msg) => {
      if (h.destroyed || done !== null) throw fail('recv out of turn', 'ESTATE')
      const r = h.recv(Buffer.from(msg))
      if (r === null) throw fail('secret-stream handshake failed', 'EFAILED')
      if (r.tx) done = r
      return { payload: '', complete: done !== null, reply: r.data ? hex(unframe(r.data)) : null }
    },
    result: () => done
  }
}

const ops = {
  new: (cmd) => {
    if (cmd.pattern !== 'IK' && cmd.pattern !== 'XX') throw fail('pattern: want "IK" or "XX"')
    boolArg(cmd, 'initiator')
    const seed = bytesArg(cmd, 'seed', 32)
    const keyPair = seed === null ? curve.generateKeyPair() : curve.generateKeyPair(seed)
    const remote = bytesArg(cmd, 'remotePublicKey', 32)
    const flavour = cmd.flavour || 'noise'
    let s
    if (flavour === 'noise') s = noiseSession(cmd, keyPair, remote)
    else if (flavour === 'secret-stream') s = secretStreamSession(cmd, keyPair, remote)
    else throw fail('flavour: want "noise" or "secret-stream"')
    s.keyPair = keyPair
    const n = nextSession++
    sessions.set(n, s)
    return { session: n, publicKey: hex(keyPair.publicKey) }
  },
  send: (cmd) => run(() => sessionArg(cmd).send(hexArg(cmd, 'payload'))),
  recv: (cmd) => run(() => sessionArg(cmd).recv(hexArg(cmd, 'message'))),
  result: (cmd) => {
    const s = sessionArg(cmd)
    const r = s.result()
    if (r === null) throw fail('the handshake is not complete', 'ESTATE')
    return { tx: hex(r.tx), rx: hex(r.rx), hash: hex(r.hash), publicKey: hex(s.keyPair.publicKey), remotePublicKey: hex(r.remotePublicKey) }
  },
  close: (cmd) => {
    sessionArg(cmd)
    sessions.delete(cmd.session)
    return null
  }
}

// run calls fn and gives what the reference throws a code.
function run (fn) {
  try {
    return fn()
  } catch (err) {
    if (err.code === undefined || err.code === null) err.code = codeOf(err)
    throw err
  }
}

serve({ ops, stop: () => sessions.clear() })

// The Go side waits for "listening" (with an "info" object) before it sends
// commands; there is nothing to set up.
event('listening', { info: {}, version: require('noise-handshake/package.json').version })
