#!/usr/bin/env node
'use strict'

// hyperdht.js runs ONE hyperdht node (the pinned reference in ./node_modules)
// on 127.0.0.1 and lets a Go test drive it over JSON lines. It is started by
// the Go package in this directory (interop.StartHyperDHTBootstrapper,
// interop.StartHyperDHTNode). It speaks the same protocol as dhtrpc.js and
// answers the same dht-rpc ops (info, table, ping, findNode, query, request,
// addNode), plus the hyperdht record ops listed in `ops` below.
//
// Usage:
//   node hyperdht.js bootstrapper PORT [--log-requests]
//   node hyperdht.js node --port N [--bootstrap H:P[,H:P...]]
//                         [--adaptive | --ephemeral] [--log-requests]
//
// A `node` is persistent-capable (ephemeral:false) unless --adaptive (the
// reference picks by itself) or --ephemeral (always ephemeral) is given.
// --port is required: hyperdht replaces a missing or zero port with 49737, so
// two drivers without it would fight over one port.
//
// stdout carries one JSON object per line, of two kinds:
//   events:  {"event":NAME, ...}, NAME one of listening, ready, bootstrapped,
//            persistent, ephemeral, nat-update, add-node, remove-node, request,
//            driver-error, with the same fields as in dhtrpc.js.
//   replies: {"id":N,"ok":true,"result":...} or
//            {"id":N,"ok":false,"error":"...","code":"..."|null}
// stdin takes one JSON command per line: {"op":OP,"id":N,...arguments}. Commands
// run concurrently; replies may come back in any order. Byte fields are hex,
// addresses are "host:port" strings, key pairs are given by their 32-byte
// ed25519 seed (HyperDHT.keyPair(seed)).
//
// Incoming requests are hyperdht's own: the node answers its commands (FIND_PEER
// .. PLUGIN) once it is persistent. With --log-requests each incoming user
// request is also written as a "request" event before hyperdht handles it.
//
// The process destroys the node and exits 0 on the "exit" op, on stdin EOF, on
// SIGTERM and on SIGINT. It exits 1 if the node cannot bind its sockets.

const HyperDHT = require('hyperdht')
const readline = require('readline')

const STOP_GRACE_MS = 5000

const config = parseArgs(process.argv.slice(2))
const dht = createNode(config)

// ---- arguments -------------------------------------------------------------

function usage (problem) {
  process.stderr.write(
    `hyperdht.js: ${problem}\n` +
      'usage: hyperdht.js bootstrapper PORT [--log-requests]\n' +
      '       hyperdht.js node --port N [--bootstrap H:P[,H:P]] [--adaptive | --ephemeral] [--log-requests]\n'
  )
  process.exit(2)
}

function parsePort (s) {
  const n = Number(s)
  if (!Number.isInteger(n) || n < 1 || n > 65535) usage(`bad port ${JSON.stringify(s)}`)
  return n
}

function parseArgs (argv) {
  const cfg = {
    mode: argv[0],
    port: 0,
    bootstrap: [],
    adaptive: false,
    ephemeral: false,
    logRequests: false
  }
  let i = 1
  if (cfg.mode === 'bootstrapper') {
    cfg.port = parsePort(argv[1])
    i = 2
  } else if (cfg.mode !== 'node') {
    usage(`unknown mode ${JSON.stringify(cfg.mode)}`)
  }

  const isNode = cfg.mode === 'node'
  for (; i < argv.length; i++) {
    const flag = argv[i]
    if (flag === '--log-requests') {
      cfg.logRequests = true
    } else if (isNode && flag === '--adaptive') {
      cfg.adaptive = true
    } else if (isNode && flag === '--ephemeral') {
      cfg.ephemeral = true
    } else if (isNode && flag === '--port' && i + 1 < argv.length) {
      cfg.port = parsePort(argv[++i])
    } else if (isNode && flag === '--bootstrap' && i + 1 < argv.length) {
      cfg.bootstrap = argv[++i].split(',').filter((s) => s !== '')
    } else {
      usage(`unexpected argument ${JSON.stringify(flag)}`)
    }
  }
  if (cfg.adaptive && cfg.ephemeral) usage('--adaptive and --ephemeral exclude each other')
  if (isNode && cfg.port === 0) usage('node needs --port (hyperdht would use 49737)')
  return cfg
}

function createNode (cfg) {
  if (cfg.mode === 'bootstrapper') {
    return HyperDHT.bootstrapper(cfg.port, '127.0.0.1', { host: '127.0.0.1' })
  }
  // bootstrap is always an array, possibly empty: hyperdht replaces a missing
  // one with the public bootstrap nodes, and tests stay on loopback.
  const opts = { bootstrap: cfg.bootstrap, host: '127.0.0.1', port: cfg.port }
  if (cfg.ephemeral) opts.ephemeral = true
  else if (!cfg.adaptive) opts.ephemeral = false
  // with neither, `ephemeral` stays undefined and the node is adaptive
  return new HyperDHT(opts)
}

// ---- JSON shapes -----------------------------------------------------------

function hex (bytes) {
  if (bytes === null || bytes === undefined) return null
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

// bytesArg reads an optional hex argument; size, when given, is the exact length.
function bytesArg (cmd, field, size) {
  const s = cmd[field]
  if (s === null || s === undefined) return null
  if (typeof s !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(s)) {
    throw new Error(`${field}: want a hex string`)
  }
  const b = Buffer.from(s, 'hex')
  if (size !== undefined && b.byteLength !== size) {
    throw new Error(`${field}: want ${size} bytes, got ${b.byteLength}`)
  }
  return b
}

function requiredBytes (cmd, field, size) {
  const b = bytesArg(cmd, field, size)
  if (b === null) throw new Error(`${field}: required`)
  return b
}

function keyPairArg (cmd) {
  return HyperDHT.keyPair(requiredBytes(cmd, 'seed', 32))
}

function addrArg (cmd) {
  if (typeof cmd.host !== 'string' || !Number.isInteger(cmd.port)) {
    throw new Error('want "host" (string) and "port" (integer)')
  }
  return { host: cmd.host, port: cmd.port }
}

// intArg reads an unsigned integer; JSON numbers are exact only up to 2^53.
function intArg (cmd, field, fallback) {
  const v = cmd[field]
  if ((v === null || v === undefined) && fallback !== undefined) return fallback
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${field}: want an unsigned integer below 2^53`)
  return v
}

// relayAddressesArg reads ["h:p", ...] into hyperdht's [{host, port}].
function relayAddressesArg (cmd) {
  const list = cmd.relayAddresses
  if (list === null || list === undefined) return []
  if (!Array.isArray(list)) throw new Error('relayAddresses: want an array of "host:port"')
  return list.map((s) => {
    const m = typeof s === 'string' ? /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(s) : null
    if (m === null) throw new Error(`relayAddresses: bad IPv4 address ${JSON.stringify(s)}`)
    return { host: m[1], port: Number(m[2]) }
  })
}

const hostPort = (n) => `${n.host}:${n.port}`

function boundPort (socket) {
  try {
    return socket ? socket.address().port : null
  } catch {
    return null // closed
  }
}

function nodeInfo () {
  return {
    id: hex(dht.id),
    tableId: hex(dht.table.id),
    host: dht.host,
    port: dht.port,
    ephemeral: dht.ephemeral,
    firewalled: dht.firewalled,
    serverPort: boundPort(dht.io.serverSocket),
    clientPort: boundPort(dht.io.clientSocket),
    tableSize: dht.table.size
  }
}

function peerOf (n) {
  return { host: n.host, port: n.port, id: hex(n.id) }
}

// peerRecord is hyperdht's announced peer {publicKey, relayAddresses}.
function peerRecord (p) {
  return { publicKey: hex(p.publicKey), relayAddresses: p.relayAddresses.map(hostPort) }
}

// message turns a dht-rpc response into the "msg" shape the Go side decodes.
function message (m) {
  return {
    tid: m.tid,
    from: { id: hex(m.from.id), host: m.from.host, port: m.from.port },
    to: m.to ? { host: m.to.host, port: m.to.port } : null,
    token: hex(m.token),
    closerNodes: m.closerNodes ? m.closerNodes.map(hostPort) : null,
    error: m.error,
    value: hex(m.value),
    rtt: m.rtt
  }
}

// replyFrom is the part every mapped hyperdht query reply shares.
function replyFrom (r) {
  return { from: hostPort(r.from), fromId: hex(r.from.id), token: hex(r.token) }
}

// ---- output ----------------------------------------------------------------

let exiting = false

function write (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function event (name, fields) {
  if (exiting) return
  write({ event: name, ...fields })
}

// ---- node events -----------------------------------------------------------

for (const name of ['listening', 'ready', 'persistent', 'ephemeral']) {
  dht.on(name, () => event(name, { info: nodeInfo() }))
}
dht.on('nat-update', (host, port) => event('nat-update', { host, port, info: nodeInfo() }))
dht.on('add-node', (n) => event('add-node', { peer: peerOf(n), info: nodeInfo() }))
dht.on('remove-node', (n) => event('remove-node', { peer: peerOf(n), info: nodeInfo() }))

dht.fullyBootstrapped().then(
  () => event('bootstrapped', { info: nodeInfo() }),
  (err) => {
    process.stderr.write(`hyperdht.js: node failed to start: ${err && err.stack ? err.stack : err}\n`)
    finish(1)
  }
)

if (config.logRequests) {
  // Log, then let hyperdht's own handler (a class method) answer.
  const handle = dht.onrequest.bind(dht)
  dht.onrequest = (req) => {
    event('request', {
      command: req.command,
      from: hostPort(req.from),
      fromId: hex(req.from.id),
      to: req.to ? hostPort(req.to) : null,
      token: hex(req.token),
      target: hex(req.target),
      value: hex(req.value)
    })
    return handle(req)
  }
}

// ---- commands --------------------------------------------------------------

async function drain (query, commits) {
  const replies = []
  for await (const m of query) replies.push(message(m))
  const result = { replies, closest: query.closestNodes.map(hostPort) }
  if (commits) result.commits = commits
  return result
}

// runQuery is dhtrpc.js's query op: commit: true sends the query's request with
// each closest reply's token and records the responses.
function runQuery (cmd) {
  const target = requiredBytes(cmd, 'target', 32)
  const command = intArg(cmd, 'command')
  const value = bytesArg(cmd, 'value')
  const opts = {}
  let commits = null
  if (cmd.commit === true) {
    commits = []
    opts.commit = async (reply, node, query) => {
      if (!reply.token) throw new Error('No token received for closest node')
      const res = await node.request(
        { token: reply.token, target: query.target, command: query.command, value: query.value },
        { host: reply.from.host, port: reply.from.port }
      )
      commits.push(message(res))
      return res
    }
  }
  return drain(dht.query({ target, command, value }, opts), commits)
}

const ops = {
  // dht-rpc ops, as in dhtrpc.js
  info: () => nodeInfo(),
  table: () => dht.table.toArray().map(peerOf),
  ping: async (cmd) => message(await dht.ping(addrArg(cmd))),
  findNode: (cmd) => drain(dht.findNode(requiredBytes(cmd, 'target', 32)), null),
  query: runQuery,
  request: async (cmd) => {
    const req = {
      command: intArg(cmd, 'command'),
      target: bytesArg(cmd, 'target', 32),
      value: bytesArg(cmd, 'value'),
      token: bytesArg(cmd, 'token', 32)
    }
    return message(await dht.request(req, addrArg(cmd)))
  },
  addNode: (cmd) => {
    dht.addNode(addrArg(cmd))
    return null
  },

  // hyperdht ops
  keyPair: (cmd) => ({ publicKey: hex(keyPairArg(cmd).publicKey) }),
  announce: async (cmd) => {
    const topic = requiredBytes(cmd, 'topic', 32)
    const q = dht.announce(topic, keyPairArg(cmd), relayAddressesArg(cmd), { bump: intArg(cmd, 'bump', 0) })
    await q.finished()
    return { closestNodes: q.closestNodes.map(hostPort) }
  },
  unannounce: async (cmd) => {
    await dht.unannounce(requiredBytes(cmd, 'topic', 32), keyPairArg(cmd))
    return null
  },
  lookup: async (cmd) => {
    const q = dht.lookup(requiredBytes(cmd, 'topic', 32))
    const replies = []
    for await (const r of q) {
      replies.push({ ...replyFrom(r), peers: r.peers.map(peerRecord), bump: r.bump })
    }
    return { replies, closestNodes: q.closestNodes.map(hostPort) }
  },
  findPeer: async (cmd) => {
    const q = dht.findPeer(requiredBytes(cmd, 'publicKey', 32))
    const replies = []
    for await (const r of q) replies.push({ ...replyFrom(r), peer: peerRecord(r.peer) })
    return { replies, closestNodes: q.closestNodes.map(hostPort) }
  },
  immutablePut: async (cmd) => {
    const res = await dht.immutablePut(requiredBytes(cmd, 'value'))
    return { hash: hex(res.hash), closestNodes: res.closestNodes.map(hostPort) }
  },
  immutableGet: async (cmd) => {
    const res = await dht.immutableGet(requiredBytes(cmd, 'hash', 32))
    return res === null ? null : { ...replyFrom(res), value: hex(res.value) }
  },
  mutablePut: async (cmd) => {
    const value = requiredBytes(cmd, 'value')
    const res = await dht.mutablePut(keyPairArg(cmd), value, { seq: intArg(cmd, 'seq', 0) })
    return {
      publicKey: hex(res.publicKey),
      seq: res.seq,
      value: hex(value),
      signature: hex(res.signature),
      closestNodes: res.closestNodes.map(hostPort)
    }
  },
  mutableGet: async (cmd) => {
    const opts = { seq: intArg(cmd, 'seq', 0) }
    if (cmd.latest !== undefined && cmd.latest !== null) {
      if (typeof cmd.latest !== 'boolean') throw new Error('latest: want a boolean')
      opts.latest = cmd.latest
    }
    const res = await dht.mutableGet(requiredBytes(cmd, 'publicKey', 32), opts)
    if (res === null) return null
    return { ...replyFrom(res), seq: res.seq, value: hex(res.value), signature: hex(res.signature) }
  }
}

async function run (cmd) {
  try {
    if (cmd.op === 'exit') {
      await stop()
      write({ id: cmd.id, ok: true, result: null })
      finish(0)
      return
    }
    if (typeof cmd.op !== 'string' || !Object.hasOwn(ops, cmd.op)) {
      throw new Error(`unknown op ${JSON.stringify(cmd.op)}`)
    }
    const result = await ops[cmd.op](cmd)
    write({ id: cmd.id, ok: true, result: result === undefined ? null : result })
  } catch (err) {
    const code = err && err.code !== undefined && err.code !== null ? String(err.code) : null
    write({ id: cmd.id, ok: false, error: (err && err.message) || String(err), code })
  }
}

// ---- lifecycle -------------------------------------------------------------

let stopping = null

function stop () {
  if (stopping === null) {
    // If destroy never settles, do not leave the process behind.
    setTimeout(() => {
      process.stderr.write('hyperdht.js: destroy did not finish in time\n')
      process.exit(1)
    }, STOP_GRACE_MS).unref()
    stopping = dht.destroy().catch((err) => {
      process.stderr.write(`hyperdht.js: destroy: ${err && err.stack ? err.stack : err}\n`)
    })
  }
  return stopping
}

// finish exits once everything already written to stdout has been flushed.
function finish (code) {
  if (exiting) return
  exiting = true
  process.stdout.write('', () => process.exit(code))
}

readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  .on('line', (line) => {
    if (line.trim() === '') return
    let cmd
    try {
      cmd = JSON.parse(line)
    } catch (err) {
      event('driver-error', { error: `bad JSON: ${err.message}`, line })
      return
    }
    if (cmd === null || typeof cmd !== 'object' || typeof cmd.id !== 'number') {
      event('driver-error', { error: 'command without a numeric "id"', line })
      return
    }
    run(cmd) // not awaited: commands run concurrently
  })
  .on('close', () => stop().then(() => finish(0)))

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => stop().then(() => finish(0)))
}
