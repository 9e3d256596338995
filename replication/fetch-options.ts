/** Options of the backfill client: defaults in one place, validated once at construction. */
import type { Logger } from '../lib/logger.ts'
import type { Dispatcher } from 'undici'
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
  /**
   * A name queued before its hour was evicted (storage/disk-budget.ts) is dropped when its turn
   * comes, not downloaded into the hour just emptied.
   */
  unwanted?: (ref: SegmentRef) => boolean
  /** Called when a transfer from a peer was aborted for going under `minBytesPerSecond`. For peer scoring; must not throw. */
  onSlowTransfer?: (peerUrl: string, ref: SegmentRef) => void
  /**
   * The URL this node serves from, sent with every segment request (http/upload-slots.ts): a busy
   * peer counts the download against its upload slots, and names this node to others once it has it.
   */
  ownUrl?: string
  /** Composed into the dispatcher every request to a peer goes through, first outermost (node/hooks.ts). */
  interceptors?: Dispatcher.DispatcherComposeInterceptor[]
  /**
   * Segments waiting in the queue (running ones included), over all peers. Past it the one with
   * the oldest start goes (live hours are what viewers want; old ones come back with the next
   * repair), or the new one is refused if it is the oldest. One entry costs about 2.5 KiB (the
   * item, its name and hash, candidate list, waiter and the caller's pending promise; measured with
   * 16,384 wants and a forced GC), so a full queue holds about 40 MiB. @default 16384
   */
  maxQueued?: number
  /**
   * Queued segments that may ask one peer. Past it, that peer is not offered for a new segment
   * (refused, counted): one peer announcing or listing fake names holds at most this much of the
   * queue. Above a repair session's QUEUE_AHEAD plus a real hour. @default 4096
   */
  maxQueuedPerPeer?: number
  /**
   * Peer URLs with state kept (backoff, counters); past it the one longest known that no queued
   * segment may ask and that is idle and not backing off is forgotten. Busy answers name peers
   * (up to 32 per segment), so a liar could otherwise grow it with every segment. One is ~300 B:
   * 4,096 ≈ 1.2 MiB. @default 4096
   */
  maxPeersTracked?: number
  /**
   * A body that brings fewer bytes than this per second over a `rateWindowMs` window is aborted
   * as slow (`fetchErrors.slow`), the peer backs off and is scored down. 32 KiB/s is a sixth of
   * the slowest real stream (a 2 s segment of 400 kB): an honest link is far above it, a peer
   * holding slots with a trickle is not. @default 32768
   */
  minBytesPerSecond?: number
  /** The window (and grace) over which a body's rate is measured. @default 5000 */
  rateWindowMs?: number
  /**
   * Download slots (of `concurrency`) only peers not recently slow may take, so peers whose bodies
   * never end cannot hold every slot. At most `concurrency - 1`. @default 2
   */
  reservedSlots?: number
  /** How long a peer counts as slow after a slow transfer (a stored segment clears it). @default 60000 */
  slowMemoryMs?: number
  /** Failed downloads are logged as one summary line per peer per this interval. @default 30000 */
  failureLogIntervalMs?: number
  /**
   * Names in a row a peer answered 404/410 for: past it, the peer is asked nothing for
   * `notFoundPauseMs`. A liar announcing thousands of names it does not serve is banned by its
   * `unserved_name` penalties a few seconds after its first 404s; until then, this keeps the node
   * from asking it for all of them. An honest peer that purged an hour just after listing it
   * loses only the pause. @default 64
   */
  notFoundRun?: number
  /** @default 5000 */
  notFoundPauseMs?: number
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
  badHashForgetMs: 600_000,
  maxQueued: 16_384,
  maxQueuedPerPeer: 4096,
  maxPeersTracked: 4096,
  minBytesPerSecond: 32 * 1024,
  rateWindowMs: 5000,
  reservedSlots: 2,
  slowMemoryMs: 60_000,
  failureLogIntervalMs: 30_000,
  notFoundRun: 64,
  notFoundPauseMs: 5000
})

/** Upper bound of any backoff, ms: however long a peer has failed, it is tried again within a minute. */
export const MAX_BACKOFF_MS = 60_000

/** Names with (peer, name) pairs of bad bytes remembered at once; past it, the oldest is forgotten. */
export const BAD_HASH_MEMORY = 10_000

/**
 * Names kept from one hour listing; the rest are dropped and counted (`invalidNames`). A real hour
 * of 0.5 s segments is 7,200 names per recording; two recordings of it (full and suspect, or two
 * recorders) with a tombstone for every segment of one still fit. A 50,000-name listing is a lie.
 */
export const MAX_LISTING_NAMES = 16_384

/** Banned peer URLs remembered at once (the peer score bans at most this many ids at a time too). */
export const MAX_BANNED_PEERS = 4096

/**
 * Peers one queued segment may ask: those it was wanted from plus those busy answers named. Holders
 * refer askers on (http/upload-slots.ts), so without a bound a chain of peers naming made-up
 * holders would grow an item for ever; a real swarm's tree is a few levels of 2–4.
 */
export const MAX_ITEM_CANDIDATES = 32

/** Connections kept per peer beyond the download slots, so listings never queue behind a slow download. */
export const SPARE_CONNECTIONS = 2

export type FetcherOptions = Readonly<typeof FETCHER_DEFAULTS>

const HOOKS = ['onHashMismatch', 'onSlowTransfer', 'unwanted'] as const
const KNOWN = new Set(['store', 'log', 'interceptors', 'ownUrl', ...HOOKS, ...Object.keys(FETCHER_DEFAULTS)])

export function resolveFetcherOptions(init: FetcherInit): FetcherOptions {
  if (init?.store == null) throw new InvalidParametersError('store is required')
  for (const key of Object.keys(init)) {
    if (!KNOWN.has(key)) throw new InvalidParametersError(`unknown fetcher option '${key}'`)
  }
  if (init.interceptors != null && !(Array.isArray(init.interceptors) && init.interceptors.every((i) => typeof i === 'function'))) {
    throw new InvalidParametersError('interceptors must be an array of functions')
  }
  for (const hook of HOOKS) {
    if (init[hook] != null && typeof init[hook] !== 'function') throw new InvalidParametersError(`${hook} must be a function`)
  }
  const out: Record<string, number> = {}
  for (const [key, fallback] of Object.entries(FETCHER_DEFAULTS)) {
    const value = (init as unknown as Record<string, unknown>)[key] ?? fallback
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new InvalidParametersError(`${key} must be a positive integer, got ${String(value)}`)
    }
    out[key] = value
  }
  // Some slot must stay open to every peer.
  out.reservedSlots = Math.min(out.reservedSlots!, out.concurrency! - 1)
  if (out.maxQueuedPerPeer! > out.maxQueued!) out.maxQueuedPerPeer = out.maxQueued!
  return Object.freeze(out as FetcherOptions)
}
