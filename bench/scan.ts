/**
 * Reconcile (scan) of a 200,000-file tree into an empty index (cold) and again after a restart
 * with nothing changed (warm), against a plain readdir+stat walk of the same tree; then memory,
 * insert time, disk size and a 24 h selection for an index of 1,000,000 segments.
 *
 *   node --import tsx --import ./node/compat.ts bench/scan.ts [--quick]
 *
 * The two parts run as child processes of this script (`--part scan`, `--part big`) so each
 * one's peak RSS is its own.
 */
import { readdirSync, statSync } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SegmentSelector } from '../storage/best-segments.ts'
import { Reconciler, type ReconcileReport } from '../storage/reconcile.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { formatSegmentRef } from '../storage/segment-name.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { MICROS_PER_HOUR, MICROS_PER_SECOND } from '../storage/time.ts'
import {
  QUICK,
  RssSampler,
  type Stats,
  cleanupOnExit,
  diskUsage,
  interleaved,
  machineInfo,
  makeTempDir,
  mib,
  ms,
  printResult,
  procStatus,
  prng,
  removeDir,
  runPart,
  stats,
  table
} from './common.ts'
import { PER_HOUR, SEGMENT_US, type SyntheticSegment, T0, indexStream, syntheticStream, writeTree } from './data.ts'

const FILES = QUICK ? 9_000 : 200_000
const BIG = QUICK ? 50_000 : 1_000_000
const BATCH = 10_000
const COMBOS = [
  ['alpha', 'source'],
  ['alpha', '480p'],
  ['beta', 'source'],
  ['beta', '480p']
] as const
const GOAL_COLD_S = 30
const GOAL_WARM_S = 2

export interface ScanPartResult {
  files: number
  hours: number
  createMs: number
  walkSync: Stats
  walkAsync: Stats
  cold: Stats
  warm: Stats
  /** Warm with `quick: true` (the watcher's mode): indexed names are not stat'ed. */
  warmQuick: Stats
  coldReport: ReconcileReport
  index: { apparent: number; allocated: number }
  peakRss: number
  vmHWM: number | null
}

export interface BigPartResult {
  segments: number
  insertMs: number
  batch: Stats
  /** Peak RSS sampled up to the end of the inserts. */
  insertPeakRss: number
  peakRss: number
  vmHWM: number | null
  rssAnon: number | null
  rssFile: number | null
  heapUsed: number
  index: { apparent: number; allocated: number }
  selectHours: number
  selectCold: Stats
  selectWarm: Stats
}

export interface ScanResult {
  bench: 'scan'
  quick: boolean
  scan: ScanPartResult
  big: BigPartResult
}

/** `FILES` segment files, 1800 to an hour folder, hours dealt round-robin over the channel/qualities. */
function* treeFiles(): Generator<SyntheticSegment> {
  const random = prng(7)
  const hash = Buffer.alloc(32)
  for (let j = 0, n = 0; n < FILES; j++) {
    const [channel, quality] = COMBOS[j % COMBOS.length]!
    const hourUs = T0 + Math.floor(j / COMBOS.length) * MICROS_PER_HOUR
    for (let i = 0; i < PER_HOUR && n < FILES; i++, n++) {
      for (let k = 0; k < 32; k += 4) hash.writeUInt32LE((random() * 2 ** 32) >>> 0, k)
      const ref = formatSegmentRef({ channel, quality, start: hourUs + i * SEGMENT_US, duration: SEGMENT_US, type: 'full', hash })
      yield { ref, size: n % 17 }
    }
  }
}

/** What the filesystem alone costs: every folder listed, every file stat'ed, sync calls. */
function walkSync(dir: string): number {
  let files = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name)
    if (e.isDirectory()) files += walkSync(path)
    else if (statSync(path).isFile()) files++
  }
  return files
}

/** The same walk as reconcile does its I/O: promise readdir, 32 concurrent promise stats per folder. */
async function walkAsync(dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true })
  let files = 0
  const paths: string[] = []
  for (const e of entries) {
    if (e.isDirectory()) files += await walkAsync(join(dir, e.name))
    else paths.push(join(dir, e.name))
  }
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(32, paths.length) }, async () => {
      while (next < paths.length) if ((await stat(paths[next++]!)).isFile()) files++
    })
  )
  return files
}

async function reconcileInto(
  indexDir: string,
  segmentsDir: string,
  quick = false
): Promise<{ ms: number; report: ReconcileReport; index: SegmentIndex }> {
  const t = performance.now()
  const index = SegmentIndex.open(indexDir, { mapSize: 4 * 1024 ** 3 })
  const report = await new Reconciler(new SegmentStore({ segmentsDir, index })).reconcileAll({ tempGraceMs: null, quick })
  return { ms: performance.now() - t, report, index }
}

function total(r: ReconcileReport): number {
  return r.segments.full + r.segments.suspect + r.segments.partial
}

async function scanPart(): Promise<void> {
  const sampler = new RssSampler().start()
  const dir = makeTempDir('segmesh-bench-scan-')
  cleanupOnExit(dir)
  try {
    const segmentsDir = join(dir, 'segments')
    let t = performance.now()
    const files = await writeTree(segmentsDir, treeFiles())
    const createMs = performance.now() - t
    const hours = Math.ceil(FILES / PER_HOUR)
    console.log(
      `tree     ${files} files (0–16 bytes) in ${hours} hour folders over ${COMBOS.length} channel/qualities, created in ${ms(createMs)} (${Math.round((files / createMs) * 1000)} files/s)`
    )

    // Round-robin, so a noisy spell hits the baseline and the scan alike. Cold runs each get a
    // fresh index; the first one's is kept for the warm restarts.
    const coldRuns = QUICK ? 2 : 3
    const rounds = QUICK ? 3 : 7
    const budgetMs = QUICK ? 30_000 : 200_000
    const samples = {
      walkSync: [] as number[],
      walkAsync: [] as number[],
      cold: [] as number[],
      warm: [] as number[],
      warmQuick: [] as number[]
    }
    let coldReport: ReconcileReport | null = null
    const warmDir = join(dir, 'index-0')
    const began = performance.now()
    for (let round = 0; round < rounds; round++) {
      if (round >= 3 && performance.now() - began > budgetMs) break
      t = performance.now()
      if (walkSync(segmentsDir) !== files) throw new Error('walk miscounted')
      samples.walkSync.push(performance.now() - t)
      t = performance.now()
      if ((await walkAsync(segmentsDir)) !== files) throw new Error('walk miscounted')
      samples.walkAsync.push(performance.now() - t)
      if (round < coldRuns && (round === 0 || performance.now() - began < budgetMs / 2)) {
        const indexDir = join(dir, `index-${round}`)
        const cold = await reconcileInto(indexDir, segmentsDir)
        await cold.index.stop()
        if (cold.report.added !== files || total(cold.report) !== files)
          throw new Error(`cold scan indexed ${cold.report.added} of ${files}`)
        samples.cold.push(cold.ms)
        coldReport ??= cold.report
        if (round > 0) removeDir(indexDir)
        console.log(`cold scan ${round + 1}: ${ms(cold.ms)}`)
      }
      const warm = await reconcileInto(warmDir, segmentsDir)
      await warm.index.stop()
      if (warm.report.added !== 0 || warm.report.removed !== 0 || warm.report.hashed !== 0 || total(warm.report) !== files) {
        throw new Error('warm scan changed the index')
      }
      samples.warm.push(warm.ms)
      // The watcher's mode (indexed names not stat'ed), to split the warm cost: not what start-up runs.
      const quick = await reconcileInto(warmDir, segmentsDir, true)
      await quick.index.stop()
      if (quick.report.added !== 0 || quick.report.removed !== 0 || total(quick.report) !== files)
        throw new Error('quick scan changed the index')
      samples.warmQuick.push(quick.ms)
    }
    const result: ScanPartResult = {
      files,
      hours,
      createMs,
      walkSync: stats(samples.walkSync),
      walkAsync: stats(samples.walkAsync),
      cold: stats(samples.cold),
      warm: stats(samples.warm),
      warmQuick: stats(samples.warmQuick),
      coldReport: coldReport!,
      index: diskUsage(warmDir),
      peakRss: sampler.stop(),
      vmHWM: procStatus().vmHWM ?? null
    }
    printResult(result)
  } finally {
    removeDir(dir)
  }
}

async function bigPart(): Promise<void> {
  const sampler = new RssSampler().start()
  const dir = makeTempDir('segmesh-bench-big-')
  cleanupOnExit(dir)
  const index = SegmentIndex.open(join(dir, 'index'), { mapSize: 8 * 1024 ** 3 })
  try {
    const channel = 'bench'
    const quality = 'source'
    // Enough slots that BIG segments remain after the gaps; the stream is cut at BIG.
    const slots = Math.ceil(BIG * 1.01)
    function* firstBig(): Generator<SyntheticSegment> {
      let n = 0
      for (const s of syntheticStream({ channel, quality, start: T0, slots, seed: 3, duplicates: 0.005, gaps: 0.002 })) {
        if (n++ >= BIG) return
        yield s
      }
    }
    let lastReport = performance.now()
    const t = performance.now()
    const batches = await indexStream(index, firstBig(), BATCH, (done) => {
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now()
        console.log(`  … ${done} indexed, rss ${mib(process.memoryUsage().rss)}`)
      }
    })
    const insertMs = performance.now() - t
    sampler.sample()
    const insertPeakRss = sampler.peak
    const indexed = index.totals().segments
    if (indexed !== BIG) throw new Error(`indexed ${indexed} of ${BIG}`)

    // 24 h in the middle of the stream: cold (fresh selector) and warm, round-robin.
    const days = (BIG * SEGMENT_US) / (24 * MICROS_PER_HOUR)
    const start = T0 + Math.floor(days / 2) * 24 * MICROS_PER_HOUR + MICROS_PER_HOUR + MICROS_PER_SECOND
    const selectHours = QUICK ? 4 : 24
    const end = start + selectHours * MICROS_PER_HOUR
    const warmSelector = new SegmentSelector(index)
    const sel = await interleaved(
      [
        { name: 'cold', run: async () => await new SegmentSelector(index).select(channel, quality, start, end) },
        { name: 'warm', run: async () => await warmSelector.select(channel, quality, start, end) }
      ],
      { warmup: 3, iterations: QUICK ? 10 : 200, maxMs: QUICK ? 2000 : 20_000 }
    )

    const status = procStatus()
    const result: BigPartResult = {
      segments: indexed,
      insertMs,
      batch: stats(batches),
      insertPeakRss,
      peakRss: sampler.stop(),
      vmHWM: status.vmHWM ?? null,
      rssAnon: status.rssAnon ?? null,
      rssFile: status.rssFile ?? null,
      heapUsed: process.memoryUsage().heapUsed,
      index: diskUsage(join(dir, 'index')),
      selectHours,
      selectCold: sel.get('cold')!,
      selectWarm: sel.get('warm')!
    }
    printResult(result)
  } finally {
    await index.stop()
    removeDir(dir)
  }
}

async function main(): Promise<void> {
  console.log('== bench/scan.ts: reconcile a segment tree, and a 1M-segment index ==')
  console.log(machineInfo())
  const self = fileURLToPath(import.meta.url)
  console.log(`\n-- scan: ${FILES} files --`)
  const scan = await runPart<ScanPartResult>(self, ['--part', 'scan'], 8 * 60_000)
  console.log(`\n-- big index: ${BIG} segments --`)
  const big = await runPart<BigPartResult>(self, ['--part', 'big'], 6 * 60_000)

  const s = scan
  const coldS = s.cold.median / 1000
  const warmS = s.warm.median / 1000
  console.log()
  // Time as a multiple of the sync walk's: what the scan costs over and above the filesystem.
  const x = (st: Stats): string => `${(st.median / s.walkSync.median).toFixed(1)}×`
  console.log(
    table(
      ['case', 'median', 'p95', 'n', 'time ÷ sync walk', 'goal'],
      [
        ['walk: readdir+stat, sync', ms(s.walkSync.median), ms(s.walkSync.p95), String(s.walkSync.n), '1.0×', ''],
        ['walk: readdir+stat, promises ×32', ms(s.walkAsync.median), ms(s.walkAsync.p95), String(s.walkAsync.n), x(s.walkAsync), ''],
        [
          'scan cold (empty index)',
          ms(s.cold.median),
          ms(s.cold.p95),
          String(s.cold.n),
          x(s.cold),
          `≤ ${GOAL_COLD_S} s: ${coldS <= GOAL_COLD_S ? 'met' : 'MISSED'}`
        ],
        [
          'scan warm (restart, no change)',
          ms(s.warm.median),
          ms(s.warm.p95),
          String(s.warm.n),
          x(s.warm),
          `≤ ${GOAL_WARM_S} s: ${warmS <= GOAL_WARM_S ? 'met' : 'MISSED'}`
        ],
        [
          '  same, quick: true (no stat of indexed names)',
          ms(s.warmQuick.median),
          ms(s.warmQuick.p95),
          String(s.warmQuick.n),
          x(s.warmQuick),
          'watcher mode, for comparison'
        ]
      ]
    )
  )
  console.log(
    `tree creation ${ms(s.createMs)}; index after scan ${mib(s.index.allocated)} on disk; ` +
      `scan process peak RSS ${mib(s.peakRss)} sampled, VmHWM ${s.vmHWM == null ? 'n/a' : mib(s.vmHWM)}`
  )
  console.log()
  console.log(
    table(
      [`${big.segments}-segment index`, 'value'],
      [
        ['segments indexed', String(big.segments)],
        [
          'insert time (batches of 10,000)',
          `${ms(big.insertMs)} (${Math.round((big.segments / big.insertMs) * 1000)} segments/s; batch median ${ms(big.batch.median)}, p95 ${ms(big.batch.p95)})`
        ],
        [
          'peak RSS sampled: inserting / whole part; VmHWM',
          `${mib(big.insertPeakRss)} / ${mib(big.peakRss)}; ${big.vmHWM == null ? 'n/a' : mib(big.vmHWM)}`
        ],
        [
          'RSS at end: anonymous / file-backed (LMDB map)',
          `${big.rssAnon == null ? 'n/a' : mib(big.rssAnon)} / ${big.rssFile == null ? 'n/a' : mib(big.rssFile)}`
        ],
        ['index on disk: allocated / apparent', `${mib(big.index.allocated)} / ${mib(big.index.apparent)}`],
        [
          `${big.selectHours} h selection, cold: median / p95`,
          `${ms(big.selectCold.median)} / ${ms(big.selectCold.p95)} (n ${big.selectCold.n})`
        ],
        [
          `${big.selectHours} h selection, warm: median / p95`,
          `${ms(big.selectWarm.median)} / ${ms(big.selectWarm.p95)} (n ${big.selectWarm.n})`
        ]
      ]
    )
  )
  printResult({ bench: 'scan', quick: QUICK, scan, big } satisfies ScanResult)
}

const part = process.argv.indexOf('--part')
if (part < 0) await main()
else if (process.argv[part + 1] === 'scan') await scanPart()
else if (process.argv[part + 1] === 'big') await bigPart()
else throw new Error(`unknown part ${process.argv[part + 1]}`)
