/**
 * Runs the storage benchmarks (selection, scan) in turn, each in its own process (so memory
 * figures are per benchmark), then prints a summary against the goals. The other bench/*.ts run
 * on their own (docs/BENCHMARKS.md gives each command).
 *
 *   npm run bench [-- --quick]
 */
import { fileURLToPath } from 'node:url'
import { QUICK, machineInfo, mib, ms, ratio, runPart, table } from './common.ts'
import type { ScanResult } from './scan.ts'
import type { SelectionResult } from './selection.ts'

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url))
const verdict = (met: boolean): string => (met ? 'met' : 'MISSED')

console.log('== segmesh benchmarks ==')
console.log(machineInfo())
const began = performance.now()
console.log()
const selection = await runPart<SelectionResult>(here('./selection.ts'), [], 5 * 60_000)
console.log()
const scan = await runPart<ScanResult>(here('./scan.ts'), [], 14 * 60_000)

const long = selection.ranges.at(-1)!
const short = selection.ranges[0]!
const s = scan.scan
const big = scan.big
console.log()
console.log(
  `== summary (${((performance.now() - began) / 1000).toFixed(0)} s${QUICK ? ', quick run: smaller data, figures not comparable' : ''}) ==`
)
console.log(
  table(
    ['figure', 'median', 'p95', 'goal', 'verdict'],
    [
      [`select ${long.label}, index cold`, ms(long.cold.median), ms(long.cold.p95), '≤ 30 ms', verdict(long.cold.median <= 30)],
      [`select ${long.label}, index warm`, ms(long.warm.median), ms(long.warm.p95), '≤ 30 ms', verdict(long.warm.median <= 30)],
      [`select ${long.label}, listing (original)`, ms(long.listing.median), ms(long.listing.p95), '', ''],
      [
        `  speed-up cold vs listing`,
        ratio(long.listing.median, long.cold.median),
        '',
        '≥ 20×',
        verdict(long.listing.median / long.cold.median >= 20)
      ],
      [
        `  speed-up warm vs listing`,
        ratio(long.listing.median, long.warm.median),
        '',
        '≥ 20×',
        verdict(long.listing.median / long.warm.median >= 20)
      ],
      [
        `select ${short.label}: cold / warm / listing`,
        `${ms(short.cold.median)} / ${ms(short.warm.median)} / ${ms(short.listing.median)}`,
        '',
        '',
        ''
      ],
      [`scan cold, ${s.files} files`, ms(s.cold.median), ms(s.cold.p95), '≤ 30 s', verdict(s.cold.median <= 30_000)],
      ['scan warm (restart, no change)', ms(s.warm.median), ms(s.warm.p95), '≤ 2 s', verdict(s.warm.median <= 2000)],
      ['  warm with quick: true (watcher mode)', ms(s.warmQuick.median), ms(s.warmQuick.p95), '', ''],
      ['  baseline walk readdir+stat (sync)', ms(s.walkSync.median), ms(s.walkSync.p95), '', ''],
      ['  warm scan / sync walk', `${(s.warm.median / s.walkSync.median).toFixed(1)}×`, '', '', ''],
      [`tree creation (${s.files} files, setup)`, ms(s.createMs), '', '', ''],
      [`index of ${big.segments} segments: insert`, ms(big.insertMs), '', '', ''],
      ['  peak RSS: inserting / incl. selections', `${mib(big.insertPeakRss)} / ${mib(big.peakRss)}`, '', '', ''],
      ['  on disk (allocated)', mib(big.index.allocated), '', '', ''],
      [
        `  select ${big.selectHours} h cold / warm`,
        `${ms(big.selectCold.median)} / ${ms(big.selectWarm.median)}`,
        `${ms(big.selectCold.p95)} / ${ms(big.selectWarm.p95)}`,
        '',
        ''
      ]
    ]
  )
)
