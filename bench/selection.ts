/**
 * Best-segment selection from the LMDB index (cold and warm per-hour cache) against the original's
 * method (list, sort and parse every hour folder), over the same 2 s segments of one channel.
 *
 *   node --import tsx --import ./node/compat.ts bench/selection.ts [--quick]
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { SegmentSelector } from '../storage/best-segments.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { parseSegmentRef } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, MICROS_PER_SECOND, formatHour, hourStart } from '../storage/time.ts'
import {
  type Case,
  QUICK,
  type Stats,
  cleanupOnExit,
  forceGc,
  interleaved,
  machineInfo,
  makeTempDir,
  mib,
  ms,
  printResult,
  ratio,
  removeDir,
  table
} from './common.ts'
import { PER_HOUR, type StreamCounts, T0, holes, indexStream, listingSelect, selectionKey, syntheticStream, writeTree } from './data.ts'

const CHANNEL = 'bench'
const QUALITY = 'source'
/** The long range: 24 h (4 h in a quick run); the data covers it plus the hour before and after. */
const LONG_HOURS = QUICK ? 4 : 24
const DATA_HOURS = LONG_HOURS + 2
const GOAL_LONG_MS = 30
const GOAL_SPEEDUP = 20

export interface RangeResult {
  label: string
  hours: number
  cold: Stats
  warm: Stats
  listing: Stats
  segments: number
  holes: number
}
export interface SelectionResult {
  bench: 'selection'
  quick: boolean
  segments: number
  indexMs: number
  treeMs: number
  ranges: RangeResult[]
  /** Heap a warm selector retains per cached hour. */
  cacheBytesPerHour: number
  diagnostics: Record<string, Stats>
}

async function main(): Promise<void> {
  console.log('== bench/selection.ts: best-segment selection, index vs listing ==')
  console.log(machineInfo())
  const dir = makeTempDir('segmesh-bench-selection-')
  cleanupOnExit(dir)
  const segmentsDir = join(dir, 'segments')
  const index = SegmentIndex.open(join(dir, 'index'), { mapSize: 1024 ** 3 })
  try {
    const stream = { channel: CHANNEL, quality: QUALITY, start: T0, slots: DATA_HOURS * PER_HOUR, seed: 1, duplicates: 0.005, gaps: 0.002 }
    const counts: StreamCounts = { slots: 0, segments: 0, duplicates: 0, gaps: 0 }
    let t = performance.now()
    await indexStream(index, syntheticStream(stream, counts), 10_000)
    const indexMs = performance.now() - t
    t = performance.now()
    const files = await writeTree(segmentsDir, syntheticStream(stream))
    const treeMs = performance.now() - t
    console.log(
      `data     ${DATA_HOURS} h of 2 s segments, one channel/quality: ${counts.segments} segments ` +
        `(${counts.duplicates} duplicates, ${counts.gaps} gaps); indexed in ${ms(indexMs)}, ${files} empty-ish files written in ${ms(treeMs)}`
    )

    const warmSelector = new SegmentSelector(index)
    const ranges: RangeResult[] = []
    for (const [label, hours, iterations, maxMs] of [
      ['1 h', 1, 1000, 10_000],
      [`${LONG_HOURS} h`, LONG_HOURS, 300, 30_000]
    ] as const) {
      // Off the hour and off a segment boundary, so the hour before and a mid-segment start both matter.
      const start = T0 + (hours === 1 ? Math.floor(DATA_HOURS / 2) : 1) * MICROS_PER_HOUR + MICROS_PER_SECOND
      const end = start + hours * MICROS_PER_HOUR
      const fromIndex = await new SegmentSelector(index).select(CHANNEL, QUALITY, start, end)
      const fromListing = listingSelect(segmentsDir, CHANNEL, QUALITY, start, end)
      if (selectionKey(fromIndex) !== selectionKey(fromListing)) throw new Error(`${label}: index and listing selections differ`)
      const cases: Case[] = [
        { name: 'cold', run: async () => await new SegmentSelector(index).select(CHANNEL, QUALITY, start, end) },
        { name: 'warm', run: async () => await warmSelector.select(CHANNEL, QUALITY, start, end) },
        { name: 'listing', run: () => listingSelect(segmentsDir, CHANNEL, QUALITY, start, end) }
      ]
      const s = await interleaved(cases, { warmup: 3, iterations: QUICK ? 20 : iterations, maxMs: QUICK ? 2000 : maxMs })
      ranges.push({
        label,
        hours,
        cold: s.get('cold')!,
        warm: s.get('warm')!,
        listing: s.get('listing')!,
        segments: fromIndex.length - holes(fromIndex),
        holes: holes(fromIndex)
      })
    }

    // Where the time goes, for the long range's hours: raw index reads and the listing's parts.
    const longStart = T0 + MICROS_PER_HOUR + MICROS_PER_SECOND
    const hourList: number[] = []
    for (let h = hourStart(longStart) - MICROS_PER_HOUR; h <= hourStart(longStart + LONG_HOURS * MICROS_PER_HOUR); h += MICROS_PER_HOUR)
      hourList.push(h)
    const hourDirs = hourList.map((h) => [formatHour(h), join(segmentsDir, CHANNEL, QUALITY, formatHour(h))] as const)
    const diagnostics = await interleaved(
      [
        {
          name: 'index.hourSegments only',
          run: () => {
            for (const h of hourList) index.hourSegments(CHANNEL, QUALITY, h)
          }
        },
        {
          name: 'index.hourVersion only',
          run: () => {
            for (const h of hourList) index.hourVersion(CHANNEL, QUALITY, h)
          }
        },
        {
          name: 'readdir only',
          run: () => {
            for (const [, d] of hourDirs) readdirSync(d)
          }
        },
        {
          name: 'readdir + sort + parse',
          run: () => {
            for (const [hour, d] of hourDirs) for (const n of readdirSync(d).sort()) parseSegmentRef(CHANNEL, QUALITY, hour, n)
          }
        }
      ],
      { warmup: 3, iterations: QUICK ? 10 : 100, maxMs: QUICK ? 1000 : 15_000 }
    )

    // What the warm cache holds on to: heap retained by one selector that has read the long range.
    const retained: SegmentSelector[] = []
    forceGc()
    const heapBefore = process.memoryUsage().heapUsed
    retained.push(new SegmentSelector(index))
    await retained[0]!.select(CHANNEL, QUALITY, longStart, longStart + LONG_HOURS * MICROS_PER_HOUR)
    forceGc()
    const cacheBytesPerHour = (process.memoryUsage().heapUsed - heapBefore) / hourList.length
    retained.length = 0

    const rows: string[][] = []
    for (const r of ranges) {
      const goal = r.hours === LONG_HOURS
      for (const kind of ['cold', 'warm'] as const) {
        const st = r[kind]
        const speedup = r.listing.median / st.median
        rows.push([
          `${r.label} index ${kind}`,
          ms(st.median),
          ms(st.p95),
          String(st.n),
          ratio(r.listing.median, st.median),
          goal
            ? `≤ ${GOAL_LONG_MS} ms: ${st.median <= GOAL_LONG_MS ? 'met' : 'MISSED'}; ≥ ${GOAL_SPEEDUP}×: ${speedup >= GOAL_SPEEDUP ? 'met' : 'MISSED'}`
            : ''
        ])
      }
      rows.push([`${r.label} listing (original)`, ms(r.listing.median), ms(r.listing.p95), String(r.listing.n), '1.0×', ''])
    }
    console.log()
    console.log(table(['case', 'median', 'p95', 'n', 'vs listing', 'goal'], rows))
    for (const r of ranges) console.log(`${r.label}: ${r.segments} segments and ${r.holes} holes selected (index and listing agree)`)
    console.log(
      `warm cache: ${(cacheBytesPerHour / 1024).toFixed(0)} KiB of heap per cached hour ` +
        `(${PER_HOUR} segments; the default cache of 500,000 segments holds ${Math.floor(500_000 / PER_HOUR)} such hours, ${mib((cacheBytesPerHour * 500_000) / PER_HOUR)})`
    )
    console.log()
    console.log(`diagnostics over the ${hourList.length} hour folders the ${LONG_HOURS} h range reads:`)
    console.log(
      table(
        ['part', 'median', 'p95', 'n'],
        [...diagnostics].map(([name, st]) => [name, ms(st.median), ms(st.p95), String(st.n)])
      )
    )
    printResult({
      bench: 'selection',
      quick: QUICK,
      segments: counts.segments,
      indexMs,
      treeMs,
      ranges,
      cacheBytesPerHour,
      diagnostics: Object.fromEntries(diagnostics)
    } satisfies SelectionResult)
  } finally {
    await index.stop()
    removeDir(dir)
  }
}

await main()
