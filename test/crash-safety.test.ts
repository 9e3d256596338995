/**
 * Crash safety of the store, for real: a child process writes segments and tombstones into one
 * data folder and is SIGKILLed at a random instant, round after round. Between rounds the parent
 * checks that the index never claims more than the disk holds, then reconciles and checks that
 * index and disk agree exactly, that no truncated bytes sit under a final name, and that every
 * write the child acknowledged survived. CRASH_SEED=<seed> replays a run's writer choices and run
 * times (the exact kill instants still depend on scheduling).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { Dirent } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { hashFile } from '../storage/file-hash.ts'
import { Reconciler } from '../storage/reconcile.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { TOMBSTONE_EXT, parseSegmentRef, segmentFileNameOfTombstone } from '../storage/segment-name.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { tempDir } from './helpers/tree.ts'
import { Rng } from '../simulations/prng.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const WRITER = 'test/helpers/crash-writer.ts'
const ROUNDS = 25
/** Rounds after which the parent reconciles and checks (the last round always does). */
const CHECK_EVERY = 6

/** The seed fixes every random choice of a run (the writer uses the same generator). */
function prng(seed: number): () => number {
  const rng = new Rng(seed)
  return () => rng.next()
}

interface Acks {
  segments: Set<string>
  tombstones: Set<string>
}

/** Start the writer, let it run a while after it says `running`, SIGKILL it; collect its acks. */
async function crashRound(dir: string, seed: number, runMs: number, acks: Acks): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', './node/compat.ts', WRITER, dir, String(seed)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  let pending = ''
  let acked = 0
  let onRunning!: () => void
  const running = new Promise<void>((resolve) => {
    onRunning = resolve
  })
  const ack = (set: Set<string>, rel: string): void => {
    set.add(rel)
    acked++
  }
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text
  })
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    const lines = (pending + text).split('\n')
    pending = lines.pop()!
    for (const line of lines) {
      if (line === 'running') onRunning()
      else if (line.startsWith('seg ')) ack(acks.segments, line.slice(4))
      else if (line.startsWith('tomb ')) ack(acks.tombstones, line.slice(5))
    }
  })
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }))
  })
  // The writer must not stop on its own: that would be a crash of its own, not ours.
  const early = closed.then(({ code, signal }) => {
    throw new Error(`writer exited early (code ${code}, signal ${signal}):\n${stderr}`)
  })
  early.catch(() => {})
  // Aborted once the round is over, so no stray timer keeps the test process alive.
  const timers = new AbortController()
  const startup = sleep(30_000, undefined, { signal: timers.signal }).then(() => {
    throw new Error(`writer did not start:\n${stderr}`)
  })
  try {
    await Promise.race([running, early, startup])
    await Promise.race([sleep(runMs, undefined, { signal: timers.signal }), early])
  } finally {
    timers.abort()
    child.kill('SIGKILL')
  }
  const exit = await closed
  assert.equal(exit.signal, 'SIGKILL', `writer ended by ${exit.signal ?? `exit ${exit.code}`}:\n${stderr}`)
  return acked
}

interface DiskTree {
  /** Final-named segment files, relpath → size. */
  segments: Map<string, number>
  /** Relpaths of the segments that tombstone files hide. */
  tombstones: Set<string>
  temps: Array<{ path: string; size: number }>
}

async function subdirs(dir: string): Promise<string[]> {
  let entries: Dirent[]
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  return entries.map((e) => {
    assert.ok(e.isDirectory(), `unexpected file ${join(dir, e.name)}`)
    return e.name
  })
}

/** segments/CHANNEL/QUALITY/HOUR/FILE as the writer left it; any other name fails the test. */
async function walkDisk(segmentsDir: string): Promise<DiskTree> {
  const tree: DiskTree = { segments: new Map(), tombstones: new Set(), temps: [] }
  for (const channel of await subdirs(segmentsDir)) {
    for (const quality of await subdirs(join(segmentsDir, channel))) {
      for (const hour of await subdirs(join(segmentsDir, channel, quality))) {
        const dir = join(segmentsDir, channel, quality, hour)
        for (const name of await readdir(dir)) {
          const rel = `${channel}/${quality}/${hour}`
          if (name.endsWith(TOMBSTONE_EXT)) {
            tree.tombstones.add(`${rel}/${segmentFileNameOfTombstone(name)}`)
            continue
          }
          const parsed = parseSegmentRef(channel, quality, hour, name)
          assert.ok(parsed.ok, `not a segment name: ${rel}/${name}`)
          const { size } = await stat(join(dir, name))
          if (parsed.value.type === 'temp') tree.temps.push({ path: `${rel}/${name}`, size })
          else tree.segments.set(`${rel}/${name}`, size)
        }
      }
    }
  }
  return tree
}

interface IndexTree {
  segments: Map<string, { size: number; tombstoned: boolean }>
  tombstones: Set<string>
}

/** Everything the index holds, hidden segments included; hour counters are checked on the way. */
function readIndex(index: SegmentIndex): IndexTree {
  const tree: IndexTree = { segments: new Map(), tombstones: new Set() }
  for (const channel of index.channels()) {
    for (const quality of index.qualities(channel)) {
      for (const summary of index.hourSummaries(channel, quality)) {
        const segments = index.hourSegments(channel, quality, summary.start, { hidden: true })
        const visible = segments.filter((s) => !s.tombstoned)
        const where = `${channel}/${quality}/${summary.hour}`
        assert.equal(summary.segments, visible.length, `visible count of ${where}`)
        assert.equal(
          summary.bytes,
          visible.reduce((sum, s) => sum + s.size, 0),
          `bytes of ${where}`
        )
        assert.equal(summary.hidden, segments.length - visible.length, `hidden count of ${where}`)
        assert.equal(summary.tombstones, index.hourTombstones(channel, quality, summary.start).length, `tombstone count of ${where}`)
        for (const s of segments) tree.segments.set(`${where}/${s.file}`, { size: s.size, tombstoned: s.tombstoned })
      }
    }
  }
  for (const t of index.tombstones()) tree.tombstones.add(`${t.channel}/${t.quality}/${t.hour}/${t.segment}`)
  return tree
}

interface CheckResult {
  recovered: number
  emptyTemps: number
  segments: number
  tombstones: number
}

/** Open the index (the writer is dead), reconcile, and prove index and disk agree. */
async function checkDataDir(dir: string, acks: Acks): Promise<CheckResult> {
  const segmentsDir = join(dir, 'segments')
  const index = SegmentIndex.open(join(dir, 'index'))
  try {
    const before = await walkDisk(segmentsDir)
    const indexedBefore = readIndex(index)
    // Before any repair: the store indexes only after the rename, so the index never names a
    // file the disk lacks, nor records a size the file does not have.
    for (const [rel, s] of indexedBefore.segments) assert.equal(before.segments.get(rel), s.size, `indexed before reconcile: ${rel}`)
    for (const rel of indexedBefore.tombstones) assert.ok(before.tombstones.has(rel), `indexed tombstone before reconcile: ${rel}`)

    const store = new SegmentStore({ segmentsDir, index })
    const report = await new Reconciler(store).reconcileAll({ tempGraceMs: 0 })
    const after = await walkDisk(segmentsDir)
    const indexed = readIndex(index)

    // Temp files: non-empty ones became partial segments, empty ones were removed, none is left.
    const nonEmpty = before.temps.filter((t) => t.size > 0)
    assert.equal(report.recovered, nonEmpty.length, 'every non-empty temp file recovered')
    assert.deepEqual(after.temps, [], 'temp files left after reconcile with grace 0')
    assert.equal(report.corrupt, 0, 'corrupt segments')
    assert.equal(report.badNames, 0, 'bad names')
    for (const rel of before.segments.keys()) assert.ok(after.segments.has(rel), `reconcile lost ${rel}`)

    // (1) + (4): the index holds exactly the disk's segments, at their sizes, and its tombstones.
    assert.deepEqual(new Map([...indexed.segments].map(([rel, s]) => [rel, s.size])), after.segments, 'index segments == disk segments')
    assert.deepEqual(indexed.tombstones, after.tombstones, 'index tombstones == disk tombstones')
    for (const [rel, s] of indexed.segments) assert.equal(s.tombstoned, after.tombstones.has(rel), `hidden flag of ${rel}`)

    // (2): no partial bytes under a final name.
    for (const rel of after.segments.keys()) {
      const parsed = parseSegmentRef(...(rel.split('/') as [string, string, string, string]))
      assert.ok(parsed.ok)
      assert.ok((await hashFile(join(segmentsDir, rel))).digest.equals(parsed.value.hash!), `bytes of ${rel} do not match its name`)
    }

    // Every write the writer acknowledged survived its kill.
    for (const rel of acks.segments) assert.ok(indexed.segments.has(rel), `acknowledged segment lost: ${rel}`)
    for (const rel of acks.tombstones) assert.ok(indexed.tombstones.has(rel), `acknowledged tombstone lost: ${rel}`)

    // (5): stable, even when every file is re-hashed.
    const again = await new Reconciler(store).reconcileAll({ tempGraceMs: 0, verify: true })
    assert.deepEqual(
      { added: again.added, removed: again.removed, recovered: again.recovered, corrupt: again.corrupt },
      { added: 0, removed: 0, recovered: 0, corrupt: 0 },
      'second reconcile'
    )
    assert.deepEqual(readIndex(index), indexed, 'index changed by the second reconcile')

    return {
      recovered: report.recovered,
      emptyTemps: before.temps.length - nonEmpty.length,
      segments: after.segments.size,
      tombstones: after.tombstones.size
    }
  } finally {
    await index.stop()
  }
}

test('store and index survive SIGKILL at random instants, and reconcile repairs them exactly', { timeout: 120_000 }, async (t) => {
  const seed = process.env['CRASH_SEED'] != null ? Number(process.env['CRASH_SEED']) : Math.floor(Math.random() * 2 ** 31)
  t.diagnostic(`seed ${seed} (replay with CRASH_SEED=${seed})`)
  const rand = prng(seed)
  const dir = await tempDir(t, 'segmesh-crash-')
  const acks: Acks = { segments: new Set(), tombstones: new Set() }
  let acked = 0
  let recovered = 0
  let emptyTemps = 0
  let last: CheckResult | null = null
  for (let round = 1; round <= ROUNDS; round++) {
    acked += await crashRound(dir, seed + round, 50 + Math.floor(rand() * 351), acks)
    if (round % CHECK_EVERY === 0 || round === ROUNDS) {
      last = await checkDataDir(dir, acks)
      recovered += last.recovered
      emptyTemps += last.emptyTemps
    }
  }
  t.diagnostic(
    `${acked} acknowledged writes, ${last?.segments} segments, ${last?.tombstones} tombstones, ${recovered} temp files recovered, ${emptyTemps} empty ones removed`
  )
  // The test only proves something if the writer wrote and some kills landed mid-write.
  assert.ok(acks.segments.size > 0, 'the writer never finished a segment')
  assert.ok(recovered > 0, 'no kill landed mid-write: make the writer slower between chunks')
})
