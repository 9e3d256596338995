import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ref } from '../test/helpers/tree.ts'
import {
  MAX_ANNOUNCE_ITEMS,
  MAX_HELLO_EVICTED,
  MAX_HELLO_PEERS,
  MAX_HELLO_RECENT,
  MAX_MESSAGE_BYTES,
  type PeerInfo,
  announceMessages,
  decodeHello,
  decodeGossip,
  decodeMessage,
  encodeHello,
  encodeMessage,
  itemPath,
  parseHourDigests,
  parseItemPath
} from './messages.ts'

const from: PeerInfo = {
  peerId: '12D3KooWHeWPVvf2QzNxRc5iE1pB8u3xq7v4XUg8sX6g6k9Yk1Zz',
  url: 'http://127.0.0.1:8080',
  addrs: ['/ip4/127.0.0.1/tcp/4001']
}
const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))

describe('replication messages', () => {
  it('round-trip announcements of segments and tombstones', () => {
    const seg = ref({ at: 0, dur: 2000 })
    const items = [
      { kind: 'segment' as const, ref: seg },
      { kind: 'tombstone' as const, ref: ref({ at: 2000, dur: 2000 }) }
    ]
    const decoded = decodeMessage(encodeMessage({ type: 'announce', from, items }))
    assert.ok(decoded.ok)
    assert.equal(decoded.message.type, 'announce')
    assert.deepEqual(decoded.message.type === 'announce' && decoded.message.items.map(itemPath), items.map(itemPath))
    assert.match(itemPath(items[1]!), /\.tombstone$/)
  })

  it("decodes a message's bytes once for its validator and its receiver, then forgets them", () => {
    const bytes = encodeMessage({ type: 'announce', from, items: [{ kind: 'segment', ref: ref({ at: 0, dur: 2000 }) }] })
    const validated = decodeGossip(bytes)
    assert.equal(decodeGossip(bytes), validated, 'the receiver gets what the validator decoded')
    const third = decodeGossip(bytes)
    assert.notEqual(third, validated, 'taken on use: not held for as long as the bytes live')
    assert.deepEqual(third, validated)
    // Anything else decodes afresh and leaves nothing behind (a bench looping over one message).
    assert.notEqual(decodeMessage(bytes), decodeMessage(bytes))
  })

  it('round-trip digests', () => {
    const roots = [{ channel: 'c', quality: 'q', root: 'abc', hours: 3, segments: 100 }]
    const decoded = decodeMessage(encodeMessage({ type: 'digest', from, windowStart: 5, roots }))
    assert.ok(decoded.ok && decoded.message.type === 'digest')
    assert.deepEqual(decoded.message.roots, roots)
  })

  it("a connection's first hello carries the newest segment names; a hello without them reads as none", () => {
    const recent = Array.from({ length: MAX_HELLO_RECENT + 3 }, (_, i) => ref({ at: i * 2000, dur: 2000 }))
    const decoded = decodeHello(encodeHello({ from, windowStart: 5, roots: [], peers: [], recent }, 2))
    assert.ok(decoded.ok)
    assert.deepEqual(decoded.hello.recent, recent.slice(0, MAX_HELLO_RECENT), 'at most MAX_HELLO_RECENT are sent')
    const without = decodeHello(encodeHello({ from, windowStart: 5, roots: [], peers: [] }, 2))
    assert.ok(without.ok)
    assert.deepEqual(without.hello.recent, [])
    const wire = { v: 2, type: 'hello', from, windowStart: 0, roots: [], peers: [] }
    const tooMany = Array.from({ length: MAX_HELLO_RECENT + 1 }, () => 'c/q/2020-01-01T00/00:00.000000-2.0-full-x.ts')
    for (const [recentWire, reason] of [
      [tooMany, /recent: not a list/],
      [['c/q/2020-01-01T00/not-a-segment.ts'], /recent: not a segment name/],
      [['c/q/2020-01-01T00/00:00.000000-2.0-full-AAAA.tombstone'], /recent: not a segment name/],
      ['c/q', /recent: not a list/]
    ] as const) {
      const bad = decodeHello(new TextEncoder().encode(JSON.stringify({ ...wire, recent: recentWire })))
      assert.ok(!bad.ok && reason.test(bad.reason), `${JSON.stringify(recentWire).slice(0, 60)}: ${bad.ok ? 'accepted' : bad.reason}`)
    }
  })

  it('a hello says what its sender keeps; none said is everything, and a bad pattern refuses the hello', () => {
    const decoded = decodeHello(encodeHello({ from, windowStart: 5, roots: [], peers: [], keep: ['desertbus', 'other/source'] }, 2))
    assert.ok(decoded.ok)
    assert.deepEqual(decoded.hello.keep, ['desertbus', 'other/source'])
    const everything = decodeHello(encodeHello({ from, windowStart: 5, roots: [], peers: [] }, 2))
    assert.ok(everything.ok)
    assert.deepEqual(everything.hello.keep, [])
    const wire = { v: 2, type: 'hello', from, windowStart: 0, roots: [], peers: [] }
    for (const keep of [['a/b/c'], ['../x'], 'desertbus', Array.from({ length: 65 }, (_, i) => `c${i}`)]) {
      const bad = decodeHello(new TextEncoder().encode(JSON.stringify({ ...wire, keep })))
      assert.ok(!bad.ok && /^keep:/.test(bad.reason), JSON.stringify(keep).slice(0, 40))
    }
  })

  it('a hello names the hours its sender evicted, in its window, newest first and bounded; bad lists refuse the hello', () => {
    const H = 3_600_000_000
    const windowStart = 472_222 * H
    const evicted = ['c/q', 'c/q', 'other/source'].map((k, i) => `${k}/${windowStart + (i + 1) * H}`)
    const decoded = decodeHello(
      encodeHello({ from, windowStart, roots: [], peers: [], evicted: [...evicted, `c/q/${windowStart - H}`] }, 2)
    )
    assert.ok(decoded.ok)
    assert.deepEqual(decoded.hello.evicted.sort(), [...evicted].sort(), 'the hour before the window is left out')
    const none = decodeHello(encodeHello({ from, windowStart, roots: [], peers: [] }, 2))
    assert.ok(none.ok)
    assert.deepEqual(none.hello.evicted, [])
    const many = Array.from({ length: MAX_HELLO_EVICTED + 10 }, (_, i) => `c/q/${windowStart + i * H}`)
    const bounded = decodeHello(encodeHello({ from, windowStart, roots: [], peers: [], evicted: many }, 2))
    assert.ok(bounded.ok)
    assert.equal(bounded.hello.evicted.length, MAX_HELLO_EVICTED)
    assert.ok(bounded.hello.evicted.includes(many.at(-1)!) && !bounded.hello.evicted.includes(many[0]!), 'the newest are kept')
    const wire = { v: 2, type: 'hello', from, windowStart, roots: [], peers: [] }
    for (const bad of [
      ['c/q'],
      { 'c/q/x': [1] },
      { '../q': [1] },
      { 'c/q': 1 },
      { 'c/q': [1.5] },
      { 'c/q': [-1] },
      { 'c/q': Array.from({ length: MAX_HELLO_EVICTED + 1 }, (_, i) => i) }
    ]) {
      const refused = decodeHello(enc({ ...wire, evicted: bad }))
      assert.ok(!refused.ok && /^evicted:/.test(refused.reason), JSON.stringify(bad).slice(0, 40))
    }
  })

  it('round-trip hellos with peer exchange; read a version 1 digest as a hello without peers', () => {
    const roots = [{ channel: 'c', quality: 'q', root: 'abc', hours: 3, segments: 100 }]
    const peers = Array.from({ length: MAX_HELLO_PEERS + 4 }, (_, i) => ({
      ...from,
      url: `http://10.0.0.${i}:8080`,
      lastSeen: 1_700_000_000_000 + i
    }))
    const v2 = decodeHello(encodeHello({ from, windowStart: 5, roots, peers }, 2))
    assert.ok(v2.ok)
    assert.equal(v2.hello.version, 2)
    assert.deepEqual(v2.hello.peers, peers.slice(0, MAX_HELLO_PEERS), 'at most MAX_HELLO_PEERS are sent')
    assert.deepEqual(v2.hello.roots, roots)
    const v1 = decodeHello(encodeHello({ from, windowStart: 5, roots, peers }, 1))
    assert.ok(v1.ok)
    assert.deepEqual({ version: v1.hello.version, peers: v1.hello.peers }, { version: 1, peers: [] })
    const bad: Array<[unknown, RegExp]> = [
      [
        {
          v: 2,
          type: 'hello',
          from,
          windowStart: 0,
          roots: [],
          peers: Array.from({ length: MAX_HELLO_PEERS + 1 }, () => ({ ...from, lastSeen: 1 }))
        },
        /peers: not a list/
      ],
      [{ v: 2, type: 'hello', from, windowStart: 0, roots: [], peers: [{ ...from, lastSeen: -1 }] }, /lastSeen/],
      [{ v: 2, type: 'hello', from, windowStart: 0, roots: [], peers: [{ ...from, url: 'ftp://x', lastSeen: 1 }] }, /peers: from.url/],
      [{ v: 2, type: 'announce', from, items: [] }, /unknown type/],
      [{ v: 1, type: 'announce', from, items: ['x'] }, /items|digest/],
      [{ v: 3, type: 'hello', from }, /unsupported version 3/]
    ]
    for (const [wire, reason] of bad) {
      const decoded = decodeHello(enc(wire))
      assert.ok(!decoded.ok)
      assert.match(decoded.reason, reason)
    }
  })

  it('split big batches and stay under the size limit', () => {
    const items = Array.from({ length: 600 }, (_, i) => ({ kind: 'segment' as const, ref: ref({ at: i * 2000, dur: 2000 }) }))
    const messages = announceMessages(from, items)
    assert.equal(messages.length, Math.ceil(600 / MAX_ANNOUNCE_ITEMS))
    for (const m of messages) assert.ok(encodeMessage(m).length <= MAX_MESSAGE_BYTES)
  })

  it('drop anything malformed with a reason, never throwing', () => {
    const seg = itemPath({ kind: 'segment', ref: ref({ at: 0, dur: 2000 }) })
    const bad: Array<[string, Uint8Array, RegExp]> = [
      ['not JSON', new TextEncoder().encode('{nope'), /JSON/],
      ['not UTF-8', new Uint8Array([0xff, 0xfe, 0x00]), /JSON/],
      ['array', enc([]), /object/],
      ['wrong version', enc({ v: 2, type: 'announce', from, items: [seg] }), /version/],
      ['no from', enc({ v: 1, type: 'announce', items: [seg] }), /from/],
      ['bad peer id', enc({ v: 1, type: 'announce', from: { ...from, peerId: '../x' }, items: [seg] }), /peerId/],
      ['file url', enc({ v: 1, type: 'announce', from: { ...from, url: 'file:///etc/passwd' }, items: [seg] }), /url/],
      ['traversal item', enc({ v: 1, type: 'announce', from, items: ['../../etc/passwd'] }), /bad name/],
      ['temp item', enc({ v: 1, type: 'announce', from, items: ['c/q/2020-01-01T00/00:00.000000-2.0-temp-abc.ts'] }), /bad name/],
      ['hidden channel', enc({ v: 1, type: 'announce', from, items: [seg.replace(/^c\//, '.c/')] }), /bad name/],
      ['empty items', enc({ v: 1, type: 'announce', from, items: [] }), /items/],
      ['too many items', enc({ v: 1, type: 'announce', from, items: Array(MAX_ANNOUNCE_ITEMS + 1).fill(seg) }), /items/],
      ['unknown type', enc({ v: 1, type: 'gimme', from }), /unknown type/],
      [
        'bad root',
        enc({ v: 1, type: 'digest', from, windowStart: 0, roots: [{ channel: '..', quality: 'q', root: '', hours: 0, segments: 0 }] }),
        /roots/
      ],
      ['negative window', enc({ v: 1, type: 'digest', from, windowStart: -1, roots: [] }), /windowStart/],
      ['too large', new Uint8Array(MAX_MESSAGE_BYTES + 1), /too large/]
    ]
    for (const [name, bytes, reason] of bad) {
      const d = decodeMessage(bytes)
      assert.equal(d.ok, false, name)
      if (!d.ok) assert.match(d.reason, reason, name)
    }
  })

  it('parse item paths strictly', () => {
    assert.equal(parseItemPath('a/b/c'), null)
    assert.equal(parseItemPath('c/q/2020-01-01T00/junk.tombstone'), null)
    assert.equal(parseItemPath('c/q/2020-01-01T00/x/y.ts'), null)
  })

  it('validate per-hour digest listings', () => {
    assert.equal(
      typeof parseHourDigests({
        qualities: [{ channel: 'c', quality: 'q', hours: [{ hour: 'x', digest: '', segments: 0, tombstones: 0 }] }]
      }),
      'string'
    )
    assert.equal(typeof parseHourDigests({ qualities: [{ channel: '../c', quality: 'q', hours: [] }] }), 'string')
    const ok = parseHourDigests({
      qualities: [{ channel: 'c', quality: 'q', hours: [{ hour: '2020-01-01T00', digest: 'd', segments: 1, tombstones: 0 }] }]
    })
    assert.ok(ok instanceof Map && ok.get('c/q')?.length === 1)
  })
})
