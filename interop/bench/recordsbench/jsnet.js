#!/usr/bin/env node
'use strict'

// jsnet.js runs a whole local HyperDHT network of the pinned reference (hyperdht
// in interop/node_modules) inside ONE node process, plus one client node that
// runs a timed workload on it. It is the JS half of recordsbench; the Go half is
// `recordsbench serve-go-net`, which builds the same network of dht.Node values
// and speaks the same protocol, so both networks are processes of one shape.
//
// Usage:
//   node jsnet.js --nodes N [--op-timeout MS]
//
// The network: a bootstrapper and N-1 persistent nodes (ephemeral:false), each on
// its own free port of 127.0.0.1, and an ephemeral client node (not counted in N)
// that joins once all N are bootstrapped. Nothing binds outside 127.0.0.1 and the
// bootstrap list never names the public network.
//
// stdout carries one JSON object per line:
//   events:  {"event":"ready","bootstrap":"127.0.0.1:P","nodes":N,"persistent":K,"startupMs":T}
//            once the network and the client are up (the process exits 1 if that fails)
//   replies: {"id":N,"ok":true,"result":...} or {"id":N,"ok":false,"error":"..."}
// stdin takes one JSON command per line, {"op":OP,"id":N,...}:
//   info                       node counts and routing-table sizes
//   announce / lookup          {"concurrency":C,"items":[{"topic":HEX32,"seed":HEX32},...]}
//                              run by the client, C at a time; the result is a phase:
//                              {"wallMs","latencyMs":[per item],"ok","failed","holders","error"}
//   exit                       destroy every node and exit 0
// An announce succeeds when it committed to at least one node (holders counts
// those nodes); a lookup succeeds when some reply lists the public key of the
// item's seed (holders counts those replies). Key pairs are derived before the
// clock starts. An operation still running after --op-timeout fails.
//
// The process also destroys the network and exits on stdin EOF, SIGTERM and SIGINT.
// The JSON-lines plumbing is interop/jsonlines.js, which the interop drivers share
// (jsnet.js's replies carry no "code" and its driver-error events no "line").

const HyperDHT = require('hyperdht')
const dgram = require('dgram')
const { performance } = require('perf_hooks')
const { write, exitAfter, errorText, shutdown, serve } = require('../../jsonlines')

const STOP_GRACE_MS = 10000
const HOST = '127.0.0.1'

const config = parseArgs(process.argv.slice(2))
const nodes = [] // [0] is the bootstrapper
let client = null

// ---- arguments -------------------------------------------------------------

function usage (problem) {
  process.stderr.write(`jsnet.js: ${problem}\nusage: jsnet.js --nodes N [--op-timeout MS]\n`)
  process.exit(2)
}

function parseArgs (argv) {
  const cfg = { nodes: 0, opTimeoutMs: 30000 }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const value = Number(argv[i + 1])
    if (flag === '--nodes' && Number.isInteger(value) && value >= 2 && value <= 1000) {
      cfg.nodes = value
    } else if (flag === '--op-timeout' && Number.isInteger(value) && value > 0) {
      cfg.opTimeoutMs = value
    } else {
      usage(`bad argument ${JSON.stringify(flag)} ${JSON.stringify(argv[i + 1])}`)
    }
    i++
  }
  if (cfg.nodes === 0) usage('--nodes is required')
  return cfg
}

// ---- network ---------------------------------------------------------------

// freePorts binds n UDP sockets to port 0 at once, so the ports differ, and
// frees them. hyperdht falls back to another port if one was taken meanwhile.
async function freePorts (n) {
  const sockets = []
  try {
    for (let i = 0; i < n; i++) {
      const s = dgram.createSocket('udp4')
      sockets.push(s)
      await new Promise((resolve, reject) => {
        s.once('error', reject)
        s.bind(0, HOST, resolve)
      })
    }
    return sockets.map((s) => s.address().port)
  } finally {
    await Promise.all(sockets.map((s) => new Promise((resolve) => s.close(resolve))))
  }
}

async function startNetwork () {
  const t0 = performance.now()
  const ports = await freePorts(config.nodes + 1) // the last one is the client's
  const boot = HyperDHT.bootstrapper(ports[0], HOST, { host: HOST })
  nodes.push(boot)
  await boot.fullyBootstrapped()
  const bootstrap = [`${HOST}:${boot.io.serverSocket.address().port}`]

  // All persistent nodes join at once, as the Go network's do.
  for (let i = 1; i < config.nodes; i++) {
    nodes.push(new HyperDHT({ bootstrap, host: HOST, port: ports[i], ephemeral: false }))
  }
  await Promise.all(nodes.map((n) => n.fullyBootstrapped()))
  const persistent = nodes.filter((n) => !n.ephemeral).length
  if (persistent !== nodes.length) {
    throw new Error(`only ${persistent} of ${nodes.length} nodes became persistent`)
  }

  client = new HyperDHT({ bootstrap, host: HOST, port: ports[config.nodes], ephemeral: true })
  await client.fullyBootstrapped()
  write({ event: 'ready', bootstrap: bootstrap[0], nodes: nodes.length, persistent, startupMs: performance.now() - t0 })
}

// ---- workload --------------------------------------------------------------

function hex32 (s, what) {
  if (typeof s !== 'string' || !/^[0-9a-fA-F]{64}$/.test(s)) throw new Error(`${what}: want 32 bytes of hex`)
  return Buffer.from(s, 'hex')
}

function parseItems (cmd) {
  if (!Array.isArray(cmd.items)) throw new Error('items: want an array')
  return cmd.items.map((it) => ({
    topic: hex32(it.topic, 'topic'),
    keyPair: HyperDHT.keyPair(hex32(it.seed, 'seed'))
  }))
}

// withTimeout destroys query q if it is not done after the operation timeout.
async function withTimeout (q, work) {
  const timer = setTimeout(() => q.destroy(new Error(`timed out after ${config.opTimeoutMs} ms`)), config.opTimeoutMs)
  try {
    return await work()
  } finally {
    clearTimeout(timer)
  }
}

async function announceOne (it) {
  const q = client.announce(it.topic, it.keyPair, [])
  return withTimeout(q, async () => {
    await q.finished()
    return q.closestNodes.length
  })
}

async function lookupOne (it) {
  const q = client.lookup(it.topic)
  return withTimeout(q, async () => {
    let holders = 0
    for await (const r of q) {
      if (r.peers.some((p) => Buffer.compare(p.publicKey, it.keyPair.publicKey) === 0)) holders++
    }
    return holders
  })
}

// runPhase runs one operation per item, at most concurrency at a time, and times
// each one and the whole.
async function runPhase (one, what, cmd) {
  const items = parseItems(cmd)
  const concurrency = cmd.concurrency
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('concurrency: want a positive integer')
  const res = { wallMs: 0, latencyMs: new Array(items.length).fill(0), ok: 0, failed: 0, holders: 0, error: '' }
  let next = 0
  async function worker () {
    while (next < items.length) {
      const i = next++
      const t0 = performance.now()
      try {
        const holders = await one(items[i])
        if (holders > 0) {
          res.ok++
          res.holders += holders
        } else {
          res.failed++
          if (res.error === '') res.error = `${what} found no holder`
        }
      } catch (err) {
        res.failed++
        if (res.error === '') res.error = (err && err.message) || String(err)
      }
      res.latencyMs[i] = performance.now() - t0
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  res.wallMs = performance.now() - t0
  return res
}

function median (xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[s.length >> 1] : 0
}

function info () {
  const tables = nodes.map((n) => n.table.size)
  return {
    nodes: nodes.length,
    persistent: nodes.filter((n) => !n.ephemeral).length,
    tableMin: Math.min(...tables),
    tableMedian: median(tables),
    tableMax: Math.max(...tables),
    clientTable: client.table.size
  }
}

const ops = {
  info,
  announce: (cmd) => runPhase(announceOne, 'announce', cmd),
  lookup: (cmd) => runPhase(lookupOne, 'lookup', cmd)
}

// ---- lifecycle -------------------------------------------------------------

serve({
  ops,
  check: () => {
    if (client === null) throw new Error('the network is not up yet')
  },
  stop: () => {
    exitAfter(STOP_GRACE_MS, 'jsnet.js: destroy did not finish in time')
    const all = client === null ? nodes : [client, ...nodes]
    return Promise.all(all.map((n) => n.destroy({ force: true }).catch((err) => {
      process.stderr.write(`jsnet.js: destroy: ${errorText(err)}\n`)
    })))
  },
  errorCodes: false,
  echoLines: false
})

startNetwork().catch((err) => {
  process.stderr.write(`jsnet.js: network failed to start: ${errorText(err)}\n`)
  shutdown(1)
})
