/**
 * Disk full, for real where the machine allows it: as root, a 2–80 MiB tmpfs is a real tiny
 * filesystem that fails writes with ENOSPC. Everywhere, the store's file seam fails writes with
 * ENOSPC/EDQUOT-coded errors. Checked: no partial file is left, the index is unchanged, writing
 * pauses (status flag, metric, fetcher idle), tombstones still go through, and everything resumes
 * once space returns — for a node backfilling from a peer, end to end.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it, type TestContext } from 'node:test'
import { promisify } from 'node:util'
import { request } from 'undici'
import { DiskSpace } from '../storage/disk-space.ts'
import { sha256 } from '../storage/segment-hash.ts'
import type { SegmentIndex } from '../storage/segment-index.ts'
import { formatSegmentRef, parseSegmentRef } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'
import { SegmentStore, type StoreFiles, type TempFile } from '../storage/segment-store.ts'
import { recordSegments } from './helpers/media.ts'
import { startNode, until } from './helpers/network.ts'
import { T0, bytesFor, openStore } from './helpers/tree.ts'

const run = promisify(execFile)
const KiB = 1024
const MiB = 1024 * KiB

/** A real filesystem of `size` bytes at a fresh folder, or null (with the reason) when we cannot mount. */
async function tmpfs(t: TestContext, size: number): Promise<{ dir: string } | { skip: string }> {
  if (process.getuid?.() !== 0) return { skip: 'not root: no tmpfs, the fs seam covers ENOSPC' }
  const dir = await mkdtemp(join(tmpdir(), 'segmesh-tmpfs-'))
  t.after(async () => {
    await run('umount', ['-l', dir]).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir])
  } catch (err) {
    return { skip: `mount -t tmpfs failed (${(err as Error).message.trim()}): the fs seam covers ENOSPC` }
  }
  return { dir }
}

/** A file that takes all but `leave` bytes of the filesystem at `dir`. */
async function ballast(dir: string, leave: number): Promise<string> {
  const s = await statfs(dir)
  const path = join(dir, '.ballast')
  await writeFile(path, Buffer.alloc(Math.max(0, s.bavail * s.bsize - leave)))
  return path
}

/** Every file under `dir`, relative. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort()
}

/** Index == disk: every indexed segment is on disk at its size with its hash; every segment file is indexed; no temp files. */
async function assertIndexMatchesDisk(index: SegmentIndex, segmentsDir: string): Promise<number> {
  const onDisk = (await filesUnder(segmentsDir)).filter((f) => !f.startsWith('.'))
  const indexed = new Set<string>()
  for (const channel of index.channels()) {
    for (const quality of index.qualities(channel)) {
      for (const h of index.hourSummaries(channel, quality)) {
        for (const s of index.hourSegments(channel, quality, h.start, { hidden: true })) {
          const rel = `${channel}/${quality}/${s.hour}/${s.file}`
          indexed.add(rel)
          const bytes = await readFile(join(segmentsDir, rel))
          assert.equal(bytes.length, s.size, `size of ${rel}`)
          const parsed = parseSegmentRef(channel, quality, s.hour, s.file)
          assert.ok(parsed.ok && sha256(bytes).equals(parsed.value.hash!), `hash of ${rel}`)
        }
      }
    }
  }
  for (const rel of onDisk) {
    assert.ok(!rel.includes('-temp-'), `temp file left: ${rel}`)
    if (rel.endsWith('.ts')) assert.ok(indexed.has(rel), `not indexed: ${rel}`)
  }
  return indexed.size
}

/** Fails every write with `code` once `after` bytes went through, while `failing` is set. */
function failingFiles(code: 'ENOSPC' | 'EDQUOT', after: number): StoreFiles & { failing: boolean } {
  const seam = {
    failing: true,
    async createTemp(path: string): Promise<TempFile> {
      const fh = await open(path, 'wx', 0o644)
      let written = 0
      return {
        // Like a filling disk: a short write first, then the error.
        write: async (chunk, offset) => {
          if (seam.failing && written >= after) {
            throw Object.assign(new Error(`${code}: no space left on device, write`), {
              code,
              errno: code === 'ENOSPC' ? -28 : -122,
              syscall: 'write'
            })
          }
          const length = seam.failing ? Math.min(chunk.byteLength - offset, after - written) : chunk.byteLength - offset
          const { bytesWritten } = await fh.write(chunk, offset, length)
          written += bytesWritten
          return { bytesWritten }
        },
        sync: async () => await fh.sync(),
        close: async () => await fh.close()
      }
    }
  }
  return seam
}

describe('disk full', () => {
  for (const code of ['ENOSPC', 'EDQUOT'] as const) {
    it(`${code} through the fs seam: temp removed, index unchanged, writes paused, tombstones written, resumed on space`, async (t) => {
      const { index, segmentsDir } = await openStore(t)
      const space = new DiskSpace({
        dir: segmentsDir,
        minFreeBytes: 0,
        resumeMarginBytes: 0,
        probeBytes: 4 * KiB,
        probeIntervalMs: 3_600_000
      })
      await space.start()
      t.after(async () => await space.stop())
      const files = failingFiles(code, 64 * KiB)
      const store = new SegmentStore({ segmentsDir, index, space, files })
      const bytes = bytesFor('big', 256 * KiB)
      const ref = formatSegmentRef({ channel: 'c', quality: 'q', start: T0, duration: 2_000_000, type: 'full', hash: sha256(bytes) })
      const chunks = [bytes.subarray(0, 100 * KiB), bytes.subarray(100 * KiB)]

      await assert.rejects(store.writeSegment(ref, chunks), (err: Error & { code?: string; cause?: { code?: string } }) => {
        assert.equal(err.code, 'SEGMESH_ERR_DISK_FULL')
        assert.equal(err.cause?.code, code)
        return true
      })
      assert.deepEqual(await filesUnder(segmentsDir), [], 'no temp or partial file')
      assert.equal(index.getSegment(ref, { hidden: true }), null)
      assert.deepEqual(
        { full: space.full, reason: space.state().reason, pauses: space.state().pauses },
        { full: true, reason: code, pauses: 1 }
      )

      // Paused: refused before any byte is written, by both write paths.
      files.failing = false
      await assert.rejects(store.writeSegment(ref, bytes), { code: 'SEGMESH_ERR_DISK_FULL' })
      await assert.rejects(
        store.recordSegment({ channel: 'c', quality: 'q', start: T0 + 2_000_000, duration: 2_000_000, type: 'full' }, bytes),
        { code: 'SEGMESH_ERR_DISK_FULL' }
      )
      assert.deepEqual(await filesUnder(segmentsDir), [])
      // A deletion never waits for space.
      const hidden = formatSegmentRef({
        channel: 'c',
        quality: 'q',
        start: T0 + 4_000_000,
        duration: 2_000_000,
        type: 'full',
        hash: sha256(Buffer.from('x'))
      })
      assert.deepEqual(await store.writeTombstone(hidden), { created: true })
      assert.ok(index.isTombstoned(hidden))

      // Space is back (the seam writes again, the probe file goes through): writes resume.
      let resumed = 0
      space.onChange((s) => {
        if (!s.full) resumed++
      })
      await space.probe()
      assert.equal(space.full, false)
      assert.equal(resumed, 1)
      const result = await store.writeSegment(ref, chunks)
      assert.equal(result.size, bytes.length)
      assert.equal(await assertIndexMatchesDisk(index, segmentsDir), 1)
    })
  }

  it('short writes (a filling disk writes less than asked) still store every byte', async (t) => {
    const { index, segmentsDir } = await openStore(t)
    const short: StoreFiles = {
      async createTemp(path) {
        const fh = await open(path, 'wx', 0o644)
        return {
          write: async (chunk, offset) => await fh.write(chunk, offset, Math.min(1000, chunk.byteLength - offset)),
          sync: async () => await fh.sync(),
          close: async () => await fh.close()
        }
      }
    }
    const store = new SegmentStore({ segmentsDir, index, files: short })
    const bytes = bytesFor('short', 100 * KiB)
    const { ref } = await store.recordSegment({ channel: 'c', quality: 'q', start: T0, duration: 2_000_000, type: 'full' }, [
      bytes.subarray(0, 50_000),
      bytes.subarray(50_000)
    ])
    assert.ok(ref.hash!.equals(sha256(bytes)))
    assert.deepEqual(await readFile(store.pathOf(ref)), bytes)
  })

  it('a real ENOSPC on a 2 MiB tmpfs: nothing partial, paused until space returns, then written', async (t) => {
    const fs = await tmpfs(t, 2 * MiB)
    if ('skip' in fs) return t.skip(fs.skip)
    const { index } = await openStore(t)
    const segmentsDir = join(fs.dir, 'segments')
    await mkdir(segmentsDir)
    const space = new DiskSpace({
      dir: segmentsDir,
      minFreeBytes: 64 * KiB,
      resumeMarginBytes: 256 * KiB,
      probeBytes: 64 * KiB,
      probeIntervalMs: 3_600_000
    })
    await space.start()
    t.after(async () => await space.stop())
    const store = new SegmentStore({ segmentsDir, index, space })
    const weight = await ballast(fs.dir, 400 * KiB)
    const bytes = bytesFor('one MiB', MiB)
    const ref = formatSegmentRef({ channel: 'c', quality: 'q', start: T0, duration: 2_000_000, type: 'full', hash: sha256(bytes) })
    const chunked = Array.from({ length: 16 }, (_, i) => bytes.subarray(i * 64 * KiB, (i + 1) * 64 * KiB))

    await assert.rejects(store.writeSegment(ref, chunked), (err: Error & { code?: string; cause?: { code?: string } }) => {
      assert.equal(err.code, 'SEGMESH_ERR_DISK_FULL')
      assert.equal(err.cause?.code, 'ENOSPC', 'the kernel said ENOSPC')
      return true
    })
    assert.deepEqual(
      (await filesUnder(segmentsDir)).filter((f) => !f.startsWith('.')),
      [],
      'no temp or partial file'
    )
    assert.equal(index.getSegment(ref, { hidden: true }), null)
    assert.equal(space.state().reason, 'ENOSPC')
    // The temp file is gone, so there is some room again, but not the margin: still paused.
    await space.probe()
    assert.equal(space.full, true)
    assert.ok(space.state().freeBytes! >= 64 * KiB, `free ${space.state().freeBytes}`)
    // A tombstone whose proof does not fit fails whole (no cut-short proof left as a tombstone);
    // one without a proof still goes through.
    const other = formatSegmentRef({
      channel: 'c',
      quality: 'q',
      start: T0 + 2_000_000,
      duration: 2_000_000,
      type: 'full',
      hash: sha256(Buffer.from('y'))
    })
    await assert.rejects(store.writeTombstone(other, { proof: 'p'.repeat(2 * MiB) }), { code: 'SEGMESH_ERR_DISK_FULL' })
    assert.deepEqual(
      (await filesUnder(segmentsDir)).filter((f) => !f.startsWith('.')),
      [],
      'no tombstone file'
    )
    assert.equal(index.isTombstoned(other), false)
    assert.deepEqual(await store.writeTombstone(other), { created: true })
    assert.ok(index.isTombstoned(other))

    await rm(weight)
    await space.probe()
    assert.equal(space.full, false)
    assert.equal((await store.writeSegment(ref, chunked)).size, MiB)
    assert.equal(await assertIndexMatchesDisk(index, segmentsDir), 1)

    // Under --min-free-bytes (no write failed): paused before the disk is really full.
    await ballast(fs.dir, 32 * KiB)
    await space.probe()
    assert.deepEqual({ full: space.full, reason: space.state().reason }, { full: true, reason: 'low' })
  })

  it('a node backfilling onto a full tmpfs pauses fetching, flags /status and /metrics, and completes once space returns', {
    timeout: 120_000
  }, async (t) => {
    const fs = await tmpfs(t, 80 * MiB)
    if ('skip' in fs) return t.skip(fs.skip)
    const source = await startNode(t)
    // Recent: replication covers the retention window, not 2020.
    const written = await recordSegments(source.store, 'c', 'q', hourStart(Date.now() * 1000) - MICROS_PER_HOUR, 40)
    const total = written.reduce((n, w) => n + w.size, 0)
    const segmentsDir = join(fs.dir, 'segments')
    await mkdir(segmentsDir)
    // Room for about a quarter of the source's bytes, over a 256 KiB threshold.
    const weight = await ballast(fs.dir, Math.floor(total / 4) + 256 * KiB)
    const sink = await startNode(t, { bootstrap: [source], extra: { 'segments-dir': segmentsDir, 'min-free-bytes': String(256 * KiB) } })

    await until('the sink pauses for lack of space', () => sink.space.full, 60_000).catch((err) => {
      throw new Error(
        `${err.message}: ${JSON.stringify({ space: sink.space.state(), fetcher: sink.fetcher?.stats(), indexed: sink.index.totals() })}`
      )
    })
    const status = (await (await request(`${sink.url}/status`)).body.json()) as {
      diskFull: boolean
      diskSpace: { full: boolean; reason: string }
    }
    assert.equal(status.diskFull, true)
    assert.ok(['low', 'ENOSPC'].includes(status.diskSpace.reason), status.diskSpace.reason)
    const metrics = await (await request(`${sink.url}/metrics`)).body.text()
    assert.match(metrics, /^segmesh_disk_full 1$/m)
    // Fetching stops: no download runs, and none starts over two probe intervals.
    await until('downloads in flight end', () => sink.fetcher!.stats().active === 0, 30_000)
    const fetched = sink.fetcher!.stats().segmentsFetched
    assert.ok(fetched > 0 && fetched < written.length, `fetched ${fetched} of ${written.length}`)
    await new Promise((resolve) => setTimeout(resolve, 11_000))
    assert.equal(sink.fetcher!.stats().segmentsFetched, fetched, 'a download started while the disk was full')
    assert.equal(await assertIndexMatchesDisk(sink.index, segmentsDir), sink.index.totals().segments)

    await rm(weight)
    await until('the sink resumes', () => !sink.space.full, 30_000)
    await until('the backfill completes', () => written.every((w) => sink.index.getSegment(w.ref) != null), 90_000)
    assert.equal(await assertIndexMatchesDisk(sink.index, segmentsDir), written.length)
    const after = (await (await request(`${sink.url}/status`)).body.json()) as { diskFull: boolean }
    assert.equal(after.diskFull, false)
    for (const w of written) assert.equal((await stat(sink.store.pathOf(w.ref))).size, w.size)
  })
})
