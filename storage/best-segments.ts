/**
 * Best-segment selection (wubloader's rules) over the index: the ordered list of segments
 * and HOLEs that covers [start, end) with the best copy available for every start instant.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { ContainsHolesError } from './errors.ts'
import type { IndexedSegment, SegmentIndex } from './segment-index.ts'
import { decodeHash } from './segment-hash.ts'
import { SEGMENT_EXT } from './segment-name.ts'
import { MICROS_PER_HOUR, formatInstant, hourStart } from './time.ts'

/** Marks a discontinuity in a selection. */
export const HOLE = null
export type Selection = Array<IndexedSegment | typeof HOLE>

/** Neighbours may be this far apart or overlap this much and still join (inclusive), µs. */
export const JOIN_TOLERANCE = 10_000

export interface SelectOptions {
  /** When false, fail with ContainsHolesError at the first hole instead of reporting it. */
  allowHoles?: boolean
}

export interface SegmentSelectorInit {
  /** Most bytes the per-hour cache may hold, as counted by `cacheCost`. */
  cacheBytes?: number
  /** Most hours the per-hour cache may hold, empty ones included. */
  cacheHours?: number
}

/**
 * Bounds of the per-hour candidate cache (an LRU by hour). A cached hour costs `HOUR_BYTES` (its
 * key, map slot and record: ~180 B measured for an empty one, rounded up) plus `SEGMENT_BYTES` per
 * candidate (~265 B measured with the shared strings, see docs/BENCHMARKS.md, rounded up). The
 * default budget holds ~9 days of one 2 s stream; an empty hour costs as much as its key, so no
 * run of empty hours grows the cache past its budget.
 */
export const SELECTOR_DEFAULTS = Object.freeze({
  cacheBytes: 128 * 1024 * 1024,
  cacheHours: 16_384,
  HOUR_BYTES: 256,
  SEGMENT_BYTES: 320
})

/** What one cached hour of `segments` candidates costs against the cache's byte budget. */
export const cacheCost = (segments: number): number => SELECTOR_DEFAULTS.HOUR_BYTES + segments * SELECTOR_DEFAULTS.SEGMENT_BYTES

/** The candidates of an hour the index does not hold: shared, never cached. */
const NO_CANDIDATES: IndexedSegment[] = Object.freeze([]) as unknown as IndexedSegment[]

/** Hours read from the index per batch while walking a range. */
const HOUR_BATCH = 256

function hashOf(file: string): Buffer {
  const stem = file.slice(0, -SEGMENT_EXT.length)
  let i = -1
  for (let n = 0; n < 3; n++) i = stem.indexOf('-', i + 1)
  return decodeHash(stem.slice(i + 1)) ?? Buffer.alloc(0)
}

/**
 * Of several copies at one start instant, the one to serve: any full beats suspect beats partial;
 * among fulls the longest, then the largest, then the highest hash bytes; among the others
 * suspect over partial, then the largest, then the first by name.
 */
function pickBest(group: readonly IndexedSegment[]): IndexedSegment {
  let best = group[0]!
  const fulls = group.filter((s) => s.type === 'full')
  if (fulls.length > 0) {
    best = fulls[0]!
    for (const s of fulls.slice(1)) {
      const d = s.duration - best.duration || s.size - best.size || Buffer.compare(hashOf(s.file), hashOf(best.file))
      if (d > 0) best = s
    }
    return best
  }
  for (const s of group.slice(1)) {
    const d = (s.type === 'suspect' ? 1 : 0) - (best.type === 'suspect' ? 1 : 0) || s.size - best.size
    if (d > 0) best = s
  }
  return best
}

/** One best segment per distinct start instant, ascending. Input is in start order. */
export function bestByStart(segments: readonly IndexedSegment[]): IndexedSegment[] {
  const out: IndexedSegment[] = []
  let i = 0
  while (i < segments.length) {
    let j = i + 1
    while (j < segments.length && segments[j]!.start === segments[i]!.start) j++
    out.push(j === i + 1 ? segments[i]! : pickBest(segments.slice(i, j)))
    i = j
  }
  return out
}

/**
 * Builds a selection from candidates fed in start order, one per start instant (`bestByStart`).
 * Unlike wubloader, which appends a segment starting exactly at `end`, a segment starting at or
 * after `end` is never appended.
 */
export class Assembler {
  readonly #start: number
  readonly #end: number
  readonly #allowHoles: boolean
  readonly #result: Selection = []
  #last: IndexedSegment | null = null
  #done = false

  constructor(start: number, end: number, options: SelectOptions = {}) {
    this.#start = start
    this.#end = end
    this.#allowHoles = options.allowHoles !== false
  }

  #hole(where: number): void {
    if (!this.#allowHoles) {
      throw new ContainsHolesError(`hole at ${formatInstant(where)} in [${formatInstant(this.#start)}, ${formatInstant(this.#end)})`)
    }
    this.#result.push(HOLE)
  }

  /** Offer the next candidate; returns true once nothing later can change the result. */
  push(s: IndexedSegment): boolean {
    if (this.#done) return true
    const last = this.#last
    if (s.start >= this.#end) {
      this.#done = true
      return true
    }
    if (last == null) {
      // No tolerance at the range edges: the first segment must cover `start` itself.
      const covers = s.start <= this.#start && this.#start < s.start + s.duration
      if (!covers) {
        if (s.start <= this.#start) return false
        this.#hole(this.#start)
      }
    } else {
      const lastEnd = last.start + last.duration
      const gap = s.start - lastEnd
      // A segment overlapping its predecessor by more than the tolerance is dropped whole.
      if (gap < -JOIN_TOLERANCE) return false
      if (last.type !== 'full' || gap > JOIN_TOLERANCE) this.#hole(lastEnd)
    }
    this.#result.push(s)
    this.#last = s
    if (this.#end <= s.start + s.duration) this.#done = true
    return this.#done
  }

  finish(): Selection {
    const last = this.#last
    if (last == null || last.type !== 'full' || last.start + last.duration < this.#end) {
      this.#hole(last == null ? this.#start : last.start + last.duration)
    }
    return this.#result
  }
}

interface CachedHour {
  version: number
  best: IndexedSegment[]
}

export class SegmentSelector {
  readonly #index: SegmentIndex
  readonly #cacheBytes: number
  readonly #cacheHours: number
  #bytes = 0
  /** Map order is insertion order: re-inserting on use makes it an LRU. */
  readonly #cache = new Map<string, CachedHour>()
  readonly #inflight = new Map<string, Promise<Selection>>()

  constructor(index: SegmentIndex, init: SegmentSelectorInit = {}) {
    this.#index = index
    this.#cacheBytes = init.cacheBytes ?? SELECTOR_DEFAULTS.cacheBytes
    this.#cacheHours = init.cacheHours ?? SELECTOR_DEFAULTS.cacheHours
  }

  /** What the per-hour cache holds now, against its bounds (tests, diagnosis). */
  get cacheUsage(): { hours: number; bytes: number; maxHours: number; maxBytes: number } {
    return { hours: this.#cache.size, bytes: this.#bytes, maxHours: this.#cacheHours, maxBytes: this.#cacheBytes }
  }

  /**
   * Best-per-start candidates of one hour: from memory while the hour's index version is
   * unchanged (one LMDB get); else from the packed copy stored in the index for that version;
   * else rebuilt from the segment entries (and, for a finished hour, packed for next time).
   * An hour the index does not hold is answered without touching the cache.
   */
  hourCandidates(channel: string, quality: string, hourStartUs: number): IndexedSegment[] {
    const version = this.#index.hourVersion(channel, quality, hourStartUs)
    if (version === 0) return NO_CANDIDATES
    const key = `${channel}\0${quality}\0${hourStartUs}`
    const cached = this.#cache.get(key)
    if (cached != null) {
      this.#forget(key, cached)
      if (cached.version === version) {
        this.#remember(key, cached)
        return cached.best
      }
    }
    let best = this.#index.packedBest(channel, quality, hourStartUs, version)
    if (best == null) {
      best = bestByStart(this.#index.hourSegments(channel, quality, hourStartUs))
      // The live hour changes every few seconds: packing it would be wasted writes.
      if (hourStartUs + MICROS_PER_HOUR <= Date.now() * 1000) this.#index.putPackedBest(channel, quality, hourStartUs, version, best)
    }
    this.#remember(key, { version, best })
    return best
  }

  #forget(key: string, entry: CachedHour): void {
    this.#cache.delete(key)
    this.#bytes -= cacheCost(entry.best.length)
  }

  #remember(key: string, entry: CachedHour): void {
    this.#cache.set(key, entry)
    this.#bytes += cacheCost(entry.best.length)
    // The entry just added stays even when it alone is over budget: its caller holds it anyway.
    while ((this.#bytes > this.#cacheBytes || this.#cache.size > this.#cacheHours) && this.#cache.size > 1) {
      const oldest = this.#cache.keys().next().value!
      this.#forget(oldest, this.#cache.get(oldest)!)
    }
  }

  /**
   * Select [start, end). Identical concurrent calls share one computation. Long selections give
   * the event loop a turn between hours.
   */
  async select(channel: string, quality: string, start: number, end: number, options: SelectOptions = {}): Promise<Selection> {
    const key = `${channel}\0${quality}\0${start}\0${end}\0${options.allowHoles !== false}`
    const running = this.#inflight.get(key)
    if (running != null) return await running
    const job = this.#select(channel, quality, start, end, options)
    this.#inflight.set(key, job)
    try {
      return await job
    } finally {
      this.#inflight.delete(key)
    }
  }

  /**
   * Only the hours the index holds are visited, a batch at a time: the work is proportional to the
   * data in the range, not to its length (a range of centuries costs what its few real hours do).
   */
  async #select(channel: string, quality: string, start: number, end: number, options: SelectOptions): Promise<Selection> {
    if (end < start) throw new RangeError('end is before start')
    const assembler = new Assembler(start, end, options)
    let lastYield = performance.now()
    // The hour before `start` is searched too: a segment starting there may cover `start`.
    let from = hourStart(start) - MICROS_PER_HOUR
    const to = hourStart(end)
    hours: for (;;) {
      const batch = this.#index.hourStarts(channel, quality, from, to, HOUR_BATCH)
      for (const h of batch) {
        for (const s of this.hourCandidates(channel, quality, h)) {
          if (assembler.push(s)) break hours
        }
        if (performance.now() - lastYield > 10) {
          await yieldToLoop()
          lastYield = performance.now()
        }
      }
      if (batch.length < HOUR_BATCH) break
      from = batch.at(-1)! + MICROS_PER_HOUR
    }
    return assembler.finish()
  }
}
