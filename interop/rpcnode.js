'use strict'

// rpcnode.js is the dht-rpc half that dhtrpc.js and hyperdht.js share (a
// hyperdht node is a dht-rpc node): the command line, the node's events, the
// JSON shapes of node info, peers and responses, and the dht-rpc ops. The
// protocol is described in dhtrpc.js and README.md.

const { event, finish, errorText, hex, bytesArg } = require('./jsonlines')

// parseNodeArgs reads `bootstrapper PORT [--host H] [--log-requests]` or `node
// [--bootstrap H:P[,H:P...]] [--adaptive | --ephemeral] [--port N] [--host H]
// [--log-requests]`. --host is the IPv4 address to bind and announce (default
// 127.0.0.1; another one for a driver inside a network namespace). On a bad
// argument it writes "SCRIPT: problem" and usageText to stderr and exits 2.
// With portRequired a node needs a --port other than 0.
function parseNodeArgs (argv, { script, usageText, portRequired }) {
  function usage (problem) {
    process.stderr.write(`${script}: ${problem}\n${usageText}`)
    process.exit(2)
  }

  function parsePort (s, allowZero) {
    const n = Number(s)
    if (!Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65535) usage(`bad port ${JSON.stringify(s)}`)
    return n
  }

  const cfg = {
    mode: argv[0],
    host: '127.0.0.1',
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
    } else if (flag === '--host' && i + 1 < argv.length) {
      cfg.host = argv[++i]
      if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(cfg.host)) usage(`bad IPv4 host ${JSON.stringify(cfg.host)}`)
    } else if (isNode && flag === '--adaptive') {
      cfg.adaptive = true
    } else if (isNode && flag === '--ephemeral') {
      cfg.ephemeral = true
    } else if (isNode && flag === '--port' && i + 1 < argv.length) {
      cfg.port = parsePort(argv[++i], !portRequired)
    } else if (isNode && flag === '--bootstrap' && i + 1 < argv.length) {
      cfg.bootstrap = argv[++i].split(',').filter((s) => s !== '')
    } else {
      usage(`unexpected argument ${JSON.stringify(flag)}`)
    }
  }
  if (cfg.adaptive && cfg.ephemeral) usage('--adaptive and --ephemeral exclude each other')
  if (portRequired && isNode && cfg.port === 0) usage('node needs --port (hyperdht would use 49737)')
  return cfg
}

// createNode builds the node cfg describes with DHT (dht-rpc's DHT or HyperDHT),
// on cfg.host only (127.0.0.1 unless --host).
function createNode (DHT, cfg) {
  if (cfg.mode === 'bootstrapper') {
    return DHT.bootstrapper(cfg.port, cfg.host, { host: cfg.host })
  }
  // bootstrap is always an array, possibly empty: hyperdht replaces a missing
  // one with the public bootstrap nodes, and tests stay on loopback or in
  // their own namespaces.
  const opts = { bootstrap: cfg.bootstrap, host: cfg.host }
  if (cfg.port !== 0) opts.port = cfg.port
  if (cfg.ephemeral) opts.ephemeral = true
  else if (!cfg.adaptive) opts.ephemeral = false
  // with neither, `ephemeral` stays undefined and the node is adaptive
  return new DHT(opts)
}

// ---- JSON shapes -----------------------------------------------------------

const hostPort = (n) => `${n.host}:${n.port}`

function addrArg (cmd) {
  if (typeof cmd.host !== 'string' || !Number.isInteger(cmd.port)) {
    throw new Error('want "host" (string) and "port" (integer)')
  }
  return { host: cmd.host, port: cmd.port }
}

function boundPort (socket) {
  try {
    return socket ? socket.address().port : null
  } catch {
    return null // closed
  }
}

function nodeInfo (dht) {
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

// requestEvent writes the "request" event of --log-requests for an incoming
// user request.
function requestEvent (req) {
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

// ---- node events -----------------------------------------------------------

// watchNode writes the node's events; if it cannot start, the process exits 1.
function watchNode (dht, script) {
  for (const name of ['listening', 'ready', 'persistent', 'ephemeral']) {
    dht.on(name, () => event(name, { info: nodeInfo(dht) }))
  }
  dht.on('nat-update', (host, port) => event('nat-update', { host, port, info: nodeInfo(dht) }))
  dht.on('add-node', (n) => event('add-node', { peer: peerOf(n), info: nodeInfo(dht) }))
  dht.on('remove-node', (n) => event('remove-node', { peer: peerOf(n), info: nodeInfo(dht) }))

  dht.fullyBootstrapped().then(
    () => event('bootstrapped', { info: nodeInfo(dht) }),
    (err) => {
      process.stderr.write(`${script}: node failed to start: ${errorText(err)}\n`)
      finish(1)
    }
  )
}

// ---- commands --------------------------------------------------------------

async function drain (query, commits) {
  const replies = []
  for await (const m of query) replies.push(message(m))
  const result = { replies, closest: query.closestNodes.map(hostPort) }
  if (commits) result.commits = commits
  return result
}

function requiredTarget (cmd) {
  const target = bytesArg(cmd, 'target', 32)
  if (target === null) throw new Error('target: required')
  return target
}

// rpcOps returns the dht-rpc ops: info, table, ping, findNode, query, request,
// addNode. intArg(cmd, field) reads an unsigned integer argument (the drivers
// differ in the range they accept).
function rpcOps (dht, intArg) {
  // runQuery commits the way dht-rpc's built-in `commit: true` does (one
  // request carrying the reply's token to each of the closest repliers) but
  // also records those responses, so a test can see whether the remote side
  // accepted them.
  function runQuery (cmd) {
    const target = requiredTarget(cmd)
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

  return {
    info: () => nodeInfo(dht),
    table: () => dht.table.toArray().map(peerOf),
    ping: async (cmd) => message(await dht.ping(addrArg(cmd))),
    findNode: (cmd) => drain(dht.findNode(requiredTarget(cmd)), null),
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
}

module.exports = { parseNodeArgs, createNode, hostPort, requestEvent, watchNode, rpcOps }
