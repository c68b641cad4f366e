// gen.js drives the JS reference routing table (npm kademlia-routing-table)
// through a fixed scenario and prints the scenario and its outcomes as JSON.
// closest.json in this folder is its output:
//
//	node testdata/gen.js > testdata/closest.json
//
// Every id is derived from SHA-256 of a label, so the output is the same on
// every run. The Go tests replay the ops from the JSON file and compare.
'use strict'

const path = require('path')
const crypto = require('crypto')
const RoutingTable = require(path.join(__dirname, '../../../interop/node_modules/kademlia-routing-table'))

const K = 20

function hash (label) {
  return crypto.createHash('sha256').update('hyperlan-ktable:' + label).digest()
}

const own = hash('own')

// near returns an id that shares exactly p leading bits with own.
function near (p, label) {
  const id = hash(label)
  const whole = p >> 3
  own.copy(id, 0, 0, whole)
  const bit = 0x80 >> (p & 7)
  const keep = (0xff00 >> (p & 7)) & 0xff // bits above bit p in this byte
  id[whole] = (own[whole] & keep) | (~own[whole] & bit) | (id[whole] & ~(keep | bit) & 0xff)
  return id
}

const table = new RoutingTable(own, { k: K })
const ops = []
const added = []

function add (id, tag) {
  const ok = table.add({ id, tag })
  ops.push({ op: 'add', id: id.toString('hex'), tag, ok })
  added.push(id)
}

function remove (id) {
  const ok = table.remove(id)
  ops.push({ op: 'remove', id: id.toString('hex'), ok })
}

let tag = 0

// Uniform ids (these overflow the first rows), interleaved with ids at a
// chosen prefix length (rows 0..63 plus the deepest rows) and a cluster that
// overflows row 10.
for (let i = 0; i < 120; i++) {
  add(hash('rand:' + i), tag++)
  const h = hash('p:' + i)
  add(near(h[0] % 64, 'near:' + i), tag++)
  if (i < 30) add(near(10, 'row10:' + i), tag++)
}
for (let p = 248; p < 256; p++) add(near(p, 'deep:' + p), tag++)
add(own, tag++) // the table's own id lands in the last row

// Same ids again with new tags: stored ones are replaced, rejected ones stay out.
for (let i = 0; i < 40; i += 4) add(added[i * 3], tag++)

// Removes of stored, rejected and unknown ids, then refill the freed room.
for (let i = 0; i < 60; i += 3) remove(added[i])
remove(hash('never-added'))
remove(near(10, 'row10:999'))
for (let i = 0; i < 40; i++) add(i % 2 ? near(10, 'refill10:' + i) : hash('refill:' + i), tag++)

function result (nodes) {
  return { ids: nodes.map(n => n.id.toString('hex')), tags: nodes.map(n => n.tag) }
}

const queries = []
function query (target, k) {
  queries.push({ target: target.toString('hex'), k, ...result(table.closest(target, k)) })
}

query(own, K)
query(own, 0) // 0 means the table's k
for (let i = 0; i < 12; i++) query(hash('target:' + i), K)
for (const p of [0, 1, 5, 10, 33, 63, 100, 200, 255]) query(near(p, 'tnear:' + p), K)
for (const i of [1, 50, 200]) query(added[i], K)
query(hash('target:0'), 3)
query(near(10, 'tnear:k'), 50)
query(hash('target:1'), 1000)

const out = []
out.push('{')
out.push(' "k": ' + K + ',')
out.push(' "own": "' + own.toString('hex') + '",')
out.push(' "ops": [')
out.push(ops.map(o => '  ' + JSON.stringify(o)).join(',\n'))
out.push(' ],')
out.push(' "size": ' + table.size + ',')
out.push(' "all": ' + JSON.stringify(result(table.toArray())) + ',')
out.push(' "queries": [')
out.push(queries.map(q => '  ' + JSON.stringify(q)).join(',\n'))
out.push(' ]')
out.push('}')
process.stdout.write(out.join('\n') + '\n')
