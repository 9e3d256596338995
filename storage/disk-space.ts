/**
 * The disk-full guard of the segments folder. New segment writes pause (the store refuses them, the
 * fetcher stops starting downloads, a recorder waits) when
 * - free space falls under `minFreeBytes` (`low`: before the disk is really full), or
 * - a write fails with ENOSPC or EDQUOT (the store reports it; its temp file is already gone).
 * A probe every `probeIntervalMs` resumes them once free space is back over the threshold and, after
 * a failed write, at least `resumeMarginBytes` over what was free when it failed, and a probe file
 * of `probeBytes` can be written, fsync'd and removed (a quota shows only there, not in statfs).
 * Tombstones are never paused: they are tiny, and a deletion must not wait for space.
 */
import { mkdir, open, statfs, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { type Logger, silentLogger } from '../lib/logger.ts'

export interface DiskSpaceInit {
  /** The folder whose filesystem is watched (the segments folder). */
  dir: string
  /** @default 1 GiB */
  minFreeBytes?: number
  /** @default 5000 */
  probeIntervalMs?: number
  /** Free space needed over what was left when a write failed; 0 turns it off. @default 64 MiB (some segments) */
  resumeMarginBytes?: number
  /** @default 1 MiB */
  probeBytes?: number
  log?: Logger
}

export type DiskPause = 'low' | 'ENOSPC' | 'EDQUOT'

export interface DiskState {
  /** New segment writes are paused. */
  full: boolean
  reason: DiskPause | null
  /** When the pause began (ISO 8601), null when not paused. */
  since: string | null
  /** Free bytes for unprivileged users at the last probe. */
  freeBytes: number | null
  minFreeBytes: number
  /** Times writing was paused since start. */
  pauses: number
}

export const DISK_SPACE_DEFAULTS = Object.freeze({
  minFreeBytes: 1024 ** 3,
  probeIntervalMs: 5000,
  resumeMarginBytes: 64 * 1024 ** 2,
  probeBytes: 1024 ** 2
})

const DISK_FULL_CODES = new Set(['ENOSPC', 'EDQUOT'])

/** Whether an fs error means the disk (or the user's quota) is full. */
export function isDiskFullError(err: unknown): boolean {
  return DISK_FULL_CODES.has(String((err as { code?: unknown } | null)?.code))
}

export class DiskSpace {
  readonly #dir: string
  readonly #opts: Record<keyof typeof DISK_SPACE_DEFAULTS, number>
  readonly #log: Logger
  readonly #listeners = new Set<(state: DiskState) => void>()
  #reason: DiskPause | null = null
  #since: number | null = null
  #freeAtFailure = 0
  #freeBytes: number | null = null
  #pauses = 0
  #timer: NodeJS.Timeout | null = null
  #probing: Promise<void> | null = null

  constructor(init: DiskSpaceInit) {
    this.#dir = init.dir
    const d = DISK_SPACE_DEFAULTS
    this.#opts = {
      minFreeBytes: init.minFreeBytes ?? d.minFreeBytes,
      probeIntervalMs: init.probeIntervalMs ?? d.probeIntervalMs,
      resumeMarginBytes: init.resumeMarginBytes ?? d.resumeMarginBytes,
      probeBytes: init.probeBytes ?? d.probeBytes
    }
    this.#log = init.log ?? silentLogger
  }

  get full(): boolean {
    return this.#reason != null
  }

  state(): DiskState {
    return {
      full: this.full,
      reason: this.#reason,
      since: this.#since == null ? null : new Date(this.#since).toISOString(),
      freeBytes: this.#freeBytes,
      minFreeBytes: this.#opts.minFreeBytes,
      pauses: this.#pauses
    }
  }

  /** Called with the new state whenever writing pauses or resumes. */
  onChange(listener: (state: DiskState) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Check at once, then every probe interval. */
  async start(): Promise<void> {
    await mkdir(this.#dir, { recursive: true })
    await this.probe()
    const tick = (): void => {
      this.#timer = setTimeout(() => {
        void this.probe().finally(() => {
          if (this.#timer != null) tick()
        })
      }, this.#opts.probeIntervalMs)
      this.#timer.unref()
    }
    tick()
  }

  async stop(): Promise<void> {
    if (this.#timer != null) clearTimeout(this.#timer)
    this.#timer = null
    await this.#probing
  }

  /**
   * A write failed: if with ENOSPC or EDQUOT, pause writing and return true. The caller has
   * removed its temp file already, so statfs now shows what is really left.
   */
  async reportWriteError(err: unknown): Promise<boolean> {
    if (!isDiskFullError(err)) return false
    const free = await this.#statFree().catch(() => 0)
    this.#freeAtFailure = free
    this.#freeBytes = free
    this.#pause((err as { code: DiskPause }).code, { err })
    return true
  }

  /** Resolve once writing is not paused (at once if it is not), or reject when `signal` aborts. */
  async waitForSpace(options: { signal?: AbortSignal } = {}): Promise<void> {
    options.signal?.throwIfAborted()
    if (!this.full) return
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        off()
        reject(options.signal!.reason)
      }
      const off = this.onChange((state) => {
        if (state.full) return
        off()
        options.signal?.removeEventListener('abort', onAbort)
        resolve()
      })
      options.signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** One check now (the timer calls it; tests may too). Concurrent calls share one probe. */
  async probe(): Promise<void> {
    this.#probing ??= this.#probe().finally(() => {
      this.#probing = null
    })
    await this.#probing
  }

  async #probe(): Promise<void> {
    let free: number
    try {
      free = await this.#statFree()
    } catch (err) {
      this.#log.warn({ err, dir: this.#dir }, 'could not read free disk space')
      return
    }
    this.#freeBytes = free
    const { minFreeBytes, resumeMarginBytes } = this.#opts
    if (!this.full) {
      if (free < minFreeBytes) this.#pause('low', { freeBytes: free })
      return
    }
    if (free < minFreeBytes) return
    if (this.#reason !== 'low' && resumeMarginBytes > 0 && free < this.#freeAtFailure + resumeMarginBytes) return
    if (!(await this.#probeWrite())) return
    const pausedMs = Date.now() - (this.#since ?? Date.now())
    this.#log.warn(
      { freeBytes: free, pausedSeconds: Math.round(pausedMs / 1000), reason: this.#reason },
      'disk space is back: segment writes resume'
    )
    this.#reason = null
    this.#since = null
    this.#emit()
  }

  async #statFree(): Promise<number> {
    const s = await statfs(this.#dir)
    return s.bavail * s.bsize
  }

  /** Write, fsync and remove a probe file: only a real write shows a full quota. */
  async #probeWrite(): Promise<boolean> {
    const path = join(this.#dir, `.segmesh-space-probe-${process.pid}`)
    try {
      const fh = await open(path, 'w')
      try {
        await fh.write(Buffer.alloc(this.#opts.probeBytes))
        await fh.sync()
      } finally {
        await fh.close()
      }
      return true
    } catch (err) {
      if (!isDiskFullError(err)) this.#log.warn({ err, path }, 'disk space probe failed')
      return false
    } finally {
      await unlink(path).catch(() => {})
    }
  }

  #pause(reason: DiskPause, details: object): void {
    if (this.full) {
      // A real ENOSPC outranks our own threshold: it sets the resume margin.
      if (reason !== 'low') this.#reason = reason
      return
    }
    this.#reason = reason
    this.#since = Date.now()
    this.#pauses++
    this.#log.error(
      { ...details, reason, dir: this.#dir, minFreeBytes: this.#opts.minFreeBytes },
      'disk full: segment writes (fetching, recording) paused until space returns'
    )
    this.#emit()
  }

  #emit(): void {
    const state = this.state()
    for (const listener of this.#listeners) listener(state)
  }
}
