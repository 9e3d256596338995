/** Synthetic segment streams for the storage benchmarks: reproducible, with a few duplicates and gaps. */
import { mkdirSync, readdirSync, statSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Assembler, HOLE, type Selection, bestByStart } from '../storage/best-segments.ts'
import type { IndexChange, IndexedSegment, SegmentIndex } from '../storage/segment-index.ts'
import { type SegmentRef, type SegmentType, formatSegmentRef, parseSegmentRef } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, MICROS_PER_SECOND, formatHour, hourStart } from '../storage/time.ts'
import { prng } from './common.ts'

/** 2020-01-01T00:00:00Z in µs, as in the tests. */
export const T0 = Date.UTC(2020, 0, 1) * 1000
export const SEGMENT_US = 2 * MICROS_PER_SECOND
export const PER_HOUR = MICROS_PER_HOUR / SEGMENT_US

export interface StreamOptions {
  channel: string
  quality: string
  start: number
  /** 2 s slots to generate. */
  slots: number
  seed: number
  /** Share of slots that get a second candidate (suspect, partial or another full). */
  duplicates?: number
  /** Share of slots left empty. */
  gaps?: number
}

export interface SyntheticSegment {
  ref: SegmentRef
  size: number
}

export interface StreamCounts {
  slots: number
  segments: number
  duplicates: number
  gaps: number
}

/**
 * One channel/quality of back-to-back 2 s full segments. Main copies are empty (size 0), so a
 * tree of them costs only inodes; duplicates get 1–16 bytes, so the size tie-break has work to
 * do and a listing baseline that stats the real files sees the sizes the index holds.
 */
export function* syntheticStream(o: StreamOptions, counts?: StreamCounts): Generator<SyntheticSegment> {
  const random = prng(o.seed)
  const hash = (): Buffer => {
    const b = Buffer.allocUnsafe(32)
    for (let i = 0; i < 32; i += 4) b.writeUInt32LE((random() * 2 ** 32) >>> 0, i)
    return b
  }
  const make = (start: number, duration: number, type: Exclude<SegmentType, 'temp'>, size: number): SyntheticSegment => ({
    ref: formatSegmentRef({ channel: o.channel, quality: o.quality, start, duration, type, hash: hash() }),
    size
  })
  for (let i = 0; i < o.slots; i++) {
    if (counts != null) counts.slots++
    const start = o.start + i * SEGMENT_US
    if (random() < (o.gaps ?? 0)) {
      if (counts != null) counts.gaps++
      continue
    }
    const dup = random() < (o.duplicates ?? 0)
    // Now and then the only copy of a slot is a suspect one (a hole follows it in a selection).
    const lone = dup && random() < 0.1
    const main = make(start, SEGMENT_US, lone ? 'suspect' : 'full', lone ? 1 + Math.floor(random() * 16) : 0)
    yield main
    if (counts != null) counts.segments++
    if (!dup || lone) continue
    const r = random()
    const size = 1 + Math.floor(random() * 16)
    if (counts != null) {
      counts.segments++
      counts.duplicates++
    }
    if (r < 0.4) yield make(start, SEGMENT_US, 'suspect', size)
    else if (r < 0.8) yield make(start, SEGMENT_US - 800_000, 'partial', size)
    else yield make(start, SEGMENT_US, 'full', size)
  }
}

export function putChange(s: SyntheticSegment): IndexChange {
  return { op: 'put-segment', ref: s.ref, size: s.size, mtimeMs: 1 }
}

/** Index a stream in transactions of `batch` changes; returns per-batch milliseconds. */
export async function indexStream(
  index: SegmentIndex,
  stream: Iterable<SyntheticSegment>,
  batch: number,
  onBatch?: (done: number) => void
): Promise<number[]> {
  const times: number[] = []
  let changes: IndexChange[] = []
  let done = 0
  const flush = async (): Promise<void> => {
    const t = performance.now()
    await index.apply(changes)
    times.push(performance.now() - t)
    done += changes.length
    changes = []
    onBatch?.(done)
  }
  for (const s of stream) {
    changes.push(putChange(s))
    if (changes.length >= batch) await flush()
  }
  if (changes.length > 0) await flush()
  return times
}

/**
 * Write a stream as files under `segmentsDir` (bench setup, not the product). Up to 16 writes in
 * flight per batch of 1,800: creating a file costs ~1 ms of latency on the shared test VM, and
 * one at a time (writeFileSync) ran at ~900 files/s against ~4,600/s this way.
 */
export async function writeTree(segmentsDir: string, stream: Iterable<SyntheticSegment>): Promise<number> {
  const made = new Set<string>()
  const bytes = Buffer.alloc(16, 0x47)
  let n = 0
  let batch: Array<[string, number]> = []
  const flush = async (): Promise<void> => {
    let next = 0
    await Promise.all(
      Array.from({ length: Math.min(16, batch.length) }, async () => {
        while (next < batch.length) {
          const [path, size] = batch[next++]!
          await writeFile(path, bytes.subarray(0, size))
        }
      })
    )
    n += batch.length
    batch = []
  }
  for (const { ref, size } of stream) {
    const dir = join(segmentsDir, ref.channel, ref.quality, ref.hour)
    if (!made.has(dir)) {
      mkdirSync(dir, { recursive: true })
      made.add(dir)
    }
    batch.push([join(dir, ref.file), size])
    if (batch.length >= PER_HOUR) await flush()
  }
  await flush()
  return n
}

/**
 * The original's selection (wubloader get_best_segments): for every hour from the one before
 * `start`, list the folder, sort, parse every name, group by start and keep the best, stat'ing
 * only where a start has several candidates (or its only one is not full). Sync fs calls are
 * the cheapest way node can do it, so the baseline is, if anything, flattering.
 */
export function listingSelect(segmentsDir: string, channel: string, quality: string, start: number, end: number): Selection {
  const assembler = new Assembler(start, end)
  hours: for (let h = hourStart(start) - MICROS_PER_HOUR; h <= hourStart(end); h += MICROS_PER_HOUR) {
    const hour = formatHour(h)
    const dir = join(segmentsDir, channel, quality, hour)
    let names: string[]
    try {
      names = readdirSync(dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      continue
    }
    names.sort()
    const parsed: IndexedSegment[] = []
    for (const name of names) {
      const p = parseSegmentRef(channel, quality, hour, name)
      if (!p.ok || p.value.type === 'temp') continue
      const { file, start: s, duration, type } = p.value
      parsed.push({ channel, quality, hour, file, start: s, duration, type, size: 0, mtimeMs: 0, tombstoned: false })
    }
    for (let i = 0; i < parsed.length; ) {
      let j = i + 1
      while (j < parsed.length && parsed[j]!.start === parsed[i]!.start) j++
      // Python's max() calls its key (a stat) even for a lone non-full candidate.
      if (j - i > 1 || parsed[i]!.type !== 'full') for (let k = i; k < j; k++) parsed[k]!.size = statSync(join(dir, parsed[k]!.file)).size
      i = j
    }
    for (const s of bestByStart(parsed)) if (assembler.push(s)) break hours
  }
  return assembler.finish()
}

/** A selection as comparable text: file names, `-` for holes. */
export function selectionKey(selection: Selection): string {
  return selection.map((s) => (s === HOLE ? '-' : s.file)).join(',')
}

export function holes(selection: Selection): number {
  return selection.filter((s) => s === HOLE).length
}
