/** Test helpers: temp data folders, an opened index + store, and segment refs from readable numbers. */
import { rmSync } from 'node:fs'
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { sha256 } from '../../storage/segment-hash.ts'
import { SegmentIndex } from '../../storage/segment-index.ts'
import { type SegmentRef, type SegmentType, formatSegmentRef } from '../../storage/segment-name.ts'
import { SegmentStore } from '../../storage/segment-store.ts'

/** 2020-01-01T00:00:00Z in µs: the start of the hour the tests' worked examples count from (`SegSpec.at`). */
export const T0 = Date.UTC(2020, 0, 1) * 1000

export async function tempDir(t: TestContext, prefix = 'segmesh-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.after(async () => await rm(dir, { recursive: true, force: true }))
  return dir
}

/** A temp folder for suite-level hooks (no test context): removed when the process exits. */
export async function tempDirFor(prefix = 'segmesh-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface OpenedStore {
  dir: string
  segmentsDir: string
  index: SegmentIndex
  store: SegmentStore
}

export async function openStore(t: TestContext, dir?: string): Promise<OpenedStore> {
  const root = dir ?? (await tempDir(t))
  const index = SegmentIndex.open(join(root, 'index'), { mapSize: 256 * 1024 ** 2 })
  t.after(async () => await index.stop())
  const segmentsDir = join(root, 'segments')
  return { dir: root, segmentsDir, index, store: new SegmentStore({ segmentsDir, index }) }
}

/** The bytes of a synthetic segment: distinct per seed, `size` long. */
export function bytesFor(seed: string, size = 100): Buffer {
  const out = Buffer.alloc(size)
  const block = sha256(Buffer.from(seed))
  for (let i = 0; i < size; i++) out[i] = block[i % 32]! ^ (i >> 5)
  return out
}

export interface SegSpec {
  /** Start, ms after `base`. */
  at: number
  /** Duration, ms. */
  dur: number
  type?: Exclude<SegmentType, 'temp'>
  seed?: string
  /** Exact hash to use (for hash tie-break examples); bytes will not match it. */
  hash?: Buffer
  channel?: string
  quality?: string
  base?: number
}

export function ref(spec: SegSpec): SegmentRef {
  return formatSegmentRef({
    channel: spec.channel ?? 'c',
    quality: spec.quality ?? 'q',
    start: (spec.base ?? T0) + spec.at * 1000,
    duration: spec.dur * 1000,
    type: spec.type ?? 'full',
    hash: spec.hash ?? sha256(Buffer.from(spec.seed ?? `${spec.at}+${spec.dur}`))
  })
}

/** Bytes of `size` from `seed`, and the 2 s full segment at `start` whose name (hash) they match. */
export function namedBytes(
  seed: string,
  size: number,
  at: { start: number; channel?: string; quality?: string }
): { ref: SegmentRef; body: Buffer } {
  const body = bytesFor(seed, size)
  const ref = formatSegmentRef({
    channel: at.channel ?? 'c',
    quality: at.quality ?? 'q',
    start: at.start,
    duration: 2_000_000,
    type: 'full',
    hash: sha256(body)
  })
  return { ref, body }
}

/** Flip a byte of a stored file in place, keeping its size and mtime, so it is served (and reconciled) as if fine. */
export async function corruptInPlace(path: string): Promise<void> {
  const st = await stat(path)
  const bytes = await readFile(path)
  bytes[100] = bytes[100]! ^ 0xff
  await writeFile(path, bytes)
  await utimes(path, st.atime, st.mtime)
}
