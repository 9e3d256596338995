import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'
import { bytesFor, openStore } from '../test/helpers/tree.ts'
import { Reconciler } from './reconcile.ts'
import { sha256 } from './segment-hash.ts'
import type { IndexChange, SegmentIndex } from './segment-index.ts'
import { formatSegmentRef, type SegmentRef, tombstoneFileName } from './segment-name.ts'
import { hourStart } from './time.ts'
import { TreeWatcher } from './watcher.ts'

const run = promisify(execFile)

/** Another program writes a file the way wubloader's downloader does: temp name, then rename. */
async function writeFromOtherProcess(dir: string, name: string, bytes: Buffer): Promise<void> {
  const script = `
    const fs = require('node:fs'); const path = require('node:path')
    const [dir, name, hex] = process.argv.slice(1)
    fs.mkdirSync(dir, { recursive: true })
    const temp = path.join(dir, name.replace(/-(full|suspect|partial)-.*\\.ts$/, '-temp-0b8f1c7e-2a8b-4f0e-9d3c-4a1b2c3d4e5f.ts'))
    fs.writeFileSync(temp, Buffer.from(hex, 'hex'))
    fs.renameSync(temp, path.join(dir, name))
  `
  await run(process.execPath, ['-e', script, dir, name, bytes.toString('hex')])
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

function listing(index: SegmentIndex, start: number): string[] {
  return index.listHour('rec', 'source', hourStart(start), { tombstones: true })
}

describe('tree watcher', () => {
  it('indexes segments and tombstones another process writes into the live hour', async (t) => {
    const { store, index, segmentsDir } = await openStore(t)
    const watcher = new TreeWatcher({ segmentsDir, reconciler: new Reconciler(store), debounceMs: 20 })
    await watcher.start()
    t.after(async () => await watcher.stop())

    const now = Date.now() * 1000
    const bytes = bytesFor('live', 4000)
    const ref = formatSegmentRef({ channel: 'rec', quality: 'source', start: now, duration: 2_000_000, type: 'full', hash: sha256(bytes) })
    const hourDir = join(segmentsDir, 'rec', 'source', ref.hour)
    // The channel, quality and hour folders do not exist yet: the watches must follow them.
    await writeFromOtherProcess(hourDir, ref.file, bytes)
    await until('the new segment', () => listing(index, now).includes(ref.file))
    assert.equal(index.getSegment(ref)?.size, 4000)

    await run(process.execPath, ['-e', 'require("node:fs").writeFileSync(process.argv[1], "")', join(hourDir, tombstoneFileName(ref.file))])
    await until('the tombstone', () => listing(index, now).includes(tombstoneFileName(ref.file)))
    assert.deepEqual(listing(index, now), [tombstoneFileName(ref.file)])
    // Before the index closes (after-hooks run in registration order).
    await watcher.stop()
  })

  it("lets the store's own writes into a watched hour make one event each", async (t) => {
    const { store, segmentsDir } = await openStore(t)
    const events = new Map<string, number>()
    store.onChange((e) => events.set(e.ref.file, (events.get(e.ref.file) ?? 0) + 1))
    const watcher = new TreeWatcher({ segmentsDir, reconciler: new Reconciler(store), debounceMs: 1, inflight: store.inflight })
    await watcher.start()
    t.after(async () => await watcher.stop())
    const now = Date.now() * 1000
    // The first write creates the folders; the watches follow them while the rest land.
    const writes = Array.from({ length: 40 }, (_, i) => ({ start: now - 60_000_000 + i * 1000, bytes: bytesFor(`own-${i}`, 64 * 1024) }))
    let next = 0
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < writes.length) {
          const w = writes[next++]!
          await store.recordSegment({ channel: 'rec', quality: 'source', start: w.start, duration: 2_000_000, type: 'full' }, w.bytes)
        }
      })
    )
    // Let every reconcile the writes triggered run (each is debounced by 1 ms).
    await new Promise((resolve) => setTimeout(resolve, 300))
    await watcher.stop()
    assert.equal(events.size, writes.length)
    assert.deepEqual(
      [...events.values()].filter((n) => n !== 1),
      [],
      'no segment announced twice'
    )
  })

  it('finds a file in an old, unwatched hour on the periodic rescan', async (t) => {
    const { store, index, segmentsDir } = await openStore(t)
    const old = Date.UTC(2020, 0, 1) * 1000
    const bytes = bytesFor('old', 100)
    const ref = formatSegmentRef({ channel: 'rec', quality: 'source', start: old, duration: 2_000_000, type: 'full', hash: sha256(bytes) })
    const hourDir = join(segmentsDir, 'rec', 'source', ref.hour)
    await mkdir(hourDir, { recursive: true })
    const rescans: number[] = []
    const watcher = new TreeWatcher({
      segmentsDir,
      reconciler: new Reconciler(store),
      rescanIntervalMs: 100,
      onRescan: (r) => rescans.push(r.added)
    })
    await watcher.start()
    t.after(async () => await watcher.stop())
    await writeFile(join(hourDir, ref.file), bytes)
    await until('the rescan', () => listing(index, old).includes(ref.file))
    await until('the rescan report', () => rescans.some((n) => n === 1))
    await watcher.stop()
  })

  // The race the inflight wait narrows but cannot close (tombstone writes are not in flight; a long
  // write stream outlasts the wait): a watcher pass lists the hour before the store's write is
  // indexed, and applies its own change after. Made deterministic by holding the store's apply
  // until the pass applies too.
  // Both orders: the pass's index update lands after the store's, or before it.
  for (const [kind, passFirst] of [
    ['segment', false],
    ['tombstone', false],
    ['segment', true],
    ['tombstone', true]
  ] as const) {
    it(`a watcher pass over the ${kind} the store is writing makes no second event (pass indexes ${passFirst ? 'first' : 'second'})`, async (t) => {
      const { store, index } = await openStore(t)
      const ref = (
        await store.recordSegment(
          { channel: 'rec', quality: 'source', start: Date.now() * 1000, duration: 2_000_000, type: 'full' },
          bytesFor('race', 4000)
        )
      ).ref
      const events: string[] = []
      store.onChange((e) => events.push(`${e.kind} ${e.ref.file}`))
      const held = holdFirstApplyForSecond(index, passFirst)
      const write: Promise<SegmentRef> =
        kind === 'segment'
          ? store
              .recordSegment(
                { channel: 'rec', quality: 'source', start: ref.start + 2_000_000, duration: 2_000_000, type: 'full' },
                bytesFor('race-2', 4000)
              )
              .then((w) => w.ref)
          : store.writeTombstone(ref).then(() => ref)
      // The pass a watcher makes: as soon as the file is in place, its index update still held.
      await until("the store's file on disk", held)
      await new Reconciler(store).reconcileHour('rec', 'source', ref.hour, { quick: true, tempGraceMs: null })
      const written = await write
      assert.deepEqual(events, [`${kind} ${written.file}`])
    })
  }
})

/**
 * The first apply (the store's) waits until a second one (the pass's) is called; then the first
 * runs before the second, or after it with `secondFirst`. Returns whether the first is being held.
 */
function holdFirstApplyForSecond(index: SegmentIndex, secondFirst: boolean): () => boolean {
  const apply = index.apply.bind(index)
  let first: Promise<IndexChange[]> | null = null
  let secondCalled!: () => void
  const second = new Promise<void>((resolve) => {
    secondCalled = resolve
  })
  let secondDone!: () => void
  const secondApplied = new Promise<void>((resolve) => {
    secondDone = resolve
  })
  index.apply = async (changes) => {
    if (first == null) {
      first = (secondFirst ? secondApplied : second).then(async () => await apply(changes))
      return await first
    }
    secondCalled()
    if (secondFirst) {
      const applied = await apply(changes)
      secondDone()
      return applied
    }
    await first.catch(() => {})
    return await apply(changes)
  }
  return () => first != null
}
