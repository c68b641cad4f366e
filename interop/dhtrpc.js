#!/usr/bin/env node
'use strict'

// dhtrpc.js runs ONE dht-rpc node (the pinned reference in ./node_modules) on
// 127.0.0.1 (or --host) and lets a Go test drive it over JSON lines. It is started by the
// Go package in this directory (interop.StartBootstrapper, interop.StartNode).
//
// Usage:
//   node dhtrpc.js bootstrapper PORT [--host H] [--log-requests]
//   node dhtrpc.js node [--bootstrap H:P[,H:P...]] [--adaptive | --ephemeral]
//                       [--port N] [--host H] [--log-requests]
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
// The JSON-lines plumbing is jsonlines.js; the dht-rpc part, which hyperdht.js
// shares, is rpcnode.js.
//
// Incoming user requests: command 42 is echoed with req.reply(req.value), which
// carries a token; any other user command is left unhandled, so dht-rpc itself
// answers UNKNOWN_COMMAND.
//
// The process destroys the node and exits 0 on the "exit" op, on stdin EOF, on
// SIGTERM and on SIGINT. It exits 1 if the node cannot bind its sockets.

const DHT = require('dht-rpc')
const { exitAfter, errorText, serve } = require('./jsonlines')
const { parseNodeArgs, createNode, requestEvent, watchNode, rpcOps } = require('./rpcnode')

const ECHO_COMMAND = 42
const STOP_GRACE_MS = 5000

const config = parseNodeArgs(process.argv.slice(2), {
  script: 'dhtrpc.js',
  usageText: 'usage: dhtrpc.js bootstrapper PORT [--host H] [--log-requests]\n' +
    '       dhtrpc.js node [--bootstrap H:P[,H:P]] [--adaptive | --ephemeral] [--port N] [--host H] [--log-requests]\n',
  portRequired: false
})
const dht = createNode(DHT, config)

watchNode(dht, 'dhtrpc.js')

// Only user (non-internal) requests reach onrequest. Returning false makes
// dht-rpc send UNKNOWN_COMMAND, exactly as for a node with no handler.
dht.onrequest = (req) => {
  if (config.logRequests) requestEvent(req)
  if (req.command !== ECHO_COMMAND) return false
  req.reply(req.value)
  return true
}

function intArg (cmd, field) {
  if (!Number.isInteger(cmd[field]) || cmd[field] < 0) throw new Error(`${field}: want an unsigned integer`)
  return cmd[field]
}

serve({
  ops: rpcOps(dht, intArg),
  stop: () => {
    exitAfter(STOP_GRACE_MS, 'dhtrpc.js: destroy did not finish in time')
    return dht.destroy().catch((err) => {
      process.stderr.write(`dhtrpc.js: destroy: ${errorText(err)}\n`)
    })
  }
})
