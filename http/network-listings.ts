/**
 * Listings and selections of what the network holds, for a node that lacks hours or holds them in
 * part (it joined late, or keeps only some of the archive): its own index plus the names of the
 * peers that hold something else.
 *
 * Which peers differ costs nothing to find: the replicator keeps each connected peer's root per
 * channel/quality from their last exchange, and a peer whose root equals ours holds exactly our
 * names in the replication window. Only the others are asked, at most `maxPeers` of them:
 * - their hour digests of that channel/quality (`/replication/digests`), kept while the peer's
 *   root is unchanged, else for `freshMs` (a live hour grows every few seconds); for hours older
 *   than the window, which roots do not cover, any peer is asked (its answer kept `archiveFreshMs`).
 *   Hours before the previous one are asked apart and revalidated by their ETag: a peer that
 *   records changes its root every few seconds, and only its last two hours cost bytes;
 * - the listing of each hour whose digest differs from ours, kept by the peer's digest of that hour,
 *   so a repeated request costs no round trip until that hour changes there.
 * Names a peer lists are checked against the grammar and the hour, capped at what a real hour
 * holds, and dropped when tombstoned here. At most `maxActive` requests to peers run at once (past
 * it: 503, retry), and what is kept is bounded by bytes (`cacheBytes`, empty entries counted), plus
 * the parsed names of the last `remoteHoursKept` merged hours. Requests to peers carry PEER_HEADER: a peer answers
 * those from its own disk, so a lookup never cascades through the network.
 *
 * A name a peer lists has no size here: among full copies of equal duration at one start, a
 * local copy wins (size 0 for the remote ones), where the holder would compare sizes.
 */
import type { FastifyRequest } from 'fastify'
import { type Agent, type Dispatcher, request } from 'undici'
import { createAgent, peerDispatcher, discardBody } from '../lib/http-client.ts'
import { randomSample } from '../lib/random-sample.ts'
import { type Logger, silentLogger } from '../lib/logger.ts'
import { MAX_LISTING_NAMES } from '../replication/fetch-options.ts'
import { PEER_HEADER, peerBase, readJson } from '../replication/fetch-http.ts'
import { type HourDigest, parseHourDigests } from '../replication/messages.ts'
import { Assembler, type SegmentSelector, type Selection, bestByStart } from '../storage/best-segments.ts'
import type { HourSummary, IndexedSegment, SegmentIndex } from '../storage/segment-index.ts'
import { parseSegmentRef } from '../storage/segment-name.ts'
import { MICROS_PER_HOUR, formatHour, hourStart, parseHour } from '../storage/time.ts'
import { HttpError } from './errors.ts'
import { type ReadThrough, localOnly } from './read-through.ts'

/** On listings and playlists: `local` (from this node's disk alone) or `merged` (peers' names added). */
export const NETWORK_HEADER = 'x-segmesh-listing'

export const NETWORK_LISTINGS_DEFAULTS = Object.freeze({
  /** Peers asked per channel/quality (those whose root differs from ours, in random order). */
  maxPeers: 4,
  /** Connected peers whose hour digests `copies()` compares (all of them at ordinary sizes; past it, a random sample). */
  maxCopyPeers: 32,
  minCopies: 2,
  copiesEveryMs: 60_000,
  /** Requests to peers at once; past it a listing or playlist answers 503 (retry). */
  maxActive: 16,
  /** A peer's hour digests are asked again after this long once its root has changed. */
  freshMs: 1000,
  /** ... and after this long when it has no root for that channel/quality (it holds only hours older than the window, if any). */
  archiveFreshMs: 10_000,
  /** Hours whose merged peers' names are kept parsed (an hour of 1,800 names is ~0.4 MiB): a warm merged playlist parses nothing. */
  remoteHoursKept: 16,
  /** Bytes of peers' digests and listings kept, counted as below. */
  cacheBytes: 16 * 1024 * 1024,
  /** What one kept entry costs besides its contents: key, map slot, record (rounded up). */
  ENTRY_BYTES: 256,
  /** One name of a listing or one hour of digests: its string and array slot (names are ~90 ASCII chars). */
  ITEM_BYTES: 128,
  /** Largest digest answer read: ~10,000 hours. */
  maxDigestBytes: 1024 * 1024,
  /** Largest listing read: MAX_LISTING_NAMES names of ~100 bytes. */
  maxListingBytes: 2 * 1024 * 1024,
  connectTimeoutMs: 3000,
  readTimeoutMs: 5000
})

/** Holders asked for a keep promise beyond `minCopies` (some may refuse or be evicting too). */
const KEEP_ASKED_SPARE = 3

/** A peer's answer to `POST /replication/keep`: its digest of the hour when it promised, else null. */
function parseKeepAnswer(body: unknown): { digest: string } | null {
  const b = body as { promised?: unknown; digest?: unknown } | null
  if (b == null || b.promised !== true || typeof b.digest !== 'string' || b.digest.length > 128) return null
  return { digest: b.digest }
}

/** Peers known only by URL (heard to hold a channel): no roots, not connected. */
function heardOf(urls: readonly string[]): NetworkPeer[] {
  return urls.map((url) => ({ url, roots: new Map(), connected: false }))
}

/** A peer as the replicator knows it. */
export interface NetworkPeer {
  url: string
  /** Its root per `channel/quality` from the last exchange (a peer not connected now: from when it was). */
  roots: ReadonlyMap<string, string>
  /** Connected now (`copies()` counts only those); the others are still asked over HTTP for what they hold. */
  connected: boolean
}

export interface NetworkListingsInit {
  index: SegmentIndex
  selector: SegmentSelector
  /** Connected peers with a known URL. */
  peers: () => NetworkPeer[]
  /** Our root per `channel/quality`, over the replication window. */
  ourRoots: () => ReadonlyMap<string, string>
  /** URLs of peers heard to hold something of `channel/quality`, connected or not (replication/peer-table.ts). */
  holders?: (key: string) => readonly string[]
  /** Every `channel/quality` some peer was heard to hold. */
  heldKeys?: () => Iterable<string>
  /** Where the replication window starts (µs): roots say nothing of older hours. */
  windowStart: () => number
  /** This node's URL, sent as PEER_HEADER. */
  ownUrl?: () => string
  log?: Logger
  /** Composed into the dispatcher of every request to a peer, first outermost. */
  interceptors?: Dispatcher.DispatcherComposeInterceptor[]
  /** Hours held by fewer nodes than this are counted in `belowMinCopies`. @default 2 */
  minCopies?: number
  /** Hours this node evicted under its disk budget. */
  evicted?: (channel: string, quality: string, hourUs: number) => boolean
  /** Called by each copies check for an hour this node evicted that fewer than `minCopies` known peers hold alike. */
  onUnderHeld?: (channel: string, quality: string, hourUs: number) => void
  /** How often `belowMinCopies` is recomputed over the window, ms; 0: never. @default 60000 */
  copiesEveryMs?: number
  maxPeers?: number
  maxActive?: number
  freshMs?: number
  cacheBytes?: number
}

/** `copies()`: the peers counted, and each hour of the range. */
export interface CopiesView {
  peers: { holding: number; asked: number; failed: number }
  hours: Array<{ hour: string; segments: number; copies: number; holders: number; agreeing: number }>
}

/**
 * The network's view for `request`, or null when it is answered from this node's disk alone:
 * read-through is off, or the request is another node's or `only-if-cached` (localOnly).
 */
export function networkFor(
  { network, readThrough }: { network?: NetworkListings | undefined; readThrough?: ReadThrough | undefined },
  request: FastifyRequest
): NetworkListings | null {
  return network != null && readThrough != null && localOnly(request) == null ? network : null
}

/** A name's listing or a selection, and whether peers added to it. */
export interface Merged<T> {
  value: T
  merged: boolean
}

interface PeerHours {
  /** The peer's root for this channel/quality when fetched ('' when it had none). */
  root: string
  /** Hours from this µs on are in `hours`. */
  from: number
  at: number
  hours: Map<number, HourDigest>
  /** Its hours that no longer grow came in an answer with this tag (none: the peer sent no tag). */
  closed?: ClosedPart | undefined
}

/** The hours of a kept answer that no longer grow, [from, to), and the peer's tag for them. */
interface ClosedPart {
  from: number
  to: number
  tag: string
}

interface PeerListing {
  digest: string
  names: string[]
}

type CachedValue = PeerHours | PeerListing

export class NetworkListings {
  readonly #init: NetworkListingsInit
  readonly #log: Logger
  readonly #opts: { maxPeers: number; maxActive: number; freshMs: number; cacheBytes: number }
  #active = 0
  /** Peers' digests and listings, by `kind url channel quality [hour]`; map order makes it an LRU. */
  readonly #cache = new Map<string, { cost: number; value: CachedValue }>()
  #bytes = 0
  /** `channel/quality/hour` → the peers' names of that hour parsed, for the peers' digests and our hour version they came from. */
  readonly #remoteHours = new Map<string, { version: string; names: IndexedSegment[] }>()
  /** One request per key at a time. */
  readonly #inFlight = new Map<string, Promise<CachedValue | null>>()
  #agent: Agent | null = null
  #dispatch: Dispatcher | null = null
  #copiesTimer: NodeJS.Timeout | null = null
  /**
   * Per `channel/quality` this node holds: its hours in the replication window held by fewer than
   * `minCopies` nodes, as of the last check (metrics, /status).
   */
  readonly belowMinCopies = new Map<string, number>()
  readonly minCopies: number
  readonly stats = { requests: 0, failures: 0, hits: 0, unchanged: 0, merged: 0, busy: 0 }

  constructor(init: NetworkListingsInit) {
    this.#init = init
    this.#log = init.log ?? silentLogger
    this.minCopies = init.minCopies ?? NETWORK_LISTINGS_DEFAULTS.minCopies
    this.#opts = {
      maxPeers: init.maxPeers ?? NETWORK_LISTINGS_DEFAULTS.maxPeers,
      maxActive: init.maxActive ?? NETWORK_LISTINGS_DEFAULTS.maxActive,
      freshMs: init.freshMs ?? NETWORK_LISTINGS_DEFAULTS.freshMs,
      cacheBytes: init.cacheBytes ?? NETWORK_LISTINGS_DEFAULTS.cacheBytes
    }
  }

  /** What the cache holds now against its bound (tests, diagnosis). */
  get cacheUsage(): { entries: number; bytes: number; maxBytes: number } {
    return { entries: this.#cache.size, bytes: this.#bytes, maxBytes: this.#opts.cacheBytes }
  }

  async start(): Promise<void> {
    if (this.#agent != null) return
    this.#agent = createAgent({
      connections: this.#opts.maxPeers,
      connectTimeoutMs: NETWORK_LISTINGS_DEFAULTS.connectTimeoutMs,
      readTimeoutMs: NETWORK_LISTINGS_DEFAULTS.readTimeoutMs
    })
    this.#dispatch = peerDispatcher(this.#agent, this.#init.interceptors)
    const every = this.#init.copiesEveryMs ?? NETWORK_LISTINGS_DEFAULTS.copiesEveryMs
    if (every > 0) {
      this.#copiesTimer = setInterval(() => void this.checkCopies(), every)
      this.#copiesTimer.unref()
    }
  }

  async stop(): Promise<void> {
    if (this.#copiesTimer != null) clearInterval(this.#copiesTimer)
    this.#copiesTimer = null
    await Promise.allSettled(this.#inFlight.values())
    const agent = this.#agent
    this.#agent = null
    this.#dispatch = null
    await agent?.close()
  }

  /** Whether `url` is a peer this node knows (the only askers a keep promise is given to). */
  isPeer(url: string): boolean {
    return this.#init.peers().some((p) => p.url === url)
  }

  /** Channels held here or by a known peer (at its last exchange). No round trip. */
  channels(): Merged<string[]> {
    const local = this.#init.index.channels()
    const all = new Set(local)
    for (const key of this.#knownKeys()) all.add(key.split('/')[0]!)
    return { value: [...all].sort(), merged: all.size > local.length }
  }

  /** `channel/quality` keys peers hold: by their roots, and as heard before (holders). */
  *#knownKeys(): Generator<string> {
    for (const p of this.#init.peers()) yield* p.roots.keys()
    yield* this.#init.heldKeys?.() ?? []
  }

  /** Qualities of `channel` held here or by a known peer. No round trip. */
  qualities(channel: string): Merged<string[]> {
    const local = this.#init.index.qualities(channel)
    const all = new Set(local)
    for (const key of this.#knownKeys()) {
      const [c, q] = key.split('/') as [string, string]
      if (c === channel) all.add(q)
    }
    return { value: [...all].sort(), merged: all.size > local.length }
  }

  /** Starts (µs) of the hours in [from, to] held here or by a differing peer, ascending. */
  async hourStarts(channel: string, quality: string, from: number, to: number): Promise<Merged<number[]>> {
    const local = this.#init.index.hourStarts(channel, quality, from, to)
    const all = new Set(local)
    for (const peer of await this.#peerHours(channel, quality, from)) {
      for (const h of peer.hours.keys()) if (h >= from && h <= to) all.add(h)
    }
    return { value: [...all].sort((a, b) => a - b), merged: all.size > local.length }
  }

  /**
   * [first hour's start, last hour's end) of a channel/quality here and at the peers that hold it
   * (their whole history: older than our window, roots do not tell; their answers are kept while
   * their roots are unchanged); null when nobody holds any.
   */
  async span(channel: string, quality: string): Promise<{ from: number; to: number } | null> {
    const local = this.#init.index.hourSpan(channel, quality)
    let first = local?.first ?? Number.POSITIVE_INFINITY
    let last = local?.last ?? Number.NEGATIVE_INFINITY
    for (const peer of await this.#peerHours(channel, quality, 0)) {
      for (const h of peer.hours.keys()) {
        first = Math.min(first, h)
        last = Math.max(last, h)
      }
    }
    return first > last ? null : { from: first, to: last + MICROS_PER_HOUR }
  }

  /** The names of one hour (µs) here and at differing peers, sorted; tombstoned ones only from here. */
  async listHour(channel: string, quality: string, hourUs: number, options: { tombstones?: boolean } = {}): Promise<Merged<string[]>> {
    const local = this.#init.index.listHour(channel, quality, hourUs, options)
    const extra = await this.#remoteNames(channel, quality, hourUs)
    if (extra.length === 0) return { value: local, merged: false }
    return { value: [...local, ...extra.map((s) => s.file)].sort(), merged: true }
  }

  /**
   * How many nodes hold each hour of [from, to) of a channel/quality, from this node and its
   * connected peers (up to `maxCopyPeers` of them): `copies` counts the nodes holding exactly this
   * node's set of that hour (this one included), `holders` those holding any of it, `agreeing`
   * the most nodes holding one identical set (what counts for an hour this node lacks). A peer
   * whose root equals ours holds our set of every hour in the window without being asked; the
   * others' hour digests come as for listings (kept while their roots are unchanged).
   */
  async copies(channel: string, quality: string, from: number, to: number): Promise<CopiesView> {
    const { ours, views, asked, failed } = await this.#hourViews(channel, quality, from, to, true)
    const starts = new Set(ours.keys())
    for (const v of views) if (v.hours !== 'same') for (const h of v.hours.keys()) if (h >= from && h < to) starts.add(h)
    const hours = [...starts]
      .sort((a, b) => a - b)
      .map((h) => {
        const mine = ours.get(h)
        const byDigest = new Map<string, number>()
        if (mine != null && mine.digest !== '') byDigest.set(mine.digest, 1)
        for (const v of views) {
          const digest = v.hours === 'same' ? mine?.digest : v.hours.get(h)?.digest
          if (digest != null && digest !== '') byDigest.set(digest, (byDigest.get(digest) ?? 0) + 1)
        }
        const copies = mine == null || mine.digest === '' ? 0 : byDigest.get(mine.digest)!
        let holders = 0
        for (const n of byDigest.values()) holders += n
        return { hour: formatHour(h), segments: mine?.segments ?? 0, copies, holders, agreeing: Math.max(0, ...byDigest.values()) }
      })
    const holding = views.filter((v) => v.hours === 'same' || [...v.hours.keys()].some((h) => h >= from && h < to)).length
    return { peers: { holding, asked, failed }, hours }
  }

  /**
   * Whether at least `minCopies` other nodes hold every name this node holds in an hour and have
   * promised to keep it for a while (`POST /replication/keep`, storage/disk-budget.ts): what the
   * disk budget asks before it evicts the hour. The caller marks the hour as being evicted first, so
   * two nodes asking each other at the same moment both refuse, and neither counts the other.
   */
  async othersKeep(channel: string, quality: string, hourUs: number): Promise<boolean> {
    try {
      return await this.#othersKeep(channel, quality, hourUs)
    } catch (err) {
      // Peers busy (the limit of requests to them) or failing: not known to keep it.
      this.#log.debug({ err, channel, quality, hour: formatHour(hourUs) }, 'could not ask peers to keep an hour')
      return false
    }
  }

  async #othersKeep(channel: string, quality: string, hourUs: number): Promise<boolean> {
    const { ours, views } = await this.#hourViews(channel, quality, hourUs, hourUs + 1, false)
    const mine = ours.get(hourUs)
    if (mine == null || mine.digest === '') return false
    // One vote per URL: the peer table may hold one node under two ids (a new key, the same URL).
    const self = this.#init.ownUrl?.()
    const seen = new Set<string>(self == null ? [] : [self])
    const holders = views.filter((v) => {
      if (seen.has(v.url) || !(v.hours === 'same' || (v.hours.get(hourUs)?.digest ?? '') !== '')) return false
      seen.add(v.url)
      return true
    })
    let names: Set<string> | null = null
    let kept = 0
    for (const v of randomSample(holders, this.minCopies + KEEP_ASKED_SPARE)) {
      if (kept >= this.minCopies) break
      const query = new URLSearchParams({ channel, quality, hour: String(hourUs) })
      const answer = parseKeepAnswer(await this.#get(v.url, `/replication/keep?${query}`, 4096, 'POST'))
      if (answer == null) continue
      if (answer.digest === mine.digest) {
        kept++
        continue
      }
      // A different set: it counts if it includes every name of ours.
      const listing = await this.#listing(v.url, channel, quality, formatHour(hourUs), answer.digest)
      names ??= new Set(this.#init.index.hourSegments(channel, quality, hourUs).map((s) => s.file))
      const theirs = new Set(listing?.names ?? [])
      if (listing != null && [...names].every((n) => theirs.has(n))) kept++
    }
    return kept >= this.minCopies
  }

  /** The most known peers (connected or not, one per URL) holding one identical non-empty set of an hour. */
  async #agreeing(channel: string, quality: string, hourUs: number): Promise<number> {
    const { views } = await this.#hourViews(channel, quality, hourUs, hourUs + 1, false)
    const byDigest = new Map<string, Set<string>>()
    for (const v of views) {
      const digest =
        v.hours === 'same' ? this.#init.index.hourSummaries(channel, quality, hourUs, hourUs + 1)[0]?.digest : v.hours.get(hourUs)?.digest
      if (digest == null || digest === '') continue
      const urls = byDigest.get(digest) ?? new Set<string>()
      urls.add(v.url)
      byDigest.set(digest, urls)
    }
    return Math.max(0, ...[...byDigest.values()].map((u) => u.size))
  }

  /**
   * Our hour summaries of [from, to) and, per connected peer asked (up to `maxCopyPeers`), its hour
   * digests: 'same' for a peer whose root equals ours (it holds our set of every hour in the
   * window without being asked); the others' come as for listings (kept while their roots are unchanged).
   */
  async #hourViews(
    channel: string,
    quality: string,
    from: number,
    to: number,
    onlyConnected: boolean
  ): Promise<{
    ours: Map<number, HourSummary>
    views: Array<{ url: string; hours: 'same' | Map<number, HourDigest> }>
    asked: number
    failed: number
  }> {
    const key = `${channel}/${quality}`
    const window = this.#init.windowStart()
    const ours = new Map(this.#init.index.hourSummaries(channel, quality, from, to).map((h) => [h.start, h]))
    const ourRoot = this.#init.ourRoots().get(key) ?? ''
    // Older than the window, roots say nothing: every connected peer is asked; so is a connected
    // peer whose roots were empty when it was last asked (it may have taken copies since).
    const candidates = this.#init
      .peers()
      .filter((p) => (p.connected || !onlyConnected) && (p.roots.has(key) || (p.connected && (from < window || p.roots.size === 0))))
    const asked = randomSample(candidates, NETWORK_LISTINGS_DEFAULTS.maxCopyPeers)
    // A connected peer whose root equals ours holds our set of every hour of the window (a root
    // from before a disconnection says nothing now).
    const same = asked.filter((p) => p.connected && from >= window && p.roots.get(key) === ourRoot)
    const answered = await this.#digestsOf(
      asked.filter((p) => !same.includes(p)),
      channel,
      quality,
      from
    )
    return {
      ours,
      views: [...same.map((p) => ({ url: p.url, hours: 'same' as const })), ...answered.map((a) => ({ url: a.url, hours: a.hours }))],
      asked: asked.length,
      failed: asked.length - same.length - answered.length
    }
  }

  /** Recompute `belowMinCopies` for every channel/quality this node holds, over the window. */
  async checkCopies(): Promise<void> {
    const { index } = this.#init
    const now = Date.now() * 1000
    const from = hourStart(this.#init.windowStart())
    const seen = new Set<string>()
    for (const channel of index.channels()) {
      for (const quality of index.qualities(channel)) {
        const key = `${channel}/${quality}`
        seen.add(key)
        try {
          const view = await this.copies(channel, quality, from, now + MICROS_PER_HOUR)
          this.belowMinCopies.set(key, view.hours.filter((h) => h.segments > 0 && h.copies < this.minCopies).length)
          // An hour this node evicted that fewer than minCopies nodes hold alike comes back: asked
          // of every known peer first (the connected ones counted above may be a few of many).
          for (const h of view.hours) {
            const hourUs = parseHour(h.hour)!
            if (h.segments > 0 || h.agreeing >= this.minCopies || this.#init.evicted?.(channel, quality, hourUs) !== true) continue
            if ((await this.#agreeing(channel, quality, hourUs)) < this.minCopies) this.#init.onUnderHeld?.(channel, quality, hourUs)
          }
        } catch (err) {
          this.#log.debug({ err, channel, quality }, 'could not count copies')
        }
      }
    }
    for (const key of this.belowMinCopies.keys()) if (!seen.has(key)) this.belowMinCopies.delete(key)
  }

  /**
   * Best-segment selection of [start, end) over the union of our names and the differing peers':
   * the selector's own result when no peer adds anything.
   */
  async select(channel: string, quality: string, start: number, end: number): Promise<Merged<Selection>> {
    const hours = await this.hourStarts(channel, quality, hourStart(start) - MICROS_PER_HOUR, hourStart(end))
    const assembler = new Assembler(start, end, { allowHoles: true })
    let merged = false
    for (const h of hours.value) {
      const local = this.#init.selector.hourCandidates(channel, quality, h)
      const extra = await this.#remoteNames(channel, quality, h)
      let candidates = local
      if (extra.length > 0) {
        merged = true
        candidates = bestByStart([...local, ...extra].sort((a, b) => a.start - b.start))
      }
      let done = false
      for (const s of candidates) if ((done = assembler.push(s))) break
      if (done) break
    }
    if (merged) this.stats.merged++
    return { value: assembler.finish(), merged }
  }

  /** Segments of an hour that differing peers list and this node neither holds nor has tombstoned. */
  async #remoteNames(channel: string, quality: string, hourUs: number): Promise<IndexedSegment[]> {
    const { index } = this.#init
    const peers = await this.#peerHours(channel, quality, hourUs)
    if (peers.length === 0) return []
    const ours = index.hourSummaries(channel, quality, hourUs, hourUs + 1)[0]?.digest ?? ''
    const hour = formatHour(hourUs)
    const differing = peers.flatMap((p) => {
      const digest = p.hours.get(hourUs)?.digest
      return digest == null || digest === ours ? [] : [{ url: p.url, digest }]
    })
    // The same peers' same sets against our same hour: the names parsed and checked last time.
    const version = `${index.hourVersion(channel, quality, hourUs)} ${differing.map((d) => `${d.url} ${d.digest}`).join(' ')}`
    const key = `${channel}/${quality}/${hourUs}`
    const kept = this.#remoteHours.get(key)
    if (kept?.version === version) return kept.names
    const lists = await Promise.all(differing.map(async (d) => (await this.#listing(d.url, channel, quality, hour, d.digest))?.names ?? []))
    const names = this.#parseRemote(channel, quality, hour, lists)
    // Only what every listing answered: a failed one is asked again next time.
    if (lists.every((l, i) => l.length > 0 || differing[i] == null)) {
      this.#remoteHours.delete(key)
      this.#remoteHours.set(key, { version, names })
      if (this.#remoteHours.size > NETWORK_LISTINGS_DEFAULTS.remoteHoursKept)
        this.#remoteHours.delete(this.#remoteHours.keys().next().value!)
    }
    return names
  }

  /** Peers' names of one hour as segments: parsed, checked against the hour, neither held nor tombstoned here. */
  #parseRemote(channel: string, quality: string, hour: string, lists: readonly string[][]): IndexedSegment[] {
    const { index } = this.#init
    const seen = new Set<string>()
    const out: IndexedSegment[] = []
    for (const names of lists) {
      for (const file of names) {
        if (seen.has(file)) continue
        seen.add(file)
        const parsed = parseSegmentRef(channel, quality, hour, file)
        if (!parsed.ok) continue
        const { type, ...ref } = parsed.value
        if (type === 'temp' || index.getSegment(parsed.value, { hidden: true }) != null || index.isTombstoned(parsed.value)) continue
        out.push({ ...ref, type, size: 0, mtimeMs: 0, tombstoned: false })
      }
    }
    return out
  }

  /**
   * The hour digests of `channel/quality` of the peers that may hold what we do not: a root that
   * differs from ours (or, when no peer's roots mention it, the peers heard to hold it before); when
   * `from` is older than the replication window, holders first, then any connected peer.
   */
  async #peerHours(channel: string, quality: string, from: number): Promise<Array<PeerHours & { url: string }>> {
    const key = `${channel}/${quality}`
    const ours = this.#init.ourRoots().get(key) ?? ''
    const inWindow = from >= this.#init.windowStart()
    const peers = this.#init.peers()
    if (inWindow) {
      const differing = peers.filter((p) => {
        const root = p.roots.get(key)
        return root != null && root !== ours
      })
      // Nobody we know the roots of holds it: those heard to hold it before are asked.
      const asked = differing.length > 0 || peers.some((p) => p.roots.has(key)) ? differing : heardOf(this.#init.holders?.(key) ?? [])
      return await this.#digestsOf(randomSample(asked, this.#opts.maxPeers), channel, quality, from)
    }
    // Older hours: roots do not tell who holds them. Peers that hold the channel/quality first
    // (by their roots, else as heard before), then the other connected peers (an archive node may
    // have no root for it at all).
    const holding = peers.filter((p) => p.roots.has(key))
    const urls = new Set(holding.map((p) => p.url))
    const heard = heardOf((this.#init.holders?.(key) ?? []).filter((url) => !urls.has(url)))
    const others = peers.filter((p) => p.connected && !p.roots.has(key))
    const picked = [...randomSample(holding, holding.length), ...randomSample(heard, heard.length), ...randomSample(others, others.length)]
    return await this.#digestsOf(picked.slice(0, this.#opts.maxPeers), channel, quality, from)
  }

  /** The peers' hour digests of `channel/quality` from `from` on (those that answered). */
  async #digestsOf(
    peers: readonly NetworkPeer[],
    channel: string,
    quality: string,
    from: number
  ): Promise<Array<PeerHours & { url: string }>> {
    // From the window's start at least (one cached answer serves every range in it), never before 0.
    const since = Math.max(0, Math.min(from, this.#init.windowStart()))
    const out: Array<PeerHours & { url: string }> = []
    // `maxPeers` at a time: copies() may ask dozens, and the requests to peers are capped in all.
    for (let i = 0; i < peers.length; i += this.#opts.maxPeers) {
      const answers = await Promise.all(
        peers.slice(i, i + this.#opts.maxPeers).map(async (p) => {
          // A peer not connected now: its roots may be stale, so its answer is kept only archiveFreshMs.
          const root = p.connected ? (p.roots.get(`${channel}/${quality}`) ?? '') : ''
          const hours = await this.#hours(p.url, channel, quality, root, since)
          return hours == null ? null : { ...hours, url: p.url }
        })
      )
      for (const a of answers) if (a != null) out.push(a)
    }
    return out
  }

  async #hours(url: string, channel: string, quality: string, root: string, from: number): Promise<PeerHours | null> {
    const key = `d ${url} ${channel} ${quality}`
    const cached = this.#cache.get(key)?.value as PeerHours | undefined
    // A peer with no root for it (only older hours, if any) is asked again after ARCHIVE_FRESH_MS.
    const fresh = root === '' ? NETWORK_LISTINGS_DEFAULTS.archiveFreshMs : this.#opts.freshMs
    if (cached != null && cached.from <= from && ((cached.root === root && root !== '') || Date.now() - cached.at < fresh)) {
      this.stats.hits++
      this.#touch(key)
      return cached
    }
    return (await this.#once(key, async () => {
      const fetched = await this.#fetchHours(url, key, channel, quality, from)
      if (fetched == null) return null
      const value: PeerHours = { root, from, at: Date.now(), ...fetched }
      this.#remember(key, value, fetched.hours.size)
      return value
    })) as PeerHours | null
  }

  /**
   * A peer's hour digests of one channel/quality from `from` on. The hours before the previous one
   * no longer grow: they are asked apart, with the tag of the copy kept (`key`'s entry), and while
   * nothing changed in them there a request costs a 304. Only the live edge is read each time
   * (recording makes roots differ every few seconds; the whole window was ~80 KB per peer).
   */
  async #fetchHours(
    url: string,
    key: string,
    channel: string,
    quality: string,
    from: number
  ): Promise<{ hours: Map<number, HourDigest>; closed: ClosedPart | undefined } | null> {
    const open = hourStart(Date.now() * 1000) - MICROS_PER_HOUR
    let hours = new Map<number, HourDigest>()
    let closed: ClosedPart | undefined
    if (from < open) {
      const range = { from: hourStart(from), to: open }
      const kept = this.#cache.get(key)?.value as PeerHours | undefined
      const prior = kept?.closed?.from === range.from && kept.closed.to === range.to ? kept : undefined
      const answer = await this.#digests(url, channel, quality, { from: String(range.from), to: String(range.to) }, prior?.closed?.tag)
      if (answer == null) return null
      if (answer === 'unchanged') {
        this.stats.unchanged++
        hours = new Map([...prior!.hours].filter(([h]) => h < range.to))
        closed = prior!.closed
      } else {
        // A peer that ignores `to` (an older version) sent its live hours too.
        for (const [h, digest] of answer.hours) if (h < range.to) hours.set(h, digest)
        closed = answer.etag == null ? undefined : { ...range, tag: answer.etag }
      }
    }
    const recent = await this.#digests(url, channel, quality, { from: String(Math.max(from, open)) })
    if (recent == null || recent === 'unchanged') return null
    for (const [h, digest] of recent.hours) if (h >= open) hours.set(h, digest)
    return { hours, closed }
  }

  /** GET /replication/digests of one channel/quality, parsed; 'unchanged' on a 304 to `tag`. */
  async #digests(
    url: string,
    channel: string,
    quality: string,
    range: Record<string, string>,
    tag?: string
  ): Promise<{ hours: Map<number, HourDigest>; etag: string | undefined } | 'unchanged' | null> {
    const query = new URLSearchParams({ ...range, channel, quality })
    const answer = await this.#request(url, `/replication/digests?${query}`, NETWORK_LISTINGS_DEFAULTS.maxDigestBytes, { tag })
    if (answer == null) return null
    if (answer === 'unchanged') return tag == null ? null : 'unchanged'
    const parsed = parseHourDigests(answer.body)
    if (typeof parsed === 'string') {
      this.stats.failures++
      this.#log.debug({ peer: url, why: parsed }, 'a peer sent invalid digests')
      return null
    }
    const hours = new Map<number, HourDigest>()
    for (const h of parsed.get(`${channel}/${quality}`) ?? []) hours.set(parseHour(h.hour)!, h)
    return { hours, etag: answer.etag }
  }

  async #listing(url: string, channel: string, quality: string, hour: string, digest: string): Promise<PeerListing | null> {
    const key = `l ${url} ${channel} ${quality} ${hour}`
    const cached = this.#cache.get(key)?.value as PeerListing | undefined
    if (cached != null && cached.digest === digest) {
      this.stats.hits++
      this.#touch(key)
      return cached
    }
    return (await this.#once(key, async () => {
      const path = `/files/${encodeURIComponent(channel)}/${encodeURIComponent(quality)}/${hour}`
      const body = await this.#get(url, path, NETWORK_LISTINGS_DEFAULTS.maxListingBytes)
      if (body === undefined) return null
      if (!Array.isArray(body) || body.length > MAX_LISTING_NAMES || !body.every((n) => typeof n === 'string')) {
        this.stats.failures++
        this.#log.debug({ peer: url, hour }, 'a peer sent an invalid listing')
        return null
      }
      const value: PeerListing = { digest, names: body as string[] }
      this.#remember(key, value, value.names.length)
      return value
    })) as PeerListing | null
  }

  /** GET a peer's JSON; undefined (counted) when it fails in any way. */
  async #get(url: string, path: string, max: number, method: 'GET' | 'POST' = 'GET'): Promise<unknown> {
    const answer = await this.#request(url, path, max, { method })
    return answer == null || answer === 'unchanged' ? undefined : answer.body
  }

  /** A request to a peer: its JSON and ETag, 'unchanged' on a 304 to `tag`, undefined (counted) when it fails in any way. */
  async #request(
    url: string,
    path: string,
    max: number,
    options: { method?: 'GET' | 'POST'; tag?: string | undefined }
  ): Promise<{ body: unknown; etag: string | undefined } | 'unchanged' | undefined> {
    const dispatcher = this.#dispatch
    if (dispatcher == null) return undefined
    if (this.#active >= this.#opts.maxActive) {
      this.stats.busy++
      throw new HttpError(503, 'busy', `${this.#active} listings are being asked of peers; retry`, { 'retry-after': '1' })
    }
    this.stats.requests++
    this.#active++
    try {
      const own = this.#init.ownUrl?.()
      const res = await request(`${peerBase(url)}${path}`, {
        method: options.method ?? 'GET',
        dispatcher,
        headers: {
          accept: 'application/json',
          ...(own == null ? {} : { [PEER_HEADER]: own }),
          ...(options.tag == null ? {} : { 'if-none-match': options.tag })
        }
      })
      if (res.statusCode === 304 && options.tag != null) {
        await discardBody(res)
        return 'unchanged'
      }
      if (res.statusCode !== 200) {
        await discardBody(res)
        throw new Error(`HTTP ${res.statusCode}`)
      }
      const etag = res.headers.etag
      return { body: await readJson(res, max, `${url}${path}`), etag: typeof etag === 'string' ? etag : undefined }
    } catch (err) {
      this.stats.failures++
      this.#log.debug({ err, peer: url, path }, 'a peer did not answer a listing')
      return undefined
    } finally {
      this.#active--
    }
  }

  async #once(key: string, run: () => Promise<CachedValue | null>): Promise<CachedValue | null> {
    const running = this.#inFlight.get(key)
    if (running != null) return await running
    const job = run().finally(() => this.#inFlight.delete(key))
    this.#inFlight.set(key, job)
    return await job
  }

  #touch(key: string): void {
    const entry = this.#cache.get(key)!
    this.#cache.delete(key)
    this.#cache.set(key, entry)
  }

  #remember(key: string, value: CachedValue, items: number): void {
    const old = this.#cache.get(key)
    if (old != null) {
      this.#cache.delete(key)
      this.#bytes -= old.cost
    }
    const cost = NETWORK_LISTINGS_DEFAULTS.ENTRY_BYTES + key.length + items * NETWORK_LISTINGS_DEFAULTS.ITEM_BYTES
    this.#cache.set(key, { cost, value })
    this.#bytes += cost
    // The entry just added stays even when it alone is over budget: the request being answered uses it.
    while (this.#bytes > this.#opts.cacheBytes && this.#cache.size > 1) {
      const [oldest, entry] = this.#cache.entries().next().value!
      this.#cache.delete(oldest)
      this.#bytes -= entry.cost
    }
  }
}
