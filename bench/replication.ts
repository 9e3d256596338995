/**
 * Replication benchmarks (issue 5). Real nodes in one process, HTTP and libp2p on 127.0.0.1, data
 * under os.tmpdir() (removed at the end, also on Ctrl-C). Each part runs in its own child process.
 *
 *   node --import tsx --import ./node/compat.ts bench/replication.ts [--quick]
 *   node --import tsx --import ./node/compat.ts bench/replication.ts --part backfill|latency|partition|gossip [--quick]
 *     backfill also takes --segments N (default 2500, ≈ 2 GB), --rounds R (default 2) and
 *     --per-peer 3,8 (fetchPerPeer values to try, each against a plain download as parallel)
 *
 * - backfill: B starts empty, bootstraps to A and pulls A's segments (digests, repair, fetcher),
 *   against plain undici downloads of the same files from A at the same concurrency.
 * - latency: five nodes (a star through one bootstrap); a segment recorded on one, time until all five index it.
 * - partition: five nodes split 2 | 3 with host.block, 1,000 divergent segments and 50 tombstones,
 *   heal, time until every node lists the same names in every affected hour.
 * - gossip: message and response sizes for 4 channels × 2 qualities × 336 hours, and how often a
 *   comparison starts a repair while every node records.
 */
import { fileURLToPath } from 'node:url'
import { QUICK, machineInfo, printResult, runPart, stats, table } from './common.ts'
import { type BackfillResult, type BackfillRun, backfillPart } from './replication-backfill.ts'
import { type GossipResult, gossipPart } from './replication-gossip.ts'
import { type LatencyRun, PARTITION_CONFIGS, type PartitionResult, latencyPart, partitionPart } from './replication-mesh.ts'

const PARTS = ['backfill', 'latency', 'partition', 'gossip'] as const
type Part = (typeof PARTS)[number]

const partArg = process.argv.indexOf('--part')
const part = partArg >= 0 ? (process.argv[partArg + 1] as Part) : null

async function runOne(p: Part): Promise<unknown> {
  switch (p) {
    case 'backfill':
      return await backfillPart()
    case 'latency':
      return await latencyPart()
    case 'partition':
      return await partitionPart()
    case 'gossip':
      return await gossipPart()
  }
}

const verdict = (met: boolean): string => (met ? 'met' : 'MISSED')
const s1 = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
const ms0 = (ms: number): string => `${ms.toFixed(0)} ms`
const kb = (bytes: number): string => (bytes >= 10_000 ? `${(bytes / 1024).toFixed(0)} KiB` : `${(bytes / 1024).toFixed(1)} KiB`)
const mbps = (run: BackfillRun): number => run.bytes / 1e6 / (run.ms / 1000)

/** Median, the mean of the middle two for an even count (with two rounds, not simply the smaller). */
function middle(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  if (s.length === 0) return Number.NaN
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

function backfillRows(r: BackfillResult): string[][] {
  const group = (kind: BackfillRun['kind'], concurrency: number, perPeer?: number): BackfillRun[] =>
    r.runs.filter((x) => x.kind === kind && x.concurrency === concurrency && x.perPeer === perPeer)
  const med = (runs: BackfillRun[]): number => middle(runs.map(mbps))
  const rows: string[][] = []
  const perPeers = [...new Set(r.runs.filter((x) => x.kind === 'segmesh').map((x) => x.perPeer!))]
  const pairs: Array<[string, BackfillRun[], BackfillRun[], boolean]> = perPeers.map((p, i) => {
    const c = Math.max(8, p)
    const label =
      i === 0
        ? `backfill, fetchConcurrency/fetchPerPeer ${c}/${p}${p === 3 ? ' (defaults)' : ''}: segmesh / plain ×${p}`
        : `  ${c}/${p}: segmesh / plain ×${p}`
    return [label, group('segmesh', c, p), group('baseline', p), true]
  })
  const first = perPeers[0]
  if (first != null) {
    pairs.push([
      `  plain ×${first} + sha256, fsync, rename, fsync dir / plain ×${first}`,
      group('baseline-durable', first),
      group('baseline', first),
      false
    ])
    pairs.push([
      `  segmesh ${Math.max(8, first)}/${first} / that durable plain ×${first}`,
      group('segmesh', Math.max(8, first), first),
      group('baseline-durable', first),
      false
    ])
  }
  for (const [label, mine, base, goal] of pairs) {
    if (mine.length === 0 || base.length === 0) continue
    // Ratios within a round (the two ran back to back), then their median: the load on a shared
    // machine drifts more between rounds than between neighbouring runs.
    const perRound = mine.flatMap((m) => base.filter((b) => b.round === m.round).map((b) => mbps(m) / mbps(b)))
    const ratio = middle(perRound)
    rows.push([
      label,
      `${med(mine).toFixed(0)} / ${med(base).toFixed(0)} MB/s`,
      `${ratio.toFixed(2)}× (rounds ${perRound.map((x) => x.toFixed(2)).join(', ')})`,
      goal ? '≥ 0.7×' : '',
      goal ? verdict(ratio >= 0.7) : ''
    ])
  }
  const startup = stats(r.runs.filter((x) => x.startupMs != null).map((x) => x.startupMs!)).median
  rows.push([`  segmesh: start() → first segment stored`, ms0(startup), '', '', ''])
  return rows
}

async function main(): Promise<void> {
  console.log('== segmesh replication benchmarks ==')
  console.log(machineInfo())
  const began = performance.now()
  const script = fileURLToPath(import.meta.url)
  const results: Partial<Record<Part, unknown>> = {}
  const limits: Record<Part, number> = { backfill: 6 * 60_000, latency: 3 * 60_000, partition: 6 * 60_000, gossip: 2 * 60_000 }
  for (const p of PARTS) {
    console.log(`\n-- ${p} --`)
    results[p] = await runPart(script, ['--part', p], limits[p])
  }
  const backfill = results.backfill as BackfillResult
  const latency = results.latency as LatencyRun
  const { runs: partition, floorMs, floorWrites } = results.partition as PartitionResult
  const gossip = results.gossip as GossipResult

  const all = stats(latency.allMs)
  const gossipS = stats(latency.gossipMs)
  const fetchS = stats(latency.fetchMs)
  const rows: string[][] = [...backfillRows(backfill)]
  rows.push([
    `latency, 5 nodes, ${latency.reps} segments of ${kb(latency.segmentBytes)}: p50 / p95`,
    `${ms0(all.median)} / ${ms0(all.p95)}`,
    `max ${ms0(all.max)}`,
    'p50 ≤ 1 s',
    verdict(all.median <= 1000 && latency.timeouts === 0)
  ])
  rows.push(['  origin indexed → announcement heard (p50 / p95)', `${ms0(gossipS.median)} / ${ms0(gossipS.p95)}`, '', '', ''])
  rows.push(['  announcement heard → indexed (fetch + store, p50 / p95)', `${ms0(fetchS.median)} / ${ms0(fetchS.p95)}`, '', '', ''])
  for (const config of PARTITION_CONFIGS) {
    const runs = partition.filter((r) => r.label === config.label)
    if (runs.length === 0) continue
    const ok = runs.every((r) => r.converged && r.correct)
    const times = runs.map((r) => s1(r.convergeMs)).join(', ')
    const isGoal = config.announce && config.digestIntervalSeconds === 30
    rows.push([
      `partition heal → converged, ${config.label}`,
      times,
      ok ? 'correct' : 'NOT CONVERGED/CORRECT',
      isGoal ? '≤ 10 s' : '',
      isGoal ? verdict(ok && runs.every((r) => r.convergeMs <= 10_000)) : ''
    ])
  }
  rows.push([`  floor: the same ${floorWrites} store writes, no network, 5 stores × 8`, floorMs.map(s1).join(', '), '', '', ''])
  const live = gossip.live
  const repairShare = live.repairs / Math.max(1, live.compared)
  rows.push([
    'digest message (8 roots) / announce per item (batch of 8)',
    `${gossip.digestMessageBytes} B / ${gossip.announce[1]!.perItem.toFixed(0)} B`,
    '',
    '',
    ''
  ])
  rows.push([
    'libp2p wire bytes per new segment, 5 nodes (all links)',
    kb(latency.wireBytesPerSegment),
    `${latency.announcedPerSegment.toFixed(1)} announced items`,
    '',
    ''
  ])
  rows.push(['libp2p wire bytes per node per minute, idle, 5 nodes', kb(latency.idleWireBytesPerNodeMinute), '', '', ''])
  // Per node per minute at the default 30 s: 2 digests published and, on average, 2 hello answers
  // (payload before gossipsub fan-out); each comparison (2 own hellos + 2 digests from each of the
  // N - 1 others per minute) that finds a root differing costs a repair.
  const n = 5
  const steady = 4 * gossip.digestMessageBytes
  const hours = live.hoursListed / Math.max(1, live.repairs)
  const perRepair = (listing: number): number => gossip.digestsBodyBytes + (hours * listing) / 2
  const repairsPerMinute = 2 * n * repairShare
  rows.push([
    '/replication/digests body (8 × 336 full hours) / one full hour listing',
    `${kb(gossip.digestsBodyBytes)} / ${kb(gossip.listingBytes.one)}`,
    `3 recorders: ${kb(gossip.listingBytes.three)}`,
    '',
    ''
  ])
  rows.push(['digest payload per node per minute, 30 s, roots equal', kb(steady), '2 published + ~2 hello answers', '', ''])
  rows.push([
    'live recording: comparisons that start a repair',
    `${live.repairs} of ${live.compared} (${(repairShare * 100).toFixed(0)} %)`,
    `${hours.toFixed(1)} live hours listed each`,
    '',
    ''
  ])
  rows.push([
    `  → per node per minute at 30 s, ${n} nodes: repairs, HTTP bytes in`,
    `${repairsPerMinute.toFixed(1)}, ${kb(repairsPerMinute * perRepair(gossip.listingBytes.one))}`,
    `3 recorders: ${kb(repairsPerMinute * perRepair(gossip.listingBytes.three))}`,
    '',
    ''
  ])
  rows.push([
    'CPU per comparison (rootDigests) / per digests body',
    `${gossip.rootDigestsMs.toFixed(1)} / ${gossip.digestsBodyMs.toFixed(1)} ms`,
    '',
    '',
    ''
  ])

  console.log(
    `\n== summary (${((performance.now() - began) / 1000).toFixed(0)} s${QUICK ? ', quick run: smaller data, figures not comparable' : ''}) ==`
  )
  console.log(table(['figure', 'value', '', 'goal', 'verdict'], rows))
}

if (part != null) {
  if (!PARTS.includes(part)) throw new Error(`--part must be one of ${PARTS.join(', ')}`)
  printResult(await runOne(part))
  // libp2p and undici keep timers and sockets that would hold the process for a while.
  process.exit(0)
} else {
  await main()
}
