/**
 * Property-based tests of the gossip and hello decoders: arbitrary bytes, arbitrary JSON and valid
 * messages with one field replaced by anything never throw out of them; what they accept is
 * well-formed and safe; and a replicator fed such messages counts the invalid ones and drops them
 * without touching the disk. Seed: test/helpers/fuzz.ts.
 */
import assert from 'node:assert/strict'
import { readdir } from 'node:fs/promises'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { fuzzRuns, hostileString } from '../test/helpers/fuzz.ts'
import { openStore, ref } from '../test/helpers/tree.ts'
import {
  MAX_ANNOUNCE_ITEMS,
  MAX_HELLO_PEERS,
  MAX_MESSAGE_BYTES,
  type PeerInfo,
  decodeHello,
  decodeMessage,
  encodeHello,
  encodeMessage,
  itemPath,
  parseHourDigests
} from './messages.ts'
import { type GossipHost, Replicator, type SegmentFetcher } from './replicator.ts'

const from: PeerInfo = {
  peerId: '12D3KooWHeWPVvf2QzNxRc5iE1pB8u3xq7v4XUg8sX6g6k9Yk1Zz',
  url: 'http://127.0.0.1:8080',
  addrs: ['/ip4/127.0.0.1/tcp/4001']
}
const segPath = itemPath({ kind: 'segment', ref: ref({ at: 0, dur: 2000 }) })
const tombPath = itemPath({ kind: 'tombstone', ref: ref({ at: 2000, dur: 2000 }) })
const encoder = new TextEncoder()
const enc = (v: unknown): Uint8Array => encoder.encode(JSON.stringify(v))

const validWire = [
  { v: 1, type: 'announce', from, items: [segPath, tombPath] },
  { v: 1, type: 'digest', from, windowStart: 0, roots: [{ channel: 'c', quality: 'q', root: 'abc', hours: 1, segments: 2 }] },
  {
    v: 2,
    type: 'hello',
    from,
    windowStart: 0,
    roots: [{ channel: 'c', quality: 'q', root: 'abc', hours: 1, segments: 2 }],
    peers: [{ ...from, lastSeen: 1_700_000_000_000 }]
  }
]

/** A valid message with one field (top level, in `from`, or in an item/root) replaced by anything. */
const mutated = fc
  .tuple(
    fc.constantFrom(...validWire),
    fc.constantFrom(
      'v',
      'type',
      'from',
      'items',
      'windowStart',
      'roots',
      'from.peerId',
      'from.url',
      'from.addrs',
      'items.0',
      'roots.0',
      'roots.0.channel',
      'roots.0.hours',
      'peers',
      'peers.0',
      'peers.0.url',
      'peers.0.addrs',
      'peers.0.lastSeen'
    ),
    fc.oneof(
      fc.jsonValue(),
      hostileString([segPath, tombPath, 'http://', '/ip4/']),
      fc.constantFrom(-1, 1.5, 2 ** 53, 1e308, '', null, [], {})
    )
  )
  .map(([base, field, value]) => {
    const copy = structuredClone(base) as Record<string, unknown>
    const path = field.split('.')
    let at: Record<string, unknown> = copy
    for (const key of path.slice(0, -1)) {
      if (at[key] == null || typeof at[key] !== 'object') return copy
      at = at[key] as Record<string, unknown>
    }
    at[path.at(-1)!] = value
    return copy
  })

const anyMessage = fc.oneof(
  fc.uint8Array({ maxLength: 512 }),
  fc.jsonValue().map(enc),
  mutated.map(enc),
  fc.string({ unit: 'binary', maxLength: 200 }).map((s) => encoder.encode(s))
)

/** What an accepted message must satisfy, checked independently of the decoder's own code. */
function assertWellFormed(bytes: Uint8Array): void {
  const decoded = decodeMessage(bytes)
  if (!decoded.ok) {
    assert.equal(typeof decoded.reason, 'string')
    return
  }
  const m = decoded.message
  assert.ok(bytes.length <= MAX_MESSAGE_BYTES)
  assert.match(m.from.peerId, /^[1-9A-HJ-NP-Za-km-z]+$/)
  assert.match(m.from.url, /^https?:\/\//)
  if (m.type === 'announce') {
    assert.ok(m.items.length >= 1 && m.items.length <= MAX_ANNOUNCE_ITEMS)
    for (const item of m.items) {
      for (const part of [item.ref.channel, item.ref.quality, item.ref.hour, item.ref.file]) {
        assert.ok(!/[/\\\u0000]/.test(part) && !part.startsWith('.'), `unsafe name part ${JSON.stringify(part)}`)
      }
      if (item.kind === 'segment') assert.notEqual(item.ref.type, 'temp')
      assert.ok(Number.isSafeInteger(item.ref.start))
    }
  } else {
    assert.ok(Number.isSafeInteger(m.windowStart) && m.windowStart >= 0)
  }
  // What we accept, we can send on unchanged.
  assert.deepEqual(decodeMessage(encodeMessage(m)), decoded)
}

describe('gossip decoder under fuzzing', () => {
  it('arbitrary bytes and JSON never throw; what is accepted is well-formed', () => {
    fc.assert(fc.property(anyMessage, assertWellFormed), fuzzRuns(5000))
  })

  it('hello answers of any shape never throw; what is accepted is well-formed and re-encodes the same', () => {
    fc.assert(
      fc.property(anyMessage, (bytes) => {
        const decoded = decodeHello(bytes)
        if (!decoded.ok) {
          assert.equal(typeof decoded.reason, 'string')
          return
        }
        const { hello } = decoded
        assert.ok(hello.peers.length <= MAX_HELLO_PEERS)
        for (const p of [hello.from, ...hello.peers]) {
          assert.match(p.peerId, /^[1-9A-HJ-NP-Za-km-z]+$/)
          assert.match(p.url, /^https?:\/\//)
        }
        for (const p of hello.peers) assert.ok(Number.isSafeInteger(p.lastSeen) && p.lastSeen >= 0)
        assert.deepEqual(decodeHello(encodeHello(hello, hello.version)), decoded)
      }),
      fuzzRuns(5000)
    )
  })

  it('peer digest listings of any shape never throw', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.constant({
            qualities: [{ channel: 'c', quality: 'q', hours: [{ hour: '0050-01-01T00', digest: '', segments: 0, tombstones: 0 }] }]
          })
        ),
        (body) => {
          const out = parseHourDigests(body)
          if (typeof out !== 'string')
            for (const key of out.keys()) assert.match(key, /^[A-Za-z0-9_][A-Za-z0-9_.-]*\/[A-Za-z0-9_][A-Za-z0-9_.-]*$/)
        }
      ),
      fuzzRuns(2000)
    )
  })

  it('a replicator counts and drops every invalid message, writing nothing', async (t) => {
    const { store, segmentsDir } = await openStore(t)
    let deliver: (from: string, data: Uint8Array) => void = () => {}
    const wanted: string[] = []
    // Only the decoder is under test: the host is an in-memory stand-in that delivers our bytes.
    const host: GossipHost = {
      peerId: '12D3KooWLocalLocalLocalLocalLocalLocalLocalLocalLoca',
      multiaddrs: () => [],
      connectedPeers: () => [],
      publish: async () => 0,
      onMessage: (handler) => {
        deliver = handler
        return () => {}
      },
      onPeerConnected: () => () => {},
      handleHello: () => {},
      requestHello: async () => {
        throw new Error('no peers')
      },
      keepConnected: async () => {}
    }
    const fetcher: SegmentFetcher = {
      listHour: async () => [],
      getJson: async () => {
        throw new Error('offline')
      },
      want: async (r) => {
        wanted.push(r.file)
        return { status: 'failed', attempts: 0, lastError: 'offline' }
      }
    }
    const replicator = new Replicator({ store, host, fetcher, url: 'http://127.0.0.1:1', digestIntervalMs: 3_600_000 })
    replicator.start()
    t.after(async () => await replicator.stop())
    let invalid = 0
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 256 }), fc.jsonValue().map(enc), mutated.filter((m) => !decodeMessage(enc(m)).ok).map(enc)),
        (bytes) => {
          if (!decodeMessage(bytes).ok) invalid++
          deliver('12D3KooWRemote', bytes)
        }
      ),
      fuzzRuns(2000)
    )
    assert.ok(invalid > 1000, `only ${invalid} invalid messages generated`)
    assert.equal(replicator.stats.messagesInvalid, invalid)
    assert.equal(replicator.stats.messagesIn, 2000 - invalid)
    await replicator.syncNow()
    assert.deepEqual(wanted, [])
    assert.deepEqual(await readdir(segmentsDir).catch(() => []), [])
  })
})
