#!/usr/bin/env node
'use strict'

// dhtrpc.js runs ONE dht-rpc node (the pinned reference in ./node_modules) on
// 127.0.0.1 and lets a Go test drive it over JSON lines. It is started by the
// Go package in this directory (interop.StartBootstrapper, interop.StartNode).
//
// Usage:
//   node dhtrpc.js bootstrapper PORT [--log-requests]
//   node dhtrpc.js node [--bootstrap H:P[,H:P...]] [--adaptive | --ephemeral]
//                       [--port N] [--log-requests]
//
// A `node` is persistent-capable (ephemeral:false) unless --adaptive (the
// reference picks by itself) or --ephemeral (always ephemeral) is given.
//
// stdout carries one JSON object per line, of two kinds:
//   events:  {"event":NAME, ...}, NAME one of listening, ready, bootstrapped,
//            persistent, ephemeral, nat-update, add-node, remove-node, request,
//            driver-error. Most carry "info" (see nodeInfo below); add-node and
//            remove-node also carry "peer":{host,port,id}; request events are
//            written only with --log-requests.
//   replies: {"id":N,"ok":true,"result":...} or
//            {"id":N,"ok":false,"error":"...","code":"..."|null}
// stdin takes one JSON command per line: {"op":OP,"id":N,...arguments}. Commands
// run concurrently; replies may come back in any order. Byte fields are hex.
//
// Incoming user requests: command 42 is echoed with req.reply(req.value), which
// carries a token; any other user command is left unhandled, so dht-rpc itself
// answers UNKNOWN_COMMAND.
//
// The process destroys the node and exits 0 on the "exit" op, on stdin EOF, on
// SIGTERM and on SIGINT. It exits 1 if the node cannot bind its sockets.

const DHT = require('dht-rpc')
const readline = require('readline')

const ECHO_COMMAND = 42
const STOP_GRACE_MS = 5000

const config = parseArgs(process.argv.slice(2))
const dht = createNode(config)

// ---- arguments -------------------------------------------------------------

function usage (problem) {
  process.stderr.write(
    `dhtrpc.js: ${problem}\n` +
      'usage: dhtrpc.js bootstrapper PORT [--log-requests]\n' +
      '       dhtrpc.js node [--bootstrap H:P[,H:P]] [--adaptive | --ephemeral] [--port N] [--log-requests]\n'
  )
  process.exit(2)
}

function parsePort (s, allowZero) {
  const n = Number(s)
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65535) usage(`bad port ${JSON.stringify(s)}`)
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
    cfg.port = parsePort(argv[1], false)
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
      cfg.port = parsePort(argv[++i], true)
    } else if (isNode && flag === '--bootstrap' && i + 1 < argv.length) {
      cfg.bootstrap = argv[++i].split(',').filter((s) => s !== '')
    } else {
      usage(`unexpected argument ${JSON.stringify(flag)}`)
    }
  }
  if (cfg.adaptive && cfg.ephemeral) usage('--adaptive and --ephemeral exclude each other')
  return cfg
}

function createNode (cfg) {
  if (cfg.mode === 'bootstrapper') {
    return DHT.bootstrapper(cfg.port, '127.0.0.1', { host: '127.0.0.1' })
  }
  const opts = { bootstrap: cfg.bootstrap, host: '127.0.0.1' }
  if (cfg.port !== 0) opts.port = cfg.port
  if (cfg.ephemeral) opts.ephemeral = true
  else if (!cfg.adaptive) opts.ephemeral = false
  // with neither, `ephemeral` stays undefined and the node is adaptive
  return new DHT(opts)
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

function addrArg (cmd) {
  if (typeof cmd.host !== 'string' || !Number.isInteger(cmd.port)) {
    throw new Error('want "host" (string) and "port" (integer)')
  }
  return { host: cmd.host, port: cmd.port }
}

function intArg (cmd, field) {
  if (!Number.isInteger(cmd[field]) || cmd[field] < 0) throw new Error(`${field}: want an unsigned integer`)
  return cmd[field]
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
    process.stderr.write(`dhtrpc.js: node failed to start: ${err && err.stack ? err.stack : err}\n`)
    finish(1)
  }
)

// Only user (non-internal) requests reach onrequest. Returning false makes
// dht-rpc send UNKNOWN_COMMAND, exactly as for a node with no handler.
dht.onrequest = (req) => {
  if (config.logRequests) {
    event('request', {
      command: req.command,
      from: hostPort(req.from),
      fromId: hex(req.from.id),
      to: req.to ? hostPort(req.to) : null,
      token: hex(req.token),
      target: hex(req.target),
      value: hex(req.value)
    })
  }
  if (req.command !== ECHO_COMMAND) return false
  req.reply(req.value)
  return true
}

// ---- commands --------------------------------------------------------------

async function drain (query, commits) {
  const replies = []
  for await (const m of query) replies.push(message(m))
  const result = { replies, closest: query.closestNodes.map(hostPort) }
  if (commits) result.commits = commits
  return result
}

// runQuery commits the way dht-rpc's built-in `commit: true` does (one request
// carrying the reply's token to each of the closest repliers) but also records
// those responses, so a test can see whether the remote side accepted them.
function runQuery (cmd) {
  const target = bytesArg(cmd, 'target', 32)
  if (target === null) throw new Error('target: required')
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
  info: () => nodeInfo(),
  table: () => dht.table.toArray().map(peerOf),
  ping: async (cmd) => message(await dht.ping(addrArg(cmd))),
  findNode: (cmd) => {
    const target = bytesArg(cmd, 'target', 32)
    if (target === null) throw new Error('target: required')
    return drain(dht.findNode(target), null)
  },
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
      process.stderr.write('dhtrpc.js: destroy did not finish in time\n')
      process.exit(1)
    }, STOP_GRACE_MS)
    stopping = dht.destroy().catch((err) => {
      process.stderr.write(`dhtrpc.js: destroy: ${err && err.stack ? err.stack : err}\n`)
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
