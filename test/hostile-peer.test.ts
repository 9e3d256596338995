/**
 * Hostile peers against a real node (LMDB, fastify, libp2p over TCP and undici, all on
 * 127.0.0.1): fake announcements and a 50,000-name hour listing keep the download queue within its
 * bound, get the liar banned and withdrawn from the HTTP side, and leave `/healthz` and a viewer's
 * segment requests fast; bodies that never end cannot starve an honest peer; many authors cannot
 * grow the peer table or start a repair session each.
 *
 * Latency bound: under attack, each probe's p95 stays under PROBE_BOUND_MS (1 s: four times the
 * issue's 250 ms /healthz target) or twice the same node's p95 just before the attack, whichever is
 * larger (the machine running the tests is shared, and an idle node's latency on it varies). Before
 * the fix /healthz took 2.4–5 s and a viewer waited up to 15 s.
 */
import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { describe, it } from 'node:test'
import pino from 'pino'
import { request } from 'undici'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import { FETCHER_DEFAULTS } from '../replication/fetch-options.ts'
import { Fetcher } from '../replication/fetcher.ts'
import type { Message } from '../replication/messages.ts'
import { encodeMessage } from '../replication/messages.ts'
import { type GossipHost, MAX_REPAIR_SESSIONS, Replicator, type SegmentFetcher } from '../replication/replicator.ts'
import { sha256 } from '../storage/segment-hash.ts'
import { type SegmentRef, formatSegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, formatHour, hourStart } from '../storage/time.ts'
import { fakeSegmentRefs, lyingHourDigest, startFakePeerHttp, startRawPeer } from './helpers/hostile-peers.ts'
import { startNode, until } from './helpers/network.ts'
import { bytesFor, openStore } from './helpers/tree.ts'

const PROBE_BOUND_MS = 1000
/** Bound on each wait: generous, the machine is shared (never a timing assertion). */
const WAIT = 60_000
/** An hour well inside the window and in the past, so nothing waits for a grace period. */
const LAST_HOUR = hourStart(Date.now() * 1000) - MICROS_PER_HOUR

const p95 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)] ?? 0

async function timedGet(url: string): Promise<number> {
  const started = performance.now()
  const res = await request(url)
  await res.body.arrayBuffer()
  assert.equal(res.statusCode, 200, url)
  return performance.now() - started
}

/**
 * Every 100 ms until stop(): `/healthz` and a viewer's segment request timed one after the other,
 * and the fetcher's queue (queued and running) sampled. The first few requests (code still
 * loading and compiling) are not counted.
 */
interface Probes {
  healthz: number[]
  segment: number[]
  maxQueue: number
  /** The p95 bound of each: PROBE_BOUND_MS, or twice the idle node's p95. */
  bound: { healthz: number; segment: number }
}

async function watch(node: SegmeshNode, viewed: SegmentRef): Promise<{ stop: () => Promise<Probes> }> {
  const idle = { healthz: [] as number[], segment: [] as number[] }
  for (let i = 0; i < 25; i++) {
    const h = await timedGet(`${node.url}/healthz`)
    const s = await timedGet(`${node.url}/segments/${segmentRelPath(viewed)}`)
    if (i >= 5) {
      idle.healthz.push(h)
      idle.segment.push(s)
    }
  }
  const bound = { healthz: Math.max(PROBE_BOUND_MS, 2 * p95(idle.healthz)), segment: Math.max(PROBE_BOUND_MS, 2 * p95(idle.segment)) }
  const healthz: number[] = []
  const segment: number[] = []
  let maxQueue = 0
  let running = true
  const loop = (async () => {
    while (running) {
      const s = node.fetcher!.stats()
      maxQueue = Math.max(maxQueue, s.queued + s.active)
      healthz.push(await timedGet(`${node.url}/healthz`))
      segment.push(await timedGet(`${node.url}/segments/${segmentRelPath(viewed)}`))
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })()
  return {
    stop: async () => {
      running = false
      await loop
      return { healthz, segment, maxQueue, bound }
    }
  }
}

async function viewerSegment(node: SegmeshNode): Promise<SegmentRef> {
  const { ref } = await node.store.recordSegment(
    { channel: 'desertbus', quality: 'source', start: LAST_HOUR, duration: 2_000_000, type: 'full' },
    bytesFor('viewer', 400_000)
  )
  return ref
}

describe('fake announcements from a libp2p peer', () => {
  it('queue within its per-peer bound, the liar banned and asked nothing more over HTTP, node responsive, failures logged in summary', async (t) => {
    // Every line at info or above the node writes.
    const lines: string[] = []
    const victim = await startNode(t, {
      announce: false,
      log: pino(
        { level: 'info' },
        {
          write: (line: string) => {
            lines.push(line)
          }
        }
      )
    })
    const viewed = await viewerSegment(victim)
    const fake = await startFakePeerHttp({ segments: 'not-found' })
    t.after(fake.close)
    const liar = await startRawPeer({ bootstrap: [victim.host!.multiaddrs()[0]!], url: fake.url })
    t.after(liar.stop)
    await until('the liar connected', () => victim.host!.connectedPeers().includes(liar.peerId), WAIT)
    const probes = await watch(victim, viewed)
    // 40,000 names at 15 messages/s, under the gossip rate limit (20/s per author): ~10 s.
    const flood = liar.announce(fakeSegmentRefs(40_000, { hourStart: LAST_HOUR }), { messagesPerSecond: 15 })
    await until('the liar banned', () => victim.host!.scoreStats().banned.includes(liar.peerId), WAIT)
    await until('its downloads withdrawn', () => victim.fetcher!.stats().queued + victim.fetcher!.stats().active === 0, WAIT)
    const asked = fake.segmentRequests()
    await flood
    const { healthz, segment, maxQueue, bound } = await probes.stop()
    const stats = victim.fetcher!.stats()
    assert.ok(maxQueue <= FETCHER_DEFAULTS.maxQueuedPerPeer, `queue peaked at ${maxQueue}`)
    // Once paused after a run of 404s, what the liar announces is dropped before it is queued.
    assert.ok(victim.replicator!.stats.wantsDropped + stats.queueDropped > 10_000, 'the flood was refused, not queued')
    assert.ok(victim.host!.scoreStats().penalties.unserved_name >= 20)
    assert.equal(fake.segmentRequests(), asked, 'a banned peer is not asked again')
    // Hundreds of failed downloads: at most a summary line per peer per 30 s (before: one line each).
    const failureLines = lines.filter((l) => /fetch|download/.test(l))
    assert.ok(failureLines.length <= 5, `${failureLines.length} log lines about failed downloads`)
    assert.ok(p95(healthz) < bound.healthz, `/healthz p95 ${p95(healthz)} ms, bound ${bound.healthz}`)
    assert.ok(p95(segment) < bound.segment, `segment p95 ${p95(segment)} ms, bound ${bound.segment}`)
    t.diagnostic(
      `queue peak ${maxQueue}, dropped ${stats.queueDropped}, requests ${asked}, /healthz p95 ${p95(healthz).toFixed(1)} ms, segment p95 ${p95(segment).toFixed(1)} ms`
    )
  })
})

describe('a lying hello and a 50,000-name hour listing', () => {
  it('names capped per listing, queue within its bound, the liar banned, node responsive', async (t) => {
    const victim = await startNode(t, { announce: false })
    const viewed = await viewerSegment(victim)
    const hour = formatHour(LAST_HOUR)
    const names = fakeSegmentRefs(50_000, { hourStart: LAST_HOUR }).map((r) => r.file)
    const fake = await startFakePeerHttp({
      digests: new Map([['desertbus/source', [lyingHourDigest(hour, names.length)]]]),
      listings: new Map([[`desertbus/source/${hour}`, names]]),
      segments: 'not-found'
    })
    t.after(fake.close)
    const probes = await watch(victim, viewed)
    const liar = await startRawPeer({
      bootstrap: [victim.host!.multiaddrs()[0]!],
      url: fake.url,
      helloRoots: [{ channel: 'desertbus', quality: 'source', root: 'a-root-nobody-has', hours: 1, segments: names.length }]
    })
    t.after(liar.stop)
    await until('the liar banned', () => victim.host!.scoreStats().banned.includes(liar.peerId), WAIT)
    await until('its downloads withdrawn', () => victim.fetcher!.stats().queued + victim.fetcher!.stats().active === 0, WAIT)
    const { healthz, segment, maxQueue, bound } = await probes.stop()
    const stats = victim.fetcher!.stats()
    assert.ok(stats.invalidNames >= names.length - 16_384, `${stats.invalidNames} names dropped from the listing`)
    assert.ok(maxQueue <= FETCHER_DEFAULTS.maxQueuedPerPeer, `queue peaked at ${maxQueue}`)
    assert.ok(p95(healthz) < bound.healthz, `/healthz p95 ${p95(healthz)} ms, bound ${bound.healthz}`)
    assert.ok(p95(segment) < bound.segment, `segment p95 ${p95(segment)} ms, bound ${bound.segment}`)
    t.diagnostic(
      `queue peak ${maxQueue}, dropped ${stats.queueDropped}, names dropped ${stats.invalidNames}, /healthz p95 ${p95(healthz).toFixed(1)} ms, segment p95 ${p95(segment).toFixed(1)} ms`
    )
  })
})

describe('bodies that never end', () => {
  it("three peers holding bodies open cannot keep an honest peer's segments from being stored promptly", async (t) => {
    const { store } = await openStore(t)
    const fetcher = new Fetcher({ store })
    t.after(async () => await fetcher.stop())
    const slow = await Promise.all([0, 1, 2].map(async () => await startFakePeerHttp({ segments: 'never-ending' })))
    for (const peer of slow) t.after(peer.close)
    const honestBytes = new Map<string, Uint8Array>()
    const honestRefs = Array.from({ length: 10 }, (_, i) => {
      const body = bytesFor(`honest-${i}`, 200_000)
      const ref = formatSegmentRef({
        channel: 'desertbus',
        quality: 'source',
        start: LAST_HOUR + i * 2_000_000,
        duration: 2_000_000,
        type: 'full',
        hash: sha256(body)
      })
      honestBytes.set(segmentRelPath(ref), body)
      return ref
    })
    const honest = await startFakePeerHttp({ segments: honestBytes })
    t.after(honest.close)
    fetcher.start()
    // The slow peers' names are queued first, so they take every slot.
    for (const [i, peer] of slow.entries()) {
      for (const ref of fakeSegmentRefs(10, { hourStart: LAST_HOUR + i })) void fetcher.want(ref, [peer.url])
    }
    await until(
      'every slot held by a body that never ends',
      () => slow.reduce((n, p) => n + p.openBodies(), 0) >= FETCHER_DEFAULTS.concurrency,
      WAIT
    )
    const started = Date.now()
    const outcomes = await Promise.all(honestRefs.map(async (ref) => await fetcher.want(ref, [honest.url])))
    const took = Date.now() - started
    assert.ok(
      outcomes.every((o) => o.status === 'stored'),
      JSON.stringify(outcomes)
    )
    // A rate window (5 s) to find the slow bodies, then the reserved slots: 20 s is generous.
    assert.ok(took < 20_000, `honest segments stored after ${took} ms`)
    assert.ok(fetcher.stats().fetchErrors.slow >= 3)
    // A banned peer is withdrawn from every queued segment and not asked again.
    fetcher.banPeer(slow[0]!.url)
    const asked = slow[0]!.segmentRequests()
    const late = fakeSegmentRefs(3, { hourStart: LAST_HOUR + 7 })
    assert.deepEqual(
      (await Promise.all(late.map(async (ref) => await fetcher.want(ref, [slow[0]!.url])))).map((o) => o.status),
      ['failed', 'failed', 'failed']
    )
    assert.equal(slow[0]!.segmentRequests(), asked)
    t.diagnostic(`honest segments stored ${took} ms after the slow peers took every slot`)
  })
})

describe('the fetcher queue under a flood', () => {
  it('keeps at most maxQueued (oldest start evicted) and maxQueuedPerPeer, with one listener on a shared signal', async (t) => {
    const { store } = await openStore(t)
    const fetcher = new Fetcher({ store, maxQueued: 300, maxQueuedPerPeer: 100 })
    t.after(async () => await fetcher.stop())
    const peers = await Promise.all([0, 1, 2, 3, 4].map(async () => await startFakePeerHttp({ segments: 'never-ending' })))
    for (const peer of peers) t.after(peer.close)
    fetcher.start()
    const shutdown = new AbortController()
    const wants: Array<Promise<unknown>> = []
    // 5 peers × 200 names, newer hours later: each peer's first 100 fit, then the total bound evicts.
    for (const [p, peer] of peers.entries()) {
      for (const ref of fakeSegmentRefs(200, { hourStart: LAST_HOUR - (5 - p) * MICROS_PER_HOUR }))
        wants.push(fetcher.want(ref, [peer.url], { signal: shutdown.signal }))
    }
    const stats = fetcher.stats()
    assert.ok(stats.queued + stats.active <= 300, `${stats.queued + stats.active} queued`)
    assert.equal(stats.queueDropped, 5 * 100 + 200, "per peer 100 refused each, then the two oldest peers' 100 evicted")
    assert.ok(getEventListeners(shutdown.signal, 'abort').length <= 1, 'one listener for every want sharing the signal')
    shutdown.abort()
    await Promise.all(wants)
    assert.equal(fetcher.stats().queued, 0)
  })
})

describe('a peer that answers 404 for everything it offered', () => {
  it('is asked for a run of names, then paused, not for all of them', async (t) => {
    const { store } = await openStore(t)
    const fetcher = new Fetcher({ store, notFoundRun: 32, notFoundPauseMs: 60_000 })
    t.after(async () => await fetcher.stop())
    const liar = await startFakePeerHttp({ segments: 'not-found' })
    t.after(liar.close)
    await fetcher.start()
    const wants = fakeSegmentRefs(1000, { hourStart: LAST_HOUR }).map(async (ref) => await fetcher.want(ref, [liar.url]))
    await until('the run asked for', () => liar.segmentRequests() >= 32, WAIT)
    // Attempts already running when the run ended still finish: at most one per download slot.
    await new Promise((resolve) => setTimeout(resolve, 500))
    const asked = liar.segmentRequests()
    assert.ok(asked <= 32 + FETCHER_DEFAULTS.concurrency, `${asked} requests to a peer that served none`)
    // What it announces during the pause is refused before it costs a queue entry (the replicator asks).
    assert.equal(fetcher.refusing(liar.url), true)
    assert.equal(fetcher.refusing('http://127.0.0.1:9'), false)
    await fetcher.stop()
    assert.ok((await Promise.all(wants)).every((o) => o.status === 'failed'))
  })
})

describe('many authors', () => {
  it('digests from 5,000 fresh keys: peer table bounded, repairs only with connected peers and a few at a time', async (t) => {
    const { store } = await openStore(t)
    let onMessage: (from: string, data: Uint8Array) => void = () => {}
    const connected = Array.from({ length: 10 }, (_, i) => peerId(i))
    const host: GossipHost = {
      peerId: peerId(999_999),
      multiaddrs: () => [],
      connectedPeers: () => connected,
      publish: async () => 0,
      onMessage: (handler) => {
        onMessage = handler
        return () => {}
      },
      onPeerConnected: () => () => {},
      handleHello: () => {},
      requestHello: async (_peer, options) =>
        await new Promise<Uint8Array>((_resolve, reject) =>
          options?.signal?.addEventListener('abort', () => reject(new Error('stopped')), { once: true })
        ),
      keepConnected: async () => {}
    }
    let listing = 0
    let maxListing = 0
    const asked = new Set<string>()
    const fetcher: SegmentFetcher = {
      listHour: async () => [],
      want: async () => ({ status: 'present' }),
      // A digest listing that takes until the replicator stops: sessions stay open.
      getJson: async (url, _path, options) => {
        asked.add(url)
        maxListing = Math.max(maxListing, ++listing)
        await new Promise((resolve) => options?.signal?.addEventListener('abort', resolve, { once: true }))
        listing--
        throw new Error('stopped')
      }
    }
    const replicator = new Replicator({ store, host, fetcher, url: 'http://127.0.0.1:1', digestIntervalMs: 3_600_000 })
    replicator.start()
    t.after(async () => await replicator.stop())
    for (let i = 0; i < 5000; i++) {
      const message: Message = {
        type: 'digest',
        from: { peerId: peerId(i), url: `http://10.0.${i >> 8}.${i & 255}:8080`, addrs: [] },
        windowStart: 0,
        roots: [{ channel: 'desertbus', quality: 'source', root: `lie-${i}`, hours: 1, segments: 1 }]
      }
      onMessage(peerId(i), encodeMessage(message))
    }
    assert.ok(replicator.peers.size <= 1024, `${replicator.peers.size} peers`)
    for (const id of connected) assert.ok(replicator.peers.get(id) != null, 'connected peers are kept')
    assert.equal(maxListing, MAX_REPAIR_SESSIONS)
    const connectedUrls = new Set(connected.map((_, i) => `http://10.0.0.${i}:8080`))
    assert.ok(
      [...asked].every((url) => connectedUrls.has(url)),
      'only connected peers are repaired from'
    )
    assert.ok(replicator.stats.repairsSkipped >= 4990)
  })
})

/** A distinct, well-formed (base58) peer id. */
function peerId(i: number): string {
  const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
  let s = ''
  for (let n = i; s.length < 8; n = Math.floor(n / 58)) s = alphabet[n % 58]! + s
  return `12D3KooW${s}`
}
