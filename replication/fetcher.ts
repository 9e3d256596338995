/**
 * The backfill client (wubloader's backfiller, over any peer): peers' hour listings, and
 * segments downloaded by exact name from any peer that may have them.
 *
 * want() queues a segment with its candidate peers: peers that claimed to have it (listed or
 * announced it). A pump starts downloads while slots are free, at most `concurrency` in all and
 * `perPeerConcurrency` transfers per peer, so a slow or dead peer only ever holds its own slots. A
 * peer's slot is freed as soon as the body has arrived: the fsync, rename and index that follow
 * keep only a total slot, so durability overlaps the next transfer. Each attempt takes the
 * candidate with the fewest transfers running (round-robin among equals), skipping peers in
 * backoff, so the load spreads over every peer that has the item; when all of them are busy the
 * item waits for a slot rather than asking someone else. The body streams straight into
 * store.writeSegment, which checks the hash before the rename.
 * - Before every attempt: a name the index has (even hidden) is `present`; a tombstoned one is
 *   `tombstoned`. Neither is requested.
 * - 404/410 or another 4xx, an oversized body: that peer is not asked for that item again. These
 *   answers do not use up attempts: each peer gives one at most.
 * - Bytes that do not match the name: the same, and the (peer, name) pair is remembered (bounded,
 *   for `badHashForgetMs`) so a later want() does not offer that peer for that name again until
 *   then; `onHashMismatch` reports it. Forgotten, not forever: the peer may hold the only copy.
 * - Timeouts, connect failures, 408/429/5xx: the peer backs off and the item moves to the next
 *   candidate; the item also waits before asking the same peer again.
 * - One item's failure never touches another's; an item is given up after `maxAttempts` transient
 *   failures or when no candidate is left.
 * Nothing grows without a bound: the queue holds `maxQueued` segments (the oldest start is evicted
 * first) and at most `maxQueuedPerPeer` that may ask any one peer; a listing keeps MAX_LISTING_NAMES
 * names; a body under `minBytesPerSecond` is aborted and its peer kept out of the last
 * `reservedSlots` slots; a banned peer (banPeer) is withdrawn from every queued segment. Waiters
 * that share a signal (the replicator's shutdown) share one listener on it. Failed downloads are
 * logged as one summary line per peer per `failureLogIntervalMs`.
 */
import { type Agent, type Dispatcher, request } from 'undici'
import { type BackoffPolicy, backoffMs } from '../lib/backoff.ts'
import { abandonBody, createAgent, peerDispatcher, discardBody } from '../lib/http-client.ts'
import { type Logger, silentLogger } from '../lib/logger.ts'
import { type SegmentRef, isValidPathName, parseSegmentFileName, parseTombstoneFileName, segmentRelPath } from '../storage/segment-name.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import { parseHour } from '../storage/time.ts'
import { type AttemptContext, type AttemptResult, downloadSegment } from './fetch-attempt.ts'
import {
  FetchCancelledError,
  FetcherStoppedError,
  InvalidListingError,
  InvalidParametersError,
  PeerHttpError,
  TransferTimeoutError
} from './fetch-errors.ts'
import { EvictionOrder } from './fetch-eviction.ts'
import { FailureLog } from './fetch-failure-log.ts'
import { PEER_HEADER, REFERRALS_HEADER, REFERRAL_DEPTH, normalizePeerUrl, peerBase, readJson } from './fetch-http.ts'
import {
  BAD_HASH_MEMORY,
  type FetcherInit,
  type FetcherOptions,
  MAX_BANNED_PEERS,
  MAX_BACKOFF_MS,
  MAX_ITEM_CANDIDATES,
  MAX_LISTING_NAMES,
  SPARE_CONNECTIONS,
  resolveFetcherOptions
} from './fetch-options.ts'
import { type FetchCounters, type FetchStats, type PeerFetchStats, copyCounters, describeError, emptyCounters } from './fetch-stats.ts'
import { combineSignals, shutdownController } from '../lib/signals.ts'

export type FetchOutcome =
  | { status: 'stored'; peer: string; bytes: number }
  | { status: 'present' }
  | { status: 'tombstoned' }
  /** `notFound`: peers that answered 404/410 for a name they had offered. */
  | { status: 'failed'; attempts: number; lastError: string; notFound?: readonly string[] }

interface Waiter {
  readonly item: Item
  readonly resolve: (outcome: FetchOutcome) => void
  readonly signal: AbortSignal | undefined
}

interface Item {
  readonly key: string
  readonly ref: SegmentRef
  /** Normalized peer URLs, in the order they were offered. */
  readonly candidates: string[]
  /** Peers that answered for good that they cannot give this item. */
  readonly excluded: Set<string>
  /** Per peer: no new request for this item before this time (ms), after a transient failure. */
  readonly retryAt: Map<string, number>
  readonly waiters: Set<Waiter>
  /** Index into `candidates` where the round-robin resumes. */
  next: number
  /** Requests made. */
  attempts: number
  /** Transient failures (timeouts, connect, 5xx, busy again): these, not 404s, give the item up. */
  retries: number
  /** Peers that answered busy once: a second busy answer from one naming nobody new is a retry. */
  readonly busyFrom: Set<string>
  /** Candidates busy answers named, with how many referrals led to each (sent as REFERRALS_HEADER). */
  readonly referrals: Map<string, number>
  lastError: string
  /** Peers that answered 404/410 for it. */
  readonly notFound: string[]
  /** Aborts the attempt in flight; null when none runs. */
  running: AbortController | null
  done: boolean
}

type Pick = { kind: 'peer'; url: string } | { kind: 'wait'; until: number } | { kind: 'busy' } | { kind: 'none' }

const failed = (attempts: number, lastError: string): FetchOutcome => ({ status: 'failed', attempts, lastError })

export class Fetcher {
  readonly #store: SegmentStore
  readonly #log: Logger
  readonly #opts: FetcherOptions
  /** Retries of an item and pauses of a failing peer: from retryBaseMs, doubling, spread over [½, 1]. */
  readonly #backoff: BackoffPolicy
  readonly #counters = emptyCounters()
  readonly #skips = { skippedPresent: 0, skippedTombstoned: 0, skippedBadHash: 0, itemsFailed: 0, queueDropped: 0, skippedBanned: 0 }
  readonly #peers = new Map<string, PeerFetchStats>()
  /** Wanted segments not yet settled, keyed by relative path, oldest first. */
  readonly #items = new Map<string, Item>()
  readonly #tasks = new Set<Promise<void>>()
  /**
   * Per name (relative path), peers that sent bytes not matching it, each until when (ms) it is not
   * asked for it; oldest name forgotten first.
   */
  readonly #badHashes = new Map<string, Map<string, number>>()
  readonly #onHashMismatch: FetcherInit['onHashMismatch']
  readonly #onSlowTransfer: FetcherInit['onSlowTransfer']
  readonly #unwanted: FetcherInit['unwanted']
  /** Per peer URL: queued items that may still ask it (candidates not excluded). */
  readonly #wantedFrom = new Map<string, number>()
  /** Queued items by start, for eviction when the queue is full. */
  readonly #order = new EvictionOrder()
  /** Waiters per caller signal: one abort listener per signal, however many wants share it. */
  readonly #signalWaiters = new Map<AbortSignal, Set<Waiter>>()
  /** Peer URLs not asked for anything (banned by the host); oldest forgotten past MAX_BANNED_PEERS. */
  readonly #banned = new Set<string>()
  readonly #failures: FailureLog
  #state: 'idle' | 'started' | 'stopped' = 'idle'
  #shutdown = shutdownController()
  #agent: Agent | null = null
  /** The agent behind the init's interceptors; what every request goes through. */
  #dispatch: Dispatcher | null = null
  readonly #interceptors: Dispatcher.DispatcherComposeInterceptor[]
  readonly #headers: Record<string, string>
  readonly #jsonHeaders: Record<string, string>
  #active = 0
  #timer: NodeJS.Timeout | null = null
  #wakeAt = Number.POSITIVE_INFINITY

  constructor(init: FetcherInit) {
    this.#opts = resolveFetcherOptions(init)
    this.#backoff = { baseMs: this.#opts.retryBaseMs, maxMs: MAX_BACKOFF_MS, spread: [0.5, 1] }
    this.#store = init.store
    this.#log = init.log ?? silentLogger
    this.#onHashMismatch = init.onHashMismatch
    this.#onSlowTransfer = init.onSlowTransfer
    this.#unwanted = init.unwanted
    this.#interceptors = init.interceptors ?? []
    const peer: Record<string, string> = init.ownUrl == null ? {} : { [PEER_HEADER]: init.ownUrl }
    this.#headers = { accept: 'video/mp2t, */*', ...peer }
    this.#jsonHeaders = { accept: 'application/json', ...peer }
    this.#failures = new FailureLog(this.#log, this.#opts.failureLogIntervalMs)
  }

  get [Symbol.toStringTag](): string {
    return '@segmesh/fetcher'
  }

  /** Start downloading. Items wanted before start() wait for it; stop() then start() is allowed. */
  async start(): Promise<void> {
    if (this.#state === 'started') return
    if (this.#shutdown.signal.aborted) this.#shutdown = shutdownController()
    this.#state = 'started'
    this.#pump()
  }

  /**
   * Abort transfers in flight (the store removes their temp files), wait for them, then settle
   * every pending want() as failed with lastError 'stopped'. Later wants fail the same way at once.
   */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return
    this.#state = 'stopped'
    this.#shutdown.abort(new FetcherStoppedError('fetcher stopped'))
    if (this.#timer != null) clearTimeout(this.#timer)
    this.#timer = null
    this.#wakeAt = Number.POSITIVE_INFINITY
    await Promise.allSettled([...this.#tasks])
    for (const item of [...this.#items.values()]) this.#finish(item, failed(item.attempts, 'stopped'))
    this.#failures.flush()
    const agent = this.#agent
    this.#agent = null
    this.#dispatch = null
    await agent?.destroy().catch(() => {})
  }

  /**
   * Ask `peerUrl` for nothing until unbanPeer(): it is withdrawn from every queued segment (a
   * segment left without a peer fails) and not offered again. Transfers already running finish.
   */
  banPeer(peerUrl: string): void {
    const url = normalizePeerUrl(peerUrl)
    if (url == null || this.#banned.has(url)) return
    this.#banned.add(url)
    if (this.#banned.size > MAX_BANNED_PEERS) this.#banned.delete(this.#banned.values().next().value!)
    if (!this.#wantedFrom.has(url)) return
    for (const item of [...this.#items.values()]) {
      if (!item.candidates.includes(url) || item.excluded.has(url)) continue
      this.#skips.skippedBanned++
      this.#exclude(item, url)
      item.lastError = `${url} is banned`
      if (item.running == null && item.candidates.every((c) => item.excluded.has(c)))
        this.#finish(item, failed(item.attempts, item.lastError))
    }
  }

  /**
   * Whether `peerUrl` is banned or in its pause after answering 404 for a run of names: names it
   * offers now would only queue behind that pause (a liar's flood costs the queue nothing).
   */
  refusing(peerUrl: string): boolean {
    const url = normalizePeerUrl(peerUrl)
    if (url == null) return false
    return this.#banned.has(url) || (this.#peers.get(url)?.notFoundUntil ?? 0) > Date.now()
  }

  unbanPeer(peerUrl: string): void {
    const url = normalizePeerUrl(peerUrl)
    if (url != null) this.#banned.delete(url)
  }

  /** GET JSON from a peer (`path` starts with `/`), size-limited, under every timeout. */
  async getJson(peerUrl: string, path: string, options: { signal?: AbortSignal } = {}): Promise<unknown> {
    if (!path.startsWith('/')) throw new InvalidParametersError(`path must start with '/': ${path}`)
    return await this.#getJson(peerBase(peerUrl), path, options.signal)
  }

  /**
   * A peer's hour listing with tombstones: segment and tombstone names, deduplicated. Names that do
   * not parse are dropped and counted (`invalidNames`); `temp` names are dropped silently, as they
   * are never fetched.
   */
  async listHour(
    peerUrl: string,
    channel: string,
    quality: string,
    hour: string,
    options: { signal?: AbortSignal } = {}
  ): Promise<string[]> {
    if (!isValidPathName(channel)) throw new InvalidParametersError(`bad channel '${channel}'`)
    if (!isValidPathName(quality)) throw new InvalidParametersError(`bad quality '${quality}'`)
    if (parseHour(hour) == null) throw new InvalidParametersError(`bad hour '${hour}'`)
    const base = peerBase(peerUrl)
    const body = await this.#getJson(base, `/files/${channel}/${quality}/${hour}?tombstones=true`, options.signal)
    if (!Array.isArray(body)) {
      this.#bump(base, (c) => c.listingErrors++)
      throw new InvalidListingError(`${base}: listing of ${channel}/${quality}/${hour} is not an array`)
    }
    const names = new Set<string>()
    let invalid = 0
    for (const name of body) {
      const kind = typeof name === 'string' ? listedKind(name) : null
      // Past what a real hour holds, every further name is a lie: dropped and counted.
      if (kind == null || (names.size >= MAX_LISTING_NAMES && kind !== 'temp' && !names.has(name as string))) invalid++
      else if (kind !== 'temp') names.add(name as string)
    }
    if (invalid > 0) {
      this.#bump(base, (c) => {
        c.invalidNames += invalid
      })
      this.#log.debug({ peer: base, channel, quality, hour, invalid }, 'dropped invalid names from a listing')
    }
    return [...names]
  }

  /**
   * Queue a segment for download from any of `peers`. Idempotent per name: a second call while the
   * first is pending adds its peers as candidates and shares the outcome. Never rejects: even a
   * failing local index gives `failed`. Aborting `signal` settles this call as failed ('cancelled');
   * the download stops once no caller waits for it.
   */
  async want(ref: SegmentRef, peers: string[], options: { signal?: AbortSignal } = {}): Promise<FetchOutcome> {
    try {
      return await this.#want(ref, peers, options.signal)
    } catch (err) {
      this.#log.error({ err, segment: ref.file }, 'could not queue a segment')
      return failed(0, describeError(err))
    }
  }

  async #want(ref: SegmentRef, peers: string[], signal: AbortSignal | undefined): Promise<FetchOutcome> {
    if (this.#state === 'stopped') return failed(0, 'stopped')
    if (ref.hash == null) return failed(0, `${ref.file} is a temp name`)
    if (signal?.aborted === true) return failed(0, 'cancelled')
    const skip = this.#skip(ref)
    if (skip != null) return skip
    const key = segmentRelPath(ref)
    let item = this.#items.get(key)
    const { accepted, refusal } = this.#acceptable(key, item, peers)
    if (item == null) {
      if (accepted.length === 0) return failed(0, refusal)
      if (!this.#makeRoom(ref.start)) {
        this.#skips.queueDropped++
        return failed(0, 'queue full')
      }
      item = {
        key,
        ref,
        candidates: [],
        excluded: new Set(),
        retryAt: new Map(),
        busyFrom: new Set(),
        referrals: new Map(),
        waiters: new Set(),
        notFound: [],
        next: 0,
        attempts: 0,
        retries: 0,
        lastError: 'no candidate peer',
        running: null,
        done: false
      }
      this.#items.set(key, item)
      this.#order.push(ref.start, key)
      this.#order.compact(this.#items.size, () => [...this.#items.values()].map((i) => ({ start: i.ref.start, key: i.key })))
    }
    this.#addCandidates(item, accepted)
    const queued = item
    const outcome = new Promise<FetchOutcome>((resolve) => this.#addWaiter(queued, resolve, signal))
    // Only this item can have become startable; the rest of the queue is as it was.
    if (this.#state === 'started' && this.#active < this.#opts.concurrency) {
      const now = Date.now()
      this.#arm(this.#tryStart(item, now), now)
    }
    return await outcome
  }

  /**
   * Of `peers`, the normalized URLs `key`'s item may ask that it does not have yet (not banned, no
   * bad bytes for that name lately, under their share of the queue), and why the last was refused.
   */
  #acceptable(key: string, item: Item | undefined, peers: readonly string[]): { accepted: string[]; refusal: string } {
    const liars = this.#liarsOf(key)
    const accepted: string[] = []
    let refusal = 'no candidate peer'
    for (const peer of peers) {
      const url = normalizePeerUrl(peer)
      if (url == null) {
        this.#log.debug({ peer }, 'ignored a candidate that is not an http(s) URL')
      } else if (liars?.has(url) === true) {
        this.#skips.skippedBadHash++
      } else if (this.#banned.has(url)) {
        this.#skips.skippedBanned++
        refusal = `${url} is banned`
      } else if (item?.candidates.includes(url) === true || accepted.includes(url)) {
        // Already offered.
      } else if ((this.#wantedFrom.get(url) ?? 0) >= this.#opts.maxQueuedPerPeer) {
        this.#skips.queueDropped++
        refusal = `queue full for ${url}`
      } else {
        accepted.push(url)
      }
    }
    return { accepted, refusal }
  }

  #addCandidates(item: Item, urls: readonly string[]): void {
    for (const url of urls) {
      item.candidates.push(url)
      this.#wantedFrom.set(url, (this.#wantedFrom.get(url) ?? 0) + 1)
      this.#peer(url)
    }
  }

  stats(): FetchStats {
    const peers: Record<string, PeerFetchStats> = {}
    for (const [url, peer] of this.#peers) peers[url] = copyCounters(peer)
    let running = 0
    for (const item of this.#items.values()) if (item.running != null) running++
    return { ...copyCounters(this.#counters), ...this.#skips, queued: this.#items.size - running, active: this.#active, peers }
  }

  /**
   * Room for one more item starting at `start`: true at once below `maxQueued`; else the queued
   * (not running) item with the oldest start is evicted if it is older than `start`.
   */
  #makeRoom(start: number): boolean {
    if (this.#items.size < this.#opts.maxQueued) return true
    const live = (key: string): boolean => this.#items.has(key)
    const oldest = this.#order.peekStart(live)
    if (oldest == null || oldest >= start) return false
    const victim = this.#order.pop(live, (key) => this.#items.get(key)?.running == null)
    if (victim == null) return false
    const item = this.#items.get(victim.key)!
    if (item.ref.start >= start) {
      this.#order.push(victim.start, victim.key)
      return false
    }
    this.#skips.queueDropped++
    this.#finish(item, failed(item.attempts, 'evicted: queue full'))
    return true
  }

  // --- JSON ----------------------------------------------------------------------------------

  async #getJson(base: string, path: string, callerSignal?: AbortSignal): Promise<unknown> {
    if (this.#state === 'stopped') throw new FetcherStoppedError('fetcher stopped')
    const url = base + path
    const ms = this.#opts.transferTimeoutMs
    const { signal, clear } = combineSignals(
      [this.#shutdown.signal, callerSignal],
      ms,
      () => new TransferTimeoutError(`GET ${url}: not done within ${ms} ms`)
    )
    let response: Dispatcher.ResponseData | null = null
    try {
      response = await request(url, { dispatcher: this.#dispatcher(), signal, headers: this.#jsonHeaders })
      if (response.statusCode !== 200) {
        await discardBody(response)
        throw new PeerHttpError(response.statusCode, `GET ${url}: HTTP ${response.statusCode}`)
      }
      return await readJson(response, this.#opts.maxListingBytes, `GET ${url}`)
    } catch (err) {
      // Our own shutdown or the caller's cancel is not the peer's fault.
      if (!this.#shutdown.signal.aborted && callerSignal?.aborted !== true) {
        this.#bump(base, (c) => c.listingErrors++)
        this.#log.debug({ err, url }, 'peer JSON request failed')
      }
      throw err
    } finally {
      clear()
      abandonBody(response)
    }
  }

  // --- queue ---------------------------------------------------------------------------------

  #dispatcher(): Dispatcher {
    this.#agent ??= createAgent({
      connections: this.#opts.perPeerConcurrency + SPARE_CONNECTIONS,
      connectTimeoutMs: this.#opts.connectTimeoutMs,
      readTimeoutMs: this.#opts.readTimeoutMs
    })
    this.#dispatch ??= peerDispatcher(this.#agent, this.#interceptors)
    return this.#dispatch
  }

  #attemptContext(headers = this.#headers): AttemptContext {
    return {
      store: this.#store,
      dispatcher: this.#dispatcher(),
      options: this.#opts,
      shutdown: this.#shutdown.signal,
      log: this.#log,
      count: (url, update) => this.#bump(url, update),
      headers
    }
  }

  #peer(url: string): PeerFetchStats {
    let peer = this.#peers.get(url)
    if (peer == null) {
      peer = { ...emptyCounters(), active: 0, failures: 0, notFoundRun: 0, notFoundUntil: 0, backoffUntil: 0, slowUntil: 0 }
      this.#peers.set(url, peer)
      if (this.#peers.size > this.#opts.maxPeersTracked) this.#forgetIdlePeer(url)
    }
    return peer
  }

  /** Forget the peer known longest that nothing needs (no queued segment, no transfer, no pause); none: the table stays over. */
  #forgetIdlePeer(keep: string): void {
    const now = Date.now()
    for (const [url, p] of this.#peers) {
      const idle = p.active === 0 && p.backoffUntil <= now && p.notFoundUntil <= now && p.slowUntil <= now
      if (url !== keep && idle && !this.#wantedFrom.has(url)) {
        this.#peers.delete(url)
        return
      }
    }
  }

  /** Update a counter in the totals and in the peer's own. */
  #bump(url: string, update: (counters: FetchCounters) => void): void {
    update(this.#counters)
    update(this.#peer(url))
  }

  /** The outcome of a want() that needs no request, or null. */
  #skip(ref: SegmentRef): FetchOutcome | null {
    const { index } = this.#store
    if (index.isTombstoned(ref)) {
      this.#skips.skippedTombstoned++
      return { status: 'tombstoned' }
    }
    if (index.getSegment(ref, { hidden: true }) != null) {
      this.#skips.skippedPresent++
      return { status: 'present' }
    }
    if (this.#unwanted?.(ref) === true) return failed(0, 'no longer wanted (its hour was evicted)')
    return null
  }

  #addWaiter(item: Item, resolve: (outcome: FetchOutcome) => void, signal?: AbortSignal): void {
    const waiter: Waiter = { item, resolve, signal }
    item.waiters.add(waiter)
    if (signal == null) return
    let waiters = this.#signalWaiters.get(signal)
    if (waiters == null) {
      waiters = new Set()
      this.#signalWaiters.set(signal, waiters)
      signal.addEventListener('abort', this.#onSignalAbort, { once: true })
    }
    waiters.add(waiter)
  }

  /** A caller's signal aborted: each of its waiters is cancelled; an item nobody else waits for stops. */
  readonly #onSignalAbort = (event: Event): void => {
    const signal = event.target as AbortSignal
    const waiters = this.#signalWaiters.get(signal)
    this.#signalWaiters.delete(signal)
    for (const waiter of waiters ?? []) {
      const { item } = waiter
      item.waiters.delete(waiter)
      waiter.resolve(failed(item.attempts, 'cancelled'))
      if (item.waiters.size === 0 && !item.done) {
        item.done = true
        this.#forget(item)
        item.running?.abort(new FetchCancelledError(`${item.key}: nobody waits for it`))
      }
    }
  }

  #detach(waiter: Waiter): void {
    if (waiter.signal == null) return
    const waiters = this.#signalWaiters.get(waiter.signal)
    if (waiters == null) return
    waiters.delete(waiter)
    if (waiters.size > 0) return
    this.#signalWaiters.delete(waiter.signal)
    waiter.signal.removeEventListener('abort', this.#onSignalAbort)
  }

  #finish(item: Item, outcome: FetchOutcome): void {
    if (item.done) return
    item.done = true
    this.#forget(item)
    if (outcome.status === 'failed') {
      this.#skips.itemsFailed++
      this.#log.debug({ segment: item.key, ...outcome }, 'gave up a segment')
      if (item.notFound.length > 0) outcome = { ...outcome, notFound: item.notFound }
    }
    for (const waiter of item.waiters) {
      this.#detach(waiter)
      waiter.resolve(outcome)
    }
    item.waiters.clear()
  }

  /**
   * Start every attempt that has a free slot and a usable peer, oldest item first. The scan ends
   * as soon as no slot or no peer is free, so a long queue behind busy peers costs little; a
   * finishing attempt pumps again, and a timer wakes the pump when a backoff ends.
   */
  #pump(): void {
    if (this.#state !== 'started') return
    const now = Date.now()
    let wake = Number.POSITIVE_INFINITY
    let open = this.#anyPeerOpen(now)
    for (const item of this.#items.values()) {
      if (this.#active >= this.#opts.concurrency) return
      if (!open) break
      const active = this.#active
      wake = Math.min(wake, this.#tryStart(item, now))
      if (this.#active !== active) open = this.#anyPeerOpen(now)
    }
    if (!open) wake = Math.min(wake, this.#nextPeerReady(now))
    this.#arm(wake, now)
  }

  /** Start the item now if it can; else when it could be tried next (Infinity: on a free slot, or never). */
  #tryStart(item: Item, now: number): number {
    if (item.running != null || item.done) return Number.POSITIVE_INFINITY
    // Disk full: nothing starts and nothing waits (the queue would only grow); repair asks again
    // once writes resume.
    if (this.#store.writesPaused) {
      this.#finish(item, failed(item.attempts, this.#store.space?.full === true ? 'disk full' : 'disk budget full'))
      return Number.POSITIVE_INFINITY
    }
    const pick = this.#pick(item, now)
    if (pick.kind === 'wait') return pick.until
    if (pick.kind === 'none') this.#finish(item, failed(item.attempts, item.lastError))
    if (pick.kind === 'peer') {
      let skip: FetchOutcome | null
      try {
        skip = this.#skip(item.ref)
      } catch (err) {
        // An index that cannot be read must not throw out of the pump (it runs in callbacks).
        skip = failed(item.attempts, describeError(err))
      }
      if (skip != null) this.#finish(item, skip)
      else this.#launch(item, pick.url)
    }
    return Number.POSITIVE_INFINITY
  }

  /**
   * A peer some queued item could ask has a free slot (peers no item wants do not count: they would make
   * the pump scan the whole queue for nothing).
   */
  #anyPeerOpen(now: number): boolean {
    const reserved = this.#reserved()
    for (const [url, peer] of this.#peers) {
      if (
        peer.active < this.#opts.perPeerConcurrency &&
        peer.backoffUntil <= now &&
        this.#wantedFrom.has(url) &&
        !(reserved && peer.slowUntil > now)
      )
        return true
    }
    return false
  }

  /** Only the reserved slots are free: peers recently slow may not take them. */
  #reserved(): boolean {
    return this.#active >= this.#opts.concurrency - this.#opts.reservedSlots
  }

  #exclude(item: Item, url: string): void {
    if (item.excluded.has(url)) return
    item.excluded.add(url)
    this.#unwant(url)
  }

  /** The item leaves the queue: its candidates are no longer wanted for it. */
  #forget(item: Item): void {
    this.#items.delete(item.key)
    for (const url of item.candidates) if (!item.excluded.has(url)) this.#unwant(url)
  }

  #unwant(url: string): void {
    const left = (this.#wantedFrom.get(url) ?? 1) - 1
    if (left > 0) this.#wantedFrom.set(url, left)
    else this.#wantedFrom.delete(url)
  }

  /** When the first peer in backoff with a free slot may be asked again (a full one pumps when it frees). */
  #nextPeerReady(now: number): number {
    let next = Number.POSITIVE_INFINITY
    for (const [url, peer] of this.#peers) {
      if (peer.backoffUntil > now && peer.active < this.#opts.perPeerConcurrency && this.#wantedFrom.has(url))
        next = Math.min(next, peer.backoffUntil)
    }
    return next
  }

  /** Pump again at `at` (ms), unless a pump is already due by then. */
  #arm(at: number, now: number): void {
    if (at === Number.POSITIVE_INFINITY || (this.#timer != null && this.#wakeAt <= at)) return
    if (this.#timer != null) clearTimeout(this.#timer)
    this.#wakeAt = at
    this.#timer = setTimeout(
      () => {
        this.#timer = null
        this.#wakeAt = Number.POSITIVE_INFINITY
        this.#pump()
      },
      Math.max(0, at - now)
    )
  }

  /**
   * Of the candidates not excluded, not backing off and with a free slot, the one with the fewest
   * transfers running; among equals the next round-robin.
   */
  #pick(item: Item, now: number): Pick {
    const n = item.candidates.length
    let usable = false
    let until = Number.POSITIVE_INFINITY
    let best = -1
    let bestActive: number = this.#opts.perPeerConcurrency
    const reserved = this.#reserved()
    for (let i = 0; i < n; i++) {
      const index = (item.next + i) % n
      const url = item.candidates[index]!
      if (item.excluded.has(url)) continue
      usable = true
      const peer = this.#peer(url)
      // A slow peer waits for a slot outside the reserve (a finishing transfer pumps again).
      if (reserved && peer.slowUntil > now) continue
      const notBefore = Math.max(peer.backoffUntil, item.retryAt.get(url) ?? 0)
      if (notBefore > now) {
        until = Math.min(until, notBefore)
        continue
      }
      if (peer.active < bestActive) {
        best = index
        bestActive = peer.active
      }
    }
    if (best >= 0) {
      item.next = (best + 1) % n
      return { kind: 'peer', url: item.candidates[best]! }
    }
    if (!usable) return { kind: 'none' }
    return until < Number.POSITIVE_INFINITY ? { kind: 'wait', until } : { kind: 'busy' }
  }

  #launch(item: Item, url: string): void {
    const peer = this.#peer(url)
    const controller = new AbortController()
    item.attempts++
    item.running = controller
    peer.active++
    this.#active++
    let holdsPeerSlot = true
    const releasePeerSlot = (): void => {
      if (!holdsPeerSlot) return
      holdsPeerSlot = false
      peer.active--
    }
    const received = (): void => {
      releasePeerSlot()
      this.#pump()
    }
    // How many referrals led here; a peer that referred this item before is asked to serve it.
    const referrals = item.busyFrom.has(url) ? REFERRAL_DEPTH : (item.referrals.get(url) ?? 0)
    const headers = { ...this.#headers, [REFERRALS_HEADER]: String(referrals) }
    const task: Promise<void> = downloadSegment(this.#attemptContext(headers), item.ref, url, controller.signal, received)
      .then((result) => this.#settle(item, url, result))
      .catch((err: unknown) => {
        this.#log.error({ err, segment: item.key }, 'fetch attempt failed unexpectedly')
        this.#finish(item, failed(item.attempts, describeError(err)))
      })
      .finally(() => {
        releasePeerSlot()
        this.#active--
        item.running = null
        this.#tasks.delete(task)
        this.#pump()
      })
    this.#tasks.add(task)
  }

  #settle(item: Item, url: string, result: AttemptResult): void {
    if (item.done) return
    const peer = this.#peer(url)
    const now = Date.now()
    switch (result.kind) {
      case 'stored':
        this.#bump(url, (c) => {
          c.segmentsFetched++
          c.bytesFetched += result.bytes
        })
        peer.failures = 0
        peer.notFoundRun = 0
        peer.backoffUntil = 0
        peer.slowUntil = 0
        this.#finish(item, { status: 'stored', peer: url, bytes: result.bytes })
        return
      case 'tombstoned':
        this.#finish(item, { status: 'tombstoned' })
        return
      case 'aborted':
        this.#finish(item, failed(item.attempts, result.error))
        return
      case 'bad-hash':
        this.#failures.note(url, 'bad_hash')
        this.#rememberBadHash(item, url)
        peer.failures = 0
        this.#exclude(item, url)
        item.lastError = result.error
        break
      case 'drop-peer':
        this.#failures.note(url, result.notFound === true ? 'not_found' : 'refused')
        // It answered, so it is up; it just cannot give us this item.
        if (result.notFound === true) {
          item.notFound.push(url)
          if (++peer.notFoundRun >= this.#opts.notFoundRun && peer.backoffUntil <= now) {
            peer.notFoundRun = 0
            peer.backoffUntil = now + this.#opts.notFoundPauseMs
            peer.notFoundUntil = peer.backoffUntil
            this.#log.debug({ peer: url, pauseMs: this.#opts.notFoundPauseMs }, 'peer answered 404 for every name of a run; pausing it')
          }
        }
        peer.failures = 0
        this.#exclude(item, url)
        item.lastError = result.error
        break
      case 'busy': {
        // The peer is up and has it, only not now: no backoff. Its holders become candidates. A
        // peer's first busy answer is free: holders refer askers on while their slots are free, and
        // a tree of them may name peers already asked. A second one naming nobody new counts as a
        // retry, so a peer busy for good ends the item.
        peer.failures = 0
        // Named holders only up to the bound: a want() from a real source is always taken.
        const room = Math.max(0, MAX_ITEM_CANDIDATES - item.candidates.length)
        const accepted = this.#acceptable(item.key, item, result.holders).accepted.slice(0, room)
        this.#addCandidates(item, accepted)
        const depth = (item.referrals.get(url) ?? 0) + 1
        for (const holder of accepted) item.referrals.set(holder, depth)
        if (accepted.length === 0 && item.busyFrom.has(url)) item.retries++
        item.busyFrom.add(url)
        item.lastError = result.error
        item.retryAt.set(url, now + result.retryMs)
        break
      }
      case 'retry':
        this.#failures.note(url, result.slow === true ? 'slow' : result.peerFault ? 'transient' : 'local_write')
        item.retries++
        item.lastError = result.error
        item.retryAt.set(url, now + backoffMs(item.attempts, this.#backoff))
        // Attempts that were already running when the peer began backing off do not extend it (nor score it again).
        if (result.slow === true) this.#slow(peer, url, item.ref, now, peer.backoffUntil <= now)
        if (result.peerFault && peer.backoffUntil <= now) {
          peer.failures++
          peer.backoffUntil = now + backoffMs(peer.failures, this.#backoff)
          this.#log.debug(
            { peer: url, failures: peer.failures, backoffMs: peer.backoffUntil - now, error: result.error },
            'peer backing off'
          )
        }
        break
    }
    if (item.retries >= this.#opts.maxAttempts) this.#finish(item, failed(item.attempts, item.lastError))
    else if (item.candidates.every((c) => item.excluded.has(c))) this.#finish(item, failed(item.attempts, item.lastError))
  }

  /**
   * A transfer went under the minimum rate: the peer stays out of the reserved slots for a while, and is
   * reported once per backoff round.
   */
  #slow(peer: PeerFetchStats, url: string, ref: SegmentRef, now: number, report: boolean): void {
    peer.slowUntil = now + this.#opts.slowMemoryMs
    if (!report) return
    try {
      this.#onSlowTransfer?.(url, ref)
    } catch (err) {
      this.#log.error({ err, peer: url }, 'onSlowTransfer hook failed')
    }
  }

  /** Peers not to ask for `key` now (they sent bad bytes for it lately), forgetting expired ones. */
  #liarsOf(key: string): Map<string, number> | undefined {
    const peers = this.#badHashes.get(key)
    if (peers == null) return undefined
    const now = Date.now()
    for (const [url, until] of peers) if (until <= now) peers.delete(url)
    if (peers.size === 0) this.#badHashes.delete(key)
    return peers
  }

  #rememberBadHash(item: Item, url: string): void {
    let peers = this.#badHashes.get(item.key)
    if (peers == null) {
      peers = new Map()
      this.#badHashes.set(item.key, peers)
      if (this.#badHashes.size > BAD_HASH_MEMORY) this.#badHashes.delete(this.#badHashes.keys().next().value!)
    }
    peers.set(url, Date.now() + this.#opts.badHashForgetMs)
    try {
      this.#onHashMismatch?.(url, item.ref)
    } catch (err) {
      this.#log.error({ err, peer: url }, 'onHashMismatch hook failed')
    }
  }
}

/** What a listed name is: a segment, a temp segment, a tombstone, or nothing we accept. */
function listedKind(name: string): 'segment' | 'temp' | 'tombstone' | null {
  if (name.endsWith('.tombstone')) return parseTombstoneFileName(name).ok ? 'tombstone' : null
  const parsed = parseSegmentFileName(name)
  if (!parsed.ok) return null
  return parsed.value.type === 'temp' ? 'temp' : 'segment'
}
