/**
 * Retention: removes the segment files of hours older than a horizon, then — only once no segment
 * file is left in the hour — its tombstones, and the index follows each step (reconcile of the hour,
 * so disk stays the truth and a crash at any point leaves nothing reconcile cannot fix).
 *
 * Tombstones go last because a tombstone must outlive the segment it covers: a segment file seen
 * without its tombstone would be indexed, served and announced again. Replication never fetches an
 * hour older than the horizon (the node narrows the replication window to it), so nothing removed
 * here comes back from a peer.
 */
import { rmdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '../lib/logger.ts'
import { silentLogger } from '../lib/logger.ts'
import type { Reconciler } from './reconcile.ts'
import { TOMBSTONE_EXT } from './segment-name.ts'
import { removeHourSegments } from './hour-removal.ts'
import { fsyncDir } from './durable-file.ts'
import type { SegmentStore } from './segment-store.ts'
import { MICROS_PER_HOUR, hourStart } from './time.ts'

const RETENTION_INTERVAL_MS = 10 * 60_000

export interface RetentionInit {
  store: SegmentStore
  /** The node's reconciler: its per-hour lock keeps a rescan and a removal from interleaving. */
  reconciler: Reconciler
  /** Hours that ended more than this many days ago are removed. */
  days: number
  log?: Logger
  /** Between passes. @default 600000 (10 min) */
  intervalMs?: number
}

export interface RetentionReport {
  hours: number
  segments: number
  tombstones: number
  bytes: number
  /** Hours whose segments could not all be removed (their tombstones were kept). */
  incomplete: number
}

/** First µs kept: every hour starting before it has ended more than `days` ago. */
export function retentionHorizon(days: number, nowUs = Date.now() * 1000): number {
  return hourStart(nowUs - days * 24 * MICROS_PER_HOUR)
}

export class Retention {
  /** Totals since start (metrics). */
  readonly totals: RetentionReport = { hours: 0, segments: 0, tombstones: 0, bytes: 0, incomplete: 0 }
  readonly #init: RetentionInit
  readonly #log: Logger
  readonly #shutdown = new AbortController()
  #timer: NodeJS.Timeout | null = null
  #running: Promise<unknown> | null = null

  constructor(init: RetentionInit) {
    if (!Number.isSafeInteger(init.days) || init.days < 1)
      throw new RangeError(`retention days must be a positive integer, got ${init.days}`)
    this.#init = init
    this.#log = init.log ?? silentLogger
  }

  /** First pass now, then one every interval. */
  async start(): Promise<void> {
    const tick = (): void => {
      this.#running = this.runOnce({ signal: this.#shutdown.signal })
        .catch((err) => {
          if (!this.#shutdown.signal.aborted) this.#log.error({ err }, 'retention pass failed')
        })
        .finally(() => {
          this.#running = null
          if (this.#shutdown.signal.aborted) return
          this.#timer = setTimeout(tick, this.#init.intervalMs ?? RETENTION_INTERVAL_MS)
          this.#timer.unref()
        })
    }
    tick()
  }

  async stop(): Promise<void> {
    this.#shutdown.abort()
    if (this.#timer != null) clearTimeout(this.#timer)
    await this.#running
  }

  /** One pass over every hour of the index older than the horizon. */
  async runOnce(options: { signal?: AbortSignal; nowUs?: number } = {}): Promise<RetentionReport> {
    const { index } = this.#init.store
    const horizon = retentionHorizon(this.#init.days, options.nowUs)
    const report: RetentionReport = { hours: 0, segments: 0, tombstones: 0, bytes: 0, incomplete: 0 }
    const removed: string[] = []
    for (const channel of index.channels()) {
      for (const quality of index.qualities(channel)) {
        for (const hour of index.hourSummaries(channel, quality, 0, horizon)) {
          options.signal?.throwIfAborted()
          const before = report.hours
          await this.#expireHour(channel, quality, hour.hour, report)
          if (report.hours > before) removed.push(`${channel}/${quality}/${hour.hour}`)
        }
      }
    }
    for (const key of Object.keys(report) as Array<keyof RetentionReport>) this.totals[key] += report[key]
    if (report.hours > 0 || report.incomplete > 0) {
      // The hours by name, but a bounded line: a first pass on an old tree may remove thousands.
      const names = removed.length > 20 ? [...removed.slice(0, 10), `… ${removed.length - 20} more …`, ...removed.slice(-10)] : removed
      this.#log.info(
        { ...report, removed: names, keptFrom: new Date(horizon / 1000).toISOString(), days: this.#init.days },
        'retention removed expired hours'
      )
    }
    return report
  }

  async #expireHour(channel: string, quality: string, hour: string, report: RetentionReport): Promise<void> {
    const { store, reconciler } = this.#init
    const dir = store.hourDir({ channel, quality, hour })
    const removal = await removeHourSegments(store, reconciler, { channel, quality, hour }, this.#log)
    report.segments += removal.segments
    report.bytes += removal.bytes
    if (removal.left > 0) {
      // A segment file stays (being written, or it could not be removed): so do the tombstones.
      report.incomplete++
      return
    }
    const { names } = removal
    let tombstones = 0
    for (const name of names) {
      if (!name.endsWith(TOMBSTONE_EXT)) continue
      await unlink(join(dir, name)).then(
        () => {
          tombstones++
        },
        (err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err
        }
      )
    }
    if (tombstones > 0) await fsyncDir(dir)
    report.tombstones += tombstones
    await reconciler.reconcileHour(channel, quality, hour, { tempGraceMs: null })
    // Only succeeds when empty: names that are not ours (and the hidden .corrupt files) stay.
    await rmdir(dir).catch(() => {})
    report.hours++
    this.#log.debug({ channel, quality, hour, segments: removal.segments, tombstones }, 'retention removed an hour')
  }
}
