#!/usr/bin/env node
'use strict'

// hyperdht.js runs ONE hyperdht node (the pinned reference in ./node_modules)
// on 127.0.0.1 (or --host) and lets a Go test drive it over JSON lines. It is started by
// the Go package in this directory (interop.StartHyperDHTBootstrapper,
// interop.StartHyperDHTNode). It speaks the same protocol as dhtrpc.js and
// answers the same dht-rpc ops (info, table, ping, findNode, query, request,
// addNode), plus the hyperdht record ops listed in `ops` below.
//
// Usage:
//   node hyperdht.js bootstrapper PORT [--host H] [--log-requests]
//   node hyperdht.js node --port N [--bootstrap H:P[,H:P...]] [--host H]
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
// The JSON-lines plumbing is jsonlines.js; the dht-rpc part is rpcnode.js.
//
// Encrypted connections (dht.createServer, dht.connect) are connections.js:
// the ops createServer, listen, refresh, close (servers) and connect, write,
// sendBulk, end, destroy, send, trySend, messages, connStats (connections), and
// the server-* and conn-* events listed there. relayServer and relayStats (a
// blind relay on this node) are relay.js.
//
// Incoming requests are hyperdht's own: the node answers its commands (FIND_PEER
// .. PLUGIN) once it is persistent. With --log-requests each incoming user
// request is also written as a "request" event before hyperdht handles it.
//
// The process destroys the node and exits 0 on the "exit" op, on stdin EOF, on
// SIGTERM and on SIGINT. It exits 1 if the node cannot bind its sockets.

const HyperDHT = require('hyperdht')
const { hex, bytesArg, exitAfter, errorText, serve } = require('./jsonlines')
const { parseNodeArgs, createNode, hostPort, requestEvent, watchNode, rpcOps } = require('./rpcnode')
const { connections } = require('./connections')
const { relayOps, relayThroughArg } = require('./relay')

const STOP_GRACE_MS = 5000
// On exit, servers are closed (and so unannounced) first, for at most this
// long: their unannounce waits on nodes that may be exiting too, and the Go
// side kills a driver that takes more than 2 s.
const SERVER_CLOSE_MS = 1000

const config = parseNodeArgs(process.argv.slice(2), {
  script: 'hyperdht.js',
  usageText: 'usage: hyperdht.js bootstrapper PORT [--host H] [--log-requests]\n' +
    '       hyperdht.js node --port N [--bootstrap H:P[,H:P]] [--host H] [--adaptive | --ephemeral] [--log-requests]\n',
  portRequired: true
})
const dht = createNode(HyperDHT, config)

watchNode(dht, 'hyperdht.js')

if (config.logRequests) {
  // Log, then let hyperdht's own handler (a class method) answer.
  const handle = dht.onrequest.bind(dht)
  dht.onrequest = (req) => {
    requestEvent(req)
    return handle(req)
  }
}

// ---- arguments -------------------------------------------------------------

function requiredBytes (cmd, field, size) {
  const b = bytesArg(cmd, field, size)
  if (b === null) throw new Error(`${field}: required`)
  return b
}

function keyPairArg (cmd) {
  return HyperDHT.keyPair(requiredBytes(cmd, 'seed', 32))
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

// ---- JSON shapes -----------------------------------------------------------

// peerRecord is hyperdht's announced peer {publicKey, relayAddresses}.
function peerRecord (p) {
  return { publicKey: hex(p.publicKey), relayAddresses: p.relayAddresses.map(hostPort) }
}

// replyFrom is the part every mapped hyperdht query reply shares.
function replyFrom (r) {
  return { from: hostPort(r.from), fromId: hex(r.from.id), token: hex(r.token) }
}

// ---- commands --------------------------------------------------------------

const conns = connections(dht, { requiredBytes, keyPairArg, intArg, relayAddressesArg, relayThroughArg })

const ops = {
  // dht-rpc ops, as in dhtrpc.js
  ...rpcOps(dht, intArg),

  // encrypted connections, in connections.js
  ...conns.ops,

  // a blind relay, in relay.js
  ...relayOps(dht, { keyPairArg }),

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

serve({
  ops,
  stop: () => {
    exitAfter(STOP_GRACE_MS, 'hyperdht.js: destroy did not finish in time')
    // The servers first, bounded; force skips destroy's own, unbounded close of them.
    return conns.closeServers(SERVER_CLOSE_MS).then(() => dht.destroy({ force: true })).catch((err) => {
      process.stderr.write(`hyperdht.js: destroy: ${errorText(err)}\n`)
    })
  }
})
