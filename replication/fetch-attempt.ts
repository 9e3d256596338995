/**
 * One download attempt of one segment from one peer, and what its failure means for the item:
 * drop that peer for it (it answered, but cannot give us the right bytes), retry elsewhere
 * (the peer is slow, down or overloaded), or stop (shutdown, cancel, tombstone).
 */
import { type Dispatcher, request } from 'undici'
import { abandonBody, checkLength, discardBody, limitBody, readWhole } from '../lib/http-client.ts'
import type { Logger } from '../lib/logger.ts'
import type { SegmentRef } from '../storage/segment-name.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import { SlowTransferError, TransferTimeoutError } from './fetch-errors.ts'
import { segmentPath } from './fetch-http.ts'
import type { FetcherOptions } from './fetch-options.ts'
import { type FetchCounters, type FetchErrorKind, describeError, errorKind } from './fetch-stats.ts'
import { combineSignals } from '../lib/signals.ts'

/**
 * Body bytes undici may buffer ahead of the store (default 64 KiB). Reads then return what has
 * piled up while the last chunk was written: ~2 chunks per 800 KB segment instead of ~7, so fewer
 * writes, hash calls and async steps; at most this much memory per download.
 */
const BODY_READ_AHEAD = 1024 * 1024

export type AttemptResult =
  | { kind: 'stored'; bytes: number }
  | { kind: 'tombstoned' }
  /** This peer will not be asked for this item again; `notFound`: it answered 404/410. */
  | { kind: 'drop-peer'; error: string; notFound?: boolean }
  /** The peer sent bytes that do not match the name: dropped for this item, and remembered. */
  | { kind: 'bad-hash'; error: string }
  /** Try again later; `peerFault` puts the peer into backoff; `slow`: its body went under the minimum rate. */
  | { kind: 'retry'; error: string; peerFault: boolean; slow?: boolean }
  /**
   * The peer's upload slots are full (http/upload-slots.ts): ask it again after `retryMs`, and
   * meanwhile the peers it named, which fetched the segment from it. Not the peer's fault.
   */
  | { kind: 'busy'; error: string; holders: string[]; retryMs: number }
  /** Stopped or cancelled: `error` is 'stopped' or 'cancelled'. */
  | { kind: 'aborted'; error: string }

export interface AttemptContext {
  store: SegmentStore
  dispatcher: Dispatcher
  options: FetcherOptions
  /** The fetcher's shutdown signal. */
  shutdown: AbortSignal
  log: Logger
  /** Update a counter in the totals and in `url`'s own. */
  count: (url: string, update: (counters: FetchCounters) => void) => void
  /** Request headers: the peer header with this node's URL, when it has one. */
  headers: Record<string, string>
}

/**
 * GET the segment from `peerUrl` and stream it into the store. Never throws. `onReceived` runs once
 * the body's last byte arrived, before the store's fsync, rename and index: the peer is done.
 */
export async function downloadSegment(
  ctx: AttemptContext,
  ref: SegmentRef,
  peerUrl: string,
  itemSignal: AbortSignal,
  onReceived?: () => void
): Promise<AttemptResult> {
  const target = peerUrl + segmentPath(ref)
  const what = `GET ${target}`
  const max = ctx.options.maxSegmentBytes
  const ms = ctx.options.transferTimeoutMs
  const watchdog = new RateWatchdog(ctx.options, what)
  const { signal, clear } = combineSignals(
    [ctx.shutdown, itemSignal, watchdog.signal],
    ms,
    () => new TransferTimeoutError(`${what}: not done within ${ms} ms`)
  )
  let response: Dispatcher.ResponseData | null = null
  let bodyFailed = false
  try {
    response = await request(target, {
      dispatcher: ctx.dispatcher,
      signal,
      highWaterMark: BODY_READ_AHEAD,
      headers: ctx.headers
    })
    if (response.statusCode === 503) return await busyAnswer(ctx, peerUrl, response, what)
    if (response.statusCode !== 200) {
      await discardBody(response)
      return httpFailure(ctx, peerUrl, response.statusCode, what)
    }
    checkLength(response, max, what)
    // Streamed: the store pulls the next chunk only once it has written the last (back-pressure).
    watchdog.start()
    const onEnd = (): void => {
      watchdog.stop()
      onReceived?.()
    }
    const body = limitBody(response.body, max, what, {
      onError: () => {
        bodyFailed = true
      },
      onEnd,
      onBytes: (n) => {
        watchdog.bytes += n
      }
    })
    const result = await ctx.store.writeSegment(ref, body, { signal })
    return { kind: 'stored', bytes: result.size }
  } catch (err) {
    return failure(ctx, peerUrl, err, { signal, itemSignal, slow: watchdog.signal.aborted, answered: response != null, bodyFailed })
  } finally {
    watchdog.stop()
    clear()
    abandonBody(response)
  }
}

/** Largest busy answer read; a few holder URLs fit many times over. */
const MAX_BUSY_BYTES = 4096

/** A 503: `busy` with holders from a segmesh peer's upload slots, or any other overload. */
async function busyAnswer(ctx: AttemptContext, url: string, response: Dispatcher.ResponseData, what: string): Promise<AttemptResult> {
  let body: unknown = null
  try {
    body = JSON.parse((await readWhole(response, MAX_BUSY_BYTES, what)).toString('utf8'))
  } catch {
    // Not ours (a proxy's page, or too long): an ordinary 5xx.
  }
  const answer = body as { error?: unknown; holders?: unknown; retryMs?: unknown } | null
  if (answer?.error !== 'busy') return httpFailure(ctx, url, 503, what)
  ctx.count(url, (c) => c.busy++)
  const holders = Array.isArray(answer.holders)
    ? answer.holders.filter((h): h is string => typeof h === 'string').slice(0, MAX_HOLDERS)
    : []
  const retryMs = Number.isSafeInteger(answer.retryMs)
    ? Math.min(Math.max(answer.retryMs as number, MIN_BUSY_RETRY_MS), MAX_BUSY_RETRY_MS)
    : MAX_BUSY_RETRY_MS
  return { kind: 'busy', error: `${what}: busy (upload slots full)`, holders, retryMs }
}

/** Holders taken from one busy answer. */
const MAX_HOLDERS = 8
/** Bounds on the wait a busy answer asks for, ms. */
const MIN_BUSY_RETRY_MS = 50
const MAX_BUSY_RETRY_MS = 5000

function countError(ctx: AttemptContext, url: string, kind: FetchErrorKind): void {
  ctx.count(url, (c) => c.fetchErrors[kind]++)
}

function httpFailure(ctx: AttemptContext, url: string, status: number, what: string): AttemptResult {
  const error = `${what}: HTTP ${status}`
  if (status >= 500) {
    countError(ctx, url, 'http_5xx')
    return { kind: 'retry', error, peerFault: true }
  }
  if (status >= 400) {
    countError(ctx, url, 'http_4xx')
    // Busy or slow to read our request: the peer is fine, just not now.
    if (status === 408 || status === 429) return { kind: 'retry', error, peerFault: true }
    if (status === 404 || status === 410) {
      ctx.count(url, (c) => c.notFound++)
      return { kind: 'drop-peer', error, notFound: true }
    }
    return { kind: 'drop-peer', error }
  }
  countError(ctx, url, 'other')
  return { kind: 'drop-peer', error }
}

interface FailureContext {
  /** The attempt's combined signal (shutdown, item, transfer ceiling). */
  signal: AbortSignal
  itemSignal: AbortSignal
  /** The rate watchdog aborted the body. */
  slow: boolean
  /** Response headers had arrived. */
  answered: boolean
  /** The body stream itself failed (as opposed to the store consuming it). */
  bodyFailed: boolean
}

function failure(ctx: AttemptContext, url: string, err: unknown, at: FailureContext): AttemptResult {
  const code = (err as { code?: unknown } | null)?.code
  const error = describeError(err)
  if (code === 'SEGMESH_ERR_HASH_MISMATCH') {
    ctx.count(url, (c) => c.hashMismatches++)
    ctx.log.debug({ peer: url, err }, 'peer sent bytes that do not match the name')
    return { kind: 'bad-hash', error }
  }
  if (code === 'SEGMESH_ERR_TOMBSTONED') return { kind: 'tombstoned' }
  if (ctx.shutdown.aborted || at.itemSignal.aborted) {
    countError(ctx, url, 'aborted')
    return { kind: 'aborted', error: ctx.shutdown.aborted ? 'stopped' : 'cancelled' }
  }
  // Neither the shutdown nor the item aborted the combined signal: the watchdog or the transfer ceiling did.
  const kind = at.slow ? 'slow' : at.signal.aborted ? 'timeout' : errorKind(err)
  if (at.answered && !at.bodyFailed && kind === 'other') {
    // The peer's bytes were fine; our disk was not. Not the peer's fault, and not counted as a fetch error.
    ctx.log.error({ err, peer: url }, 'could not store a fetched segment')
    return { kind: 'retry', error, peerFault: false }
  }
  countError(ctx, url, kind)
  ctx.log.debug({ peer: url, kind, err }, 'segment request failed')
  if (kind === 'too_large') return { kind: 'drop-peer', error }
  return { kind: 'retry', error, peerFault: true, ...(kind === 'slow' ? { slow: true } : {}) }
}

/**
 * Aborts a body that brings fewer than `minBytesPerSecond` over any `rateWindowMs` window (the
 * first window is the grace). `readTimeoutMs` only catches a silent peer; a trickle of a byte
 * every few seconds would hold a slot until the transfer ceiling.
 */
class RateWatchdog {
  readonly #controller = new AbortController()
  readonly #minBytes: number
  readonly #windowMs: number
  readonly #what: string
  #timer: NodeJS.Timeout | null = null
  #mark = 0
  bytes = 0

  constructor(options: FetcherOptions, what: string) {
    this.#windowMs = options.rateWindowMs
    this.#minBytes = Math.ceil((options.minBytesPerSecond * options.rateWindowMs) / 1000)
    this.#what = what
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  start(): void {
    this.#timer = setInterval(() => {
      const got = this.bytes - this.#mark
      this.#mark = this.bytes
      if (got >= this.#minBytes) return
      this.stop()
      this.#controller.abort(new SlowTransferError(`${this.#what}: ${got} bytes in ${this.#windowMs} ms, under ${this.#minBytes}`))
    }, this.#windowMs)
    this.#timer.unref()
  }

  stop(): void {
    if (this.#timer != null) clearInterval(this.#timer)
    this.#timer = null
  }
}
