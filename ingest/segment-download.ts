/**
 * Downloading one playlist entry into the store, wubloader's downloader rules: init section first
 * and hashed with the body; `full`, or `suspect` when the fetch took too
 * long, the body was empty or the worker saw a timestamp skew; `partial` when the body broke after
 * bytes arrived; retried (with a fresh pool) until a full copy exists, the URL is gone (403, or
 * 404 once the playlist no longer lists it: a listed entry's 404 is a CDN edge behind its origin
 * and is retried a few times), or the give-up time has passed. The store's one write path does temp → fsync → rename → index →
 * announce.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { type Dispatcher, request } from 'undici'
import { abandonBody } from '../lib/http-client.ts'
import type { SegmentRef } from '../storage/segment-name.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import type { IngestOptions } from './constants.ts'
import { HttpStatusError } from './errors.ts'
import { type DownloadErrorKind, createPool, errorKind, rangeHeaders } from './http-fetch.ts'
import type { ByteRange, InitSection } from './media-playlist.ts'

export type RecordedType = 'full' | 'suspect' | 'partial'

export interface SegmentJob {
  channel: string
  quality: string
  uri: string
  byterange: ByteRange | null
  start: number
  duration: number
  init: InitSection | null
  /** The worker saw a timestamp skew at or before this entry: never `full`. */
  skewed: boolean
}

export interface DownloadContext {
  store: SegmentStore
  /** The worker's pool, used for first attempts; a retry gets a pool of its own. */
  pool: Dispatcher
  options: IngestOptions
  /** The init section's bytes (the worker caches them). */
  initBytes: (section: InitSection, dispatcher: Dispatcher, signal: AbortSignal) => Promise<Buffer>
  /** Aborted when the recorder stops: no new attempts, no more waiting. */
  stopping: AbortSignal
  /** Aborted when the stop grace is over: a body still arriving is cut and kept as `partial`. */
  cut: AbortSignal
  /** True while segment writes are paused (disk full): no attempt starts then. */
  paused: () => boolean
  /** True while the worker's latest media playlist still lists the job's entry. */
  listed: (job: SegmentJob) => boolean
  onStored: (type: RecordedType, ref: SegmentRef, size: number) => void
  onError: (kind: DownloadErrorKind, err: unknown) => void
}

export type AttemptOutcome = { kind: 'stored'; type: RecordedType } | { kind: 'gone'; status: 403 | 404 }

/**
 * One GET of `job.uri` through `dispatcher`. Resolves once something was stored (any type) or the
 * URL is gone; throws when nothing was stored (headers never came, a bad status, no byte arrived).
 */
async function downloadAttempt(ctx: DownloadContext, job: SegmentJob, dispatcher: Dispatcher): Promise<AttemptOutcome> {
  const signal = AbortSignal.any([ctx.cut, AbortSignal.timeout(ctx.options.attemptTimeoutMs)])
  const began = performance.now()
  const init = job.init == null ? null : await ctx.initBytes(job.init, dispatcher, signal)
  const res = await request(job.uri, { dispatcher, signal, headers: rangeHeaders(job.byterange) })
  try {
    if (res.statusCode === 403 || res.statusCode === 404) return { kind: 'gone', status: res.statusCode }
    if (res.statusCode !== (job.byterange == null ? 200 : 206)) throw new HttpStatusError(job.uri, res.statusCode)
    const body = res.body[Symbol.asyncIterator]()
    // Nothing is written until the first byte (or a clean empty end) arrives: an attempt that
    // fails before that leaves no file at all.
    const first = await body.next()
    let type: RecordedType = 'full'
    let bodyBytes = 0
    let broke: unknown = null
    async function* bytes(): AsyncGenerator<Uint8Array> {
      if (init != null) yield init
      if (first.done !== true) {
        bodyBytes += first.value.length
        yield first.value
        try {
          for (let next = await body.next(); next.done !== true; next = await body.next()) {
            bodyBytes += next.value.length
            yield next.value
          }
        } catch (err) {
          broke = err
        }
      }
      const tookMs = performance.now() - began
      type = broke != null ? 'partial' : job.skewed || bodyBytes === 0 || tookMs >= ctx.options.suspectMs ? 'suspect' : 'full'
    }
    // The store names the file after the body ends, so `type` is read then, when it is known.
    const segment = {
      channel: job.channel,
      quality: job.quality,
      start: job.start,
      duration: job.duration,
      get type() {
        return type
      }
    }
    const written = await ctx.store.recordSegment(segment, bytes())
    if (broke != null) ctx.onError('cut', broke)
    ctx.onStored(type, written.ref, written.size)
    return { kind: 'stored', type }
  } finally {
    abandonBody(res)
  }
}

/** What identifies an entry in a playlist: its URI, and its byte range of a shared resource. */
export function entryKey(entry: { uri: string; byterange: ByteRange | null }): string {
  return entry.byterange == null ? entry.uri : `${entry.uri} ${entry.byterange.offset}+${entry.byterange.length}`
}

/** A full copy (visible or tombstoned) of this start and duration is already indexed. */
function hasFullCopy(store: SegmentStore, job: SegmentJob): boolean {
  return store.index
    .segmentsStartingIn(job.channel, job.quality, job.start, job.start + 1, { hidden: true })
    .some((s) => s.start === job.start && s.duration === job.duration && s.type === 'full')
}

export type EntryResult = RecordedType | 'exists' | 'gone' | 'given-up' | 'stopped' | 'tombstoned'

/** Attempts until a `full` or `suspect` copy is stored, or there is no point trying any more. */
export async function recordEntry(ctx: DownloadContext, job: SegmentJob): Promise<EntryResult> {
  const began = Date.now()
  let last: EntryResult = 'given-up'
  let notFound = 0
  for (let attempt = 0; ; attempt++) {
    while (ctx.paused() && !ctx.stopping.aborted && Date.now() - began < ctx.options.giveUpMs) {
      await sleep(ctx.options.retryDelayMs, undefined, { signal: ctx.stopping }).catch(() => {})
    }
    if (ctx.stopping.aborted) return last === 'partial' ? 'partial' : 'stopped'
    if (hasFullCopy(ctx.store, job)) return 'exists'
    const fresh = attempt === 0 ? null : createPool(ctx.options)
    try {
      const outcome = await downloadAttempt(ctx, job, fresh ?? ctx.pool)
      if (outcome.kind === 'gone') {
        if (outcome.status === 403 || notFound >= ctx.options.notFoundRetries || !ctx.listed(job)) return gone(ctx)
        notFound++
        await sleep(ctx.options.notFoundDelayMs * (0.5 + Math.random()), undefined, { signal: ctx.stopping }).catch(() => {})
        // A poll meanwhile may have dropped the entry: then the 404 is final.
        if (!ctx.listed(job) && !ctx.stopping.aborted) return gone(ctx)
        continue
      }
      if (outcome.type !== 'partial') return outcome.type
      last = 'partial'
    } catch (err) {
      // Cut short by the stop before a byte arrived: nothing was stored, nothing failed.
      if (ctx.cut.aborted) return last === 'partial' ? 'partial' : 'stopped'
      const kind = errorKind(err)
      ctx.onError(kind, err)
      if (kind === 'tombstoned') return 'tombstoned'
    } finally {
      void fresh?.destroy().catch(() => {})
    }
    if (Date.now() - began >= ctx.options.giveUpMs) return last
    const pause = ctx.options.retryDelayMs * (0.5 + Math.random())
    await sleep(pause, undefined, { signal: ctx.stopping }).catch(() => {})
  }
}

function gone(ctx: DownloadContext): EntryResult {
  ctx.onError('gone', null)
  return 'gone'
}
