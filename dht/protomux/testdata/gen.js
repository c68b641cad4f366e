'use strict'

// Prints the golden transcripts for package dht/protomux as JSON on stdout.
// Every frame and event below is produced by the installed reference (npm
// protomux), never written by hand, except the "inject" frames, which are
// crafted input whose handling the reference records:
//
//   node testdata/gen.js > testdata/vectors.json
//
// A scenario runs two reference muxes, a and b, over an in-memory link that
// only moves frames when a "deliver" step says so. Each step records the
// frames each side wrote during it (out.a, out.b) and the callbacks it
// caused (events). The Go test plays either side against the recorded
// frames of the other and must write the same frames and see the same
// events.
//
// Steps (side is "a" or "b"; channel is the side's channel number, counted
// from 0 in the order the side created channels, including those its pair
// handler created):
//   create   {side, channel, protocol, id, handshake: bool, messages: n, multiple}
//   open     {side, channel, handshake}           handshake hex or null
//   send     {side, channel, type, payload}
//   close    {side, channel}
//   cork / uncork {side}
//   pair     {side, protocol, id, accept}          accept: the options of the channel the
//                                                  handler creates, with the id it is
//                                                  called with, and opens with handshake
//                                                  accept.open; null to decline
//   deliver  {from}                                every frame from has written since the
//                                                  last deliver, one at a time
//   inject   {side, frame}                         a crafted frame given to side
// Events: open {channel, handshake}, message {channel, type, payload},
// close {channel, remote}, destroy {} (the mux destroyed its stream).

const path = require('path')
const EventEmitter = require('events')
const modules = path.join(__dirname, '../../../interop/node_modules')
const Protomux = require(path.join(modules, 'protomux'))
const c = require(path.join(modules, 'compact-encoding'))
const version = require(path.join(modules, 'protomux/package.json')).version

const hex = (buf) => (buf === null || buf === undefined ? null : Buffer.from(buf).toString('hex'))
const bytes = (h) => (h === null || h === undefined ? null : Buffer.from(h, 'hex'))

// FakeStream is the least a Protomux needs from its stream; writes are kept.
class FakeStream extends EventEmitter {
  constructor (side) {
    super()
    this.side = side
    this.userData = null
    this.destroyed = false
    this.written = [] // frames not yet delivered
    this.out = [] // frames written during the current step
  }

  write (buf) {
    const f = Buffer.from(buf)
    this.written.push(f)
    this.out.push(hex(f))
    return true
  }

  pause () {}
  resume () {}
  end () {}

  destroy (err) {
    if (this.destroyed) return
    this.destroyed = true
    this.onDestroy(err)
    this.emit('close')
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve))

async function run (scenario) {
  const sides = {}
  let events = []
  for (const name of ['a', 'b']) {
    const stream = new FakeStream(name)
    stream.onDestroy = () => events.push({ side: name, event: 'destroy' })
    sides[name] = { stream, mux: new Protomux(stream), channels: [] }
  }

  function create (name, s) {
    const side = sides[name]
    const index = side.channels.length
    if (s.channel !== index) throw new Error(`${scenario.name}: channel ${s.channel} is number ${index}`)
    const ch = side.mux.createChannel({
      protocol: s.protocol,
      id: bytes(s.id),
      unique: !s.multiple,
      handshake: s.handshake ? c.raw : null,
      onopen (hs) { events.push({ side: name, event: 'open', channel: index, handshake: hex(hs) }) },
      onclose (remote) { events.push({ side: name, event: 'close', channel: index, remote }) }
    })
    side.channels.push(ch)
    if (ch === null) return false
    for (let t = 0; t < (s.messages || 0); t++) {
      ch.addMessage({
        encoding: c.raw,
        onmessage (m) { events.push({ side: name, event: 'message', channel: index, type: t, payload: hex(m) }) }
      })
    }
    return true
  }

  const steps = []
  for (const s of scenario.steps) {
    events = []
    const side = sides[s.side]
    let ok = null
    switch (s.op) {
      case 'create':
        ok = create(s.side, s)
        break
      case 'open':
        side.channels[s.channel].open(bytes(s.handshake))
        break
      case 'send':
        ok = side.channels[s.channel].messages[s.type].send(bytes(s.payload))
        break
      case 'close':
        side.channels[s.channel].close()
        break
      case 'cork':
        side.mux.cork()
        break
      case 'uncork':
        side.mux.uncork()
        break
      case 'pair':
        side.mux.pair({ protocol: s.protocol, id: bytes(s.id) }, (id) => {
          if (s.accept === null) return
          const channel = side.channels.length
          if (create(s.side, { ...s.accept, channel, id: hex(id) })) side.channels[channel].open(bytes(s.accept.open))
        })
        break
      case 'deliver': {
        const from = sides[s.from].stream
        const to = sides[s.from === 'a' ? 'b' : 'a'].stream
        const frames = from.written
        from.written = []
        for (const f of frames) {
          if (to.destroyed) break
          to.emit('data', f)
          await tick()
        }
        break
      }
      case 'inject':
        side.stream.emit('data', bytes(s.frame))
        break
      default:
        throw new Error(`${scenario.name}: unknown op ${s.op}`)
    }
    await tick()
    const out = { a: sides.a.stream.out, b: sides.b.stream.out }
    sides.a.stream.out = []
    sides.b.stream.out = []
    steps.push({ ...s, ok, out, events })
  }
  return { name: scenario.name, steps }
}

const P = 'test-proto'
const create = (side, channel, extra) => ({ op: 'create', side, channel, protocol: P, id: null, handshake: false, messages: 2, multiple: false, ...extra })
const open = (side, channel, handshake = null) => ({ op: 'open', side, channel, handshake })
const send = (side, channel, type, payload) => ({ op: 'send', side, channel, type, payload })
const close = (side, channel) => ({ op: 'close', side, channel })
const deliver = (from) => ({ op: 'deliver', from })
const cork = (side) => ({ op: 'cork', side })
const uncork = (side) => ({ op: 'uncork', side })
const inject = (side, frame) => ({ op: 'inject', side, frame })

const scenarios = [
  {
    name: 'open-send-close',
    steps: [
      create('a', 0), create('b', 0), open('a', 0), open('b', 0),
      deliver('a'), deliver('b'),
      send('a', 0, 0, '68656c6c6f'), send('a', 0, 1, ''), send('b', 0, 1, '00ff'),
      deliver('a'), deliver('b'),
      close('a', 0), send('a', 0, 0, '01'), deliver('a'), deliver('b'),
      // the freed ids are reused
      create('a', 1), create('b', 1), open('a', 1), open('b', 1), deliver('a'), deliver('b'),
      send('b', 1, 0, 'aa'), deliver('b')
    ]
  },
  {
    name: 'id-and-handshake',
    steps: [
      create('a', 0, { id: 'abcdef', handshake: true }),
      create('b', 0, { id: 'abcdef', handshake: true }),
      create('b', 1, { id: '00', handshake: true }),
      open('a', 0, '0102'), open('b', 1, 'ffff'), open('b', 0, '0304'),
      deliver('a'), deliver('b'),
      send('a', 0, 1, '0a0b'), deliver('a')
    ]
  },
  {
    name: 'open-crossing',
    steps: [
      create('a', 0), create('b', 0), open('a', 0), open('b', 0),
      send('a', 0, 0, '01'), send('b', 0, 0, '02'),
      deliver('a'), deliver('b')
    ]
  },
  {
    name: 'pair-handler',
    steps: [
      { op: 'pair', side: 'b', protocol: P, id: null, accept: { protocol: P, handshake: true, messages: 2, multiple: false, open: '99' } },
      create('a', 0, { id: 'beef', handshake: true }),
      cork('a'), open('a', 0, '77'), send('a', 0, 0, '0102'), send('a', 0, 1, '03'), uncork('a'),
      deliver('a'), deliver('b'),
      send('a', 0, 1, '04'), deliver('a'),
      create('a', 1, { id: 'cafe' }), open('a', 1), send('a', 1, 0, '05'), deliver('a'), deliver('b')
    ]
  },
  {
    name: 'pair-declined-and-reject',
    steps: [
      { op: 'pair', side: 'b', protocol: P, id: '01', accept: null },
      create('a', 0, { id: '01' }), open('a', 0), send('a', 0, 0, '01'),
      create('a', 1, { protocol: 'other' }), open('a', 1),
      deliver('a'), deliver('b'),
      create('a', 2, { protocol: 'other' }), open('a', 2), deliver('a'), deliver('b')
    ]
  },
  {
    name: 'close-before-paired',
    steps: [
      create('a', 0), open('a', 0), close('a', 0), create('b', 0), open('b', 0),
      deliver('a'), deliver('b'),
      create('a', 1), open('a', 1), create('b', 1), open('b', 1), deliver('b'), deliver('a')
    ]
  },
  {
    name: 'unique-and-multiple',
    steps: [
      create('a', 0), open('a', 0), create('a', 1),
      create('a', 2, { multiple: true }), open('a', 2),
      create('b', 0, { multiple: true }), create('b', 1, { multiple: true }), open('b', 0), open('b', 1),
      deliver('a'), deliver('b'),
      send('a', 0, 0, 'a0'), send('a', 2, 0, 'a2'), deliver('a')
    ]
  },
  {
    name: 'batches',
    steps: [
      create('a', 0), create('a', 1, { protocol: 'second' }), create('b', 0), create('b', 1, { protocol: 'second' }),
      cork('a'), open('a', 0), open('a', 1), send('a', 0, 0, '01'), send('a', 1, 1, '02'), send('a', 1, 0, '03'), send('a', 0, 1, ''), cork('a'), uncork('a'), uncork('a'),
      cork('b'), open('b', 1), open('b', 0), uncork('b'),
      deliver('a'), deliver('b'),
      cork('b'), send('b', 0, 0, 'ff'), close('b', 1), uncork('b'), deliver('b')
    ]
  },
  {
    name: 'lenient-input',
    steps: [
      create('a', 0, { messages: 1 }), open('a', 0), create('b', 0), open('b', 0), deliver('a'), deliver('b'),
      inject('a', ''), // empty frame
      inject('a', '0009'), // unknown control type
      inject('a', '0700aa'), // a channel nobody opened
      inject('a', '0105bb'), // a message type with no handler
      inject('a', '01fd0000cc'), // a long form of a small type
      inject('a', 'fd010000dd'), // a long form of a small channel
      inject('a', '00000103000102'), // a batch with one message
      inject('a', '0000010300030100040005'), // a batch switching channels, with a zero length
      inject('a', '0000010500aa'), // a batch whose entry is longer than the frame
      inject('a', '0000000500010200bb'), // a batch in a batch
      inject('a', '00030900'), // a close of a channel that is not open
      inject('a', '0003')
    ]
  },
  {
    name: 'bad-open-sequence',
    steps: [
      create('a', 0), open('a', 0), inject('a', '0001050170')
    ]
  },
  {
    name: 'bad-open-truncated',
    steps: [
      create('a', 0), open('a', 0), inject('a', '000101057465')
    ]
  },
  {
    name: 'bad-reject',
    steps: [
      create('a', 0), open('a', 0), create('b', 0), open('b', 0), deliver('a'), deliver('b'), inject('a', '000201')
    ]
  },
  {
    name: 'bad-message-no-type',
    steps: [
      create('a', 0), open('a', 0), inject('a', '01')
    ]
  },
  {
    name: 'bad-batch-entry',
    steps: [
      create('a', 0), open('a', 0), create('b', 0), open('b', 0), deliver('a'), deliver('b'),
      inject('a', '000001fd')
    ]
  }
]

async function main () {
  const out = { reference: `protomux ${version}`, scenarios: [] }
  for (const s of scenarios) out.scenarios.push(await run(s))
  // One step a line, so that a change shows as the steps it touches.
  const lines = ['{', `"reference": ${JSON.stringify(out.reference)},`, '"scenarios": [']
  out.scenarios.forEach((sc, i) => {
    lines.push(`{"name": ${JSON.stringify(sc.name)}, "steps": [`)
    sc.steps.forEach((st, j) => lines.push(JSON.stringify(st) + (j < sc.steps.length - 1 ? ',' : '')))
    lines.push(']}' + (i < out.scenarios.length - 1 ? ',' : ''))
  })
  lines.push(']', '}')
  process.stdout.write(lines.join('\n') + '\n')
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
