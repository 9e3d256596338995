/**
 * Picks up segments and tombstones that other programs (a recorder sharing the folder) write
 * while the node runs. inotify watches cover the tree's folders down to the live hours only
 * (a watch per hour folder of a month-long tree would exhaust the kernel's limit); every event
 * just schedules a reconcile of the hour it touched. A periodic full rescan is the safety net for
 * anything the watches miss (older hours, overflowed event queues, network filesystems).
 *
 * The store's own writes fire the same events. A reconcile that ran while one of them was between
 * its rename and its index update would index the file too and announce it a second time, so an
 * hour is reconciled only once no write of the store is in flight in it (`inflight`). The wait is
 * bounded and does not cover tombstones, so a reconcile also announces only what its own index
 * update changed (`SegmentIndex.apply` reports it): the store's file indexed first is not news.
 */
import { type FSWatcher, watch } from 'node:fs'
import { mkdir, readdir } from 'node:fs/promises'
import { join, sep } from 'node:path'
import type { Logger } from '../lib/logger.ts'
import { silentLogger } from '../lib/logger.ts'
import type { ReconcileReport, Reconciler } from './reconcile.ts'
import { isValidPathName } from './segment-name.ts'
import { MICROS_PER_HOUR, parseHour } from './time.ts'

export interface TreeWatcherInit {
  segmentsDir: string
  reconciler: Reconciler
  log?: Logger
  /** Full rescan period; 0 turns it off. */
  rescanIntervalMs?: number
  /** Hour folders younger than this many hours are watched. @default 2 */
  liveHours?: number
  /** Events for one hour within this window cause one reconcile. @default 50 */
  debounceMs?: number
  /** Temp files older than this are recovered by the periodic rescan (never by the watches). */
  tempGraceMs?: number
  /** Temp paths the store is writing now (SegmentStore.inflight): their hours wait for them. */
  inflight?: ReadonlySet<string>
  /** Called after each periodic rescan. */
  onRescan?: (report: ReconcileReport) => void
}

type Level = 'root' | 'channel' | 'quality' | 'hour'

/** How long an hour's reconcile waits at most for the store's writes in it, ms. */
const MAX_WAIT_MS = 10_000

export class TreeWatcher {
  readonly #init: TreeWatcherInit
  readonly #log: Logger
  readonly #watches = new Map<string, FSWatcher>()
  readonly #pending = new Map<string, NodeJS.Timeout>()
  readonly #running = new Set<Promise<unknown>>()
  #rewireTimer: NodeJS.Timeout | null = null
  #rescanTimer: NodeJS.Timeout | null = null
  #rescanning = false
  #started = false
  /** The first wiring is done: folders found after it are new while we run. */
  #wired = false

  constructor(init: TreeWatcherInit) {
    this.#init = init
    this.#log = init.log ?? silentLogger
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    await mkdir(this.#init.segmentsDir, { recursive: true })
    await this.#rewire()
    // New hours start every hour and old ones stop being live: re-check the watched set.
    this.#rewireTimer = setInterval(() => {
      this.#track(this.#rewire())
    }, 60_000)
    this.#rewireTimer.unref()
    const every = this.#init.rescanIntervalMs ?? 0
    if (every > 0) {
      this.#rescanTimer = setInterval(() => {
        this.#track(this.rescan())
      }, every)
      this.#rescanTimer.unref()
    }
  }

  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    if (this.#rewireTimer != null) clearInterval(this.#rewireTimer)
    if (this.#rescanTimer != null) clearInterval(this.#rescanTimer)
    for (const t of this.#pending.values()) clearTimeout(t)
    this.#pending.clear()
    for (const w of this.#watches.values()) w.close()
    this.#watches.clear()
    await Promise.allSettled([...this.#running])
  }

  /** Full reconcile of the tree; skipped if one is already running. */
  async rescan(): Promise<ReconcileReport | null> {
    if (this.#rescanning) return null
    this.#rescanning = true
    try {
      const report = await this.#init.reconciler.reconcileAll({ tempGraceMs: this.#init.tempGraceMs ?? null })
      this.#init.onRescan?.(report)
      return report
    } catch (err) {
      this.#log.error({ err }, 'periodic rescan failed')
      return null
    } finally {
      this.#rescanning = false
    }
  }

  #track(p: Promise<unknown>): void {
    this.#running.add(p)
    p.catch((err) => this.#log.error({ err }, 'watcher task failed')).finally(() => this.#running.delete(p))
  }

  /** Watch the root, every channel and quality folder, and the live hour folders. */
  async #rewire(): Promise<void> {
    if (!this.#started) return
    const root = this.#init.segmentsDir
    const liveFrom = Date.now() * 1000 - (this.#init.liveHours ?? 2) * MICROS_PER_HOUR
    const wanted = new Set<string>([root])
    this.#watchDir(root, 'root')
    for (const channel of await subdirs(root, isValidPathName)) {
      const channelDir = join(root, channel)
      wanted.add(channelDir)
      this.#watchDir(channelDir, 'channel')
      for (const quality of await subdirs(channelDir, isValidPathName)) {
        const qualityDir = join(channelDir, quality)
        wanted.add(qualityDir)
        // A quality folder that appeared while we run may already hold hours of any age.
        if (!this.#watches.has(qualityDir) && this.#wired) {
          for (const hour of await subdirs(qualityDir, (h) => parseHour(h) != null)) this.#schedule(channel, quality, hour)
        }
        this.#watchDir(qualityDir, 'quality', channel, quality)
        for (const hour of await subdirs(qualityDir, (h) => (parseHour(h) ?? 0) >= liveFrom - MICROS_PER_HOUR)) {
          const hourDir = join(qualityDir, hour)
          wanted.add(hourDir)
          if (!this.#watches.has(hourDir)) {
            this.#watchDir(hourDir, 'hour', channel, quality, hour)
            // Files may have landed before the watch existed.
            this.#schedule(channel, quality, hour)
          }
        }
      }
    }
    this.#wired = true
    for (const [path, w] of this.#watches) {
      if (!wanted.has(path)) {
        w.close()
        this.#watches.delete(path)
      }
    }
  }

  #watchDir(path: string, level: Level, channel?: string, quality?: string, hour?: string): void {
    if (this.#watches.has(path) || !this.#started) return
    let w: FSWatcher
    try {
      w = watch(path, { persistent: false }, (_event, name) => {
        if (level === 'hour') this.#schedule(channel!, quality!, hour!)
        else if (level === 'quality' && name != null && parseHour(name) != null) {
          this.#track(this.#rewire())
          this.#schedule(channel!, quality!, name)
        } else this.#track(this.#rewire())
      })
    } catch (err) {
      this.#log.debug({ err, path }, 'cannot watch folder')
      return
    }
    w.on('error', () => {
      w.close()
      this.#watches.delete(path)
    })
    this.#watches.set(path, w)
  }

  #schedule(channel: string, quality: string, hour: string): void {
    if (!this.#started) return
    const key = `${channel}/${quality}/${hour}`
    if (this.#pending.has(key)) return
    const dir = join(this.#init.segmentsDir, channel, quality, hour) + sep
    const latest = Date.now() + MAX_WAIT_MS
    const fire = (): void => {
      // Bounded, so a steady stream of the store's writes cannot hold back other programs' files.
      if (Date.now() < latest && this.#storeWriting(dir)) {
        this.#pending.set(key, setTimeout(fire, this.#init.debounceMs ?? 50))
        return
      }
      this.#pending.delete(key)
      this.#track(this.#init.reconciler.reconcileHour(channel, quality, hour, { quick: true, tempGraceMs: null }))
    }
    this.#pending.set(key, setTimeout(fire, this.#init.debounceMs ?? 50))
  }

  #storeWriting(dir: string): boolean {
    for (const path of this.#init.inflight ?? []) if (path.startsWith(dir)) return true
    return false
  }
}

async function subdirs(dir: string, valid: (name: string) => boolean): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true })
    return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.') && valid(e.name)).map((e) => e.name)
  } catch {
    return []
  }
}
