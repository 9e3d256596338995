/** Options of the backfill client: defaults in one place, validated once at construction. */
import type { Logger } from '../storage/logger.ts'
import type { SegmentRef } from '../storage/segment-name.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import { InvalidParametersError } from './fetch-errors.ts'

export interface FetcherInit {
  store: SegmentStore
  log?: Logger
  /** Segment downloads at once, over all peers. @default 8 */
  concurrency?: number
  /** Segment downloads at once from one peer. @default 3 */
  perPeerConcurrency?: number
  /** TCP connect. @default 5000 */
  connectTimeoutMs?: number
  /** Wait for headers, and between any two body reads. @default 10000 */
  readTimeoutMs?: number
  /** Ceiling on one whole transfer, so a trickling peer cannot hold a slot. @default 120000 */
  transferTimeoutMs?: number
  /** A larger Content-Length or body is aborted and counted as too_large. @default 268435456 (256 MiB) */
  maxSegmentBytes?: number
  /** Limit on a JSON response (listings, digests). @default 4194304 (4 MiB) */
  maxListingBytes?: number
  /** First retry/backoff delay; doubles per failure, jittered, capped at MAX_BACKOFF_MS. @default 1000 */
  retryBaseMs?: number
  /**
   * Transient failures (timeouts, connect errors, 408/429/5xx) per wanted segment, over all its
   * peers, before it is given up. A peer that answers it lacks the name only drops out. @default 5
   */
  maxAttempts?: number
  /**
   * How long a peer that sent bytes not matching a segment's name is not asked for that name again.
   * Names are content-addressed, so asking again later can never store wrong bytes; it only costs
   * a download, and the peer may hold the only copy (its bytes were damaged on the way). @default 600000
   */
  badHashForgetMs?: number
  /**
   * Called when a peer sent bytes that do not match the segment's name (the fetcher itself already
   * skips that peer for that name, for `badHashForgetMs`). For peer scoring; must not throw.
   */
  onHashMismatch?: (peerUrl: string, ref: SegmentRef) => void
}

export const FETCHER_DEFAULTS = Object.freeze({
  concurrency: 8,
  perPeerConcurrency: 3,
  connectTimeoutMs: 5000,
  readTimeoutMs: 10_000,
  transferTimeoutMs: 120_000,
  maxSegmentBytes: 256 * 1024 ** 2,
  maxListingBytes: 4 * 1024 ** 2,
  retryBaseMs: 1000,
  maxAttempts: 5,
  badHashForgetMs: 600_000
})

/** Upper bound of any backoff, ms (the reference's 5 s × 2^4 ≈ 80 s, rounded down). */
export const MAX_BACKOFF_MS = 60_000

/** Names with (peer, name) pairs of bad bytes remembered at once; past it, the oldest is forgotten. */
export const BAD_HASH_MEMORY = 10_000

/** Connections kept per peer beyond the download slots, so listings never queue behind a slow download. */
export const SPARE_CONNECTIONS = 2

export type FetcherOptions = Readonly<typeof FETCHER_DEFAULTS>

const KNOWN = new Set(['store', 'log', 'onHashMismatch', ...Object.keys(FETCHER_DEFAULTS)])

export function resolveFetcherOptions (init: FetcherInit): FetcherOptions {
  if (init?.store == null) throw new InvalidParametersError('store is required')
  for (const key of Object.keys(init)) {
    if (!KNOWN.has(key)) throw new InvalidParametersError(`unknown fetcher option '${key}'`)
  }
  if (init.onHashMismatch != null && typeof init.onHashMismatch !== 'function') throw new InvalidParametersError('onHashMismatch must be a function')
  const out: Record<string, number> = {}
  for (const [key, fallback] of Object.entries(FETCHER_DEFAULTS)) {
    const value = (init as unknown as Record<string, unknown>)[key] ?? fallback
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new InvalidParametersError(`${key} must be a positive integer, got ${String(value)}`)
    }
    out[key] = value
  }
  return Object.freeze(out as FetcherOptions)
}

/** Delay before retry number `n` (1-based): exponential, jittered into [½, 1] of it, capped. */
export function backoffMs (baseMs: number, n: number): number {
  const ceiling = Math.min(baseMs * 2 ** Math.min(Math.max(n - 1, 0), 30), Math.max(MAX_BACKOFF_MS, baseMs))
  return Math.round(ceiling * (0.5 + Math.random() * 0.5))
}
