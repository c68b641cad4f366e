'use strict'

// The connect-path part of the golden vectors of package dht/records, which gen.js writes
// under "connect" in vectors.json: the PEER_HANDSHAKE and PEER_HOLEPUNCH values, the noise and
// holepunch payloads, and the sealing of holepunch payloads. Every hex string comes out of the
// installed reference (npm hyperdht lib/messages.js, lib/noise-wrap.js, lib/secure-payload.js,
// compact-encoding, sodium-native); only the inputs of the decode, reject and open lists are
// written here, and the reference decides their outcome:
//
// codecs:      a message value and its encoding (the Go test encodes and decodes it); every
//              strict prefix of the encoding is checked here to be refused by the reference
// decode:      input the reference accepts leniently, and what it decodes to
// reject:      input the reference refuses to decode
// secrets:     holepunch secrets lib/noise-wrap.js derives from a handshake hash
// sealed:      holepunch payloads lib/secure-payload.js seals, with the nonce it drew, under
//              secret, by a SecurePayload whose token key is localSecret
// tokens:      that SecurePayload's tokens of a few hosts
// openLenient: sealed input the reference opens although it is not a canonical encoding
// openReject:  sealed input the reference refuses to open

module.exports = function connectVectors({ mod, hex, unhex, fill }) {
  const c = mod('compact-encoding')
  const sodium = mod('sodium-universal')
  const m = mod('hyperdht/lib/messages.js')
  const SecurePayload = mod('hyperdht/lib/secure-payload.js')
  const NoiseWrap = mod('hyperdht/lib/noise-wrap.js')

  const pattern = (n, start = 0) => Buffer.from(Array.from({ length: n }, (_, i) => (start + i * 7) & 0xff))

  // Addresses in JSON are "host:port", with an IPv6 host in brackets.
  function addr(s) {
    const i = s.lastIndexOf(':')
    return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) }
  }
  const addrString = (a) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`)
  const addrOrNull = (a) => (a ? addrString(a) : null)
  const fromAddrOrNull = (s) => (s ? addr(s) : null)
  const listOrNull = (l) => (l ? l.map(addrString) : null)
  const fromListOrNull = (l) => (l ? l.map(addr) : null)
  const hexOrNull = (b) => (b ? hex(b) : null)
  const unhexOrNull = (h) => (h ? unhex(h) : null)

  const holepunchPayload = {
    enc: m.holepunchPayload,
    from: (j) => ({
      error: j.error,
      firewall: j.firewall,
      round: j.round,
      connected: j.connected,
      punching: j.punching,
      addresses: fromListOrNull(j.addresses),
      remoteAddress: fromAddrOrNull(j.remoteAddress),
      token: unhexOrNull(j.token),
      remoteToken: unhexOrNull(j.remoteToken)
    }),
    to: (v) => ({
      error: v.error,
      firewall: v.firewall,
      round: v.round,
      connected: v.connected,
      punching: v.punching,
      addresses: listOrNull(v.addresses),
      remoteAddress: addrOrNull(v.remoteAddress),
      token: hexOrNull(v.token),
      remoteToken: hexOrNull(v.remoteToken)
    })
  }

  const codecs = {
    handshake: {
      enc: m.handshake,
      from: (j) => ({
        mode: j.mode,
        noise: unhex(j.noise),
        peerAddress: fromAddrOrNull(j.peerAddress),
        relayAddress: fromAddrOrNull(j.relayAddress)
      }),
      to: (v) => ({
        mode: v.mode,
        noise: hex(v.noise),
        peerAddress: addrOrNull(v.peerAddress),
        relayAddress: addrOrNull(v.relayAddress)
      })
    },
    holepunch: {
      enc: m.holepunch,
      from: (j) => ({ mode: j.mode, id: j.id, payload: unhex(j.payload), peerAddress: fromAddrOrNull(j.peerAddress) }),
      to: (v) => ({ mode: v.mode, id: v.id, payload: hex(v.payload), peerAddress: addrOrNull(v.peerAddress) })
    },
    noisePayload: {
      enc: m.noisePayload,
      from: (j) => ({
        error: j.error,
        firewall: j.firewall,
        holepunch: j.holepunch
          ? { id: j.holepunch.id, relays: j.holepunch.relays.map((r) => ({ relayAddress: addr(r.relayAddress), peerAddress: addr(r.peerAddress) })) }
          : null,
        addresses4: fromListOrNull(j.addresses4),
        addresses6: fromListOrNull(j.addresses6),
        udx: j.udx, // the encoder writes version 1 whatever the value says
        secretStream: j.secretStream,
        relayThrough: j.relayThrough ? { publicKey: unhex(j.relayThrough.publicKey), token: unhex(j.relayThrough.token) } : null,
        relayAddresses: fromListOrNull(j.relayAddresses)
      }),
      to: (v) => ({
        version: v.version,
        error: v.error,
        firewall: v.firewall,
        holepunch: v.holepunch
          ? { id: v.holepunch.id, relays: v.holepunch.relays.map((r) => ({ relayAddress: addrString(r.relayAddress), peerAddress: addrString(r.peerAddress) })) }
          : null,
        addresses4: v.addresses4.map(addrString),
        addresses6: v.addresses6.map(addrString),
        udx: v.udx,
        secretStream: v.secretStream,
        relayThrough: v.relayThrough
          ? { version: v.relayThrough.version, publicKey: hex(v.relayThrough.publicKey), token: hex(v.relayThrough.token) }
          : null,
        relayAddresses: listOrNull(v.relayAddresses)
      })
    },
    holepunchPayload
  }

  const out = {
    codecs: [],
    decode: [],
    reject: [],
    secrets: [],
    sealed: [],
    tokens: [],
    openLenient: [],
    openReject: []
  }

  function refuses(codec, buf) {
    try {
      c.decode(codecs[codec].enc, buf)
    } catch {
      return true
    }
    return false
  }

  function enc(name, codec, value) {
    const { enc, from, to } = codecs[codec]
    const buf = c.encode(enc, from(value))
    for (let n = 0; n < buf.length; n++) {
      if (!refuses(codec, buf.subarray(0, n))) throw new Error(`${name}: the reference accepts a ${n}-byte prefix`)
    }
    out.codecs.push({ name, codec, value: to(c.decode(enc, buf)), hex: hex(buf) })
  }

  function dec(name, codec, h) {
    const { enc, to } = codecs[codec]
    out.decode.push({ name, codec, hex: h, value: to(c.decode(enc, unhex(h))) })
  }

  function rej(name, codec, h) {
    if (!refuses(codec, unhex(h))) throw new Error(`${name}: the reference accepts ${h}`)
    out.reject.push({ name, codec, hex: h })
  }

  // --- handshake (PEER_HANDSHAKE value), modes of lib/router.js ---

  const FROM_CLIENT = 0
  const FROM_SERVER = 1
  const FROM_RELAY = 2
  const FROM_SECOND_RELAY = 3
  const REPLY = 4

  const msg1 = hex(pattern(116, 3))
  const msg2 = hex(pattern(125, 5))
  const hs = (mode, noise, peerAddress = null, relayAddress = null) => ({ mode, noise, peerAddress, relayAddress })

  enc('handshake/from client', 'handshake', hs(FROM_CLIENT, msg1))
  enc('handshake/from relay', 'handshake', hs(FROM_RELAY, msg1, '127.0.0.1:52483'))
  enc('handshake/from second relay', 'handshake', hs(FROM_SECOND_RELAY, msg1, '10.0.0.7:40000', '88.99.3.86:49737'))
  enc('handshake/from server', 'handshake', hs(FROM_SERVER, msg2, '127.0.0.1:52483'))
  enc('handshake/reply relayed', 'handshake', hs(REPLY, msg2, '127.0.0.1:37610'))
  enc('handshake/reply direct', 'handshake', hs(REPLY, msg2))
  enc('handshake/relay address only', 'handshake', hs(FROM_CLIENT, msg1, null, '1.2.3.4:5'))
  enc('handshake/map example', 'handshake', hs(FROM_RELAY, 'abcd', '1.2.3.4:258'))
  enc('handshake/empty noise', 'handshake', hs(FROM_CLIENT, ''))
  enc('handshake/300-byte noise', 'handshake', hs(FROM_CLIENT, hex(pattern(300))))

  dec('handshake/long-form flags', 'handshake', 'fd' + '0100' + '02' + '02abcd' + '01020304' + '0201')
  dec('handshake/unknown flag bits', 'handshake', 'f9' + '02' + '02abcd' + '01020304' + '0201')
  dec('handshake/high flag bits ignored', 'handshake', 'fc' + '00' + '00')
  dec('handshake/long-form mode', 'handshake', '00' + 'fd0400' + '01ee')
  dec('handshake/unknown mode', 'handshake', '00' + 'fde803' + '00')
  dec('handshake/long-form noise length', 'handshake', '00' + '00' + 'fd0200' + 'abcd')
  dec('handshake/trailing bytes', 'handshake', '03' + '03' + '01ee' + '7f0000010100' + '0a0000010200' + 'deadbeef')

  rej('handshake/empty', 'handshake', '')
  rej('handshake/flags only', 'handshake', '00')
  rej('handshake/no noise', 'handshake', '0000')
  rej('handshake/noise past the end', 'handshake', '000003abcd')
  rej('handshake/peer address missing', 'handshake', '010001ee')
  rej('handshake/relay address cut', 'handshake', '020001ee0102030405')
  rej('handshake/mode above 2^53', 'handshake', '00' + 'ff' + 'ffffffffffffffff' + '00')
  rej('handshake/noise length above 2^53', 'handshake', '0000' + 'ff' + '0000000000002000')

  // --- holepunch (PEER_HOLEPUNCH value) ---

  const box = hex(pattern(80, 9))
  const hp = (mode, id, payload, peerAddress = null) => ({ mode, id, payload, peerAddress })

  enc('holepunch/from client', 'holepunch', hp(FROM_CLIENT, 3, box))
  enc('holepunch/from client with peer address', 'holepunch', hp(FROM_CLIENT, 1, box, '192.168.1.20:4000'))
  enc('holepunch/from relay', 'holepunch', hp(FROM_RELAY, 3, box, '127.0.0.1:52483'))
  enc('holepunch/from server', 'holepunch', hp(FROM_SERVER, 0, box, '127.0.0.1:52483'))
  enc('holepunch/reply', 'holepunch', hp(REPLY, 3, box, '127.0.0.1:37610'))
  enc('holepunch/map example', 'holepunch', hp(FROM_CLIENT, 3, 'abcd', '1.2.3.4:258'))
  enc('holepunch/large id, empty payload', 'holepunch', hp(FROM_CLIENT, 70000, ''))

  dec('holepunch/unknown flag bits', 'holepunch', '7f' + '02' + '05' + '01ee' + '0102030404d2')
  dec('holepunch/flag 2 ignored', 'holepunch', '02' + '04' + '00' + '00')
  dec('holepunch/trailing bytes', 'holepunch', '00' + '00' + '03' + '02abcd' + 'ffff')

  rej('holepunch/empty', 'holepunch', '')
  rej('holepunch/no id', 'holepunch', '0000')
  rej('holepunch/no payload', 'holepunch', '000003')
  rej('holepunch/payload past the end', 'holepunch', '00000305abcd')
  rej('holepunch/peer address cut', 'holepunch', '01000300' + '0102030404')
  rej('holepunch/id above 2^53', 'holepunch', '00' + '00' + 'ff' + '0000000000000001' + '00')

  // --- noisePayload (inside Noise messages 1 and 2) ---

  const np = (v) => ({
    error: 0,
    firewall: 0,
    holepunch: null,
    addresses4: [],
    addresses6: [],
    udx: null,
    secretStream: null,
    relayThrough: null,
    relayAddresses: null,
    ...v
  })
  const udx = (id, reusableSocket = false) => ({ version: 1, reusableSocket, id, seq: 0 })
  const relays = [
    { relayAddress: '127.0.0.1:42673', peerAddress: '127.0.0.1:54196' },
    { relayAddress: '127.0.0.1:55404', peerAddress: '127.0.0.1:54196' },
    { relayAddress: '127.0.0.1:56048', peerAddress: '127.0.0.1:54196' }
  ]

  enc('noisePayload/client msg1', 'noisePayload', np({ addresses4: ['127.0.0.1:44994'], udx: udx(0x0cc53931), secretStream: {} }))
  enc('noisePayload/client msg1 open, reusable socket', 'noisePayload', np({
    firewall: 1,
    addresses4: ['203.0.113.9:49737', '192.168.1.20:49737'],
    udx: udx(7, true),
    secretStream: {}
  }))
  enc('noisePayload/server msg2 firewalled', 'noisePayload', np({
    holepunch: { id: 1, relays },
    addresses4: ['127.0.0.1:42934'],
    udx: udx(0x4c914640),
    secretStream: {},
    relayAddresses: relays.map((r) => r.relayAddress)
  }))
  enc('noisePayload/server msg2 aborted', 'noisePayload', np({ error: 1, udx: udx(0), secretStream: {} }))
  enc('noisePayload/version mismatch reply', 'noisePayload', np({ error: 2 }))
  enc('noisePayload/relay through', 'noisePayload', np({
    error: 3,
    firewall: 2,
    udx: udx(0xffffffff),
    secretStream: {},
    relayThrough: { publicKey: hex(fill(0x61)), token: hex(fill(0x62)) }
  }))
  enc('noisePayload/holepunch without relays', 'noisePayload', np({ holepunch: { id: 0, relays: [] }, udx: udx(1) }))
  enc('noisePayload/empty relay addresses', 'noisePayload', np({ udx: udx(2), relayAddresses: [] }))
  enc('noisePayload/ipv6 addresses', 'noisePayload', np({
    addresses6: ['[2001:db8::1]:49737', '[::1]:1', '[::ffff:102:304]:65535'],
    udx: udx(3)
  }))
  enc('noisePayload/everything', 'noisePayload', np({
    error: 0,
    firewall: 3,
    holepunch: { id: 300, relays: relays.slice(0, 2) },
    addresses4: ['10.0.0.1:1', '10.0.0.2:2'],
    addresses6: ['[fe80::1:2]:3'],
    udx: udx(0x12345678, true),
    secretStream: {},
    relayThrough: { publicKey: hex(pattern(32, 1)), token: hex(pattern(32, 2)) },
    relayAddresses: ['8.8.8.8:53']
  }))

  dec('noisePayload/map 9.4 client msg1', 'noisePayload', '011a0000017f000001c2af0100fe3139c50c0001')
  dec('noisePayload/map 9.4 server msg2', 'noisePayload',
    '015b0000' + '0103' + '7f000001b1a67f000001b4d3' + '7f0000016cd87f000001b4d3' + '7f000001f0da7f000001b4d3' +
    '017f000001b6a7' + '0100fe4046914c00' + '01' + '037f000001b1a67f0000016cd87f000001f0da')
  dec('noisePayload/map 1.4 client', 'noisePayload', '011a0000017f000001a00f0100fd39300001')
  dec('noisePayload/version 2 stops reading', 'noisePayload', '02' + 'ffffffff')
  dec('noisePayload/version 0 stops reading', 'noisePayload', '00')
  dec('noisePayload/long-form version 2', 'noisePayload', 'fd0200')
  dec('noisePayload/unknown flag bits', 'noisePayload', '01' + 'fd8000' + '0000')
  dec('noisePayload/trailing bytes', 'noisePayload', '01' + '10' + '0000' + '01' + 'abcdef')
  dec('noisePayload/udx version and features as sent', 'noisePayload', '01' + '08' + '0000' + '07' + 'fb' + '05' + '00')
  dec('noisePayload/udx features without bit 0', 'noisePayload', '01' + '08' + '0000' + '01' + '06' + '05' + '09')
  dec('noisePayload/secret stream version 9', 'noisePayload', '01' + '10' + '0000' + '09')
  dec('noisePayload/relay through version 2, flags 5', 'noisePayload', '01' + '20' + '0000' + '02' + '05' + hex(fill(1)) + hex(fill(2)))
  dec('noisePayload/addresses4 flag with no addresses', 'noisePayload', '01' + '06' + '0000' + '00' + '00')
  dec('noisePayload/unknown error and firewall', 'noisePayload', '01' + '00' + 'fd1027' + '09')

  rej('noisePayload/empty', 'noisePayload', '')
  rej('noisePayload/version only', 'noisePayload', '01')
  rej('noisePayload/no firewall', 'noisePayload', '010000')
  rej('noisePayload/version above 2^53', 'noisePayload', 'ff' + 'ffffffffffffffff')
  rej('noisePayload/relays past the end', 'noisePayload', '01010000' + '00' + '02' + '7f000001b1a67f000001b4d3')
  rej('noisePayload/relay array too big', 'noisePayload', '01010000' + '00' + 'fe01001000')
  rej('noisePayload/addresses4 too many', 'noisePayload', '01020000' + 'fe01001000')
  rej('noisePayload/addresses6 cut', 'noisePayload', '01040000' + '01' + hex(fill(0, 17)))
  rej('noisePayload/udx cut', 'noisePayload', '01080000' + '0100fe404691')
  rej('noisePayload/udx seq missing', 'noisePayload', '01080000' + '010001')
  rej('noisePayload/secret stream missing', 'noisePayload', '01100000')
  rej('noisePayload/relay through token cut', 'noisePayload', '01200000' + '0100' + hex(fill(1)) + hex(fill(2, 31)))
  rej('noisePayload/relay through flags above 2^53', 'noisePayload', '01200000' + '01' + 'ff' + 'ffffffffffffffff' + hex(fill(1, 64)))
  rej('noisePayload/relay addresses cut', 'noisePayload', '01400000' + '01' + '7f00000101')

  // --- holepunchPayload (the plaintext of a sealed payload) ---

  const hpp = (v) => ({
    error: 0,
    firewall: 0,
    round: 0,
    connected: false,
    punching: false,
    addresses: null,
    remoteAddress: null,
    token: null,
    remoteToken: null,
    ...v
  })

  enc('holepunchPayload/map example', 'holepunchPayload', hpp({ firewall: 2, round: 1, punching: true, addresses: ['1.2.3.4:258'], token: hex(fill(0xee)) }))
  enc('holepunchPayload/client probe', 'holepunchPayload', hpp({
    firewall: 2,
    round: 0,
    addresses: ['203.0.113.5:40001'],
    remoteAddress: '198.51.100.7:49737',
    token: hex(pattern(32, 4))
  }))
  enc('holepunchPayload/server echo', 'holepunchPayload', hpp({
    firewall: 3,
    round: 2,
    connected: false,
    punching: true,
    addresses: ['198.51.100.7:0'],
    remoteAddress: '203.0.113.5:40001',
    token: hex(pattern(32, 5)),
    remoteToken: hex(pattern(32, 4))
  }))
  enc('holepunchPayload/connected', 'holepunchPayload', hpp({ connected: true, round: 7 }))
  enc('holepunchPayload/aborted', 'holepunchPayload', hpp({ error: 1 }))
  enc('holepunchPayload/try later', 'holepunchPayload', hpp({ error: 3, punching: true, remoteToken: hex(fill(0x07)) }))
  enc('holepunchPayload/empty address list', 'holepunchPayload', hpp({ addresses: [] }))

  dec('holepunchPayload/unknown flag bits', 'holepunchPayload', 'c1' + '00' + '01' + '02')
  dec('holepunchPayload/long-form flags', 'holepunchPayload', 'fd0800' + '00' + '00' + '00' + '0102030405d2')
  dec('holepunchPayload/trailing bytes', 'holepunchPayload', '01' + '00' + '00' + '05' + '0000')
  dec('holepunchPayload/large round', 'holepunchPayload', '00' + '00' + '00' + 'fe00000001')

  rej('holepunchPayload/empty', 'holepunchPayload', '')
  rej('holepunchPayload/no round', 'holepunchPayload', '000000')
  rej('holepunchPayload/token cut', 'holepunchPayload', '10000000' + hex(fill(1, 31)))
  rej('holepunchPayload/remote token missing', 'holepunchPayload', '30000000' + hex(fill(1)))
  rej('holepunchPayload/remote address cut', 'holepunchPayload', '08000000' + '0102030405')
  rej('holepunchPayload/addresses too many', 'holepunchPayload', '04000000' + 'fe01001000')
  rej('holepunchPayload/round above 2^53', 'holepunchPayload', '000000' + 'ff' + '0000000000002000')

  // --- holepunch secrets (lib/noise-wrap.js final) ---

  // final() reads only these parts of a finished handshake, so a stand-in with a chosen hash
  // runs the reference's own derivation.
  function secretOf(handshakeHash) {
    const w = Object.create(NoiseWrap.prototype)
    w.isInitiator = true
    w.keyPair = { publicKey: fill(0) }
    w.remotePublicKey = fill(0)
    w.handshake = { complete: true, hash: handshakeHash, rs: fill(0), rx: fill(0), tx: fill(0) }
    return w.final().holepunchSecret
  }

  for (const h of [fill(0, 64), fill(0xff, 64), pattern(64, 11)]) {
    out.secrets.push({ hash: hex(h), secret: hex(secretOf(h)) })
  }

  // --- sealed payloads (lib/secure-payload.js) ---

  // SecurePayload draws its token key and every nonce from randombytes_buf; a counter-driven
  // stand-in makes them reproducible.
  const randombytes = sodium.randombytes_buf
  let draws = 0
  sodium.randombytes_buf = (buf) => {
    draws++
    buf.set(pattern(buf.length, 0x40 + draws))
  }

  const secret = secretOf(pattern(64, 11))
  const sp = new SecurePayload(secret)
  const localSecret = Buffer.from(sp._localSecret)

  function seal(name, value) {
    const before = draws
    const buf = sp.encrypt(holepunchPayload.from(value))
    if (draws !== before + 1) throw new Error('secure-payload no longer draws its nonce from randombytes_buf')
    const opened = sp.decrypt(Buffer.from(buf))
    if (!opened) throw new Error(`${name}: does not open`)
    out.sealed.push({ name, nonce: hex(buf.subarray(0, 24)), value: holepunchPayload.to(opened), hex: hex(buf) })
  }

  seal('sealed/probe', hpp({ firewall: 2, addresses: ['203.0.113.5:40001'], remoteAddress: '198.51.100.7:49737', token: hex(sp.token({ host: '198.51.100.7', port: 49737 })) }))
  seal('sealed/punching', hpp({ firewall: 3, round: 4, punching: true, remoteToken: hex(fill(0x99)) }))
  seal('sealed/connected', hpp({ connected: true }))
  seal('sealed/aborted', hpp({ error: 1 }))
  out.secret = hex(secret)
  out.localSecret = hex(localSecret)

  for (const host of ['127.0.0.1', '198.51.100.7', '0.0.0.0', '255.255.255.255']) {
    out.tokens.push({ host, token: hex(sp.token({ host, port: 1234 })) })
  }

  // Seals arbitrary plaintext under secret as secure-payload does (nonce ‖ tag ‖ ciphertext).
  function sealRaw(plain, nonce, key = secret) {
    const buf = Buffer.alloc(24 + 16 + plain.length)
    nonce.copy(buf)
    sodium.crypto_secretbox_easy(buf.subarray(24), plain, nonce, key)
    return buf
  }

  function openLenient(name, plain) {
    const buf = sealRaw(plain, pattern(24, 0x70 + out.openLenient.length))
    const v = sp.decrypt(Buffer.from(buf))
    if (!v) throw new Error(`${name}: the reference refuses it`)
    out.openLenient.push({ name, hex: hex(buf), value: holepunchPayload.to(v) })
  }

  function openReject(name, buf) {
    if (sp.decrypt(Buffer.from(buf)) !== null) throw new Error(`${name}: the reference opens it`)
    out.openReject.push({ name, hex: hex(buf) })
  }

  openLenient('open/trailing bytes in the plaintext', unhex('01000005' + 'abcdef'))
  openLenient('open/unknown flag bits', unhex('c2000100'))

  {
    const good = sp.encrypt(hpp({ punching: true, round: 1 }))
    const tampered = Buffer.from(good)
    tampered[30] ^= 1
    openReject('open/tampered tag', tampered)
    const flipped = Buffer.from(good)
    flipped[flipped.length - 1] ^= 0x80
    openReject('open/tampered ciphertext', flipped)
    const nonce = Buffer.from(good)
    nonce[0] ^= 1
    openReject('open/other nonce', nonce)
    openReject('open/other key', sealRaw(unhex('02000001'), pattern(24, 1), fill(0x13)))
    openReject('open/empty plaintext', sealRaw(Buffer.alloc(0), pattern(24, 2)))
    openReject('open/plaintext does not decode', sealRaw(unhex('10000000' + 'aabb'), pattern(24, 3)))
    openReject('open/plaintext truncated', sealRaw(unhex('0000'), pattern(24, 4)))
    openReject('open/nonce and tag only', good.subarray(0, 40))
    openReject('open/shorter than a nonce', good.subarray(0, 20))
    openReject('open/empty', Buffer.alloc(0))
  }

  sodium.randombytes_buf = randombytes

  return out
}
