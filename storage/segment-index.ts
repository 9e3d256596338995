/**
 * The LMDB index: a cache of the segment tree that answers every listing and range query
 * without touching the filesystem. Every fact in it can be rebuilt from the files (reconcile).
 *
 * Schema (tuple keys; lmdb orders strings and numbers element by element):
 *   segments   [channel, quality, startUs, file] → [durationUs, type, size, mtimeMs, tombstoned]
 *   tombstones [channel, quality, startUs, file] → mtimeMs, or [mtimeMs, proof] when admin-signed
 *              (file is the segment name it hides; the plain number is the older record, still read)
 *   hours      [channel, quality, hourStartUs]   → HourRecord
 * A tombstoned segment stays in `segments` (its file is still on disk) with `tombstoned` set, so
 * reconcile can tell it from a new file; every query filters it out.
 */
import { mkdirSync } from 'node:fs'
import { type Database, type RootDatabase, open } from 'lmdb'
import { nameDigest, xorInto } from './name-digest.ts'
import type { Startable } from '../lib/lifecycle.ts'
import { packHour, unpackHour } from './packed-hour.ts'
import { STORED_TYPES, type SegmentRef, type SegmentType, tombstoneFileName } from './segment-name.ts'
import { MICROS_PER_HOUR, formatHour, hourStart } from './time.ts'

/** A segment as the index knows it. */
export interface IndexedSegment {
  channel: string
  quality: string
  hour: string
  file: string
  start: number
  duration: number
  type: Exclude<SegmentType, 'temp'>
  size: number
  mtimeMs: number
  tombstoned: boolean
}

export interface IndexedTombstone {
  channel: string
  quality: string
  hour: string
  /** The tombstone's own file name (`<stem>.tombstone`). */
  file: string
  /** The segment file name it hides. */
  segment: string
  start: number
  mtimeMs: number
  /** The admin signature it was written with (replication/tombstone-signature.ts), if any. */
  proof?: string
}

/** Per-hour summary, kept up to date incrementally by every change. */
export interface HourSummary {
  channel: string
  quality: string
  hour: string
  start: number
  /** Visible (not tombstoned) segments. */
  segments: number
  bytes: number
  tombstones: number
  /** Segments on disk hidden by a tombstone. */
  hidden: number
  /**
   * Order-independent digest: XOR of sha256 over each visible segment name and each tombstone
   * name. Two nodes that agree on the hour's visible names and tombstones have equal digests.
   */
  digest: string
  /** Changes whenever the hour changes, and is never reused; caches key on it. */
  version: number
}

type SegmentValue = [duration: number, type: number, size: number, mtimeMs: number, tombstoned: 0 | 1]
type SegmentKey = [string, string, number, string]
type TombstoneValue = number | [mtimeMs: number, proof: string]
interface HourRecord {
  n: number
  b: number
  k: number
  x: number
  h: Buffer
  v: number
}

export type IndexChange =
  | { op: 'put-segment'; ref: SegmentRef; size: number; mtimeMs: number }
  | { op: 'remove-segment'; channel: string; quality: string; start: number; file: string }
  | { op: 'put-tombstone'; channel: string; quality: string; start: number; segment: string; mtimeMs: number; proof?: string }
  | { op: 'remove-tombstone'; channel: string; quality: string; start: number; segment: string }

export interface SegmentIndexInit {
  /** Upper bound of the map, bytes. Sparse: it costs nothing until used. */
  mapSize?: number
  /**
   * Open for reading only, beside the process that writes it (LMDB allows many reader processes):
   * the node's HTTP workers. Each read sees the latest committed state.
   */
  readOnly?: boolean
}

/** Upper bound of the LMDB map: sparse, it costs nothing until used. */
export const SEGMENT_INDEX_DEFAULTS = Object.freeze({ mapSize: 16 * 1024 ** 3 })

const EMPTY_DIGEST = Buffer.alloc(32).toString('base64url')

interface Databases {
  root: RootDatabase
  segments: Database<SegmentValue, SegmentKey>
  tombstones: Database<TombstoneValue, SegmentKey>
  hours: Database<HourRecord, [string, string, number]>
  meta: Database<number, string>
  packed: Database<Buffer, [string, string, number]>
}

/** Side databases by name: each takes one of the environment's `maxDbs` slots. */
const SIDE_DATABASES = new Set(['p2p-address-book'])

const NOT_OPEN: Databases = new Proxy({} as Databases, {
  get() {
    throw new Error('the segment index is not open')
  }
})

export class SegmentIndex implements Startable {
  readonly #path: string
  readonly #mapSize: number
  readonly #readOnly: boolean
  /** The open databases; while closed, a stand-in whose every use throws (no check on the hot path). */
  #db: Databases = NOT_OPEN

  /** Opens nothing: `start()` does (lib/lifecycle.ts). */
  constructor(path: string, init: SegmentIndexInit = {}) {
    this.#path = path
    this.#mapSize = init.mapSize ?? SEGMENT_INDEX_DEFAULTS.mapSize
    this.#readOnly = init.readOnly === true
  }

  /** An index opened at once, for the commands and tools that run no node around it. */
  static open(path: string, init: SegmentIndexInit = {}): SegmentIndex {
    const index = new SegmentIndex(path, init)
    index.#open()
    return index
  }

  async start(): Promise<void> {
    this.#open()
  }

  async stop(): Promise<void> {
    if (this.#db === NOT_OPEN) return
    const root = this.#db.root
    this.#db = NOT_OPEN
    await root.close()
  }

  /**
   * A named binary database in the index's LMDB environment, for small state another part keeps
   * across restarts (the p2p address book). Unlike the rest of the index it is not rebuilt from
   * the files: losing it loses only hints. Valid until stop().
   */
  sideDatabase(name: string): Database<Uint8Array, string> {
    if (!SIDE_DATABASES.has(name)) throw new Error(`unknown side database ${JSON.stringify(name)}`)
    return this.#db.root.openDB({ name, encoding: 'binary' })
  }

  #open(): void {
    if (this.#db !== NOT_OPEN) return
    if (!this.#readOnly) mkdirSync(this.#path, { recursive: true })
    const root = open({ path: this.#path, maxDbs: 8, mapSize: this.#mapSize, readOnly: this.#readOnly })
    this.#db = {
      root,
      segments: root.openDB({ name: 'segments' }),
      tombstones: root.openDB({ name: 'tombstones' }),
      hours: root.openDB({ name: 'hours' }),
      meta: root.openDB({ name: 'meta' }),
      packed: root.openDB({ name: 'packed-best', encoding: 'binary' })
    }
  }

  // --- queries -------------------------------------------------------------------------------

  /** Channels that have at least one hour entry, sorted. */
  channels(): string[] {
    const out: string[] = []
    let key: [string, string, number] | undefined
    // Skip from channel to channel instead of walking every hour.
    for (;;) {
      key = this.#firstHourKey(key == null ? [] : [key[0], '\uffff'])
      if (key == null) return out
      out.push(key[0])
    }
  }

  qualities(channel: string): string[] {
    const out: string[] = []
    let key: [string, string, number] | undefined = this.#firstHourKey([channel])
    while (key != null && key[0] === channel) {
      out.push(key[1])
      key = this.#firstHourKey([channel, key[1], Number.MAX_VALUE])
    }
    return out
  }

  #firstHourKey(after: unknown[]): [string, string, number] | undefined {
    for (const key of this.#db.hours.getKeys({ start: after as never, limit: 1 })) return key
    return undefined
  }

  /** Hour summaries of a channel/quality, oldest first, optionally limited to [from, to) µs. */
  hourSummaries(channel: string, quality: string, from = 0, to = Number.MAX_SAFE_INTEGER): HourSummary[] {
    const out: HourSummary[] = []
    for (const { key, value } of this.#db.hours.getRange({ start: [channel, quality, hourStart(from)], end: [channel, quality, to] })) {
      out.push(toSummary(key, value))
    }
    return out
  }

  /**
   * Starts of the hours of a channel/quality the index holds in [from, to] µs, oldest first, at most
   * `limit` of them: a range query walks these instead of every hour it spans (570 years of empty
   * hours are five million lookups; the hours that exist are a handful).
   */
  hourStarts(channel: string, quality: string, from: number, to: number, limit = Number.MAX_SAFE_INTEGER): number[] {
    const out: number[] = []
    for (const key of this.#db.hours.getKeys({ start: [channel, quality, from], end: [channel, quality, to + 1], limit })) out.push(key[2])
    return out
  }

  /** First and last hour start of a channel/quality, or null when the index holds none. Two reads. */
  hourSpan(channel: string, quality: string): { first: number; last: number } | null {
    const ends = (reverse: boolean): number | undefined => {
      const low: [string, string, number] = [channel, quality, -Number.MAX_VALUE]
      const high: [string, string, number] = [channel, quality, Number.MAX_VALUE]
      for (const key of this.#db.hours.getKeys({ start: reverse ? high : low, end: reverse ? low : high, reverse, limit: 1 })) return key[2]
      return undefined
    }
    const first = ends(false)
    return first == null ? null : { first, last: ends(true)! }
  }

  /** Hour folder names of a channel/quality, oldest first. */
  hours(channel: string, quality: string): string[] {
    const out: string[] = []
    for (const key of this.#db.hours.getKeys({ start: [channel, quality, 0], end: [channel, quality, Number.MAX_SAFE_INTEGER] })) {
      out.push(formatHour(key[2]))
    }
    return out
  }

  hourSummary(channel: string, quality: string, hourStartUs: number): HourSummary | null {
    const value = this.#db.hours.get([channel, quality, hourStartUs])
    return value == null ? null : toSummary([channel, quality, hourStartUs], value)
  }

  /** Change counter of an hour (0 when the hour has never had anything). Cheap: one get. */
  hourVersion(channel: string, quality: string, hourStartUs: number): number {
    return this.#db.hours.get([channel, quality, hourStartUs])?.v ?? 0
  }

  /**
   * Segments of one hour in start order (then by name). Tombstoned segments are included only
   * when `hidden` is true (reconcile needs them; nothing that serves data does).
   */
  hourSegments(channel: string, quality: string, hourStartUs: number, options: { hidden?: boolean } = {}): IndexedSegment[] {
    return this.#segmentsBetween(channel, quality, hourStartUs, hourStartUs + MICROS_PER_HOUR, options.hidden === true)
  }

  /** Segments whose start lies in [from, to), in start order; tombstoned ones only when `hidden`; at most `limit`. */
  segmentsStartingIn(
    channel: string,
    quality: string,
    from: number,
    to: number,
    options: { hidden?: boolean; limit?: number } = {}
  ): IndexedSegment[] {
    return this.#segmentsBetween(channel, quality, from, to, options.hidden === true, options.limit)
  }

  /**
   * Visible segments overlapping [from, to), in start order. Segments are looked for from the
   * hour before `from` onwards, as the original does: a segment longer than an hour that started
   * earlier is not found.
   */
  segmentsOverlapping(channel: string, quality: string, from: number, to: number): IndexedSegment[] {
    return this.#segmentsBetween(channel, quality, hourStart(from) - MICROS_PER_HOUR, to, false).filter((s) => s.start + s.duration > from)
  }

  #segmentsBetween(
    channel: string,
    quality: string,
    from: number,
    to: number,
    hidden: boolean,
    limit = Number.POSITIVE_INFINITY
  ): IndexedSegment[] {
    const out: IndexedSegment[] = []
    // One hour string per hour and the caller's channel/quality strings: tens of thousands of
    // segments then share a few strings instead of each decoding its own.
    let hourUs = -1
    let hour = ''
    for (const { key, value } of this.#db.segments.getRange({ start: [channel, quality, from, ''], end: [channel, quality, to] })) {
      if (value[4] === 1 && !hidden) continue
      const start = key[2]
      if (start < hourUs || start >= hourUs + MICROS_PER_HOUR) {
        hourUs = hourStart(start)
        hour = formatHour(hourUs)
      }
      out.push({
        channel,
        quality,
        hour,
        file: key[3],
        start,
        duration: value[0],
        type: STORED_TYPES[value[1]]!,
        size: value[2],
        mtimeMs: value[3],
        tombstoned: value[4] === 1
      })
      if (out.length >= limit) break
    }
    return out
  }

  /** Stored best-per-start candidates of an hour, valid only for `version` (see packed-hour.ts). */
  packedBest(channel: string, quality: string, hourStartUs: number, version: number): IndexedSegment[] | null {
    const buf = this.#db.packed.getBinaryFast([channel, quality, hourStartUs])
    return buf == null ? null : unpackHour(buf, version, channel, quality, formatHour(hourStartUs), hourStartUs)
  }

  /** Store an hour's best-per-start candidates for `version`; asynchronous, and losing it is harmless. */
  putPackedBest(channel: string, quality: string, hourStartUs: number, version: number, best: readonly IndexedSegment[]): void {
    this.#db.packed.put([channel, quality, hourStartUs], packHour(version, hourStartUs, best)).catch(() => {})
  }

  /** One segment by exact name, or null. Tombstoned segments are null unless `hidden`. */
  getSegment(ref: Pick<SegmentRef, 'channel' | 'quality' | 'start' | 'file'>, options: { hidden?: boolean } = {}): IndexedSegment | null {
    const key: SegmentKey = [ref.channel, ref.quality, ref.start, ref.file]
    const value = this.#db.segments.get(key)
    if (value == null || (value[4] === 1 && options.hidden !== true)) return null
    return toSegment(key, value)
  }

  isTombstoned(ref: { channel: string; quality: string; start: number; file: string }): boolean {
    return this.#db.tombstones.doesExist([ref.channel, ref.quality, ref.start, ref.file])
  }

  /** The admin signature stored with a tombstone; null when unsigned or absent. */
  tombstoneProof(ref: { channel: string; quality: string; start: number; file: string }): string | null {
    const value = this.#db.tombstones.get([ref.channel, ref.quality, ref.start, ref.file])
    return Array.isArray(value) ? value[1] : null
  }

  /** Listing of an hour as the wubloader API gives it: visible segment names, then tombstone names. */
  listHour(channel: string, quality: string, hourStartUs: number, options: { tombstones?: boolean } = {}): string[] {
    const names = this.hourSegments(channel, quality, hourStartUs).map((s) => s.file)
    if (options.tombstones === true) {
      for (const t of this.hourTombstones(channel, quality, hourStartUs)) names.push(t.file)
    }
    return names
  }

  hourTombstones(channel: string, quality: string, hourStartUs: number): IndexedTombstone[] {
    return this.tombstones(channel, quality, hourStartUs, hourStartUs + MICROS_PER_HOUR)
  }

  /** Tombstones, optionally narrowed to a channel, quality and [from, to) µs of segment start; at most `limit`. */
  tombstones(channel?: string, quality?: string, from?: number, to?: number, limit = Number.POSITIVE_INFINITY): IndexedTombstone[] {
    let range = {}
    if (channel != null && quality != null) {
      range = { start: [channel, quality, from ?? 0], end: [channel, quality, to ?? Number.MAX_SAFE_INTEGER] }
    } else if (channel != null) {
      range = { start: [channel], end: [channel, '\uffff'] }
    }
    const out: IndexedTombstone[] = []
    for (const { key, value } of this.#db.tombstones.getRange(range)) {
      out.push({
        channel: key[0],
        quality: key[1],
        hour: formatHour(key[2]),
        start: key[2],
        segment: key[3],
        file: tombstoneFileName(key[3]),
        ...(Array.isArray(value) ? { mtimeMs: value[0], proof: value[1] } : { mtimeMs: value })
      })
      if (out.length >= limit) break
    }
    return out
  }

  /** Totals over the whole index, from the hour summaries (no segment scan). */
  totals(): { channels: number; hours: number; segments: number; bytes: number; tombstones: number; hidden: number } {
    const t = { channels: 0, hours: 0, segments: 0, bytes: 0, tombstones: 0, hidden: 0 }
    let lastChannel: string | null = null
    for (const { key, value } of this.#db.hours.getRange({})) {
      if (key[0] !== lastChannel) {
        t.channels++
        lastChannel = key[0]
      }
      t.hours++
      t.segments += value.n
      t.bytes += value.b
      t.tombstones += value.k
      t.hidden += value.x
    }
    return t
  }

  // --- changes ---------------------------------------------------------------------------------

  /**
   * Apply changes in one transaction. Idempotent: putting what is there, or removing what is
   * not, changes nothing (and does not bump the hour's version). Returns the changes that did
   * change the index, in order: what a caller may announce as news (the store and a reconcile can
   * both put the same file; only the first changes anything).
   */
  async apply(changes: readonly IndexChange[]): Promise<IndexChange[]> {
    if (changes.length === 0) return []
    let applied: IndexChange[] = []
    await this.#db.root.transaction(() => {
      applied = []
      const touched = new Map<string, { key: [string, string, number]; rec: HourRecord; changed: boolean }>()
      const hourOf = (channel: string, quality: string, start: number): { rec: HourRecord; changed: boolean } => {
        const h = hourStart(start)
        const id = `${channel}\0${quality}\0${h}`
        let entry = touched.get(id)
        if (entry == null) {
          const key: [string, string, number] = [channel, quality, h]
          const old = this.#db.hours.get(key)
          const rec: HourRecord = old == null ? { n: 0, b: 0, k: 0, x: 0, h: Buffer.alloc(32), v: 0 } : { ...old, h: Buffer.from(old.h) }
          entry = { key, rec, changed: false }
          touched.set(id, entry)
        }
        return entry
      }
      for (const change of changes) if (this.#applyOne(change, hourOf)) applied.push(change)
      // Versions come from one index-wide sequence, so an hour that empties and refills never
      // repeats a version a cache may still hold.
      const before = this.#db.meta.get('seq') ?? 0
      let seq = before
      for (const { key, rec, changed } of touched.values()) {
        if (!changed) continue
        if (rec.n === 0 && rec.k === 0 && rec.x === 0) {
          this.#db.hours.remove(key)
          this.#db.packed.remove(key)
        } else {
          rec.v = ++seq
          this.#db.hours.put(key, rec)
        }
      }
      if (seq !== before) this.#db.meta.put('seq', seq)
    })
    return applied
  }

  /** Whether the change changed anything. */
  #applyOne(change: IndexChange, hourOf: (c: string, q: string, s: number) => { rec: HourRecord; changed: boolean }): boolean {
    switch (change.op) {
      case 'put-segment': {
        const { ref } = change
        if (ref.type === 'temp') throw new TypeError(`temp segments are never indexed: ${ref.file}`)
        const key: SegmentKey = [ref.channel, ref.quality, ref.start, ref.file]
        const old = this.#db.segments.get(key)
        const tombstoned = this.#db.tombstones.doesExist(key) ? 1 : 0
        const value: SegmentValue = [ref.duration, STORED_TYPES.indexOf(ref.type), change.size, change.mtimeMs, tombstoned]
        if (old != null && old[2] === value[2] && old[3] === value[3]) return false
        const hour = hourOf(ref.channel, ref.quality, ref.start)
        if (old != null) this.#countSegment(hour.rec, ref.file, old, -1)
        this.#countSegment(hour.rec, ref.file, value, +1)
        hour.changed = true
        this.#db.segments.put(key, value)
        return true
      }
      case 'remove-segment': {
        const key: SegmentKey = [change.channel, change.quality, change.start, change.file]
        const old = this.#db.segments.get(key)
        if (old == null) return false
        const hour = hourOf(change.channel, change.quality, change.start)
        this.#countSegment(hour.rec, change.file, old, -1)
        hour.changed = true
        this.#db.segments.remove(key)
        return true
      }
      case 'put-tombstone': {
        const key: SegmentKey = [change.channel, change.quality, change.start, change.segment]
        const old = this.#db.tombstones.get(key)
        if (old != null) {
          // A signature added to an unsigned tombstone; names, counts and digests stay as they are.
          if (typeof old !== 'number' || change.proof == null) return false
          this.#db.tombstones.put(key, [old, change.proof])
          return true
        }
        const hour = hourOf(change.channel, change.quality, change.start)
        hour.rec.k += 1
        xorInto(hour.rec.h, nameDigest(tombstoneFileName(change.segment)))
        this.#setTombstoned(hour.rec, key, 1)
        hour.changed = true
        this.#db.tombstones.put(key, change.proof == null ? change.mtimeMs : [change.mtimeMs, change.proof])
        return true
      }
      case 'remove-tombstone': {
        const key: SegmentKey = [change.channel, change.quality, change.start, change.segment]
        if (!this.#db.tombstones.doesExist(key)) return false
        const hour = hourOf(change.channel, change.quality, change.start)
        hour.rec.k -= 1
        xorInto(hour.rec.h, nameDigest(tombstoneFileName(change.segment)))
        this.#setTombstoned(hour.rec, key, 0)
        hour.changed = true
        this.#db.tombstones.remove(key)
        return true
      }
    }
  }

  /** Mark the segment under `key` (if indexed) hidden or visible, moving it between its hour's counters. */
  #setTombstoned(rec: HourRecord, key: SegmentKey, tombstoned: 0 | 1): void {
    const seg = this.#db.segments.get(key)
    if (seg == null || seg[4] === tombstoned) return
    const next: SegmentValue = [seg[0], seg[1], seg[2], seg[3], tombstoned]
    this.#countSegment(rec, key[3], seg, -1)
    this.#countSegment(rec, key[3], next, +1)
    this.#db.segments.put(key, next)
  }

  /** Add (+1) or remove (−1) one segment's contribution to its hour's counters and digest. */
  #countSegment(rec: HourRecord, file: string, value: SegmentValue, sign: 1 | -1): void {
    if (value[4] === 1) {
      rec.x += sign
      return
    }
    rec.n += sign
    rec.b += sign * value[2]
    xorInto(rec.h, nameDigest(file))
  }
}

function toSegment(key: SegmentKey, value: SegmentValue): IndexedSegment {
  return {
    channel: key[0],
    quality: key[1],
    hour: formatHour(key[2]),
    file: key[3],
    start: key[2],
    duration: value[0],
    type: STORED_TYPES[value[1]]!,
    size: value[2],
    mtimeMs: value[3],
    tombstoned: value[4] === 1
  }
}

function toSummary(key: [string, string, number], rec: HourRecord): HourSummary {
  const digest = Buffer.from(rec.h).toString('base64url')
  return {
    channel: key[0],
    quality: key[1],
    hour: formatHour(key[2]),
    start: key[2],
    segments: rec.n,
    bytes: rec.b,
    tombstones: rec.k,
    hidden: rec.x,
    digest: digest === EMPTY_DIGEST ? '' : digest,
    version: rec.v
  }
}
