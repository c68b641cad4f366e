'use strict'

// relay.js is the blind-relay half of hyperdht.js.
//
// relayThrough: servers and connections name blind relays by their public keys
// (hyperdht's relayThrough option; it picks one at random per connection).
// createServer and connect take a relayThrough list of hex keys; the
// relayThrough op sets the list they use when a command has none
// (relayThroughArg). connStats's remote is the relay while a connection is
// relayed and the peer once it moved to a direct path.
//
// relayServer makes the node
// a blind relay the way hyperdht's connection-relaying example does it, a
// blind-relay Server whose streams are the node's raw streams, behind a
// hyperdht server whose every connection gets a relay session (id: the
// connection's remote public key). Peers name the server's public key in
// relayThrough. relayStats returns the relay's counters.
//
// Events: relay-session {publicKey} when a peer's connection arrives,
// relay-pair {isInitiator, token} when the relay pairs a token (per side).

const relay = require('blind-relay')
const { event, hex, hexArg } = require('./jsonlines')

let defaultRelayThrough = null // set by the relayThrough op

// relayThroughArg reads cmd.relayThrough, a list of hex public keys, as
// hyperdht's relayThrough option: the default when absent, null when empty.
function relayThroughArg (cmd) {
  const list = cmd.relayThrough
  if (list === undefined || list === null) return defaultRelayThrough
  if (!Array.isArray(list)) throw new Error('relayThrough: want an array of hex public keys')
  const keys = list.map((pk, i) => hexArg({ [`relayThrough[${i}]`]: pk }, `relayThrough[${i}]`, 32))
  return keys.length ? keys : null
}

function relayOps (dht, { keyPairArg }) {
  let server = null
  let relayServer = null

  return {
    relayThrough: (cmd) => {
      defaultRelayThrough = relayThroughArg({ relayThrough: cmd.relayThrough || [] })
      return null
    },
    relayServer: async (cmd) => {
      if (server !== null) throw new Error('relayServer: this node is a relay already')
      const keyPair = keyPairArg(cmd)
      relayServer = new relay.Server({
        createStream (opts) {
          return dht.createRawStream({ ...opts, framed: true })
        }
      })
      server = dht.createServer((socket) => {
        event('relay-session', { publicKey: hex(socket.remotePublicKey) })
        const session = relayServer.accept(socket, { id: socket.remotePublicKey })
        session.on('pair', (isInitiator, token) => event('relay-pair', { isInitiator, token: hex(token) }))
        session.on('error', () => socket.destroy())
        socket.on('error', () => {})
      })
      await server.listen(keyPair)
      return { publicKey: hex(keyPair.publicKey) }
    },
    relayStats: () => {
      if (relayServer === null) throw new Error('relayStats: not a relay')
      return relayServer.stats
    }
  }
}

module.exports = { relayOps, relayThroughArg }
