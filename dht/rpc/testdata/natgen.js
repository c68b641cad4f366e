// Writes golden sequences for the NAT sampler: for deterministic pseudo-random streams of
// observed addresses, the sampler's (host, port) after every observation, from the pinned
// reference (npm nat-sampler). Run: node natgen.js > nat.json
'use strict'
const path = require('path')
const NatSampler = require(path.join(__dirname, '../../../interop/node_modules/nat-sampler'))

// xorshift32, so the Go test can regenerate the same inputs.
function rng (seed) {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x
  }
}

const cases = []
for (let seed = 1; seed <= 40; seed++) {
  const next = rng(seed * 2654435761)
  const hosts = 1 + (seed % 3)
  const ports = 1 + (seed % 5)
  const steps = []
  const s = new NatSampler()
  for (let i = 0; i < 60; i++) {
    const host = `10.0.0.${1 + (next() % hosts)}`
    const port = 1000 + (next() % ports)
    s.add(host, port)
    steps.push([host, port, s.host, s.port])
  }
  cases.push({ seed, steps })
}
process.stdout.write(JSON.stringify(cases) + '\n')
