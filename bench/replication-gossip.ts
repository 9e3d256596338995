/**
 * What replication costs in metadata: message sizes from the real encoder over a realistic index
 * (4 channels × 2 qualities × 336 hours), and, from a live run where every node records, how often a
 * digest comparison starts a repair (a /replication/digests request plus hour listings).
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import { hourDigests, rootDigests } from '../replication/digests.ts'
import { type AnnouncedItem, type PeerInfo, encodeMessage } from '../replication/messages.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { type SegmentRef, formatSegmentRef } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { QUICK, makeTempDir, removeDir, stats } from './common.ts'
import { SEGMENT_US } from './replication-backfill.ts'
import { Cluster, until } from './replication-net.ts'

const CHANNELS = ['desertbus', 'channel-b', 'channel-c', 'channel-d']
const QUALITIES = ['source', '480p']
const WINDOW_HOURS = 336
const PER_HOUR = 1800

export interface GossipResult {
  peerInfoBytes: number
  digestMessageBytes: number
  /** announce messages of 1, 8 and 256 items: bytes, and bytes per item. */
  announce: Array<{ items: number; bytes: number; perItem: number }>
  /** GET /replication/digests body for 8 channel/qualities × 336 full hours. */
  digestsBodyBytes: number
  /** GET /files/C/Q/HOUR?tombstones=true body: a full hour from one recorder, and from three. */
  listingBytes: { one: number; three: number }
  /** CPU of one root computation (every comparison makes one) and of the digests body, ms. */
  rootDigestsMs: number
  digestsBodyMs: number
  live: LiveResult
}

export interface LiveResult {
  nodes: number
  seconds: number
  digestIntervalSeconds: number
  compared: number
  repairs: number
  hoursListed: number
  digestRequests: number
  /** JSON bytes of the digests and listings fetched (measured on the parsed bodies). */
  jsonBytes: number
  segmentsFetched: number
}

function hash(): Buffer {
  return randomBytes(32)
}

function ref(channel: string, quality: string, start: number): SegmentRef {
  return formatSegmentRef({ channel, quality, start, duration: SEGMENT_US, type: 'full', hash: hash() })
}

async function peerInfo(): Promise<PeerInfo> {
  const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  // A node listening on 0.0.0.0 advertises one address per interface; two is a modest case.
  return {
    peerId: id,
    url: 'http://198.51.100.7:8080',
    addrs: [`/ip4/198.51.100.7/tcp/4001/p2p/${id}`, `/ip4/10.0.0.7/tcp/4001/p2p/${id}`]
  }
}

function timeMs(run: () => unknown, n: number): number {
  const samples: number[] = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    run()
    samples.push(performance.now() - t)
  }
  return stats(samples).median
}

async function sizes(): Promise<Omit<GossipResult, 'live'>> {
  const dir = makeTempDir('segmesh-bench-gossip-')
  const index = SegmentIndex.open(join(dir, 'index'), { mapSize: 256 * 1024 ** 2 })
  try {
    const now = hourStart(Date.now() * 1000)
    const windowStart = now - (WINDOW_HOURS - 1) * MICROS_PER_HOUR
    // One segment per hour gives every hour a real digest; the counts are scaled to full hours below.
    const changes = CHANNELS.flatMap((c) =>
      QUALITIES.flatMap((q) =>
        Array.from({ length: WINDOW_HOURS }, (_, h) => ({
          op: 'put-segment' as const,
          ref: ref(c, q, windowStart + h * MICROS_PER_HOUR),
          size: 800_000,
          mtimeMs: 1
        }))
      )
    )
    await index.apply(changes)
    const from = await peerInfo()
    const roots = rootDigests(index, windowStart).map((r) => ({ ...r, segments: r.hours * PER_HOUR }))
    if (roots.length !== CHANNELS.length * QUALITIES.length || roots.some((r) => r.hours !== WINDOW_HOURS))
      throw new Error('unexpected roots')
    const digestMessageBytes = encodeMessage({ type: 'digest', from, windowStart, roots }).length
    const peerInfoBytes = Buffer.byteLength(JSON.stringify(from))
    const live = now + (1800 * MICROS_PER_HOUR) / 3600
    const items = (n: number): AnnouncedItem[] =>
      Array.from({ length: n }, (_, i) => ({
        kind: 'segment',
        ref: ref(CHANNELS[i % 4]!, QUALITIES[(i >> 2) % 2]!, live + Math.floor(i / 8) * SEGMENT_US)
      }))
    const announce = [1, 8, 256].map((n) => {
      const bytes = encodeMessage({ type: 'announce', from, items: items(n) }).length
      return { items: n, bytes, perItem: bytes / n }
    })
    // The route's body, as fastify serializes it (JSON.stringify: no response schema).
    const body = (): string =>
      JSON.stringify({
        qualities: [...hourDigests(index, windowStart)].map(([key, hours]) => {
          const [channel, quality] = key.split('/') as [string, string]
          return { channel, quality, hours }
        })
      })
    const digestsBodyBytes = Buffer.byteLength(body().replaceAll('"segments":1,', `"segments":${PER_HOUR},`))
    const listing = (recorders: number): number => {
      const names: string[] = []
      for (let r = 0; r < recorders; r++)
        for (let i = 0; i < PER_HOUR; i++) names.push(ref('desertbus', 'source', now + i * SEGMENT_US).file)
      return Buffer.byteLength(JSON.stringify(names.sort()))
    }
    return {
      peerInfoBytes,
      digestMessageBytes,
      announce,
      digestsBodyBytes,
      listingBytes: { one: listing(1), three: listing(3) },
      rootDigestsMs: timeMs(() => rootDigests(index, windowStart), 50),
      digestsBodyMs: timeMs(body, 50)
    }
  } finally {
    await index.stop()
    removeDir(dir)
  }
}

/**
 * Three nodes that all record the same 4 channels × 2 qualities (2 KB segments every 2 s, each
 * node its own bytes, as redundant recorders do), gossip on. Counts comparisons and the repairs
 * they start; the fetcher's getJson and listHour are wrapped to count calls and body sizes.
 */
async function liveRun(): Promise<LiveResult> {
  // Short ticks for more comparisons in the window; the share that starts a repair does not depend on the interval.
  const digestIntervalSeconds = 2
  const seconds = QUICK ? 12 : 30
  const cluster = new Cluster('live-')
  try {
    const hub = await cluster.start({ digestIntervalSeconds })
    const nodes = [hub, ...(await Promise.all([0, 1].map(async () => await cluster.start({ digestIntervalSeconds, bootstrap: [hub] }))))]
    await Promise.all(
      nodes.flatMap((a, i) => nodes.slice(i + 1).map(async (b) => await a.host!.keepConnected(b.host!.peerId, b.host!.multiaddrs())))
    )
    if (!(await until(() => nodes.every((n) => n.host!.connectedPeers().length >= nodes.length - 1), 20_000)))
      throw new Error('no full mesh')
    let digestRequests = 0
    let hoursListed = 0
    let jsonBytes = 0
    let counting = false
    for (const n of nodes) {
      const f = n.fetcher!
      const getJson = f.getJson.bind(f)
      const listHour = f.listHour.bind(f)
      f.getJson = async (...args) => {
        const body = await getJson(...args)
        if (counting) {
          digestRequests++
          jsonBytes += Buffer.byteLength(JSON.stringify(body))
        }
        return body
      }
      f.listHour = async (...args) => {
        const names = await listHour(...args)
        if (counting) {
          hoursListed++
          jsonBytes += Buffer.byteLength(JSON.stringify(names))
        }
        return names
      }
    }
    let stop = false
    const recorder = async (n: SegmeshNode): Promise<void> => {
      while (!stop) {
        const slot = Math.floor((Date.now() * 1000) / SEGMENT_US) * SEGMENT_US
        // Recorders finish a segment at slightly different moments.
        await sleep(Math.random() * 300)
        await Promise.all(
          CHANNELS.flatMap((channel) =>
            QUALITIES.map(
              async (quality) =>
                await n.store.recordSegment(
                  { channel, quality, start: slot - SEGMENT_US, duration: SEGMENT_US, type: 'full' },
                  randomBytes(2048)
                )
            )
          )
        )
        await sleep(Math.max(0, slot + SEGMENT_US - Date.now() * 1000) / 1000)
      }
    }
    const recording = nodes.map(recorder)
    await sleep(6000)
    const before = nodes.map((n) => ({ ...n.replicator!.stats, fetched: n.fetcher!.stats().segmentsFetched }))
    counting = true
    await sleep(seconds * 1000)
    counting = false
    const after = nodes.map((n) => ({ ...n.replicator!.stats, fetched: n.fetcher!.stats().segmentsFetched }))
    stop = true
    await Promise.all(recording)
    const delta = (key: 'digestsCompared' | 'repairs' | 'fetched'): number => after.reduce((s, a, i) => s + a[key] - before[i]![key], 0)
    return {
      nodes: nodes.length,
      seconds,
      digestIntervalSeconds,
      compared: delta('digestsCompared'),
      repairs: delta('repairs'),
      hoursListed,
      digestRequests,
      jsonBytes,
      segmentsFetched: delta('fetched')
    }
  } finally {
    await cluster.stopAll()
  }
}

export async function gossipPart(): Promise<GossipResult> {
  const s = await sizes()
  const live = await liveRun()
  return { ...s, live }
}
