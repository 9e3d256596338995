/**
 * The cutter's job table: a fixed number of ffmpeg slots (a job that finds none is refused at once
 * with a retry hint, rather than queued behind work that may take minutes), and what every job is
 * doing, for /status and the logs. In memory only.
 */
import type { Logger } from '../lib/logger.ts'
import { formatInstant } from '../storage/time.ts'
import { CutterBusyError } from './errors.ts'
import type { TimeRange } from './plan.ts'

export type JobKind = 'fast' | 'full' | 'frame'
export type JobState = 'running' | 'streaming' | 'done' | 'failed' | 'aborted'

export interface JobInfo {
  kind: JobKind
  channel: string
  quality: string
  ranges: readonly TimeRange[]
  /** Output format: ts, mp4, png, jpg. */
  format: string
}

export interface JobStatus {
  id: number
  kind: JobKind
  channel: string
  quality: string
  format: string
  ranges: Array<{ start: string; end: string }>
  state: JobState
  startedAt: string
  elapsedSeconds: number
  /** Output produced so far, when ffmpeg reports it. */
  outputSeconds: number | null
  totalSeconds: number | null
  /** 0…1, when known. */
  progress: number | null
  /** Output seconds per wall-clock second. */
  speed: number | null
  error?: string
}

/** ffmpeg jobs at once (--cut-concurrency); past it, 503 with Retry-After. */
export const CUT_JOB_DEFAULTS = Object.freeze({ concurrency: 2 })

/** Progress lines in the log at most this often per job. */
const LOG_EVERY_MS = 10_000

export class CutJob {
  readonly id: number
  info: JobInfo
  readonly startedAt = Date.now()
  state: JobState = 'running'
  outputUs: number | null = null
  totalUs: number | null = null
  error: string | undefined
  /** What ended a failed job, for the log (an FfmpegError carries ffmpeg's stderr). */
  cause: unknown
  endedAt: number | null = null
  readonly #table: CutJobs
  readonly #abort = new AbortController()
  #holdsSlot = true
  #lastLog = Date.now()

  constructor(table: CutJobs, id: number, info: JobInfo) {
    this.#table = table
    this.id = id
    this.info = info
  }

  /** Aborted when the cutter stops: everything the job runs listens to it. */
  get signal(): AbortSignal {
    return this.#abort.signal
  }

  abort(reason: unknown): void {
    this.#abort.abort(reason)
  }

  /** ffmpeg reported `outUs` of output (of `totalUs`). */
  progress(outUs: number, totalUs: number | null = this.totalUs): void {
    this.outputUs = outUs
    this.totalUs = totalUs
    const now = Date.now()
    if (now - this.#lastLog >= LOG_EVERY_MS) {
      this.#lastLog = now
      this.#table.log.info({ job: this.status() }, 'cut progress')
    }
  }

  /** The ffmpeg part is over (a fast cut goes on streaming copied bytes without a slot). */
  releaseSlot(): void {
    if (!this.#holdsSlot) return
    this.#holdsSlot = false
    if (this.state === 'running') this.state = 'streaming'
    this.#table.released(this)
  }

  /** The job is over; idempotent (the first outcome wins). */
  finish(state: 'done' | 'failed' | 'aborted', error?: unknown): void {
    if (this.endedAt != null) return
    this.releaseSlot()
    this.state = state
    this.endedAt = Date.now()
    // ffmpeg reports progress every half second: a short job ends before its last report.
    if (state === 'done' && this.totalUs != null) this.outputUs = this.totalUs
    if (error != null) {
      this.error = error instanceof Error ? error.message : String(error)
      this.cause = error
    }
    this.#table.finished(this)
  }

  /** Seconds until done, when progress says; null when unknown. */
  eta(): number | null {
    if (this.outputUs == null || this.totalUs == null || this.outputUs <= 0) return null
    const elapsed = (Date.now() - this.startedAt) / 1000
    return (elapsed * (this.totalUs - this.outputUs)) / this.outputUs
  }

  status(): JobStatus {
    const elapsed = ((this.endedAt ?? Date.now()) - this.startedAt) / 1000
    const out = this.outputUs == null ? null : this.outputUs / 1e6
    const total = this.totalUs == null ? null : this.totalUs / 1e6
    return {
      id: this.id,
      kind: this.info.kind,
      channel: this.info.channel,
      quality: this.info.quality,
      format: this.info.format,
      ranges: this.info.ranges.map((r) => ({ start: formatInstant(r.start), end: formatInstant(r.end) })),
      state: this.state,
      startedAt: new Date(this.startedAt).toISOString(),
      elapsedSeconds: Math.round(elapsed * 10) / 10,
      outputSeconds: out == null ? null : Math.round(out * 10) / 10,
      totalSeconds: total == null ? null : Math.round(total * 10) / 10,
      progress: out == null || total == null || total <= 0 ? null : Math.min(1, Math.round((out / total) * 1000) / 1000),
      speed: out == null || elapsed <= 0 ? null : Math.round((out / elapsed) * 10) / 10,
      ...(this.error != null ? { error: this.error } : {})
    }
  }
}

export interface CutJobsInit {
  /** Jobs running ffmpeg at once. @default 2 */
  concurrency?: number
  log: Logger
  /** Finished jobs kept for /status. @default 10 */
  keepFinished?: number
}

export class CutJobs {
  readonly concurrency: number
  readonly log: Logger
  readonly #keepFinished: number
  readonly #active = new Set<CutJob>()
  #slotsUsed = 0
  readonly #recent: CutJob[] = []
  #nextId = 1
  #idle: Array<() => void> = []

  constructor(init: CutJobsInit) {
    this.concurrency = init.concurrency ?? CUT_JOB_DEFAULTS.concurrency
    this.log = init.log
    this.#keepFinished = init.keepFinished ?? 10
  }

  /** Take an ffmpeg slot, or throw CutterBusyError (503) with a Retry-After estimate. */
  acquire(info: JobInfo): CutJob {
    if (this.#slotsUsed >= this.concurrency) {
      throw new CutterBusyError(`all ${this.concurrency} ffmpeg slots are busy; try again shortly`, this.retryAfterSeconds())
    }
    const job = new CutJob(this, this.#nextId++, info)
    this.#slotsUsed++
    this.#active.add(job)
    const s = job.status()
    const entry = { job: { id: s.id, kind: s.kind, format: s.format, channel: s.channel, quality: s.quality, ranges: s.ranges } }
    // Frames are many and quick: only cuts are worth a line each.
    if (info.kind === 'frame') this.log.debug(entry, 'frame started')
    else this.log.info(entry, 'cut started')
    return job
  }

  /** When a slot is likely free again: the soonest estimated end of a running job, 1–60 s. */
  retryAfterSeconds(): number {
    const etas = [...this.#active].map((j) => j.eta()).filter((e): e is number => e != null)
    const soonest = etas.length > 0 ? Math.min(...etas) : 5
    return Math.max(1, Math.min(60, Math.ceil(soonest)))
  }

  get slotsUsed(): number {
    return this.#slotsUsed
  }

  /** Running jobs, then the most recent finished ones. */
  status(): JobStatus[] {
    return [...this.#active, ...[...this.#recent].reverse()].map((j) => j.status())
  }

  /** Abort every unfinished job. */
  abortAll(reason: unknown): void {
    for (const job of this.#active) job.abort(reason)
  }

  /** Resolves once no job is unfinished. */
  async idle(): Promise<void> {
    if (this.#active.size === 0) return
    await new Promise<void>((resolve) => this.#idle.push(resolve))
  }

  released(_job: CutJob): void {
    this.#slotsUsed--
  }

  finished(job: CutJob): void {
    this.#active.delete(job)
    this.#recent.push(job)
    if (this.#recent.length > this.#keepFinished) this.#recent.shift()
    const s = job.status()
    const entry = {
      job: {
        id: s.id,
        kind: s.kind,
        format: s.format,
        channel: s.channel,
        quality: s.quality,
        state: s.state,
        elapsedSeconds: s.elapsedSeconds,
        outputSeconds: s.outputSeconds
      }
    }
    if (job.state === 'failed') this.log.warn({ ...entry, err: job.cause }, 'cut failed')
    else if (job.info.kind === 'frame') this.log.debug(entry, 'frame finished')
    else this.log.info(entry, 'cut finished')
    if (this.#active.size === 0) for (const resolve of this.#idle.splice(0)) resolve()
  }
}
