/**
 * The on-disk segment store. Writes are atomic and self-verifying:
 * temp file in the target hour folder → fsync → sha256 of the file read back (on a worker thread,
 * file-hash.ts) checked against the name → rename → fsync the folder → index → announce. A crash
 * at any instant leaves either no visible segment or a complete, correct one (plus, at worst, a
 * `temp` file that reconcile recovers).
 * A full disk (ENOSPC, EDQUOT) removes the temp file, pauses segment writes (disk-space.ts) and
 * throws DiskFullError; while paused, new segment writes are refused at once.
 * A write that fails takes back the folders it made (a peer's lying listing of names in hours or
 * channels we lack must not leave empty folders behind): folders exist only for what was written.
 */
import { randomUUID } from 'node:crypto'
import { createReadStream, type ReadStream } from 'node:fs'
import { open, readFile, rename, rmdir, stat, unlink } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { type StoreChangeMessage, type StoreWriteMessage, storeChangeChannel, storeWriteChannel } from '../lib/diagnostics.ts'
import type { DiskSpace } from './disk-space.ts'
import { fsyncDir, mkdirDurable, replaceFile } from './durable-file.ts'
import { hashFile } from './file-hash.ts'
import { isDiskFullError } from './disk-space.ts'
import { DiskFullError, EvictedError, HashMismatchError, StorageError, TombstonedError } from './errors.ts'
import type { SegmentIndex } from './segment-index.ts'
import {
  type NewSegment,
  type SegmentRef,
  formatSegmentRef,
  formatTempFileName,
  segmentRelPath,
  tombstoneFileName
} from './segment-name.ts'

export type SegmentBody = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>

export interface StoreEvent {
  kind: 'segment' | 'tombstone'
  ref: SegmentRef
}

export interface WriteResult {
  ref: SegmentRef
  size: number
  /** False when the exact file was already there (names are content-addressed). */
  created: boolean
}

/** An open temp file, as a segment write uses it. */
export interface TempFile {
  /** May write less than asked (a nearly full disk does): the caller writes the rest. */
  write: (chunk: Uint8Array, offset: number) => Promise<{ bytesWritten: number }>
  sync: () => Promise<void>
  close: () => Promise<void>
}

/** The file primitive every segment write goes through: a seam where tests make the disk fill up. */
export interface StoreFiles {
  /** Create `path` exclusively (it must not exist). */
  createTemp: (path: string) => Promise<TempFile>
}

/** Hour folders remembered as existing before the set starts over. */
const MAX_KNOWN_DIRS = 10_000

const nodeFiles: StoreFiles = { createTemp: async (path) => await open(path, 'wx', 0o644) }

/**
 * Where a write comes from, for the budget: `force`, a recorder's (never refused); `read`, a client
 * asked for it (it may go into an hour the budget evicted).
 */
export interface WriteOrigin {
  force?: boolean
  read?: boolean
}

/** Room for segment writes under a byte budget (disk-budget.ts). */
export interface WriteBudget {
  /** No room, and none can be made now: segment writes other than a recorder's are refused. */
  readonly full: boolean
  /** Room for one write; the function returned ends it with the bytes the write added. `force`: a recorder's, never refused. */
  reserve: (ref: SegmentRef, options?: WriteOrigin) => Promise<(added: number) => void>
  /** The hour of `ref` was evicted: only a client's read or a recorder may write into it. */
  isEvicted: (ref: Pick<SegmentRef, 'channel' | 'quality' | 'start'>) => boolean
}

export interface SegmentStoreInit {
  segmentsDir: string
  index: SegmentIndex
  /** Pauses segment writes when the disk is (nearly) full; none means writes are always tried. */
  space?: DiskSpace
  /** @default node:fs */
  files?: StoreFiles
}

export class SegmentStore {
  readonly segmentsDir: string
  readonly index: SegmentIndex
  readonly space: DiskSpace | null
  /** The byte budget (--max-disk-bytes), once one is in use. */
  budget: WriteBudget | null = null
  readonly #files: StoreFiles
  /** Temp files this process is writing right now; reconcile must leave them alone. */
  readonly inflight = new Set<string>()
  readonly #listeners = new Set<(event: StoreEvent) => void>()
  /** Hour folders this process made or found (see #makeDir). */
  readonly #knownDirs = new Set<string>()

  constructor(init: SegmentStoreInit) {
    this.segmentsDir = init.segmentsDir
    this.index = init.index
    this.space = init.space ?? null
    this.#files = init.files ?? nodeFiles
  }

  useBudget(budget: WriteBudget): void {
    this.budget = budget
  }

  /** New segment writes are refused at once (disk full, or the budget full); a recorder's pass the budget. */
  get writesPaused(): boolean {
    return this.space?.full === true || this.budget?.full === true
  }

  /** Called after a segment or tombstone is durable and indexed (replication announces it). */
  onChange(listener: (event: StoreEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  emit(event: StoreEvent): void {
    for (const listener of this.#listeners) listener(event)
    if (storeChangeChannel.hasSubscribers) {
      storeChangeChannel.publish({
        segmentsDir: this.segmentsDir,
        kind: event.kind,
        path: segmentRelPath(event.ref)
      } satisfies StoreChangeMessage)
    }
  }

  pathOf(ref: { channel: string; quality: string; hour: string; file: string }): string {
    return join(this.segmentsDir, segmentRelPath(ref))
  }

  hourDir(ref: { channel: string; quality: string; hour: string }): string {
    return join(this.segmentsDir, ref.channel, ref.quality, ref.hour)
  }

  /**
   * Store bytes under a known name (backfill). The bytes must hash to the name's hash, or the
   * temp file is removed and HashMismatchError thrown. A tombstoned name is refused, also when the
   * tombstone comes while the bytes are on their way (nothing of them stays, even after a purge).
   */
  async writeSegment(ref: SegmentRef, body: SegmentBody, options: { signal?: AbortSignal; read?: boolean } = {}): Promise<WriteResult> {
    if (ref.hash == null) throw new TypeError(`cannot store a temp segment: ${ref.file}`)
    const expected = ref.hash
    try {
      this.#refuseTombstoned(ref)
      const result = await this.#write(ref, body, options.signal, { read: options.read === true }, (digest) => {
        if (!digest.equals(expected)) {
          throw new HashMismatchError(`bytes of ${segmentRelPath(ref)} hash to ${digest.toString('base64url')}`)
        }
        // Again now: a tombstone may have come while the bytes did.
        this.#refuseTombstoned(ref)
        return ref
      })
      this.#published(ref, result.created ? 'stored' : 'duplicate', result.size)
      return result
    } catch (err) {
      if (err instanceof TombstonedError) this.#published(ref, 'refused')
      throw err
    }
  }

  #published(ref: SegmentRef, outcome: StoreWriteMessage['outcome'], size?: number): void {
    if (!storeWriteChannel.hasSubscribers) return
    storeWriteChannel.publish({
      segmentsDir: this.segmentsDir,
      path: segmentRelPath(ref),
      outcome,
      ...(size != null ? { size } : {})
    } satisfies StoreWriteMessage)
  }

  /** Store bytes whose hash is not known in advance (a recorder): the name is made from it. */
  async recordSegment(segment: Omit<NewSegment, 'hash'>, body: SegmentBody, options: { signal?: AbortSignal } = {}): Promise<WriteResult> {
    const provisional = formatSegmentRef({ ...segment, hash: Buffer.alloc(32) })
    return await this.#write(provisional, body, options.signal, { force: true }, (digest) => {
      const ref = formatSegmentRef({ ...segment, hash: digest })
      this.#refuseTombstoned(ref)
      return ref
    })
  }

  #refuseTombstoned(ref: SegmentRef): void {
    if (this.index.isTombstoned(ref)) throw new TombstonedError(`${segmentRelPath(ref)} is tombstoned`)
  }

  async #write(
    target: SegmentRef,
    body: SegmentBody,
    signal: AbortSignal | undefined,
    origin: WriteOrigin,
    name: (digest: Buffer) => SegmentRef
  ): Promise<WriteResult> {
    signal?.throwIfAborted()
    if (this.space?.full === true)
      throw new DiskFullError(`not writing ${segmentRelPath(target)}: disk full (${this.space.state().reason}), writes paused`)
    const reserved = (await this.budget?.reserve(target, origin)) ?? null
    let added = 0
    try {
      const result = await this.#writeFile(target, body, signal, origin, name)
      if (result.created) added = result.size
      return result
    } finally {
      reserved?.(added)
    }
  }

  async #writeFile(
    target: SegmentRef,
    body: SegmentBody,
    signal: AbortSignal | undefined,
    origin: WriteOrigin,
    name: (digest: Buffer) => SegmentRef
  ): Promise<WriteResult> {
    const dir = this.hourDir(target)
    const made = await this.#makeDir(dir).catch(async (err) => {
      throw await this.#diskFull(err, target)
    })
    const tempPath = join(dir, formatTempFileName(target.start, target.duration, randomUUID()))
    this.inflight.add(tempPath)
    try {
      const fh = await this.#createTemp(dir, tempPath)
      let size = 0
      try {
        // No generator around the body: one async layer fewer per chunk (the backfill hot path).
        for await (const chunk of body instanceof Uint8Array ? [body] : body) {
          signal?.throwIfAborted()
          size += chunk.byteLength
          await writeAll(fh, chunk)
        }
        await fh.sync()
      } finally {
        await fh.close()
      }
      signal?.throwIfAborted()
      const written = await hashFile(tempPath)
      if (written.size !== size) throw new StorageError(`${tempPath} holds ${written.size} bytes where ${size} were written`)
      const ref = name(written.digest)
      // The hour may have been evicted while the bytes came (after the budget's own check).
      if (origin.force !== true && origin.read !== true && this.budget?.isEvicted(ref) === true)
        throw new EvictedError(`not keeping ${segmentRelPath(ref)}: its hour was evicted meanwhile`)
      // Names are content-addressed: a name already indexed holds these exact bytes.
      const created = this.index.getSegment(ref, { hidden: true }) == null
      await rename(tempPath, this.pathOf(ref))
      await fsyncDir(dir)
      // A watcher pass may have indexed (and announced) the file between our rename and here.
      const changed = await this.index.apply([{ op: 'put-segment', ref, size, mtimeMs: written.mtimeMs }])
      if (this.index.isTombstoned(ref)) {
        // A tombstone was indexed while these bytes were on their way (the check above ran before
        // it): nothing stays under the name, so a purge that already ran is not undone (this also
        // removes the same bytes if they were there unindexed, or before the tombstone: hidden
        // either way, and the purge would have). A tombstone indexed after this check finds the
        // file indexed, for the next purge to remove.
        await this.#unstore(ref, dir)
        throw new TombstonedError(`${segmentRelPath(ref)} was tombstoned while it was being written`)
      }
      if (changed.length > 0) this.emit({ kind: 'segment', ref })
      return { ref, size, created }
    } catch (err) {
      await unlink(tempPath).catch(() => {})
      if (made) await this.#removeEmptyDirs(dir)
      throw await this.#diskFull(err, target)
    } finally {
      this.inflight.delete(tempPath)
    }
  }

  /**
   * Remove `dir` and its parents up to the segments folder while they are empty. rmdir refuses a
   * folder that holds anything, so a concurrent write's temp file keeps it (a write that finds its
   * folder gone makes it again: #createTemp).
   */
  async #removeEmptyDirs(dir: string): Promise<void> {
    this.#knownDirs.delete(dir)
    for (let d = dir; relative(this.segmentsDir, d) !== '' && !relative(this.segmentsDir, d).startsWith('..'); d = dirname(d)) {
      try {
        await rmdir(d)
      } catch {
        return
      }
      await fsyncDir(dirname(d)).catch(() => {})
    }
  }

  /** Take back a segment this write put in place: its file, then its index entry. */
  async #unstore(ref: SegmentRef, dir: string): Promise<void> {
    await unlink(this.pathOf(ref)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
    await fsyncDir(dir)
    await this.index.apply([{ op: 'remove-segment', channel: ref.channel, quality: ref.quality, start: ref.start, file: ref.file }])
  }

  /**
   * Make an hour folder (durably) unless this process made or found it before: skips two fs calls
   * per write. True when this call made (or found) it, so a failing write may take it back.
   */
  async #makeDir(dir: string): Promise<boolean> {
    if (this.#knownDirs.has(dir)) return false
    await mkdirDurable(dir)
    // Bounded: a week of hours for a few dozen channel/qualities; past that, start over.
    if (this.#knownDirs.size >= MAX_KNOWN_DIRS) this.#knownDirs.clear()
    this.#knownDirs.add(dir)
    return true
  }

  /** Create the temp file; a folder removed since it was remembered (retention, a failed write) is made again, once. */
  async #createTemp(dir: string, tempPath: string): Promise<TempFile> {
    try {
      return await this.#files.createTemp(tempPath)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      this.#knownDirs.delete(dir)
      await this.#makeDir(dir)
      return await this.#files.createTemp(tempPath)
    }
  }

  /** ENOSPC/EDQUOT become DiskFullError (and pause writing); any other error is returned as is. */
  async #diskFull(err: unknown, target: SegmentRef): Promise<unknown> {
    if (!isDiskFullError(err)) return err
    await this.space?.reportWriteError(err)
    return new DiskFullError(`disk full writing ${segmentRelPath(target)}: ${(err as Error).message}`, { cause: err })
  }

  /**
   * Hide a segment for good: a `<stem>.tombstone` beside it, fsync'd, then indexed. It is empty,
   * or holds the admin signature (`proof`) so the signature survives an index rebuild.
   * Idempotent. The segment's bytes are left alone (deleting them is a separate admin action).
   */
  async writeTombstone(ref: SegmentRef, options: { proof?: string } = {}): Promise<{ created: boolean }> {
    const dir = this.hourDir(ref)
    await mkdirDurable(dir)
    const path = join(dir, tombstoneFileName(ref.file))
    let created = true
    try {
      const fh = await open(path, 'wx', 0o644)
      try {
        if (options.proof != null) await fh.writeFile(options.proof)
        await fh.sync()
      } catch (err) {
        // A proof cut short by a full disk must not stay behind as a tombstone that fails to verify.
        await fh.close().catch(() => {})
        await unlink(path).catch(() => {})
        throw err
      }
      await fh.close()
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw await this.#diskFull(err, ref)
      created = false
    }
    // An unsigned tombstone (made before the network had an admin key) gets the signature now, so
    // it can reach the nodes that refused it; a signed one is never replaced.
    const signed = !created && options.proof != null && (await readTombstoneProof(path, (await stat(path)).size)) == null
    if (signed) await replaceFile(path, options.proof!)
    else await fsyncDir(dir)
    const st = await stat(path)
    // An existing file keeps what it holds: read back, so the index matches the disk.
    const proof = created ? options.proof : await readTombstoneProof(path, st.size)
    const changed = await this.index.apply([
      { op: 'put-tombstone', channel: ref.channel, quality: ref.quality, start: ref.start, segment: ref.file, mtimeMs: st.mtimeMs, proof }
    ])
    if ((created || signed) && changed.length > 0) this.emit({ kind: 'tombstone', ref })
    return { created }
  }

  /** Stream a segment's bytes (optionally a byte range, `end` inclusive as in HTTP ranges). */
  openRead(
    ref: { channel: string; quality: string; hour: string; file: string },
    range: { start?: number; end?: number } = {}
  ): ReadStream {
    return createReadStream(this.pathOf(ref), { ...range, highWaterMark: 256 * 1024 })
  }
}

/** Longest tombstone content read back as a proof; anything else in the file is ignored. */
const MAX_TOMBSTONE_PROOF = 1024

/** The signature a tombstone file holds, or undefined (empty, or not one line of base64url dots). */
export async function readTombstoneProof(path: string, size: number): Promise<string | undefined> {
  if (size === 0 || size > MAX_TOMBSTONE_PROOF) return undefined
  const text = (await readFile(path, 'latin1').catch(() => '')).trim()
  return /^[A-Za-z0-9_.-]{1,1024}$/.test(text) ? text : undefined
}

/**
 * Write all of `chunk`. write(2) may stop short (a nearly full disk does) and Node does not retry:
 * without this loop a truncated file would be renamed under a name hashed from the whole stream.
 */
async function writeAll(fh: TempFile, chunk: Uint8Array): Promise<void> {
  for (let at = 0; at < chunk.byteLength; ) {
    const { bytesWritten } = await fh.write(chunk, at)
    if (bytesWritten <= 0) throw new Error(`write made no progress at byte ${at} of ${chunk.byteLength}`)
    at += bytesWritten
  }
}
