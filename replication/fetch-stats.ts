/** Counters of the backfill client, in total and per peer, and how a failure is labelled. */
import { type ErrorLabels, errorCode, labelError } from '../lib/http-client.ts'

/** `slow`: a body under the minimum rate, aborted. */
export type FetchErrorKind = 'timeout' | 'slow' | 'connect' | 'http_4xx' | 'http_5xx' | 'too_large' | 'aborted' | 'other'
const FETCH_ERROR_KINDS: readonly FetchErrorKind[] = ['timeout', 'slow', 'connect', 'http_4xx', 'http_5xx', 'too_large', 'aborted', 'other']

export interface FetchCounters {
  segmentsFetched: number
  bytesFetched: number
  hashMismatches: number
  /** 404/410 answers: the peer lacks the name (also counted in fetchErrors.http_4xx). */
  notFound: number
  /** 503 busy answers: the peer's upload slots were full (not an error; its holders were asked). */
  busy: number
  /** Every failed segment request, by kind (hash mismatches are counted on their own). */
  fetchErrors: Record<FetchErrorKind, number>
  listingErrors: number
  invalidNames: number
}

export interface PeerFetchStats extends FetchCounters {
  /** Transfers from this peer right now (a download stops counting once its body has arrived). */
  active: number
  /** Consecutive failures (reset by any answer); drives the backoff. */
  failures: number
  /** Names in a row it answered 404/410 for (reset by a stored segment). */
  notFoundRun: number
  /** Until then (ms since the epoch) the peer is paused for such a run: what it offers is not queued; 0 when not. */
  notFoundUntil: number
  /** No download from this peer before this time, ms since the epoch; 0 when none. */
  backoffUntil: number
  /** Until then (ms since the epoch) the peer counts as slow and may not take a reserved slot; 0 when not. */
  slowUntil: number
}

export interface FetchStats extends FetchCounters {
  /** Wanted segments waiting for a slot, a peer or a retry. */
  queued: number
  /** Downloads in flight. */
  active: number
  /** want() answered without a request: already in the index, or tombstoned. */
  skippedPresent: number
  skippedTombstoned: number
  /** Candidates not offered because they sent bad bytes for that name before. */
  skippedBadHash: number
  /** Wanted segments given up (attempts used up or no peer left). */
  itemsFailed: number
  /**
   * Candidates or segments the queue's bounds turned away: a peer over its share (the segment
   * refused when no other peer was offered), or the oldest segment evicted when the queue is full.
   */
  queueDropped: number
  /** Candidates not offered, or withdrawn, because their peer is banned. */
  skippedBanned: number
  peers: Record<string, PeerFetchStats>
}

export function emptyCounters(): FetchCounters {
  return {
    segmentsFetched: 0,
    bytesFetched: 0,
    hashMismatches: 0,
    notFound: 0,
    busy: 0,
    fetchErrors: Object.fromEntries(FETCH_ERROR_KINDS.map((kind) => [kind, 0])) as Record<FetchErrorKind, number>,
    listingErrors: 0,
    invalidNames: 0
  }
}

export function copyCounters<T extends FetchCounters>(c: T): T {
  return { ...c, fetchErrors: { ...c.fetchErrors } }
}

/** A connection broken after the peer answered is `other`; statuses are labelled by the caller, which sees the answer. */
const FETCH_LABELS: ErrorLabels<FetchErrorKind> = {
  own: new Map([
    ['SEGMESH_ERR_TRANSFER_TIMEOUT', 'timeout'],
    ['SEGMESH_ERR_TRANSFER_SLOW', 'slow'],
    ['SEGMESH_ERR_FETCHER_STOPPED', 'aborted'],
    ['SEGMESH_ERR_FETCH_CANCELLED', 'aborted']
  ]),
  transport: { connect: 'connect', timeout: 'timeout', network: 'other', aborted: 'aborted', too_large: 'too_large' },
  otherwise: 'other'
}

export function errorKind(err: unknown): FetchErrorKind {
  return labelError(err, FETCH_LABELS)
}

/** A short text for logs and `lastError`: the code first, as callers match on it. */
export function describeError(err: unknown): string {
  const code = errorCode(err)
  const message = err instanceof Error ? err.message : String(err)
  return code == null ? message : `${code}: ${message}`
}
