/**
 * `--max-disk-bytes`: keeps the segment tree under a byte budget by evicting whole hours, oldest
 * first.
 *
 * Every segment write reserves room before its first byte (the largest segment seen so far, at
 * least `minReserveBytes`), so writes in flight together never take the tree over the budget by
 * more than the one segment that turns out bigger than any before. A write that finds no room makes
 * some: it evicts the oldest hour that at least --min-copies other nodes hold all of and promised to
 * keep for `promiseMs` (`othersKeep`, http/network-listings.ts), and waits for it. While it asks,
 * the hour is marked as being evicted here and this node promises nobody to keep it: two nodes
 * evicting the same hour at once refuse each other, so neither counts the other's copy, and a
 * copy counted for an eviction cannot go in the same minutes. When nothing may be dropped the budget is `full`:
 * fetching and storing read-through pause (they are refused at once, a read-through is passed on
 * unstored), and a pass every `intervalMs` tries again as peers take copies.
 * A recorder's own segments are never refused: live video that exists nowhere else is worth more
 * than the budget, so the node goes over it and says so (`over`).
 *
 * Eviction removes segment files only; tombstones stay (they must outlive what they hide). Evicted
 * hours are remembered (in `stateFile`, across restarts) so replication does not fetch them back,
 * until `unevict` (too few nodes hold one any more); a segment of one read again through this node
 * is stored as any read-through is.
 */
import { readFile } from 'node:fs/promises'
import { pruneExpired, unexpired } from '../lib/expiry-map.ts'
import { type Logger, silentLogger } from '../lib/logger.ts'
import { replaceFile } from './durable-file.ts'
import { setTimeout as sleep } from 'node:timers/promises'
import { DiskFullError, EvictedError } from './errors.ts'
import { removeHourSegments } from './hour-removal.ts'
import type { Reconciler } from './reconcile.ts'
import { type SegmentRef, segmentRelPath } from './segment-name.ts'
import type { SegmentStore, WriteBudget, WriteOrigin } from './segment-store.ts'
import { formatHour, hourStart } from './time.ts'

export const DISK_BUDGET_DEFAULTS = Object.freeze({
  /** Room reserved for a write before any segment was seen (an eighth of a smaller budget). */
  minReserveBytes: 2 * 1024 ** 2,
  /** Between passes that re-count the tree (other programs write into it too) and retry when full. */
  intervalMs: 30_000,
  /** Evicted hours remembered; past it the oldest are forgotten (~100 bytes each in memory and in the file). */
  maxEvictedHours: 100_000,
  /** Hours asked about (oldest first) when looking for one to evict, before giving up until the next pass. */
  candidatesPerPass: 24,
  /** How long a promise to keep an hour holds: past an eviction's longest wait for writes under way. */
  promiseMs: 120_000,
  /** Promises held at once (~150 bytes each); past it, none is given. */
  maxPromises: 10_000
})

/** How long an eviction waits for writes into its hour that were under way when it began. */
const INFLIGHT_WAIT_MS = 10_000

/** `--max-disk-bytes`: bytes, or a percentage of the segments folder's filesystem. */
export type DiskBudgetLimit = { bytes: number } | { percent: number }

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

/** `500000000`, `500M`, `2GiB`, `1T` (binary units) or `40%`; a string saying why not otherwise. */
export function parseDiskBudget(text: string): DiskBudgetLimit | string {
  const percent = /^(\d{1,3})%$/.exec(text.trim())
  if (percent != null) {
    const n = Number(percent[1])
    return n >= 1 && n <= 100 ? { percent: n } : 'a percentage must be 1% to 100%'
  }
  const size = /^(\d{1,16})\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim())
  if (size == null) return 'must be bytes (500000000), a size with a binary unit (500M, 2G, 1T) or a percentage of the disk (40%)'
  const bytes = Number(size[1]) * UNITS[size[2]!.toLowerCase()]!
  if (!Number.isSafeInteger(bytes) || bytes < 1) return 'must be a positive size'
  return { bytes }
}

export interface DiskBudgetInit {
  store: SegmentStore
  /** The node's reconciler: its per-hour lock keeps a rescan and an eviction from interleaving. */
  reconciler: Reconciler
  limit: DiskBudgetLimit
  /** Where evicted hours are kept across restarts. */
  stateFile: string
  /**
   * Whether enough other nodes hold every name of this node's hour and promised to keep it (see
   * `promise`): asked, oldest hour first, while the hour is marked as being evicted here.
   */
  othersKeep: (channel: string, quality: string, hourUs: number) => Promise<boolean>
  /** Total bytes of the segments folder's filesystem, for a percentage limit. */
  diskBytes?: () => Promise<number>
  log?: Logger
  intervalMs?: number
}

export interface DiskBudgetState {
  maxBytes: number
  /** Bytes of the segments the index holds. */
  usedBytes: number
  /** Reserved by writes in flight. */
  reservedBytes: number
  /** Nothing may be evicted and there is no room: fetching and storing read-through are paused. */
  full: boolean
  /** Over the budget (a recorder's segments are never refused). */
  over: boolean
  evictions: { hours: number; segments: number; bytes: number; last: string | null }
  /** Hours remembered as evicted: not fetched back by replication. */
  evictedHours: number
}

export class DiskBudget implements WriteBudget {
  readonly #init: DiskBudgetInit
  readonly #log: Logger
  #max = 0
  #used = 0
  #reserved = 0
  /** Reserved per write until one is seen: an eighth of the budget, at most minReserveBytes. */
  #reserve: number = DISK_BUDGET_DEFAULTS.minReserveBytes
  /** The largest segment written since start: what each write reserves from then on. */
  #largest = 0
  #full = false
  /** `channel/quality/hourStart` → when it was evicted (ms); map order is eviction order. */
  readonly #evicted = new Map<string, number>()
  readonly #totals = { hours: 0, segments: 0, bytes: 0, last: null as string | null }
  /** The eviction running now; writes that need room wait for it rather than start another. */
  #evicting: Promise<void> | null = null
  /** Hours this node is evicting (or asking whether it may), `channel/quality/hourStart`. */
  readonly #claims = new Set<string>()
  /** Hours this node promised another to keep, → until when (ms): not evicted before then. */
  readonly #promised = new Map<string, number>()
  /** Writes waiting for one in flight to end (its reservation holds the room they need). */
  readonly #waiting: Array<() => void> = []
  #timer: NodeJS.Timeout | null = null
  #stopped = false

  constructor(init: DiskBudgetInit) {
    this.#init = init
    this.#log = init.log ?? silentLogger
  }

  async start(): Promise<void> {
    const { limit } = this.#init
    if ('bytes' in limit) this.#max = limit.bytes
    else {
      if (this.#init.diskBytes == null) throw new TypeError('a percentage budget needs diskBytes')
      this.#max = Math.floor(((await this.#init.diskBytes()) * limit.percent) / 100)
    }
    this.#reserve = Math.min(DISK_BUDGET_DEFAULTS.minReserveBytes, Math.ceil(this.#max / 8))
    await this.#load()
    this.#recount()
    this.#init.store.useBudget(this)
    this.#stopped = false
    const tick = (): void => {
      this.#timer = setTimeout(() => {
        void this.check().finally(() => {
          if (!this.#stopped) tick()
        })
      }, this.#init.intervalMs ?? DISK_BUDGET_DEFAULTS.intervalMs)
      this.#timer.unref()
    }
    tick()
    void this.check()
  }

  /** Count the tree again and, without room for the next write, evict (or find that nothing may go). What runs every `intervalMs`. */
  async check(): Promise<void> {
    // An eviction a write started may have marked its hour and not removed it yet: a check returns
    // after it (the hour is marked evicted before its segments go).
    while (this.#evicting != null) await this.#evicting
    this.#recount()
    if (this.#used + this.#need() > this.#max) await this.#makeRoom(this.#need())
  }

  /** What a write reserves: the largest segment seen, or before any, the starting estimate. */
  #need(): number {
    return this.#largest > 0 ? this.#largest : this.#reserve
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer != null) clearTimeout(this.#timer)
    this.#timer = null
    await this.#evicting
  }

  get full(): boolean {
    return this.#full
  }

  get maxBytes(): number {
    return this.#max
  }

  state(): DiskBudgetState {
    return {
      maxBytes: this.#max,
      usedBytes: this.#used,
      reservedBytes: this.#reserved,
      full: this.#full,
      over: this.#used > this.#max,
      evictions: { ...this.#totals },
      evictedHours: this.#evicted.size
    }
  }

  /**
   * Forget that an hour was evicted, so replication fetches it again: fewer than --min-copies other
   * nodes hold it now (a copies check found it so). Room for it is made as for any write.
   */
  async unevict(channel: string, quality: string, hourUs: number): Promise<void> {
    const key = `${channel}/${quality}/${hourUs}`
    if (!this.#evicted.delete(key)) return
    await this.#save()
    this.#log.warn({ channel, quality, hour: formatHour(hourUs) }, 'an evicted hour is held by too few nodes now: fetching it again')
  }

  /** The hours evicted here, as `channel/quality/hourStart` (the hello tells peers, so their walks skip them). */
  evictedKeys(): string[] {
    return [...this.#evicted.keys()]
  }

  /** Whether the hour of `ref` was evicted here (replication does not fetch it back). */
  isEvicted(ref: Pick<SegmentRef, 'channel' | 'quality' | 'start'>): boolean {
    return this.#evicted.has(`${ref.channel}/${ref.quality}/${hourStart(ref.start)}`)
  }

  /**
   * Room for one segment write, before its first byte; the function returned ends the reservation
   * with the bytes the write added (0 when it failed or the file was already there). `force` (a
   * recorder) reserves even over the budget.
   */
  async reserve(ref: SegmentRef, options: WriteOrigin = {}): Promise<(added: number) => void> {
    const need = this.#need()
    const refuse = (): DiskFullError =>
      new DiskFullError(`not writing ${segmentRelPath(ref)}: the disk budget is full and no hour may be evicted`)
    const unwanted = (): boolean => options.force !== true && options.read !== true && this.isEvicted(ref)
    if (unwanted()) throw new EvictedError(`not writing ${segmentRelPath(ref)}: its hour was evicted`)
    while (!this.#room(need) && options.force !== true) {
      if (this.#used + need <= this.#max) {
        // Writes in flight hold the room: wait for one to end (as many wait as write at once).
        await new Promise<void>((resolve) => this.#waiting.push(resolve))
        continue
      }
      // Full: refused at once (a pass every intervalMs looks for room again), not a search per write.
      if (this.#full) throw refuse()
      const before = this.#totals.hours
      await this.#makeRoom(need)
      // No hour went (full, stopped, or the eviction failed): refused, never asked again at once.
      if (this.#full || (this.#totals.hours === before && !this.#room(need))) throw refuse()
    }
    // The room may have come from this very hour.
    if (unwanted()) throw new EvictedError(`not writing ${segmentRelPath(ref)}: its hour was evicted`)
    if (!this.#room(need)) void this.#makeRoom(need)
    this.#reserved += need
    let ended = false
    return (added) => {
      if (ended) return
      ended = true
      this.#reserved -= need
      this.#used += added
      if (added > this.#largest) this.#largest = added
      for (const wake of this.#waiting.splice(0)) wake()
    }
  }

  #room(need: number): boolean {
    return this.#used + this.#reserved + need <= this.#max
  }

  /** The index's count of segment bytes (files other programs write are indexed by the watcher). */
  #recount(): void {
    this.#used = this.#init.store.index.totals().bytes
    if (this.#full && this.#used + this.#need() <= this.#max) this.#full = false
  }

  /** Evict hours (one eviction at a time) until `need` fits, or none may go. */
  async #makeRoom(need: number): Promise<void> {
    while (this.#evicting != null) await this.#evicting
    if (this.#used + need <= this.#max) return
    this.#evicting = this.#evictUntil(need)
      .catch((err: unknown) => {
        // Counted as full until the next pass: writes are refused rather than retried at once.
        this.#full = true
        this.#log.error({ err }, 'eviction failed')
      })
      .finally(() => {
        this.#evicting = null
      })
    await this.#evicting
  }

  /** Evict until the stored bytes leave room for `need` (what writes in flight reserved they give back). */
  async #evictUntil(need: number): Promise<void> {
    while (this.#used + need > this.#max && !this.#stopped) {
      const hour = await this.#oldestEvictable()
      if (hour == null) {
        if (!this.#full)
          this.#log.warn(
            { maxBytes: this.#max, usedBytes: this.#used },
            'disk budget full: no hour may be evicted (too few other nodes hold them); fetching paused'
          )
        this.#full = true
        return
      }
      await this.#evict(hour)
    }
    this.#full = false
  }

  /**
   * The oldest hour holding segment files that other nodes keep (`othersKeep`), looked at oldest
   * first, `candidatesPerPass` at most; each is marked as being evicted while it is asked about.
   */
  async #oldestEvictable(): Promise<{ channel: string; quality: string; start: number } | null> {
    const { index } = this.#init.store
    const hours: Array<{ channel: string; quality: string; start: number }> = []
    for (const channel of index.channels())
      for (const quality of index.qualities(channel))
        for (const h of index.hourSummaries(channel, quality))
          if (h.segments + h.hidden > 0) hours.push({ channel, quality, start: h.start })
    hours.sort((a, b) => a.start - b.start)
    let asked = 0
    for (const hour of hours) {
      const key = `${hour.channel}/${hour.quality}/${hour.start}`
      if (unexpired(this.#promised, key)) continue
      if (asked++ >= DISK_BUDGET_DEFAULTS.candidatesPerPass) break
      // Claimed until the eviction ends (#evict): promised to nobody while it is decided and done.
      this.#claims.add(key)
      let kept = false
      try {
        kept = await this.#init.othersKeep(hour.channel, hour.quality, hour.start)
      } catch (err) {
        this.#log.debug({ err, ...hour }, 'could not ask whether others keep an hour')
      } finally {
        if (!kept) this.#claims.delete(key)
      }
      if (kept) return hour
    }
    return null
  }

  /**
   * Another node asks this one to keep an hour while it evicts its own copy: promised (with this
   * node's digest of the hour, for the asker to compare sets) unless this node does not hold it,
   * is evicting it itself, or holds `maxPromises` promises. A promise keeps the hour here for
   * `promiseMs`.
   */
  promise(channel: string, quality: string, hourUs: number): { promised: true; digest: string } | { promised: false; why: string } {
    const key = `${channel}/${quality}/${hourUs}`
    const summary = this.#init.store.index.hourSummaries(channel, quality, hourUs, hourUs + 1)[0]
    if (summary == null || summary.segments === 0 || this.isEvicted({ channel, quality, start: hourUs }))
      return { promised: false, why: 'not held here' }
    if (this.#claims.has(key)) return { promised: false, why: 'being evicted here' }
    pruneExpired(this.#promised)
    if (!this.#promised.has(key) && this.#promised.size >= DISK_BUDGET_DEFAULTS.maxPromises)
      return { promised: false, why: 'too many promises' }
    this.#promised.delete(key)
    this.#promised.set(key, Date.now() + DISK_BUDGET_DEFAULTS.promiseMs)
    return { promised: true, digest: summary.digest }
  }

  async #evict(hour: { channel: string; quality: string; start: number }): Promise<void> {
    const { store, reconciler } = this.#init
    const ref = { channel: hour.channel, quality: hour.quality, hour: formatHour(hour.start) }
    const key = `${hour.channel}/${hour.quality}/${hour.start}`
    let removal: Awaited<ReturnType<typeof removeHourSegments>>
    try {
      // Marked first: a fetch queued for this hour must not bring it back once it is gone.
      this.#mark(key)
      await this.#save()
      // Downloads into the hour that began before the mark land first, then go with the rest.
      const dir = store.hourDir(ref)
      for (const until = Date.now() + INFLIGHT_WAIT_MS; Date.now() < until && [...store.inflight].some((p) => p.startsWith(dir)); )
        await sleep(50)
      removal = await removeHourSegments(store, reconciler, ref, this.#log)
    } finally {
      this.#claims.delete(key)
    }
    this.#totals.hours++
    this.#totals.segments += removal.segments
    this.#totals.bytes += removal.bytes
    this.#totals.last = new Date().toISOString()
    this.#recount()
    this.#log.info(
      { ...ref, segments: removal.segments, bytes: removal.bytes, usedBytes: this.#used, maxBytes: this.#max },
      'evicted an hour'
    )
  }

  #mark(key: string, at = Date.now()): void {
    this.#evicted.delete(key)
    this.#evicted.set(key, at)
    if (this.#evicted.size > DISK_BUDGET_DEFAULTS.maxEvictedHours) this.#evicted.delete(this.#evicted.keys().next().value!)
  }

  async #save(): Promise<void> {
    await replaceFile(this.#init.stateFile, JSON.stringify({ evicted: [...this.#evicted] }))
  }

  async #load(): Promise<void> {
    let text: string
    try {
      text = await readFile(this.#init.stateFile, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    try {
      const { evicted } = JSON.parse(text) as { evicted: Array<[string, number]> }
      for (const [key, at] of evicted) if (typeof key === 'string' && Number.isSafeInteger(at)) this.#mark(key, at)
    } catch (err) {
      // Losing the marks costs a backfill of what was evicted (and another eviction), not data.
      this.#log.warn({ err, file: this.#init.stateFile }, 'evicted hours file unreadable; starting without it')
    }
  }
}
