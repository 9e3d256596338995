/**
 * Retention: one pass removing 24 expired hours (43,200 segment files plus a few tombstones) with
 * the index following, against the baseline of `rm -r` of the same hour folders of an identical
 * tree (no index); and the pass that finds nothing to do (what runs every 10 minutes) over an index
 * of 24 retained hours. Rounds alternate baseline and retention on fresh trees.
 *
 *   node --import tsx --import ./node/compat.ts bench/retention.ts [--quick]
 */
import { writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Reconciler } from '../storage/reconcile.ts'
import { Retention } from '../storage/retention.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { tombstoneFileName } from '../storage/segment-name.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { MICROS_PER_HOUR, formatHour, hourStart } from '../storage/time.ts'
import { QUICK, cleanupOnExit, machineInfo, makeTempDir, ms, printResult, stats, table } from './common.ts'
import { PER_HOUR, type SyntheticSegment, syntheticStream, writeTree } from './data.ts'

const EXPIRED_HOURS = QUICK ? 3 : 24
const KEPT_HOURS = QUICK ? 3 : 24
const ROUNDS = QUICK ? 1 : 3
const DAYS = 7
const NOW = hourStart(Date.now() * 1000)

/** Expired hours end 8+ days ago; kept hours are the last day. */
function segments(): SyntheticSegment[] {
  const expired = NOW - (DAYS + 1) * 24 * MICROS_PER_HOUR - EXPIRED_HOURS * MICROS_PER_HOUR
  const kept = NOW - KEPT_HOURS * MICROS_PER_HOUR
  const one = (start: number, hours: number, seed: number): SyntheticSegment[] => [
    ...syntheticStream({ channel: 'bench', quality: 'source', start, slots: hours * PER_HOUR, seed, duplicates: 0, gaps: 0 })
  ]
  return [...one(expired, EXPIRED_HOURS, 1), ...one(kept, KEPT_HOURS, 2)]
}

async function makeTree(root: string, segs: SyntheticSegment[]): Promise<string> {
  const segmentsDir = join(root, 'segments')
  await writeTree(segmentsDir, segs)
  // One tombstone per hour: retention must remove them last.
  for (let h = 0; h < segs.length; h += PER_HOUR) {
    const { ref } = segs[h]!
    writeFileSync(join(segmentsDir, ref.channel, ref.quality, ref.hour, tombstoneFileName(ref.file)), '')
  }
  return segmentsDir
}

const root = makeTempDir('segmesh-bench-retention-')
cleanupOnExit(root)
console.log('== retention ==')
console.log(machineInfo())
const segs = segments()
const expiredHours = [...new Set(segs.slice(0, EXPIRED_HOURS * PER_HOUR).map((s) => s.ref.hour))]
const baseline: number[] = []
const pass: number[] = []
const idle: number[] = []
let removed = 0
for (let round = 0; round < ROUNDS; round++) {
  const a = await makeTree(join(root, `a${round}`), segs)
  let t = performance.now()
  for (const hour of expiredHours) await rm(join(a, 'bench', 'source', hour), { recursive: true })
  baseline.push(performance.now() - t)
  await rm(join(root, `a${round}`), { recursive: true })

  const b = await makeTree(join(root, `b${round}`), segs)
  const index = SegmentIndex.open(join(root, `b${round}`, 'index'), { mapSize: 2 * 1024 ** 3 })
  const store = new SegmentStore({ segmentsDir: b, index })
  const reconciler = new Reconciler(store)
  await reconciler.reconcileAll({ tempGraceMs: null })
  const retention = new Retention({ store, reconciler, days: DAYS })
  t = performance.now()
  const report = await retention.runOnce()
  pass.push(performance.now() - t)
  removed = report.segments
  if (report.hours !== EXPIRED_HOURS || index.hours('bench', 'source')[0] !== formatHour(NOW - KEPT_HOURS * MICROS_PER_HOUR))
    throw new Error(`unexpected pass: ${JSON.stringify(report)}`)
  for (let i = 0; i < 5; i++) {
    t = performance.now()
    await retention.runOnce()
    idle.push(performance.now() - t)
  }
  await index.stop()
  await rm(join(root, `b${round}`), { recursive: true })
}
const base = stats(baseline)
const run = stats(pass)
const noop = stats(idle)
console.log(
  table(
    ['figure', 'median', 'max'],
    [
      [`rm -r of ${EXPIRED_HOURS} hour folders (${removed} files; baseline)`, ms(base.median), ms(base.max)],
      [`retention pass: same files + tombstones + index`, ms(run.median), ms(run.max)],
      ['  retention time / rm -r time', `${(run.median / base.median).toFixed(2)}×`, ''],
      [`pass with nothing expired (${KEPT_HOURS} h indexed)`, ms(noop.median), ms(noop.max)]
    ]
  )
)
printResult({ files: removed, baseline: base, pass: run, idle: noop })
