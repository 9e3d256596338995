import assert from 'node:assert/strict'
import { mkdir, readFile, readdir, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { T0, bytesFor, openStore, ref, tempDir } from '../test/helpers/tree.ts'
import { Reconciler } from './reconcile.ts'
import { sha256 } from './segment-hash.ts'
import { formatSegmentRef, tombstoneFileName } from './segment-name.ts'

/** A full 2 s segment of channel c, quality q, named by the hash of `bytes`. */
const fullRef = (start: number, bytes: Buffer) =>
  formatSegmentRef({ channel: 'c', quality: 'q', start, duration: 2_000_000, type: 'full', hash: sha256(bytes) })

describe('reconcile', () => {
  it('brings the index in line with files added, removed, renamed and changed offline', async (t) => {
    const dir = await tempDir(t)
    let opened = await openStore(t, dir)
    for (const at of [0, 2, 4, 6]) {
      await opened.store.recordSegment(
        { channel: 'c', quality: 'q', start: T0 + at * 1_000_000, duration: 2_000_000, type: 'full' },
        bytesFor(`s${at}`, 500)
      )
    }
    await opened.index.stop()

    const { segmentsDir } = opened
    const hourDir = join(segmentsDir, 'c', 'q', '2020-01-01T00')
    const onDisk = (await readdir(hourDir)).sort()
    assert.equal(onDisk.length, 4)

    // Offline: one removed, one renamed into the next hour (same bytes, new start), one added by
    // another program, one tombstoned, one modified in place, one junk name, leftover temps.
    const [first, second, third, fourth] = onDisk as [string, string, string, string]
    await unlink(join(hourDir, first))
    const moved = formatSegmentRef({
      channel: 'c',
      quality: 'q',
      start: T0 + 3600_000_000,
      duration: 2_000_000,
      type: 'full',
      hash: sha256(await readFile(join(hourDir, second)))
    })
    await mkdir(join(segmentsDir, 'c', 'q', moved.hour), { recursive: true })
    await rename(join(hourDir, second), join(segmentsDir, 'c', 'q', moved.hour, moved.file))
    const addedBytes = bytesFor('added', 300)
    const added = formatSegmentRef({
      channel: 'c',
      quality: 'q',
      start: T0 + 10_000_000,
      duration: 2_000_000,
      type: 'suspect',
      hash: sha256(addedBytes)
    })
    await writeFile(join(hourDir, added.file), addedBytes)
    await writeFile(join(hourDir, tombstoneFileName(third)), '')
    await writeFile(join(hourDir, fourth), 'changed bytes')
    await writeFile(join(hourDir, 'notes.txt'), 'junk')
    const oldTemp = join(hourDir, '00:20.000000-2.0-temp-0b8f1c7e-2a8b-4f0e-9d3c-4a1b2c3d4e5f.ts')
    await writeFile(oldTemp, 'half a segment')
    const past = new Date(Date.now() - 3600_000)
    await utimes(oldTemp, past, past)
    await writeFile(join(hourDir, '00:22.000000-2.0-temp-11111111-2a8b-4f0e-9d3c-4a1b2c3d4e5f.ts'), 'still being written')
    const emptyTemp = join(hourDir, '00:24.000000-2.0-temp-22222222-2a8b-4f0e-9d3c-4a1b2c3d4e5f.ts')
    await writeFile(emptyTemp, '')
    await utimes(emptyTemp, past, past)

    opened = await openStore(t, dir)
    const reconciler = new Reconciler(opened.store)
    const report = await reconciler.reconcileAll({ tempGraceMs: 60_000 })
    const { index } = opened
    assert.equal(report.corrupt, 1, 'the modified file is re-hashed and kept out')
    assert.equal(report.recovered, 1)
    assert.equal(report.tempFiles, 1)
    assert.equal(report.badNames, 1)
    assert.equal(report.tombstones, 1)
    assert.equal(report.hidden, 1)
    assert.deepEqual(report.segments, { full: 1, suspect: 1, partial: 1 })
    assert.equal(report.hours, 2)
    assert.equal(report.channels, 1)

    const listed = index.listHour('c', 'q', T0, { tombstones: true })
    const recovered = listed.find((n) => n.includes('-partial-'))!
    assert.match(recovered, /^00:20\.000000-2\.0-partial-/)
    assert.equal(sha256(await readFile(join(hourDir, recovered))).toString('base64url'), recovered.slice(-46, -3))
    assert.deepEqual(listed.sort(), [added.file, recovered, tombstoneFileName(third)].sort())
    assert.deepEqual(index.listHour('c', 'q', T0 + 3600_000_000), [moved.file])
    await assert.rejects(stat(emptyTemp), { code: 'ENOENT' })

    // Nothing changed: a second pass changes nothing and hashes nothing.
    const again = await reconciler.reconcileAll({ tempGraceMs: 60_000 })
    assert.deepEqual([again.added, again.removed, again.hashed, again.recovered, again.corrupt], [0, 0, 0, 0, 0])
    assert.ok((await readdir(hourDir)).includes(`.${fourth}.corrupt`), 'the corrupt file is kept aside')

    // A tombstone removed by hand makes its segment visible again.
    await unlink(join(hourDir, tombstoneFileName(third)))
    await reconciler.reconcileAll({ tempGraceMs: null })
    assert.ok(index.listHour('c', 'q', T0).includes(third))
  })

  it('verify re-hashes everything and keeps silently corrupted files out', async (t) => {
    const { store, index, segmentsDir } = await openStore(t)
    const r = ref({ at: 0, dur: 2000, seed: 'v' })
    const bytes = bytesFor('v', 64)
    const good = formatSegmentRef({ channel: 'c', quality: 'q', start: r.start, duration: r.duration, type: 'full', hash: sha256(bytes) })
    await store.writeSegment(good, bytes)
    const path = join(segmentsDir, 'c', 'q', good.hour, good.file)
    // Whole seconds, so the mtime can be put back exactly after the bytes change.
    const when = new Date(Math.floor(Date.now() / 1000) * 1000 - 5000)
    await utimes(path, when, when)
    const reconciler = new Reconciler(store)
    assert.equal((await reconciler.reconcileAll({})).hashed, 1, 'a changed mtime is re-hashed')
    const flipped = Buffer.from(bytes)
    flipped[10] = flipped[10]! ^ 0xff
    await writeFile(path, flipped)
    await utimes(path, when, when)
    const normal = await reconciler.reconcileAll({})
    assert.equal(normal.corrupt, 0, 'same size and mtime: trusted without hashing')
    const verified = await reconciler.reconcileAll({ verify: true })
    assert.equal(verified.corrupt, 1)
    assert.equal(verified.hashed, 1)
    assert.deepEqual(index.listHour('c', 'q', T0), [])
  })

  it('drops hours, qualities and channels whose folders vanished', async (t) => {
    const { store, index, segmentsDir } = await openStore(t)
    const bytes = bytesFor('gone', 32)
    await store.recordSegment({ channel: 'gone', quality: 'q', start: T0, duration: 2_000_000, type: 'full' }, bytes)
    assert.deepEqual(index.channels(), ['gone'])
    await rm(join(segmentsDir, 'gone'), { recursive: true })
    const report = await new Reconciler(store).reconcileAll({})
    assert.equal(report.removed, 1)
    assert.deepEqual(index.channels(), [])
  })

  it('leaves temp files that this process is writing alone, even with no grace', async (t) => {
    const { store, index } = await openStore(t)
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    async function* body(): AsyncGenerator<Buffer> {
      yield Buffer.from('first half ')
      await gate
      yield Buffer.from('second half')
    }
    const writing = store.recordSegment({ channel: 'c', quality: 'q', start: T0, duration: 2_000_000, type: 'full' }, body())
    while (store.inflight.size === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    const report = await new Reconciler(store).reconcileAll({ tempGraceMs: 0 })
    assert.equal(report.recovered, 0)
    assert.equal(report.tempFiles, 1)
    release()
    const result = await writing
    assert.deepEqual(index.listHour('c', 'q', T0), [result.ref.file])
  })
})

describe('segment store', () => {
  it('writes atomically, refuses bytes that do not match the name, and refuses tombstoned names', async (t) => {
    const { store, index, segmentsDir } = await openStore(t)
    const bytes = bytesFor('x', 1000)
    const good = fullRef(T0, bytes)
    const events: string[] = []
    store.onChange((e) => events.push(`${e.kind}:${e.ref.file}`))
    const first = await store.writeSegment(good, [bytes.subarray(0, 10), bytes.subarray(10)])
    assert.equal(first.created, true)
    assert.equal(first.size, 1000)
    assert.equal((await store.writeSegment(good, bytes)).created, false)
    assert.equal(index.getSegment(good)?.size, 1000)

    const wrong = ref({ at: 2000, dur: 2000, seed: 'not these bytes' })
    await assert.rejects(store.writeSegment(wrong, bytes), { code: 'SEGMESH_ERR_HASH_MISMATCH' })
    const hourDir = join(segmentsDir, 'c', 'q', good.hour)
    assert.deepEqual(await readdir(hourDir), [good.file], 'no temp file is left behind')

    await store.writeTombstone(good)
    assert.equal((await store.writeTombstone(good)).created, false)
    await assert.rejects(store.writeSegment(good, bytes), { code: 'SEGMESH_ERR_TOMBSTONED' })
    assert.deepEqual(events, [`segment:${good.file}`, `segment:${good.file}`, `tombstone:${good.file}`])
    assert.deepEqual(index.listHour('c', 'q', T0), [])

    const aborted = new AbortController()
    async function* slow(): AsyncGenerator<Buffer> {
      yield Buffer.from('a')
      aborted.abort()
      yield Buffer.from('b')
    }
    await assert.rejects(
      store.recordSegment({ channel: 'c', quality: 'q', start: T0 + 4_000_000, duration: 2_000_000, type: 'full' }, slow(), {
        signal: aborted.signal
      })
    )
    assert.deepEqual((await readdir(hourDir)).sort(), [good.file, tombstoneFileName(good.file)].sort())
  })

  it('refuses bytes whose name was tombstoned while they arrived, and leaves nothing of them', async (t) => {
    const { store, index, segmentsDir } = await openStore(t)
    const bytes = bytesFor('late', 5000)
    const seg = fullRef(T0, bytes)
    const events: string[] = []
    store.onChange((e) => events.push(`${e.kind}:${e.ref.file}`))
    const other = bytesFor('later', 5000)
    const seg2 = fullRef(T0 + 2_000_000, other)
    // A spy on the real index: which segments reached it, and the tombstone of seg2 just before
    // seg2's own index update (the narrowest window).
    const put: string[] = []
    const apply = index.apply.bind(index)
    t.mock.method(index, 'apply', async (changes: Parameters<typeof index.apply>[0]) => {
      for (const c of changes) if (c.op === 'put-segment') put.push(c.ref.file)
      if (changes.some((c) => c.op === 'put-segment' && c.ref.file === seg2.file)) await store.writeTombstone(seg2)
      return await apply(changes)
    })
    // During the download: refused once hashed, before the rename.
    async function* tombstonedOnTheWay(): AsyncGenerator<Buffer> {
      yield bytes.subarray(0, 100)
      await store.writeTombstone(seg)
      yield bytes.subarray(100)
    }
    await assert.rejects(store.writeSegment(seg, tombstonedOnTheWay()), { code: 'SEGMESH_ERR_TOMBSTONED' })
    const hourDir = join(segmentsDir, 'c', 'q', seg.hour)
    assert.deepEqual(await readdir(hourDir), [tombstoneFileName(seg.file)])
    assert.equal(index.getSegment(seg, { hidden: true }), null)
    assert.deepEqual(put, [], 'it never reached the index')

    // Between the last check and the index update (a purge may already have run): the index
    // update is where it shows, and the file is taken back.
    await assert.rejects(store.writeSegment(seg2, other), { code: 'SEGMESH_ERR_TOMBSTONED' })
    assert.deepEqual((await readdir(hourDir)).sort(), [tombstoneFileName(seg.file), tombstoneFileName(seg2.file)].sort())
    assert.equal(index.getSegment(seg2, { hidden: true }), null)
    assert.deepEqual(events, [`tombstone:${seg.file}`, `tombstone:${seg2.file}`], 'neither segment was announced')
  })

  it('makes an hour folder again when it was removed after a write (retention)', async (t) => {
    const { store, index, segmentsDir } = await openStore(t)
    const first = await store.recordSegment(
      { channel: 'c', quality: 'q', start: T0, duration: 2_000_000, type: 'full' },
      bytesFor('one', 100)
    )
    await rm(join(segmentsDir, 'c'), { recursive: true })
    const second = await store.recordSegment(
      { channel: 'c', quality: 'q', start: T0 + 2_000_000, duration: 2_000_000, type: 'full' },
      bytesFor('two', 100)
    )
    assert.deepEqual(await readdir(join(segmentsDir, 'c', 'q', second.ref.hour)), [second.ref.file])
    assert.equal(index.getSegment(second.ref)?.size, 100)
    assert.notEqual(first.ref.file, second.ref.file)
  })

  it('streams a byte range', async (t) => {
    const { store } = await openStore(t)
    const bytes = bytesFor('range', 5000)
    const { ref: r } = await store.recordSegment({ channel: 'c', quality: 'q', start: T0, duration: 2_000_000, type: 'full' }, bytes)
    const chunks: Buffer[] = []
    for await (const c of store.openRead(r, { start: 100, end: 199 })) chunks.push(c as Buffer)
    assert.deepEqual(Buffer.concat(chunks), bytes.subarray(100, 200))
  })
})
