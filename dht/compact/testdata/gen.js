'use strict'

// Prints the golden vectors for package dht/compact as JSON on stdout.
// Every hex string below is produced or checked by the installed reference
// (npm compact-encoding), never written by hand:
//
//   node testdata/gen.js > testdata/vectors.json
//
// encode:  the reference encodes value; the Go test encodes and decodes it.
// decode:  input the reference accepts and the value it decodes to
//          (non-canonical forms and other lenient decodes).
// reject:  input the reference refuses to decode.
// diverge: input the reference decodes leniently but the Go package rejects
//          on purpose; the reference's reading is kept for the record.

const path = require('path')
const modules = path.join(__dirname, '../../../interop/node_modules')
const c = require(path.join(modules, 'compact-encoding'))
const version = require(path.join(modules, 'compact-encoding/package.json')).version

const hex = (buf) => Buffer.from(buf).toString('hex')
const arrayUint = c.array(c.uint)

// codec name -> [reference codec, value as it goes into JSON -> value the reference takes, decoded value -> JSON]
const id = (v) => v
const codecs = {
  uint: [c.uint, id, id],
  uint8: [c.uint8, id, id],
  uint16: [c.uint16, id, id],
  uint24: [c.uint24, id, id],
  uint32: [c.uint32, id, id],
  uint40: [c.uint40, id, id],
  uint48: [c.uint48, id, id],
  uint56: [c.uint56, id, id],
  uint64: [c.uint64, id, id],
  int: [c.int, id, id],
  bool: [c.bool, id, id],
  float64: [c.float64, id, id],
  buffer: [c.buffer, (v) => Buffer.from(v, 'hex'), hex],
  string: [c.string, id, id],
  fixed32: [c.fixed32, (v) => Buffer.from(v, 'hex'), hex],
  fixed64: [c.fixed64, (v) => Buffer.from(v, 'hex'), hex],
  arrayUint: [arrayUint, id, id],
  ipv4: [c.ipv4, id, id],
  ipv6: [c.ipv6, id, id],
  ip: [c.ip, id, id],
  ipv4Address: [c.ipv4Address, id, (v) => ({ host: v.host, port: v.port })],
  ipv6Address: [c.ipv6Address, id, (v) => ({ host: v.host, port: v.port })],
  ipAddress: [c.ipAddress, id, (v) => ({ host: v.host, port: v.port })]
}

const encode = []
const decode = []
const reject = []
const diverge = []

function enc(name, codec, value) {
  const [e, into] = codecs[codec]
  const buf = c.encode(e, into(value))
  encode.push({ name, codec, value, hex: hex(buf) })
}

function decodeWithLength(codec, h) {
  const [e, , out] = codecs[codec]
  const buf = Buffer.from(h, 'hex')
  const state = c.state(0, buf.byteLength, buf)
  const value = out(e.decode(state))
  return { value, used: state.start }
}

function dec(name, codec, h) {
  decode.push({ name, codec, hex: h, ...decodeWithLength(codec, h) })
}

function div(name, codec, h, why) {
  diverge.push({ name, codec, hex: h, ...decodeWithLength(codec, h), why })
}

function rej(name, codec, h) {
  const [e] = codecs[codec]
  try {
    c.decode(e, Buffer.from(h, 'hex'))
  } catch (err) {
    reject.push({ name, codec, hex: h, error: err.message })
    return
  }
  throw new Error('reference accepted ' + name)
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER // 2^53-1

for (const v of [0, 1, 252, 253, 254, 255, 256, 0xffff, 0x10000, 0xffffffff, 2 ** 32, 2 ** 40 + 5, MAX_SAFE]) {
  enc('uint/' + v, 'uint', v)
}
for (const v of [0, 0x7f, 0xff]) enc('uint8/' + v, 'uint8', v)
for (const v of [0, 0x1234, 0xffff]) enc('uint16/' + v, 'uint16', v)
for (const v of [0, 0x123456, 0xffffff]) enc('uint24/' + v, 'uint24', v)
for (const v of [0, 0x12345678, 0xffffffff]) enc('uint32/' + v, 'uint32', v)
for (const v of [0, 0x123456789a, 2 ** 40 - 1]) enc('uint40/' + v, 'uint40', v)
for (const v of [0, 0x123456789abc, 2 ** 48 - 1]) enc('uint48/' + v, 'uint48', v)
for (const v of [0, 0x123456789abcd, MAX_SAFE]) enc('uint56/' + v, 'uint56', v)
for (const v of [0, 0x12345678, 2 ** 32, MAX_SAFE]) enc('uint64/' + v, 'uint64', v)
for (const v of [0, -1, 1, -2, 2, 126, -126, 127, 300, -300, 0x7fffffff, -(2 ** 31), 2 ** 40, -(2 ** 40), 2 ** 52 - 1, -(2 ** 52)]) {
  enc('int/' + v, 'int', v)
}
enc('bool/false', 'bool', false)
enc('bool/true', 'bool', true)
for (const v of [0, 1.5, -2.25, 0.1, 1e300]) enc('float64/' + v, 'float64', v)
enc('buffer/empty', 'buffer', '')
enc('buffer/abc', 'buffer', '616263')
enc('buffer/253', 'buffer', 'ab'.repeat(253))
enc('string/empty', 'string', '')
enc('string/hello', 'string', 'hello')
enc('string/héllo', 'string', 'héllo')
enc('string/emoji', 'string', 'mesh \u{1F310}')
enc('fixed32/zero', 'fixed32', '00'.repeat(32))
enc('fixed32/seq', 'fixed32', Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('hex'))
enc('fixed64/seq', 'fixed64', Buffer.from(Array.from({ length: 64 }, (_, i) => 255 - i)).toString('hex'))
enc('arrayUint/empty', 'arrayUint', [])
enc('arrayUint/1,300', 'arrayUint', [1, 300])
enc('arrayUint/mixed', 'arrayUint', [0, 252, 253, 0x10000, 2 ** 32])
enc('ipv4/127.0.0.1', 'ipv4', '127.0.0.1')
enc('ipv6/::1', 'ipv6', '::1')
enc('ip/v4', 'ip', '192.168.1.254')
enc('ip/v6', 'ip', '2001:db8::1')
enc('ipv4Address/127.0.0.1:10001', 'ipv4Address', { host: '127.0.0.1', port: 10001 })
enc('ipv4Address/88.99.3.86:49737', 'ipv4Address', { host: '88.99.3.86', port: 49737 })
enc('ipv4Address/0.0.0.0:0', 'ipv4Address', { host: '0.0.0.0', port: 0 })
enc('ipv4Address/255.255.255.255:65535', 'ipv4Address', { host: '255.255.255.255', port: 65535 })
enc('ipv6Address/fe80::1:2:4660', 'ipv6Address', { host: 'fe80::1:2', port: 0x1234 })
enc('ipv6Address/::1:49737', 'ipv6Address', { host: '::1', port: 49737 })
enc('ipv6Address/2001:db8:0:0:1:0:0:1:443', 'ipv6Address', { host: '2001:db8:0:0:1:0:0:1', port: 443 })
enc('ipAddress/10.0.0.1:80', 'ipAddress', { host: '10.0.0.1', port: 80 })
enc('ipAddress/[2001:db8::1]:443', 'ipAddress', { host: '2001:db8::1', port: 443 })
enc('ipAddress/[::ffff:102:304]:7', 'ipAddress', { host: '::ffff:102:304', port: 7 })

dec('uint/fd0500', 'uint', 'fd0500')
dec('uint/fe05000000', 'uint', 'fe05000000')
dec('uint/ff0500000000000000', 'uint', 'ff0500000000000000')
dec('uint/fefc000000', 'uint', 'fefc000000')
dec('uint/trailing', 'uint', '0705')
dec('int/fd0100', 'int', 'fd0100')
dec('bool/02', 'bool', '02')
dec('bool/ff', 'bool', 'ff')
dec('buffer/fd0300', 'buffer', 'fd0300616263')
dec('ipv6/mapped', 'ipv6', '00000000000000000000ffff7f000001')

rej('uint/2^53', 'uint', 'ff0000000000002000')
rej('uint/max', 'uint', 'ffffffffffffffffff')
rej('uint56/2^53', 'uint56', '00000000000020')
rej('uint64/2^53', 'uint64', '0000000000002000')
rej('arrayUint/count-over-max', 'arrayUint', 'fe01001000')
rej('buffer/length-past-end', 'buffer', '05616263')

// The largest count the reference allows; the body is not written out.
const atMax = Buffer.concat([c.encode(c.uint, 0x100000), Buffer.alloc(0x100000)])
if (c.decode(arrayUint, atMax).length !== 0x100000) throw new Error('array at max count refused')

div('ipAddress/family5', 'ipAddress', '057f0000010000000000000000000000015000', 'any family byte other than 4 is read as IPv6')
div('ip/family0', 'ip', '0000000000000000000000000000000001', 'any family byte other than 4 is read as IPv6')

process.stdout.write(JSON.stringify({ reference: 'compact-encoding ' + version, encode, decode, reject, diverge }, null, 1) + '\n')
