'use strict'

// Prints the golden vectors for package dht/blindrelay as JSON on stdout.
// Every hex string is produced or checked by the installed reference (npm
// blind-relay's messages.pair and messages.unpair), never written by hand:
//
//   node testdata/gen.js > testdata/vectors.json
//
// encode: the reference encodes value; the Go test encodes and decodes it.
// decode: input the reference accepts and what it decodes it to (long
//         flag forms, other flag bits, trailing bytes).
// reject: input the reference refuses to decode.

const path = require('path')
const modules = path.join(__dirname, '../../../interop/node_modules')
const { messages } = require(path.join(modules, 'blind-relay'))
const c = require(path.join(modules, 'compact-encoding'))
const version = require(path.join(modules, 'blind-relay/package.json')).version

const hex = (buf) => Buffer.from(buf).toString('hex')
const token = (b) => hex(Buffer.alloc(32, b))
const codecs = { pair: messages.pair, unpair: messages.unpair }

function toJSON (codec, v) {
  if (codec === 'unpair') return { token: hex(v.token) }
  return { isInitiator: v.isInitiator, token: hex(v.token), id: v.id, seq: v.seq }
}

const encode = []
const decode = []
const reject = []

function enc (name, codec, value) {
  const v = { ...value, token: Buffer.from(value.token, 'hex') }
  encode.push({ name, codec, value, hex: hex(c.encode(codecs[codec], v)) })
}

function dec (name, codec, h) {
  decode.push({ name, codec, hex: h, value: toJSON(codec, c.decode(codecs[codec], Buffer.from(h, 'hex'))) })
}

function rej (name, codec, h) {
  try {
    c.decode(codecs[codec], Buffer.from(h, 'hex'))
  } catch (err) {
    reject.push({ name, codec, hex: h, error: err.message })
    return
  }
  throw new Error(`${name}: the reference accepts ${h}`)
}

enc('pair initiator', 'pair', { isInitiator: true, token: token(0xab), id: 1, seq: 0 })
enc('pair responder', 'pair', { isInitiator: false, token: token(0x01), id: 0xfc, seq: 0 })
enc('pair large id', 'pair', { isInitiator: true, token: token(0x02), id: 0xfffffffe, seq: 0xfd })
enc('pair mid id', 'pair', { isInitiator: false, token: token(0x03), id: 0x1234, seq: 7 })
enc('unpair', 'unpair', { token: token(0xcd) })

const t = token(0x11)
dec('pair flags with other bits', 'pair', '03' + t + '0500')
dec('pair flags 0xfc', 'pair', 'fc' + t + '0500')
dec('pair flags two bytes', 'pair', 'fd0100' + t + '0500')
dec('pair flags four bytes', 'pair', 'fe00000000' + t + '0500')
dec('pair flags eight bytes', 'pair', 'ff0100000000000000' + t + '0500')
dec('pair long id form', 'pair', '01' + t + 'fe05000000' + '00')
dec('pair trailing bytes', 'pair', '01' + t + '0500ffff')
dec('unpair flags set', 'unpair', '01' + token(0x22))
dec('unpair trailing bytes', 'unpair', '00' + token(0x22) + '00')

rej('pair empty', 'pair', '')
rej('pair short token', 'pair', '01' + token(0x11).slice(2))
rej('pair no id', 'pair', '01' + t)
rej('pair no seq', 'pair', '01' + t + '05')
rej('pair cut id', 'pair', '01' + t + 'fd01')
rej('pair cut flags', 'pair', 'fd01')
rej('unpair empty', 'unpair', '')
rej('unpair short token', 'unpair', '00' + token(0x22).slice(2))

process.stdout.write(JSON.stringify({ reference: `blind-relay ${version}`, encode, decode, reject }, null, 1) + '\n')
