/**
 * The cutter as the HTTP layer sees it: rough, fast and full cuts and frames over runs of
 * segments that the caller selected, with a bounded number of ffmpeg jobs (past that: 503) and a
 * job table for /status. `stop()` aborts every job (killing its ffmpeg, removing its temp files).
 */
import { tmpdir } from 'node:os'
import type { Readable } from 'node:stream'
import type { BufferPool } from '../lib/buffer-pool.ts'
import { type Logger, silentLogger } from '../lib/logger.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import { fastCut } from './fast-cut.ts'
import { type FrameFormat, extractFrame } from './frame.ts'
import { type FullOutput, fullCut } from './full-cut.ts'
import { type CutJob, CutJobs, type JobInfo } from './jobs.ts'
import type { Run, TimeRange } from './plan.ts'
import { roughCut } from './rough-cut.ts'
import type { IndexedSegment } from '../storage/segment-index.ts'
import { sweepJobDirs } from './temp.ts'
import { findMismatch, timeRuns } from './timing.ts'

export type CutType = 'rough' | 'fast' | 'full'

export interface CutterInit {
  store: SegmentStore
  /** Where jobs keep re-encoded edges and spooled MP4s. @default os.tmpdir() */
  tempDir?: string
  /** Cut and frame jobs running ffmpeg at once. @default 2 */
  concurrency?: number
  log?: Logger
}

export interface CutRequest {
  channel: string
  quality: string
  /** The ranges asked for (for the job table). */
  ranges: readonly TimeRange[]
  /** Their data, in output order: see runsOf(). Never empty. */
  runs: readonly Run[]
  type: CutType
  format: 'ts' | 'mp4'
  /** A fast cut across a codec or resolution change becomes a full cut instead of failing. */
  fallbackToFull?: boolean
  /**
   * For a rough cut, resolves once a segment's bytes are on this node's disk (read-through fetches
   * what the node lacks as the cut streams); the other types are given segments that are all here.
   */
  ready?: (segment: IndexedSegment) => Promise<void>
}

/**
 * A fast cut streams ffmpeg's output; a rough cut's `chunks` are lent (rough-cut.ts: each valid
 * until the next is asked for); a full cut is a file.
 */
export type CutResult = (FullOutput | { kind: 'stream'; stream: Readable } | { kind: 'chunks'; chunks: AsyncIterable<Buffer> }) & {
  /** The type that actually ran (a fast cut may have fallen back to full). */
  type: CutType
  jobId: number | null
}

export class Cutter {
  readonly store: SegmentStore
  readonly tempDir: string
  readonly jobs: CutJobs
  readonly log: Logger

  constructor(init: CutterInit) {
    this.store = init.store
    this.tempDir = init.tempDir ?? tmpdir()
    this.log = init.log ?? silentLogger
    this.jobs = new CutJobs({ ...(init.concurrency != null ? { concurrency: init.concurrency } : {}), log: this.log })
  }

  /** Remove temp folders that jobs of a crashed process left behind. */
  async start(): Promise<void> {
    const removed = await sweepJobDirs(this.tempDir)
    if (removed > 0) this.log.info({ removed, tempDir: this.tempDir }, 'removed leftover cut temp folders')
  }

  /** Abort every job and wait (a bounded time) for them to kill ffmpeg and remove their temp files. */
  async stop(timeoutMs = 5000): Promise<void> {
    this.jobs.abortAll(new Error('the cutter is stopping'))
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      this.jobs.idle(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs)
      })
    ])
    clearTimeout(timer)
  }

  /**
   * Start a cut. Throws before any output exists for what can still be an HTTP error (busy 503,
   * stream mismatch 409, ffmpeg failing at once); later failures end the returned stream early.
   */
  async cut(request: CutRequest, options: { signal?: AbortSignal; buffers?: BufferPool } = {}): Promise<CutResult> {
    if (request.type === 'rough') {
      const chunks = roughCut(this.store, request.runs, { ready: request.ready, buffers: options.buffers })
      return { kind: 'chunks', chunks, type: 'rough', jobId: null }
    }
    const job = this.jobs.acquire(this.#info(request, request.type, request.format))
    try {
      const signal = this.#signal(job, options.signal)
      const ctx = { store: this.store, tempRoot: this.tempDir, job, log: this.log, signal }
      const timings = await timeRuns(this.store, request.runs, { signal })
      let type = request.type
      if (type === 'fast') {
        const mismatch = findMismatch(timings)
        if (mismatch == null) return { kind: 'stream', stream: await fastCut(ctx, timings), type, jobId: job.id }
        if (request.fallbackToFull !== true) throw mismatch
        this.log.info({ job: job.id, reason: mismatch.message }, 'fast cut falls back to a full cut')
        type = 'full'
        job.info = this.#info(request, 'full', request.format)
      }
      return { ...(await fullCut(ctx, timings, request.format)), type, jobId: job.id }
    } catch (err) {
      job.finish(job.signal.aborted || options.signal?.aborted === true ? 'aborted' : 'failed', err)
      throw err
    }
  }

  /** The first frame at or after `at`, from `around` (the run of segments holding `at`). */
  async frame(
    request: { channel: string; quality: string; at: number; around: Run; format: FrameFormat },
    options: { signal?: AbortSignal } = {}
  ): Promise<Buffer> {
    const job = this.jobs.acquire({
      kind: 'frame',
      channel: request.channel,
      quality: request.quality,
      ranges: [{ start: request.at, end: request.at }],
      format: request.format
    })
    try {
      const image = await extractFrame(this.store, request.around, request.at, request.format, this.#signal(job, options.signal))
      job.finish('done')
      return image
    } catch (err) {
      job.finish(job.signal.aborted || options.signal?.aborted === true ? 'aborted' : 'failed', err)
      throw err
    }
  }

  #signal(job: CutJob, client: AbortSignal | undefined): AbortSignal {
    return client == null ? job.signal : AbortSignal.any([job.signal, client])
  }

  #info(request: CutRequest, kind: 'fast' | 'full', format: string): JobInfo {
    return { kind, channel: request.channel, quality: request.quality, ranges: request.ranges, format }
  }
}
