'use strict'

// jsonlines.js is the JSON-lines plumbing the drivers share: dhtrpc.js,
// hyperdht.js, udx.js here and bench/recordsbench/jsnet.js. A driver sets up its
// reference objects, then calls serve() once with its ops; from then on:
//
//   stdin:   one JSON command per line, {"op":OP,"id":N,...arguments}. Commands
//            run concurrently; replies may come back in any order. A line that is
//            not JSON, or has no numeric "id", is answered by a "driver-error"
//            event {"event":"driver-error","error":"...","line":"..."}.
//   stdout:  replies {"id":N,"ok":true,"result":...} (result null when the op
//            returns nothing) or {"id":N,"ok":false,"error":"...","code":"..."|null}
//            (code is the thrown error's code), and events {"event":NAME,...}
//            written with event().
//   exit:    the "exit" op, stdin EOF, SIGTERM and SIGINT stop the driver (the
//            stop function given to serve, run once), then the process exits 0
//            after stdout is flushed; the exit op is answered first.
//
// It also holds the argument readers and the error constructor the drivers
// share (fail, intArg, u32Arg, boolArg, lookupArg, hexArg, bytesArg): a bad
// argument is an error reply whose message starts with the argument's name.
//
// One driver runs per process, so the state below is the process's.

const readline = require('readline')

let exiting = false // finish was called: no more events
let stopping = null // the promise of the one stop
let stopDriver = () => {}

function write (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

// event writes {"event":name, ...fields}, unless the process is exiting.
function event (name, fields) {
  if (exiting) return
  write({ event: name, ...fields })
}

// finish exits once everything already written to stdout has been flushed.
function finish (code) {
  if (exiting) return
  exiting = true
  process.stdout.write('', () => process.exit(code))
}

// stop runs the driver's stop function the first time and returns its promise
// every time.
function stop () {
  if (stopping === null) stopping = Promise.resolve(stopDriver())
  return stopping
}

// shutdown stops the driver and exits with code.
function shutdown (code) {
  return stop().then(() => finish(code))
}

// exitAfter makes the process exit 1, with message on stderr, if it is still
// running after ms: a destroy that never settles must not leave it behind.
function exitAfter (ms, message) {
  setTimeout(() => {
    process.stderr.write(message + '\n')
    process.exit(1)
  }, ms).unref()
}

// errorText is an error's stack, or the error itself, for stderr.
function errorText (err) {
  return err && err.stack ? err.stack : err
}

// hex writes bytes (a Buffer or typed array) as hex; null and undefined stay null.
function hex (bytes) {
  if (bytes === null || bytes === undefined) return null
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

// fail returns an Error with message and, when code is given, that code (the
// "code" of the error reply).
function fail (message, code) {
  const err = new Error(message)
  if (code) err.code = code
  return err
}

// intArg reads the integer argument cmd[field] in [0, max] (max undefined: any
// safe integer, said as 2^53). dflt, when given, is the value of an absent or
// null argument.
function intArg (cmd, field, max, dflt) {
  const n = cmd[field]
  if ((n === undefined || n === null) && dflt !== undefined) return dflt
  if (!Number.isSafeInteger(n) || n < 0 || (max !== undefined && n > max)) {
    throw fail(`${field}: want an integer in [0, ${max === undefined ? '2^53' : max}]`)
  }
  return n
}

// u32Arg is intArg for a uint32.
function u32Arg (cmd, field, dflt) {
  return intArg(cmd, field, 0xffffffff, dflt)
}

// boolArg reads the boolean argument cmd[field], which must be there.
function boolArg (cmd, field) {
  const v = cmd[field]
  if (typeof v !== 'boolean') throw fail(`${field}: want a boolean`)
  return v
}

// lookupArg returns what map holds under the key cmd[field]; without one it
// throws "FIELD: no WHAT KEY".
function lookupArg (cmd, field, map, what) {
  const key = cmd[field]
  const v = map.get(key)
  if (v === undefined) throw fail(`${field}: no ${what} ${JSON.stringify(key)}`)
  return v
}

// hexArg reads the hex argument cmd[field]; size, when given, is the exact length.
function hexArg (cmd, field, size) {
  const s = cmd[field]
  if (typeof s !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(s)) {
    throw new Error(`${field}: want a hex string`)
  }
  const b = Buffer.from(s, 'hex')
  if (size !== undefined && b.byteLength !== size) {
    throw new Error(`${field}: want ${size} bytes, got ${b.byteLength}`)
  }
  return b
}

// bytesArg reads an optional hex argument: null when cmd[field] is null or absent.
function bytesArg (cmd, field, size) {
  const s = cmd[field]
  if (s === null || s === undefined) return null
  return hexArg(cmd, field, size)
}

// serve reads commands from stdin and runs them until the driver exits.
//   ops         {name: (cmd) => result or a promise of it}; "exit" is built in
//   stop        () => a promise that settles once the driver has released
//               everything; run at most once
//   check       optional (cmd) => void, run before every op but exit; what it
//               throws is the reply
//   errorCodes  false: error replies carry no "code" (jsnet.js)
//   echoLines   false: driver-error events carry no "line" (jsnet.js)
function serve ({ ops, stop: stopFn, check = null, errorCodes = true, echoLines = true }) {
  stopDriver = stopFn

  async function run (cmd) {
    try {
      if (cmd.op === 'exit') {
        await stop()
        write({ id: cmd.id, ok: true, result: null })
        finish(0)
        return
      }
      if (check !== null) check(cmd)
      if (typeof cmd.op !== 'string' || !Object.hasOwn(ops, cmd.op)) {
        throw new Error(`unknown op ${JSON.stringify(cmd.op)}`)
      }
      const result = await ops[cmd.op](cmd)
      write({ id: cmd.id, ok: true, result: result === undefined ? null : result })
    } catch (err) {
      const reply = { id: cmd.id, ok: false, error: (err && err.message) || String(err) }
      if (errorCodes) reply.code = err && err.code !== undefined && err.code !== null ? String(err.code) : null
      write(reply)
    }
  }

  function driverError (error, line) {
    event('driver-error', echoLines ? { error, line } : { error })
  }

  readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
    .on('line', (line) => {
      if (line.trim() === '') return
      let cmd
      try {
        cmd = JSON.parse(line)
      } catch (err) {
        driverError(`bad JSON: ${err.message}`, line)
        return
      }
      if (cmd === null || typeof cmd !== 'object' || typeof cmd.id !== 'number') {
        driverError('command without a numeric "id"', line)
        return
      }
      run(cmd) // not awaited: commands run concurrently
    })
    .on('close', () => shutdown(0))

  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => shutdown(0))
  }
}

module.exports = {
  write,
  event,
  finish,
  shutdown,
  exitAfter,
  errorText,
  hex,
  fail,
  intArg,
  u32Arg,
  boolArg,
  lookupArg,
  hexArg,
  bytesArg,
  serve
}
