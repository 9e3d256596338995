/**
 * Five-node networks in one process: how fast a new segment reaches every node (gossip
 * announcement, then an HTTP fetch by each), and how fast the network converges after a partition
 * heals (hello on reconnect, digests, repair).
 */
import { createHash, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { runLimited } from '../lib/concurrency.ts'
import { type StoreChangeMessage, storeChangeChannel } from '../lib/diagnostics.ts'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import { decodeMessage } from '../replication/messages.ts'
import { type SegmentRef, formatSegmentRef } from '../storage/segment-name.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { QUICK, prng, stats } from './common.ts'
import { CHANNEL, QUALITY, SEGMENT_US } from './replication-backfill.ts'
import { Cluster, WireCounter, cpuSeconds, until } from './replication-net.ts'

/** One random pool for every body: slices made unique by their first bytes. */
const pool = randomBytes(8 * 1024 ** 2)
let serial = 0

function body(size: number): Buffer {
  const out = Buffer.allocUnsafe(size)
  const offset = Math.floor(Math.random() * (pool.length - size))
  pool.copy(out, 0, offset, offset + size)
  out.writeUInt32BE(serial++, 0)
  out.writeUInt32BE(process.pid, 4)
  return out
}

/** Record a segment on `node`; `beforeWrite` learns its name (from the hash) before any node can index it. */
async function record(node: SegmeshNode, start: number, size: number, beforeWrite?: (ref: SegmentRef) => void): Promise<SegmentRef> {
  const segment = { channel: CHANNEL, quality: QUALITY, start, duration: SEGMENT_US, type: 'full' as const }
  const bytes = body(size)
  const expected = formatSegmentRef({ ...segment, hash: createHash('sha256').update(bytes).digest() })
  beforeWrite?.(expected)
  const { ref } = await node.store.recordSegment(segment, bytes)
  if (ref.file !== expected.file) throw new Error('name mismatch')
  return ref
}

/** `observe` learns each segment file a node in `nodes` indexes, with the node's position; returns the unsubscribe. */
function watchIndexed(nodes: readonly SegmeshNode[], observe: (k: number, file: string) => void): () => void {
  // One channel for every store in the process: its segments folder tells which node wrote.
  const position = new Map(nodes.map((n, k) => [n.store.segmentsDir, k]))
  const listener = (message: unknown): void => {
    const { segmentsDir, kind, path } = message as StoreChangeMessage
    const k = position.get(segmentsDir)
    if (k != null && kind === 'segment') observe(k, path.slice(path.lastIndexOf('/') + 1))
  }
  storeChangeChannel.subscribe(listener)
  return () => storeChangeChannel.unsubscribe(listener)
}

/** Star: four leaves bootstrap to one hub; returns the hub first. */
async function startStar(cluster: Cluster, options: { announce?: boolean; digestIntervalSeconds?: number } = {}): Promise<SegmeshNode[]> {
  const hub = await cluster.start(options)
  const leaves = await Promise.all(Array.from({ length: 4 }, async () => await cluster.start({ ...options, bootstrap: [hub] })))
  return [hub, ...leaves]
}

const sum = (values: readonly number[]): number => values.reduce((s, n) => s + n, 0)

// --- latency -------------------------------------------------------------------------------------

export interface LatencyRun {
  reps: number
  segmentBytes: number
  /** Per rep: from the origin indexing the segment to the last of the other four indexing it, ms. */
  allMs: number[]
  /** Per rep and receiving node: origin indexed → announcement arrived, ms. */
  gossipMs: number[]
  /** Per rep and receiving node: announcement arrived → segment indexed (HTTP fetch + store), ms. */
  fetchMs: number[]
  recordMs: number[]
  timeouts: number
  /** Announced items summed over all nodes, per new segment. */
  announcedPerSegment: number
  /** libp2p bytes on the wire, whole network, per new segment, with the idle rate taken out. */
  wireBytesPerSegment: number
  idleWindowMs: number
  /** libp2p bytes on the wire per node per minute with nothing new (digests every ~30 s, gossipsub heartbeats, pings). */
  idleWireBytesPerNodeMinute: number
}

async function latencyRun(wire: WireCounter, reps: number, idleWindowMs: number): Promise<LatencyRun> {
  const size = 800_000
  const cluster = new Cluster('latency-')
  let unwatch = (): void => {}
  try {
    const nodes = await startStar(cluster)
    for (const n of nodes) wire.watch(n)
    const base = hourStart(Date.now() * 1000) - 2 * MICROS_PER_HOUR
    let slot = 0
    const indexed = new Map<string, number[]>()
    const announced = new Map<string, number[]>()
    unwatch = watchIndexed(nodes, (k, file) => indexed.get(file)?.splice(k, 1, performance.now()))
    nodes.forEach((n, k) => {
      n.host!.onMessage((_from, data) => {
        const d = decodeMessage(data)
        if (!d.ok || d.message.type !== 'announce') return
        const now = performance.now()
        for (const item of d.message.items) {
          const times = announced.get(item.ref.file)
          if (times != null && Number.isNaN(times[k]!)) times[k] = now
        }
      })
    })
    const write = async (k: number): Promise<{ ref: SegmentRef; recordMs: number }> => {
      const t = performance.now()
      const ref = await record(nodes[k]!, base + slot++ * SEGMENT_US, size, (expected) => {
        indexed.set(
          expected.file,
          nodes.map(() => Number.NaN)
        )
        announced.set(
          expected.file,
          nodes.map(() => Number.NaN)
        )
      })
      return { ref, recordMs: performance.now() - t }
    }
    const allIndexed = (file: string): boolean => indexed.get(file)!.every((t) => !Number.isNaN(t))

    // Warm-up: one segment from each node, then a few heartbeats for the gossip meshes to settle.
    for (let k = 0; k < nodes.length; k++) {
      const { ref } = await write(k)
      if (!(await until(() => allIndexed(ref.file), 30_000))) throw new Error('warm-up segment did not reach every node')
    }
    await sleep(3000)

    const allMs: number[] = []
    const gossipMs: number[] = []
    const fetchMs: number[] = []
    const recordMs: number[] = []
    let timeouts = 0
    const items0 = sum(nodes.map((n) => n.replicator!.stats.announcedItems))
    const wire0 = wire.snapshot().p2p
    const t0 = performance.now()
    for (let i = 0; i < reps; i++) {
      const k = i % nodes.length
      const { ref, recordMs: r } = await write(k)
      recordMs.push(r)
      const file = ref.file
      if (!(await until(() => allIndexed(file), 10_000, 2))) {
        timeouts++
        continue
      }
      const times = indexed.get(file)!
      const origin = times[k]!
      allMs.push(Math.max(...times) - origin)
      const heard = announced.get(file)!
      for (let j = 0; j < nodes.length; j++) {
        if (j === k || Number.isNaN(heard[j]!)) continue
        gossipMs.push(heard[j]! - origin)
        fetchMs.push(times[j]! - heard[j]!)
      }
      // Spaced out so each rep starts from a quiet network.
      await sleep(150 + Math.random() * 150)
    }
    // Let the last re-announcements drain before reading the counters.
    await sleep(500)
    const busyMs = performance.now() - t0
    const busyBytes = wire.snapshot().p2p - wire0
    const announcedItems = sum(nodes.map((n) => n.replicator!.stats.announcedItems)) - items0

    // Idle: nothing new for a while, at the default 30 s digest interval (covers a few digest ticks).
    const idle0 = wire.snapshot().p2p
    await sleep(idleWindowMs)
    const idleRate = idleWindowMs > 0 ? (wire.snapshot().p2p - idle0) / idleWindowMs : 0
    const done = reps - timeouts
    return {
      reps: done,
      segmentBytes: size,
      allMs,
      gossipMs,
      fetchMs,
      recordMs,
      timeouts,
      announcedPerSegment: announcedItems / done,
      wireBytesPerSegment: Math.max(0, busyBytes - idleRate * busyMs) / done,
      idleWindowMs,
      idleWireBytesPerNodeMinute: (idleRate * 60_000) / nodes.length
    }
  } finally {
    unwatch()
    await cluster.stopAll()
  }
}

export async function latencyPart(): Promise<LatencyRun> {
  const wire = new WireCounter().install()
  const run = QUICK ? await latencyRun(wire, 12, 8000) : await latencyRun(wire, 60, 35_000)
  const all = stats(run.allMs)
  console.log(
    `  ${run.reps} segments, all 5 indexed p50 ${all.median.toFixed(0)} ms p95 ${all.p95.toFixed(0)} ms max ${all.max.toFixed(0)} ms; ${run.announcedPerSegment.toFixed(1)} items announced and ${(run.wireBytesPerSegment / 1024).toFixed(1)} KiB of libp2p traffic per segment; idle ${(run.idleWireBytesPerNodeMinute / 1024).toFixed(1)} KiB/node/min`
  )
  return run
}

// --- partition -----------------------------------------------------------------------------------

export interface PartitionConfig {
  label: string
  announce: boolean
  digestIntervalSeconds: number
}

export interface PartitionRun extends PartitionConfig {
  segments: number
  tombstones: number
  segmentBytes: number
  /** Heal (unblock) → every node lists the same, and the expected, names in every affected hour. */
  convergeMs: number
  /** CPU-seconds of the whole process (all five nodes) from the heal until converged: less noisy than time on a shared machine. */
  healCpuSeconds: number
  /** Heal → every cross pair connected again. */
  reconnectMs: number
  converged: boolean
  /** Every node ended with exactly the expected listing, tombstoned names hidden. */
  correct: boolean
  /** Segments fetched after the heal, all nodes. */
  fetched: number
  /** Segment requests after the heal answered 404: a candidate peer that did not have the name. */
  notFound: number
  repairs: number
  tombstonesApplied: number
  /** How long the sides took to agree internally before the heal (setup, not measured against a goal). */
  sideMs: number
}

export const PARTITION_CONFIGS: PartitionConfig[] = [
  { label: 'gossip + digests (defaults)', announce: true, digestIntervalSeconds: 30 },
  { label: 'digests only, 30 s', announce: false, digestIntervalSeconds: 30 },
  { label: 'digests only, 1 s', announce: false, digestIntervalSeconds: 1 }
]

async function fullMesh(nodes: readonly SegmeshNode[]): Promise<boolean> {
  // Kept peers are learned from gossip; with announcements off that waits for a digest tick, so dial directly.
  await Promise.all(
    nodes.flatMap((a, i) => nodes.slice(i + 1).map(async (b) => await a.host!.keepConnected(b.host!.peerId, b.host!.multiaddrs())))
  )
  return await until(() => nodes.every((n) => n.host!.connectedPeers().length >= nodes.length - 1), 20_000)
}

export async function partitionRun(
  config: PartitionConfig,
  segments: number,
  tombstoneCount: number,
  segmentBytes: number
): Promise<PartitionRun> {
  const cluster = new Cluster('partition-')
  try {
    const nodes = await startStar(cluster, { announce: config.announce, digestIntervalSeconds: config.digestIntervalSeconds })
    if (!(await fullMesh(nodes))) throw new Error('no full mesh')
    const sides = [nodes.slice(0, 2), nodes.slice(2)] as const
    const base = hourStart(Date.now() * 1000) - 6 * MICROS_PER_HOUR
    const hours = [0, 1, 2, 3].map((h) => base + h * MICROS_PER_HOUR)
    const random = prng(11)
    // Divergent segments use distinct slots spread over the four hours; shared ones come first.
    const slotStart = (i: number): number => hours[i % 4]! + Math.floor(i / 4) * SEGMENT_US
    let slot = 0
    const forceSync = async (group: readonly SegmeshNode[]): Promise<void> => {
      await Promise.all(group.map(async (n) => await n.replicator!.syncNow()))
    }
    const listingOf = (n: SegmeshNode): string =>
      hours.map((h) => n.index.listHour(CHANNEL, QUALITY, h, { tombstones: true }).sort().join(',')).join('|')
    const agree = (group: readonly SegmeshNode[]): boolean => {
      const first = listingOf(group[0]!)
      return group.every((n) => listingOf(n) === first)
    }
    const converge = async (group: readonly SegmeshNode[], timeoutMs: number): Promise<boolean> => {
      // With announcements off, within-side spreading waits for digest ticks; syncNow is setup help, not measured.
      return await until(
        async () => {
          if (agree(group)) return true
          if (!config.announce) await forceSync(group)
          return agree(group)
        },
        timeoutMs,
        50
      )
    }

    // Before the split: segments every node has, some of which one side will tombstone.
    const sharedCount = Math.ceil(tombstoneCount / 2)
    const shared: SegmentRef[] = []
    for (let i = 0; i < sharedCount; i++) shared.push(await record(nodes[i % nodes.length]!, slotStart(slot++), segmentBytes))
    if (!(await converge(nodes, 60_000))) throw new Error('shared segments did not spread')

    // Split: both ends of every cross pair refuse the other, so libp2p connections are cut.
    const cross = sides[0].flatMap((x) => sides[1].map((y) => [x, y] as const))
    await Promise.all(cross.flatMap(([x, y]) => [x.host!.block([y.host!.peerId]), y.host!.block([x.host!.peerId])]))
    if (!(await until(() => cross.every(([x, y]) => !x.host!.connectedPeers().includes(y.host!.peerId)), 10_000)))
      throw new Error('cross connections still open')

    // Apart: divergent segments on both sides (round-robin over each side's nodes), 8 writes at a time.
    const written: Array<{ ref: SegmentRef; side: 0 | 1 }> = []
    const jobs = Array.from({ length: segments }, (_, i) => ({ side: (i % 2) as 0 | 1, start: slotStart(slot++), i }))
    await runLimited(
      jobs.map((job) => async () => {
        const side = sides[job.side]
        const node = side[Math.floor(job.i / 2) % side.length]!
        written.push({ ref: await record(node, job.start, segmentBytes), side: job.side })
      }),
      8
    )
    // Tombstones: half of names both sides had, half of names only the other side has.
    const tombstoned: SegmentRef[] = []
    const onlyOn = (side: 0 | 1): SegmentRef[] => written.filter((w) => w.side === side).map((w) => w.ref)
    const pickOn = [onlyOn(0), onlyOn(1)]
    for (let i = 0; i < tombstoneCount; i++) {
      const side = (i % 2) as 0 | 1
      const other = (1 - side) as 0 | 1
      const ref = i < sharedCount ? shared[i]! : pickOn[other]!.splice(Math.floor(random() * pickOn[other]!.length), 1)[0]!
      const writer = sides[side][i % sides[side].length]!
      await writer.store.writeTombstone(ref)
      tombstoned.push(ref)
    }
    const sideStart = performance.now()
    const sidesAgree = (await converge(sides[0], 60_000)) && (await converge(sides[1], 60_000))
    const sideMs = performance.now() - sideStart
    if (!sidesAgree) throw new Error('the sides did not agree internally')
    if (listingOf(sides[0][0]!) === listingOf(sides[1][0]!)) throw new Error('the sides agree before the heal')

    // What every node must end with: all names, tombstoned ones hidden, plus the tombstone names.
    const hidden = new Set(tombstoned.map((r) => r.file))
    const all = [...shared, ...written.map((w) => w.ref)]
    const expected = hours
      .map((h) => {
        const inHour = all.filter((r) => hourStart(r.start) === h)
        const names = inHour.filter((r) => !hidden.has(r.file)).map((r) => r.file)
        for (const r of tombstoned) if (hourStart(r.start) === h) names.push(r.file.replace(/\.ts$/, '.tombstone'))
        return names.sort().join(',')
      })
      .join('|')

    const before = nodes.map((n) => ({
      fetched: n.fetcher!.stats().segmentsFetched,
      notFound: n.fetcher!.stats().notFound,
      repairs: n.replicator!.stats.repairs,
      tomb: n.replicator!.stats.tombstonesApplied
    }))
    // Heal: unblock both ends, and ask for the direct connections again.
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    for (const [x, y] of cross) {
      x.host!.unblock([y.host!.peerId])
      y.host!.unblock([x.host!.peerId])
    }
    for (const [x, y] of cross) void x.host!.keepConnected(y.host!.peerId, y.host!.multiaddrs())
    let reconnectMs = Number.NaN
    const limit = config.digestIntervalSeconds * 1000 * 3 + 30_000
    // SEGMESH_BENCH_TRACE=1: per node every 500 ms, fetched since the heal / queued / active / repairs / gossip in.
    const trace =
      process.env.SEGMESH_BENCH_TRACE === '1'
        ? setInterval(
            () =>
              console.error(
                `  ${((performance.now() - t0) / 1000).toFixed(1)} s  ${nodes
                  .map((n, j) => {
                    const f = n.fetcher!.stats()
                    const r = n.replicator!.stats
                    return `${f.segmentsFetched - before[j]!.fetched}/${f.queued}/${f.active}/${r.repairs - before[j]!.repairs}/${r.messagesIn}`
                  })
                  .join('  ')}`
              ),
            500
          )
        : null
    const converged = await until(
      () => {
        if (Number.isNaN(reconnectMs) && cross.every(([x, y]) => x.host!.connectedPeers().includes(y.host!.peerId)))
          reconnectMs = performance.now() - t0
        return nodes.every((n) => listingOf(n) === expected)
      },
      limit,
      20
    )
    const convergeMs = performance.now() - t0
    const healCpuSeconds = cpuSeconds(cpu0)
    if (trace != null) clearInterval(trace)
    const correct =
      nodes.every((n) => listingOf(n) === expected) && nodes.every((n) => tombstoned.every((r) => n.index.getSegment(r) == null))
    return {
      ...config,
      segments,
      tombstones: tombstoneCount,
      segmentBytes,
      convergeMs,
      healCpuSeconds,
      reconnectMs,
      converged,
      correct,
      fetched: sum(nodes.map((n, j) => n.fetcher!.stats().segmentsFetched - before[j]!.fetched)),
      notFound: sum(nodes.map((n, j) => n.fetcher!.stats().notFound - before[j]!.notFound)),
      repairs: sum(nodes.map((n, j) => n.replicator!.stats.repairs - before[j]!.repairs)),
      tombstonesApplied: sum(nodes.map((n, j) => n.replicator!.stats.tombstonesApplied - before[j]!.tomb)),
      sideMs
    }
  } finally {
    await cluster.stopAll()
  }
}

/**
 * The floor under a heal on this machine: the same number of segment writes through
 * SegmentStore.writeSegment (hash check, fsync, rename, folder fsync, index) into five stores,
 * 8 at a time each, bytes already in memory, no network or gossip.
 */
async function storeFloor(count: number, segmentBytes: number): Promise<number> {
  const cluster = new Cluster('floor-')
  const stores = Array.from({ length: 5 }, (_, k) => {
    const index = SegmentIndex.open(join(cluster.root, `s${k}`, 'index'), { mapSize: 256 * 1024 ** 2 })
    return new SegmentStore({ segmentsDir: join(cluster.root, `s${k}`, 'segments'), index })
  })
  try {
    const base = hourStart(Date.now() * 1000) - 6 * MICROS_PER_HOUR
    const items = Array.from({ length: count }, (_, i) => {
      const bytes = body(segmentBytes)
      return {
        bytes,
        ref: formatSegmentRef({
          channel: CHANNEL,
          quality: QUALITY,
          start: base + i * SEGMENT_US,
          duration: SEGMENT_US,
          type: 'full',
          hash: createHash('sha256').update(bytes).digest()
        })
      }
    })
    const t = performance.now()
    await Promise.all(
      stores.map(async (store, k) => {
        const mine = items.filter((_, i) => i % stores.length === k)
        await runLimited(
          mine.map((item) => async () => {
            await store.writeSegment(item.ref, item.bytes)
          }),
          8
        )
      })
    )
    return performance.now() - t
  } finally {
    await Promise.all(stores.map(async (s) => await s.index.stop()))
    await cluster.stopAll()
  }
}

export interface PartitionResult {
  runs: PartitionRun[]
  floorMs: number[]
  floorWrites: number
}

export async function partitionPart(): Promise<PartitionResult> {
  const segments = QUICK ? 200 : 1000
  const tombstones = QUICK ? 10 : 50
  const segmentBytes = 32 * 1024
  const reps = QUICK ? 1 : 2
  const runs: PartitionRun[] = []
  const floorMs: number[] = []
  let floorWrites = 0
  // Round-robin over the configurations, so a noisy spell hits each alike.
  for (let r = 0; r < reps; r++) {
    for (const config of PARTITION_CONFIGS) {
      const run = await partitionRun(config, segments, tombstones, segmentBytes)
      runs.push(run)
      console.log(
        `  ${config.label.padEnd(30)} converged ${run.converged ? 'yes' : 'NO '} in ${(run.convergeMs / 1000).toFixed(2)} s, cpu ${run.healCpuSeconds.toFixed(1)} s (reconnected ${(run.reconnectMs / 1000).toFixed(2)} s) correct ${run.correct}  fetched ${run.fetched}  404s ${run.notFound}  repairs ${run.repairs}  tombstones applied ${run.tombstonesApplied}  (sides agreed in ${(run.sideMs / 1000).toFixed(1)} s)`
      )
    }
    floorWrites = runs[0]!.fetched
    floorMs.push(await storeFloor(floorWrites, segmentBytes))
    console.log(
      `  floor: ${floorWrites} store writes of ${segmentBytes / 1024} KiB into 5 stores, 8 at a time each: ${(floorMs.at(-1)! / 1000).toFixed(2)} s`
    )
  }
  return { runs, floorMs, floorWrites }
}
