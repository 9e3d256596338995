/**
 * The status page's coverage map (`GET /coverage`, storage/coverage-map.ts) over 24 h and 168 h
 * (the most one request may ask for) of 2 s segments with a few gaps and duplicates, against two
 * baselines over the same hours: the per-hour coverage facts /metrics computes
 * (storage/coverage.ts) and the best-segment selection a playlist of that range runs.
 *
 *   node --import tsx --import ./node/compat.ts bench/coverage-map.ts [--quick]
 */
import { join } from 'node:path'
import { SegmentSelector } from '../storage/best-segments.ts'
import { CoverageMaps } from '../storage/coverage-map.ts'
import { hourCoverage } from '../storage/coverage.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { MICROS_PER_HOUR } from '../storage/time.ts'
import { QUICK, cleanupOnExit, interleaved, machineInfo, makeTempDir, ms, printResult, ratio, removeDir, table } from './common.ts'
import { PER_HOUR, type StreamCounts, T0, indexStream, syntheticStream } from './data.ts'

const CHANNEL = 'bench'
const QUALITY = 'source'
const RANGES = QUICK ? [24] : [24, 168]
const DATA_HOURS = Math.max(...RANGES)

async function main(): Promise<void> {
  console.log('== bench/coverage-map.ts: the status page coverage map vs per-hour facts and selection ==')
  console.log(machineInfo())
  const dir = makeTempDir('segmesh-bench-coverage-')
  cleanupOnExit(dir)
  const index = SegmentIndex.open(join(dir, 'index'), { mapSize: 2 * 1024 ** 3 })
  try {
    const counts: StreamCounts = { slots: 0, segments: 0, duplicates: 0, gaps: 0 }
    await indexStream(
      index,
      syntheticStream(
        { channel: CHANNEL, quality: QUALITY, start: T0, slots: DATA_HOURS * PER_HOUR, seed: 3, duplicates: 0.005, gaps: 0.002 },
        counts
      ),
      10_000
    )
    console.log(`data     ${DATA_HOURS} h: ${counts.segments} segments (${counts.duplicates} duplicates, ${counts.gaps} gaps)`)
    // Well after the data: every hour is a finished one, mapped whole.
    const now = T0 + (DATA_HOURS + 2) * MICROS_PER_HOUR
    const rows: string[][] = []
    const results: Record<string, unknown> = {}
    for (const hours of RANGES) {
      const from = T0 + (DATA_HOURS - hours) * MICROS_PER_HOUR
      const warm = new SegmentSelector(index)
      const cached = new CoverageMaps(index, warm)
      const body = JSON.stringify(cached.get(CHANNEL, QUALITY, hours, now))
      const s = await interleaved(
        [
          {
            name: 'map + JSON, cold',
            run: () => JSON.stringify(new CoverageMaps(index, new SegmentSelector(index)).get(CHANNEL, QUALITY, hours, now))
          },
          {
            name: 'map + JSON, warm selector only',
            run: () => JSON.stringify(new CoverageMaps(index, warm).get(CHANNEL, QUALITY, hours, now))
          },
          { name: 'map + JSON, warm (as served)', run: () => JSON.stringify(cached.get(CHANNEL, QUALITY, hours, now)) },
          {
            name: 'baseline: per-hour facts (metrics), warm',
            run: () => {
              for (let h = from; h < from + hours * MICROS_PER_HOUR; h += MICROS_PER_HOUR)
                hourCoverage(index, warm, CHANNEL, QUALITY, h, now)
            }
          },
          {
            name: 'baseline: playlist selection, warm',
            run: async () => await warm.select(CHANNEL, QUALITY, from, from + hours * MICROS_PER_HOUR, { allowHoles: true })
          }
        ],
        { warmup: 3, iterations: QUICK ? 10 : 200, maxMs: QUICK ? 2000 : 20_000 }
      )
      const facts = s.get('baseline: per-hour facts (metrics), warm')!.median
      for (const [name, st] of s) rows.push([`${hours} h ${name}`, ms(st.median), ms(st.p95), String(st.n), ratio(facts, st.median)])
      rows.push([`${hours} h response body`, `${(body.length / 1024).toFixed(1)} KiB`, '', '', ''])
      results[`${hours}h`] = { bodyBytes: body.length, ...Object.fromEntries(s) }
    }
    console.log()
    console.log(table(['case', 'median', 'p95', 'n', 'speed vs per-hour facts'], rows))
    printResult({ bench: 'coverage-map', quick: QUICK, segments: counts.segments, results })
  } finally {
    await index.stop()
    removeDir(dir)
  }
}

await main()
