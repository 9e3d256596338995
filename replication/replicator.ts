/**
 * Replication: gossip is the hint, anti-entropy the guarantee.
 *
 * - Local changes (store events) are announced in small batches on the topic (announcer.ts): not
 *   what this node fetched, nor a tombstone a peer sent it.
 * - A received announcement is applied at once: tombstones written, missing segments fetched from
 *   the announcer.
 * - Digests (a root per channel/quality over the window) are exchanged pairwise, never published
 *   to the whole network: push-pull over the hello protocol on every new connection and, each
 *   interval, with one random connected peer (memberlist's push-pull), the interval growing with
 *   log N past 32 known peers (`pushPullScale`). So per-node idle traffic stays flat in N, and
 *   convergence never depends on a gossip message arriving.
 * - The hello answer also carries a random sample of known peers (membership.ts): peer exchange.
 *   A peer of the first protocol version answers with a bare digest; it is logged once, counted,
 *   and served as before.
 * - A root that differs from ours starts a repair session with that peer: its per-hour digests
 *   over HTTP (the newest hours only, when they explain the difference), then the listing of each
 *   differing hour (newest first), tombstones applied before any segment is fetched. Segments are
 *   fetched from the peers that listed or announced them, never from peers merely known. A
 *   tombstoned name is never fetched.
 * - Many authors cannot make it grow or fan out: the peer table is bounded (peer-table.ts), repair
 *   sessions run only with connected peers (a gossiped digest names any URL it likes) and at most
 *   MAX_REPAIR_SESSIONS at once; a peer that offered a name and then answers 404 for it is
 *   penalised (unserved-names.ts); a banned peer's URL is withdrawn from the fetcher too.
 */
import type { KeyObject } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Announcer } from './announcer.ts'
import { ChannelTopics, announcementsByTopic } from './topics.ts'
import { RunningDownloads } from './running-downloads.ts'
import type { FetchOutcome } from './fetcher.ts'
import type { Logger } from '../lib/logger.ts'
import { silentLogger } from '../lib/logger.ts'
import { type NameLearnedMessage, nameLearnedChannel } from '../lib/diagnostics.ts'
import { type SegmentRef, parseSegmentRef, segmentRelPath } from '../storage/segment-name.ts'
import type { SegmentStore, StoreEvent } from '../storage/segment-store.ts'
import { MICROS_PER_HOUR, MICROS_PER_SECOND, hourStart } from '../storage/time.ts'
import { hourDigests, rootsOf } from './digests.ts'
import {
  type AnnouncedItem,
  type Message,
  type PeerInfo,
  type RootDigest,
  announceMessages,
  MAX_HELLO_PEERS,
  MAX_HELLO_RECENT,
  decodeHello,
  decodeGossip,
  decodeMessage,
  encodeHello,
  encodeMessage
} from './messages.ts'
import { MEMBERSHIP_DEFAULTS, Membership } from './membership.ts'
import { HourRepair, type OurDigests, QUEUE_AHEAD, TAIL_HOURS } from './hour-repair.ts'
import { localRanges, peerRanges, repairByRanges } from './range-repair.ts'
import { randomSample } from '../lib/random-sample.ts'
import type { Offence } from './peer-score.ts'
import { type PeerState, PeerTable } from './peer-table.ts'
import { shutdownController } from '../lib/signals.ts'
import { type BackoffPolicy, backoffMs } from '../lib/backoff.ts'
import { verifyTombstone } from './tombstone-signature.ts'
import { UnservedNames } from './unserved-names.ts'
import { KeepFilter } from './keep.ts'

/** The libp2p side, as the replicator uses it (replication/host.ts implements it). */
export interface GossipHost {
  readonly peerId: string
  multiaddrs: () => string[]
  connectedPeers: () => string[]
  publish: (data: Uint8Array, topic: string) => Promise<number>
  /** Subscribe to one more topic (replication/topics.ts ChannelTopics); without it, the host's own topics only. */
  subscribe?: (topic: string) => void
  /** Leave a topic subscribed to (ChannelTopics.dropUnseen). */
  unsubscribe?: (topic: string) => void
  /** A peer subscribed to a topic: a node that keeps everything follows it into announcement topics. */
  onPeerSubscribed?: (handler: (topic: string) => void) => () => void
  /** The topics connected peers are subscribed to now. */
  peerTopics?: () => string[]
  onMessage: (handler: (from: string, data: Uint8Array) => void) => () => void
  onPeerConnected: (handler: (peerId: string) => void) => () => void
  onPeerDisconnected?: (handler: (peerId: string) => void) => () => void
  handleHello: (provider: (version: 1 | 2, asker: string) => Uint8Array | Promise<Uint8Array>) => void
  requestHello: (peerId: string, options?: { signal?: AbortSignal }) => Promise<Uint8Array>
  keepConnected: (peerId: string, addrs: string[]) => Promise<void>
  /** Peers kept (membership.ts stops offering more once the host keeps enough). */
  keptPeers?: () => string[]
  /** This node's bootstrap peers (never picked as kept peers: membership.ts). */
  isBootstrap?: (peerId: string) => boolean
  /** Score a peer down (replication/peer-score.ts); past a threshold the host blocks it. */
  penalize?: (peerId: string, offence: Offence) => void
  /** Send one message to a connected peer alone / messages peers sent to this node alone (offers). */
  sendOffer?: (peerId: string, data: Uint8Array, options?: { signal?: AbortSignal }) => Promise<void>
  onOffer?: (handler: (from: string, data: Uint8Array) => void) => () => void
  /** A peer was banned (its HTTP side is dropped too) / its ban ended. */
  onPeerBanned?: (handler: (peerId: string) => void) => () => void
  onPeerUnbanned?: (handler: (peerId: string) => void) => () => void
}

/** The HTTP side (replication/fetcher.ts implements it). */
export interface SegmentFetcher {
  listHour: (peerUrl: string, channel: string, quality: string, hour: string, options?: { signal?: AbortSignal }) => Promise<string[]>
  getJson: (peerUrl: string, path: string, options?: { signal?: AbortSignal }) => Promise<unknown>
  want: (ref: SegmentRef, peers: string[], options?: { signal?: AbortSignal }) => Promise<FetchOutcome>
  /** Ask a peer's URL for nothing (withdrawn from queued downloads) until unbanPeer. */
  banPeer?: (peerUrl: string) => void
  unbanPeer?: (peerUrl: string) => void
  /** True while what the peer announces would only queue (banned, or paused after a run of 404s). */
  refusing?: (peerUrl: string) => boolean
}

export interface ReplicatorInit {
  store: SegmentStore
  host: GossipHost
  fetcher: SegmentFetcher
  /** This node's HTTP base URL as peers should use it. */
  url: string
  log?: Logger
  /** Hours kept and compared. @default 336 (14 days) */
  windowHours?: number
  /** Mean period of the push-pull digest exchange with one random peer, up to 32 peers (then scaled by log N). @default 30000 */
  digestIntervalMs?: number
  /** Segments younger than this are not fetched yet (a local recorder gets first go). @default 0 */
  graceMs?: number
  /** Publish announcements of local changes. Off only to prove digests suffice. @default true */
  announce?: boolean
  /** wubloader restreamers to backfill from over HTTP only. */
  legacyPeers?: string[]
  /** What this node keeps (replication/keep.ts): only that is backfilled, walked and fetched. @default everything */
  keep?: KeepFilter
  /** Shared with the HTTP layer, whose segment route makes peers wait on them; a new one if absent. */
  downloads?: RunningDownloads
  /** Hours this node evicted to stay under its disk budget: not fetched back (storage/disk-budget.ts). */
  evicted?: (ref: Pick<SegmentRef, 'channel' | 'quality' | 'start'>) => boolean
  /** The same hours as `channel/quality/hourStart`, for the hello: peers' walks skip them. */
  evictedHours?: () => readonly string[]
  /**
   * The admin public key: tombstones from peers (gossip, repair, legacy listings) are applied only
   * with a signature by it that covers the segment. Without it, unsigned tombstones are applied.
   */
  adminPublicKey?: KeyObject
}

export interface ReplicationStats {
  messagesIn: number
  messagesOut: number
  messagesInvalid: number
  bytesOut: number
  digestsCompared: number
  repairs: number
  repairErrors: number
  hoursRepaired: number
  tombstonesApplied: number
  /** Tombstones a walk or an offer brought, offered on to the other connected peers (#passOn). */
  tombstonesPassedOn: number
  /** Tombstones from peers refused: unsigned or a bad signature while an admin key is configured. */
  tombstonesRejected: number
  announcedItems: number
  /** Repairs not started: MAX_REPAIR_SESSIONS were running, or the peer is not connected. */
  repairsSkipped: number
  /**
   * Segments not fetched: MAX_GRACE_WAITS wants already waited out the grace, or the announcer was
   * refused (paused after a run of 404s, or banned).
   */
  wantsDropped: number
  /** Peers learned through peer exchange. */
  peersLearned: number
  /** Hello answers in the first protocol version (peers not upgraded). */
  legacyHellos: number
  /** Small differing ranges listed by range repairs, and the range requests they made. */
  rangesRepaired: number
  rangeRequests: number
  /** Names offered to peers by our range repairs, and offers received. */
  offered: number
  offersIn: number
  /** Differences left to the peer's walk (the smaller peer id walks for both). */
  repairsDeferred: number
  /** Walks or offers that stored enough to make this node ask its other peers for an exchange. */
  spreads: number
}

/** Our digests are reused at most this long (ms): index removals emit no store event to drop them. */
const DIGEST_CACHE_MS = 1000
/** Hours of the past compared and backfilled (14 days), the mean digest period, and two fixed periods. */
export const REPLICATOR_DEFAULTS = Object.freeze({
  windowHours: 336,
  digestIntervalMs: 30_000,
  /** Local changes are gathered this long into one announcement. */
  announceDelayMs: 50,
  /** How often wubloader restreamers (--legacy-peers) are listed again. */
  legacyIntervalMs: 120_000,
  /** The first push-pull round after start; each next one waits twice as long, up to the interval. */
  firstRoundMs: 1000
})

/**
 * Repair sessions at once, over all peers: each holds listings and up to QUEUE_AHEAD queued
 * segments. Any peer's missing hours are repaired by the next digest round once one ends.
 */
export const MAX_REPAIR_SESSIONS = 4

/** Wants waiting out `graceMs` before they reach the fetcher (a timer and a promise each, ~300 B). */
const MAX_GRACE_WAITS = 4096

/** Banned peers whose URL the fetcher was told to skip, remembered for their unban. */
const MAX_BANNED = 4096

/** How soon a repair skipped for busy sessions is looked at again. */
const RECHECK_MS = 2000
/** How long a difference is left to the peer's walk (the smaller peer id walks for both) before this side walks too. */
const DEFER_MS = 2000
/** After a walk between two nodes, how long its results have to land before either walks the other again, ms. */
const SETTLE_MS = 5000
/** The longest a difference waits on such walks, whatever the peers' requests claim, ms. */
const MAX_SETTLE_WAIT_MS = 2 * SETTLE_MS
/**
 * Names a walk or an offer must have stored before this node tells its other peers (below it: the
 * live edge, which announcements carry).
 */
const SPREAD_MIN_STORED = 8
/** How soon those peers are asked for an exchange. */
const SPREAD_MS = 250
/**
 * Tombstones passed on to one peer go out together, at most this often (a heal's walks and offers
 * each bring a few: one offer each made a node send one per message it took in).
 */
const PASS_ON_MS = 250
/** Tombstones waiting to be passed on to one peer; past it the peer is asked for an exchange instead (a walk carries them). */
const PASS_ON_MAX_PENDING = 1024
/** A peer's offers are judged together once it has sent none for this long (one walk sends several). */
const OFFER_QUIET_MS = 1000
/** Further sources offered for each name a walk finds missing (holders of the same root). */
const MAX_EXTRA_HOLDERS = 4

/** Peers of the first protocol version already logged (once each); past it, the oldest is forgotten. */
const MAX_LEGACY_LOGGED = 1024

/**
 * memberlist's push-pull scaling: the interval as is up to 32 nodes, then one more multiple per
 * doubling (×2 at 64, ×6 at 1,000), so the exchanges a node receives per second stay flat while
 * the time to reach everyone grows only with log N. `nodes` is the peer table's size + 1, and the
 * table holds at most 1,024 peers, so the factor stops at 7.
 */
export function pushPullScale(nodes: number): number {
  return nodes <= 32 ? 1 : Math.ceil(Math.log2(nodes) - 5) + 1
}

/** A peer whose repair session failed waits 10, 20, 40, then 80 s. */
const REPAIR_BACKOFF: BackoffPolicy = Object.freeze({ baseMs: 10_000, maxMs: 80_000, spread: [0.8, 1.2] as const })

function jitter(ms: number): number {
  return ms * (0.8 + Math.random() * 0.4)
}

export class Replicator {
  readonly peers: PeerTable
  readonly stats: ReplicationStats = {
    messagesIn: 0,
    messagesOut: 0,
    messagesInvalid: 0,
    bytesOut: 0,
    digestsCompared: 0,
    repairs: 0,
    repairErrors: 0,
    hoursRepaired: 0,
    tombstonesApplied: 0,
    tombstonesPassedOn: 0,
    tombstonesRejected: 0,
    announcedItems: 0,
    repairsSkipped: 0,
    wantsDropped: 0,
    peersLearned: 0,
    legacyHellos: 0,
    rangesRepaired: 0,
    rangeRequests: 0,
    offered: 0,
    offersIn: 0,
    repairsDeferred: 0,
    spreads: 0
  }

  readonly membership: Membership

  readonly unserved: UnservedNames<SegmentRef>

  readonly #init: ReplicatorInit
  readonly #keep: KeepFilter
  readonly #log: Logger
  readonly #shutdown = shutdownController()
  readonly #unsubscribe: Array<() => void> = []
  readonly #timers = new Set<NodeJS.Timeout>()
  /** Repairs with first-version peers and wubloader restreamers (hour-repair.ts). */
  readonly #hourRepair: HourRepair
  readonly #tasks = new Set<Promise<unknown>>()
  /** Running repair per peer; `again` asks for one more pass when it ends. */
  readonly #sessions = new Map<string, { again: boolean }>()
  readonly #announcer: Announcer
  /** Segments being downloaded here: not announced, and a peer asking for one waits for it. */
  readonly downloads: RunningDownloads
  /** The announcement topics subscribed to: those of the channels kept, as they are seen. */
  readonly topics: ChannelTopics
  /** Wants waiting out the grace: each one's wake-up, called early by stop(). */
  readonly #graceWaits = new Set<() => void>()
  /** Banned peer id → the URL the fetcher skips for it. */
  readonly #bannedUrls = new Map<string, string>()
  #ours: OurDigests | null = null
  /** Our newest segments for first hello answers, and the digests they were read with. */
  #recentOf: { ours: OurDigests; refs: SegmentRef[] } | null = null
  readonly #legacyLogged = new Set<string>()
  readonly #rechecks = new Map<string, NodeJS.Timeout>()
  /** Tombstones to pass on, per connected peer, and the one timer that sends them (#passOn). */
  readonly #passPending = new Map<string, Map<string, AnnouncedItem>>()
  #passTimer: NodeJS.Timeout | null = null
  /** What each peer's offers brought, until it has sent none for OFFER_QUIET_MS (#noteOffer). */
  readonly #offerBatches = new Map<string, { wanted: number; tombstones: AnnouncedItem[]; timer: NodeJS.Timeout }>()
  /** Connected peers already answered a hello (with the full peer-exchange sample). */
  readonly #answered = new Set<string>()

  constructor(init: ReplicatorInit) {
    this.#keep = init.keep ?? KeepFilter.ALL
    this.downloads = init.downloads ?? new RunningDownloads()
    this.topics = new ChannelTopics(
      this.#keep,
      (topic) => init.host.subscribe?.(topic),
      (topic) => init.host.unsubscribe?.(topic)
    )
    this.#init = init
    this.#log = init.log ?? silentLogger
    this.peers = new PeerTable({ connectedPeers: () => init.host.connectedPeers() })
    this.membership = new Membership({ host: init.host, peers: this.peers, stores: this.#keep })
    this.#announcer = new Announcer({
      send: (items) => {
        this.stats.announcedItems += items.length
        for (const { topic, message } of announcementsByTopic(this.#self, items)) this.#track(this.#publish(message, topic))
      },
      tombstoneProof: (ref) => init.store.index.tombstoneProof(ref),
      delayMs: REPLICATOR_DEFAULTS.announceDelayMs,
      downloading: (key) => this.downloads.has(key)
    })
    this.unserved = new UnservedNames<SegmentRef>({
      excused: (ref) => init.store.index.isTombstoned(ref) || init.store.index.getSegment(ref, { hidden: true }) != null,
      penalize: (peerId) => init.host.penalize?.(peerId, 'unserved_name')
    })
    this.#hourRepair = new HourRepair({
      fetcher: init.fetcher,
      index: init.store.index,
      log: this.#log,
      signal: this.#shutdown.signal,
      stats: this.stats,
      windowStart: () => this.#windowStart,
      windowHours: () => this.#windowHours,
      want: async (ref, peers, offeredBy) => await this.#want(ref, peers, offeredBy),
      applyTombstone: async (ref, proof, peerId) => {
        await this.#applyTombstone(ref, proof, peerId)
      }
    })
  }

  get #self(): PeerInfo {
    return { peerId: this.#init.host.peerId, url: this.#init.url, addrs: this.#init.host.multiaddrs() }
  }

  get #windowHours(): number {
    return this.#init.windowHours ?? REPLICATOR_DEFAULTS.windowHours
  }

  get #windowStart(): number {
    return hourStart(Date.now() * 1000) - (this.#windowHours - 1) * MICROS_PER_HOUR
  }

  async start(): Promise<void> {
    const { store, host } = this.#init
    for (const channel of store.index.channels()) this.topics.saw(channel)
    const offTopic = host.onPeerSubscribed?.((topic) => this.topics.peerSubscribed(topic))
    if (offTopic != null) this.#unsubscribe.push(offTopic)
    // Peers that connected before this start sent their subscriptions already.
    for (const topic of host.peerTopics?.() ?? []) this.topics.peerSubscribed(topic)
    this.#unsubscribe.push(store.onChange((event) => this.#onLocalChange(event)))
    this.#unsubscribe.push(host.onMessage((from, data) => this.#onGossip(from, data)))
    this.#unsubscribe.push(host.onPeerConnected((peerId) => this.#track(this.#hello(peerId, { mutual: true }))))
    host.handleHello((version, asker) => {
      const { windowStart, roots } = this.#ourDigests()
      // The first answer on a connection carries the full peer-exchange sample, later ones a few.
      const first = !this.#answered.has(asker)
      this.#answered.add(asker)
      const peers = this.membership.sample(asker, first ? MAX_HELLO_PEERS : MEMBERSHIP_DEFAULTS.refreshPeers)
      return encodeHello(
        {
          from: this.#self,
          windowStart,
          roots,
          peers,
          keep: this.#keep.patterns,
          evicted: this.#init.evictedHours?.() ?? [],
          ...(first ? { recent: this.#recent() } : {})
        },
        version
      )
    })
    const offDisconnect = host.onPeerDisconnected?.((peerId) => this.#answered.delete(peerId))
    if (offDisconnect != null) this.#unsubscribe.push(offDisconnect)
    const offOffer = host.onOffer?.((from, data) => this.#onOffer(from, data))
    if (offOffer != null) this.#unsubscribe.push(offOffer)
    const offBan = host.onPeerBanned?.((peerId) => this.#banned(peerId))
    const offUnban = host.onPeerUnbanned?.((peerId) => this.#unbanned(peerId))
    if (offBan != null) this.#unsubscribe.push(offBan)
    if (offUnban != null) this.#unsubscribe.push(offUnban)
    // The first rounds come quickly (1, 2, 4 … s), so nodes that joined at the same moment, whose
    // first hellos found nobody else yet, learn each other within seconds, not one interval later.
    const interval = this.#init.digestIntervalMs ?? REPLICATOR_DEFAULTS.digestIntervalMs
    let round = 0
    this.#every(
      () => backoffMs(++round, { baseMs: REPLICATOR_DEFAULTS.firstRoundMs, maxMs: interval * pushPullScale(this.peers.size + 1) }),
      async () => await this.#tick()
    )
    const legacy = this.#init.legacyPeers ?? []
    if (legacy.length > 0) {
      this.#every(REPLICATOR_DEFAULTS.legacyIntervalMs, async () => await this.#hourRepair.legacyPass(legacy))
      this.#track(this.#hourRepair.legacyPass(legacy))
    }
    // Peers already connected before we subscribed.
    for (const peerId of host.connectedPeers()) this.#track(this.#hello(peerId, { mutual: true }))
  }

  async stop(): Promise<void> {
    this.#shutdown.abort()
    for (const u of this.#unsubscribe) u()
    for (const t of this.#timers) clearTimeout(t)
    for (const t of this.#rechecks.values()) clearTimeout(t)
    this.#rechecks.clear()
    if (this.#passTimer != null) clearTimeout(this.#passTimer)
    this.#passPending.clear()
    for (const b of this.#offerBatches.values()) clearTimeout(b.timer)
    this.#offerBatches.clear()
    this.#announcer.stop()
    for (const wake of [...this.#graceWaits]) wake()
    this.unserved.stop()
    await Promise.allSettled([...this.#tasks])
  }

  /**
   * A banned peer is forgotten, and its URL is asked for nothing until the ban ends, unless another
   * connected peer gossips the same URL (a liar may claim an honest node's URL to get it dropped).
   */
  #banned(peerId: string): void {
    const url = this.peers.get(peerId)?.url
    this.peers.delete(peerId)
    if (url == null) return
    const other = this.peers.byUrl(url)
    if (other != null && this.#init.host.connectedPeers().includes(other.peerId)) return
    this.#bannedUrls.set(peerId, url)
    if (this.#bannedUrls.size > MAX_BANNED) this.#bannedUrls.delete(this.#bannedUrls.keys().next().value!)
    this.#init.fetcher.banPeer?.(url)
  }

  #unbanned(peerId: string): void {
    const url = this.#bannedUrls.get(peerId)
    this.#bannedUrls.delete(peerId)
    if (url != null) this.#init.fetcher.unbanPeer?.(url)
  }

  /** Anti-entropy now, with every known peer (tests and the CLI use it; the timers do the same). */
  async syncNow(): Promise<void> {
    await Promise.allSettled(this.#init.host.connectedPeers().map(async (p) => await this.#hello(p)))
    await Promise.allSettled([...this.#tasks])
  }

  #every(meanMs: number | (() => number), job: () => Promise<void>): void {
    const schedule = (): void => {
      const t = setTimeout(
        () => {
          this.#timers.delete(t)
          if (this.#shutdown.signal.aborted) return
          this.#track(job().finally(schedule))
        },
        jitter(typeof meanMs === 'number' ? meanMs : meanMs())
      )
      t.unref()
      this.#timers.add(t)
    }
    schedule()
  }

  #track(p: Promise<unknown>): void {
    const tracked = p.catch((err) => {
      if (!this.#shutdown.signal.aborted) this.#log.warn({ err }, 'replication task failed')
    })
    this.#tasks.add(tracked)
    void tracked.finally(() => this.#tasks.delete(tracked))
  }

  // --- outgoing ---------------------------------------------------------------------------

  /** Where our replication window starts and our root per `channel/quality` (what hellos carry). */
  ourRoots(): { windowStart: number; rootByKey: ReadonlyMap<string, string> } {
    return this.#ourDigests()
  }

  /** Computed anew after a store event, when the window moved, or after DIGEST_CACHE_MS. */
  #ourDigests(): OurDigests {
    const windowStart = this.#windowStart
    const now = Date.now()
    const cached = this.#ours
    if (cached != null && cached.windowStart === windowStart && now - cached.at < DIGEST_CACHE_MS) return cached
    const hours = hourDigests(this.#init.store.index, windowStart)
    const roots = rootsOf(hours)
    this.#ours = { windowStart, at: now, hours, roots, rootByKey: new Map(roots.map((r) => [`${r.channel}/${r.quality}`, r.root])) }
    return this.#ours
  }

  async #publish(message: Message, topic: string): Promise<void> {
    const bytes = encodeMessage(message)
    await this.#init.host.publish(bytes, topic)
    this.stats.messagesOut++
    this.stats.bytesOut += bytes.length
  }

  #onLocalChange(event: StoreEvent): void {
    this.#ours = null
    this.topics.saw(event.ref.channel)
    if (this.#init.announce !== false) this.#announcer.changed(event)
  }

  /** Push-pull with one random connected peer; nothing is published to the whole network. */
  async #tick(): Promise<void> {
    this.#track(this.membership.maintain())
    const dropped = this.topics.dropUnseen()
    if (dropped.length > 0) this.#log.info({ topics: dropped }, 'left announcement topics peers subscribed to: none of their channels seen')
    const [pick] = randomSample(this.#init.host.connectedPeers(), 1)
    if (pick != null) await this.#hello(pick)
  }

  // --- incoming ---------------------------------------------------------------------------

  #onGossip(from: string, data: Uint8Array): void {
    const decoded = decodeGossip(data)
    // The body names its sender; libp2p's message signature proves who that is. A node that
    // speaks for another would get tombstones and penalties pinned on the wrong peer.
    if (!decoded.ok || decoded.message.from.peerId !== from) {
      this.stats.messagesInvalid++
      this.#init.host.penalize?.(from, 'malformed_message')
      this.#log.debug({ peer: from, reason: decoded.ok ? 'sender is not the signer' : decoded.reason }, 'dropped an invalid message')
      return
    }
    this.stats.messagesIn++
    const { message } = decoded
    const peer = this.peers.seen(message.from, message.type === 'digest' ? message.roots : undefined)
    this.#track(this.membership.maintain())
    if (message.type === 'announce') this.#track(this.#onAnnounce(peer, message.items))
    else this.#compareRoots(peer, message.roots)
  }

  /**
   * What a peer's range repair found this node lacks, sent to it alone: applied like an
   * announcement from that peer. Only from a peer we know (its hello gave its URL).
   */
  #onOffer(from: string, data: Uint8Array): void {
    const decoded = decodeMessage(data)
    const peer = this.peers.get(from)
    if (!decoded.ok || decoded.message.type !== 'announce' || decoded.message.from.peerId !== from || peer == null) {
      this.stats.messagesInvalid++
      this.#init.host.penalize?.(from, 'malformed_message')
      return
    }
    this.stats.offersIn++
    this.#track(this.#onAnnounce(peer, decoded.message.items, true))
  }

  /**
   * Ask a peer for its roots and peers, and repair what differs. `mutual`: the peer is asking us
   * at the same moment (a new connection), so only one end need walk; otherwise this end walks.
   */
  async #hello(peerId: string, options: { mutual?: boolean; retry?: boolean } = {}): Promise<void> {
    if (this.#shutdown.signal.aborted) return
    let bytes: Uint8Array
    try {
      bytes = await this.#init.host.requestHello(peerId, { signal: this.#shutdown.signal })
    } catch (err) {
      this.#log.debug({ err, peerId }, 'hello failed')
      // A peer that connects while it starts answers before its replicator does (no answer yet).
      // Asked once more a second later, it is in our table for the next peers we answer.
      if (options.retry !== false && this.peers.get(peerId) == null) {
        await sleep(REPLICATOR_DEFAULTS.firstRoundMs, undefined, { signal: this.#shutdown.signal }).catch(() => {})
        if (this.#init.host.connectedPeers().includes(peerId)) await this.#hello(peerId, { ...options, retry: false })
      }
      return
    }
    const decoded = decodeHello(bytes)
    if (!decoded.ok || decoded.hello.from.peerId !== peerId) {
      this.stats.messagesInvalid++
      this.#init.host.penalize?.(peerId, 'malformed_message')
      return
    }
    const { hello } = decoded
    if (hello.version === 1) this.#legacyHello(peerId)
    const peer = this.peers.seen(hello.from, hello.roots, true)
    for (const r of hello.roots) this.topics.saw(r.channel)
    peer.protocol = hello.version
    peer.keep = hello.keep.length === 0 ? KeepFilter.ALL : new KeepFilter(hello.keep)
    peer.evicted = new Set(hello.evicted)
    this.stats.peersLearned += this.membership.learn(hello.peers)
    this.#track(this.membership.maintain())
    // Its newest segments come at once; the walk below finds the rest (wants of one name merge).
    if (hello.recent.length > 0)
      this.#track(
        this.#onAnnounce(
          peer,
          hello.recent.map((ref) => ({ kind: 'segment' as const, ref }))
        )
      )
    this.#compareRoots(peer, hello.roots, options.mutual === true)
    await this.#idle(peerId)
  }

  /**
   * Our newest segments for a connection's first hello answer: up to MAX_HELLO_RECENT, shared
   * over the channel/qualities we hold, from each one's last TAIL_HOURS hours. Kept as long as our
   * digests are (one index change, at most 1 s): a heal opens many connections at once.
   */
  #recent(): SegmentRef[] {
    const ours = this.#ourDigests()
    if (this.#recentOf?.ours === ours) return this.#recentOf.refs
    const { index } = this.#init.store
    const keys = [...ours.rootByKey.keys()]
    const perKey = Math.max(1, Math.floor(MAX_HELLO_RECENT / Math.max(1, keys.length)))
    const out: SegmentRef[] = []
    for (const key of keys.slice(0, MAX_HELLO_RECENT)) {
      const [channel, quality] = key.split('/') as [string, string]
      const last = index.hourSpan(channel, quality)?.last
      if (last == null) continue
      let left = perKey
      for (let hour = last; hour > last - TAIL_HOURS * MICROS_PER_HOUR && left > 0; hour -= MICROS_PER_HOUR) {
        for (const s of index.hourSegments(channel, quality, hour).slice(-left).reverse()) {
          const parsed = parseSegmentRef(s.channel, s.quality, s.hour, s.file)
          if (parsed.ok) out.push(parsed.value)
          left--
        }
      }
    }
    this.#recentOf = { ours, refs: out }
    return out
  }

  /** A peer still on the first protocol version: it is served as before; said once per peer. */
  #legacyHello(peerId: string): void {
    this.stats.legacyHellos++
    if (this.#legacyLogged.has(peerId)) return
    this.#legacyLogged.add(peerId)
    if (this.#legacyLogged.size > MAX_LEGACY_LOGGED) this.#legacyLogged.delete(this.#legacyLogged.values().next().value!)
    this.#log.info({ peer: peerId }, 'peer speaks replication protocol version 1 (no peer exchange); upgrade it')
  }

  /**
   * Exchange digests with a peer again in `ms` (and a little): after leaving a difference to its
   * walk, or finding every session slot busy. One timer per peer at most, so the map is bounded by the
   * peers exchanged with; the hello finds the roots equal if the difference was healed meanwhile.
   */
  #recheck(peerId: string, ms = RECHECK_MS): void {
    if (this.#rechecks.has(peerId) || this.#shutdown.signal.aborted) return
    const timer = setTimeout(
      () => {
        this.#rechecks.delete(peerId)
        if (this.#init.host.connectedPeers().includes(peerId)) this.#track(this.#hello(peerId))
      },
      ms + jitter(RECHECK_MS) / 4
    )
    timer.unref()
    this.#rechecks.set(peerId, timer)
  }

  /**
   * A download of `ref` from a peer starts (here, or a read-through by the HTTP layer); call the
   * function returned when it ends. What a download stores is not announced: only its recorder does.
   */
  noteFetch(ref: SegmentRef): () => void {
    return this.downloads.begin(ref)
  }

  /**
   * Both sides' roots where they differ, and both sides' evicted hours: a walk over the same pair
   * finds what the last one found (an hour fetched back, or evicted, changes it).
   */
  #rootPair(peer: PeerState, ours: ReadonlyMap<string, string>): string {
    const keys = [...new Set([...peer.roots.keys(), ...ours.keys()])].filter((k) => (peer.roots.get(k) ?? '') !== (ours.get(k) ?? ''))
    const evicted = this.#init.evictedHours?.().length ?? 0
    return `${keys
      .sort()
      .map((k) => `${k}:${ours.get(k) ?? ''}:${peer.roots.get(k) ?? ''}`)
      .join(' ')}|${evicted}|${peer.evicted.size}`
  }

  /** Wait until a repair session with the peer (if one started) has ended. */
  async #idle(peerId: string): Promise<void> {
    while (this.#sessions.has(peerId) && !this.#shutdown.signal.aborted) await sleep(20)
  }

  #compareRoots(peer: PeerState, roots: readonly RootDigest[], mutual = false): void {
    this.stats.digestsCompared++
    const ours = this.#ourDigests().rootByKey
    const theirs = new Set(roots.map((r) => `${r.channel}/${r.quality}`))
    const both = (key: string): boolean => this.#keep.keepsKey(key) && peer.keep.keepsKey(key)
    // A version 2 peer is also walked for what only we hold: the walk offers it (range-repair.ts).
    // Only what both ends keep counts: the rest one of them would drop.
    const differs =
      roots.some((r) => r.root !== '' && both(`${r.channel}/${r.quality}`) && ours.get(`${r.channel}/${r.quality}`) !== r.root) ||
      (peer.protocol === 2 && [...ours].some(([key, root]) => root !== '' && !theirs.has(key) && both(key)))
    if (!differs || this.#rootPair(peer, ours) === peer.quietRoots) {
      peer.lagSeconds = 0
      peer.deferredAt = 0
      return
    }
    // On a new connection both ends see the same difference. Between version 2 peers one walk
    // heals both ways (it offers what it finds the other lacks), so the smaller peer id walks; the
    // other leaves it DEFER_MS, then looks again and walks itself if the difference is still there.
    // A one-sided exchange (a round, a recheck) walks at once: the other end saw nothing.
    const now = Date.now()
    if (
      mutual &&
      peer.protocol === 2 &&
      this.#init.host.peerId > peer.peerId &&
      (peer.deferredAt === 0 || now - peer.deferredAt < DEFER_MS)
    ) {
      if (peer.deferredAt === 0) {
        peer.deferredAt = now
        this.stats.repairsDeferred++
        this.#recheck(peer.peerId, DEFER_MS)
      }
      return
    }
    // A walk between the two ran a moment ago: the peer that walked us (it asked for our ranges)
    // fetches what it found and offers what it finds we lack, and after our own walk that offered
    // it names the peer is still fetching them. Walking again before that lands would move the same
    // fingerprints once more. Waited out for MAX_SETTLE_WAIT_MS at most from the first wait: anyone
    // can send a peer's URL in the header, and must not keep us from walking that peer.
    const settledAt = Math.max(peer.walkingUsAt, peer.offeredAt) + SETTLE_MS
    if (now < settledAt && (peer.deferredAt === 0 || now - peer.deferredAt < MAX_SETTLE_WAIT_MS)) {
      if (peer.deferredAt === 0) peer.deferredAt = now
      this.stats.repairsDeferred++
      this.#recheck(peer.peerId, settledAt - now)
      return
    }
    peer.deferredAt = 0
    this.#repair(peer)
  }

  /** A peer (by the URL its requests carry) asked for our ranges or names: it is walking us. */
  walkedBy(url: string): void {
    const peer = this.peers.byUrl(url)
    if (peer != null) peer.walkingUsAt = Date.now()
  }

  /**
   * `offer`: the items come from the peer's walk against us, so peers that held the same names as
   * it when it said hello are sources too (a gossip announcement names a new segment nobody else
   * has yet: its sender alone is asked).
   */
  async #onAnnounce(peer: PeerState, items: readonly AnnouncedItem[], offer = false): Promise<void> {
    const { index } = this.#init.store
    // Tombstones first: a segment and its tombstone in one batch must never be fetched.
    const applied: AnnouncedItem[] = []
    for (const item of items) {
      if (item.kind === 'tombstone' && !index.isTombstoned(item.ref) && (await this.#applyTombstone(item.ref, item.proof, peer.peerId)))
        applied.push(item)
    }
    const segments = items.filter((i) => i.kind === 'segment')
    // A peer paused for answering 404 to a run of the names it offered (or banned): what it
    // announces meanwhile is dropped here, before each name costs a lookup and a queue entry.
    if (!offer && this.#init.fetcher.refusing?.(peer.url) === true) {
      this.stats.wantsDropped += segments.length
      return
    }
    if (offer) {
      const wanted = segments.filter((i) => index.getSegment(i.ref, { hidden: true }) == null && !index.isTombstoned(i.ref)).length
      this.#noteOffer(peer.peerId, wanted, applied)
    }
    const sources = offer ? this.#sources(peer) : (): string[] => [peer.url]
    const stored = await Promise.all(segments.map(async (i) => await this.#want(i.ref, sources(i.ref), peer.peerId)))
    if (offer) this.#spread(peer.peerId, stored.filter(Boolean).length)
  }

  /**
   * One walk's offers arrive as several messages: what they brought is judged together, once the
   * peer has sent none for OFFER_QUIET_MS. Tombstones alone, no name new here: they go on
   * (#passOn); with names, the exchanges those start carry them.
   */
  #noteOffer(from: string, wanted: number, tombstones: AnnouncedItem[]): void {
    let batch = this.#offerBatches.get(from)
    if (batch == null) {
      const timer = setTimeout(() => {
        this.#offerBatches.delete(from)
        if (batch!.wanted === 0) this.#passOn(from, batch!.tombstones)
      }, OFFER_QUIET_MS)
      timer.unref()
      batch = { wanted: 0, tombstones: [], timer }
      this.#offerBatches.set(from, batch)
    } else batch.timer.refresh()
    batch.wanted += wanted
    for (const t of tombstones) if (batch.tombstones.length < PASS_ON_MAX_PENDING) batch.tombstones.push(t)
  }

  /**
   * After a walk or an offer brought many names (a heal, not the live edge), exchange with every
   * other connected peer soon: those that lack them too walk this node at once, so a heal crosses
   * a network hop by hop in round trips, not in push-pull intervals (tombstones go with the names).
   */
  #spread(from: string, stored: number): void {
    if (stored < SPREAD_MIN_STORED) return
    this.stats.spreads++
    for (const p of this.#init.host.connectedPeers()) if (p !== from) this.#recheck(p, SPREAD_MS)
  }

  /**
   * Tombstones new here that a walk or a peer's walk brought alone (no name this node lacked: no
   * download, no exchange follows to carry them) are offered to every other connected peer, which
   * does the same: they missed their announcement (their maker was cut off when it made them, say),
   * and left to walks a lone one crossed 1,000 nodes one push-pull round per hop, minutes in which
   * the others kept serving the segment it deletes. Offering those of every walk, or of walks with
   * fewer than 8 names, made 20 nodes walk and work more in a heal (docs/SIMULATIONS.md). What
   * gossip delivered is not passed on, nor tombstones older than the window (retention removed them
   * here; a peer with a longer window brought them back), and a peer gets only what it keeps, once
   * it said hello with ranges (an offer from a peer not in the table is refused as malformed;
   * version 1 has no offers). Each peer's go out together every PASS_ON_MS, so what a node sends
   * does not grow with the messages it takes in.
   */
  #passOn(from: string, tombstones: AnnouncedItem[]): void {
    const windowStart = this.#windowStart
    const fresh = tombstones.filter((t) => t.ref.start >= windowStart)
    if (fresh.length === 0 || this.#init.host.sendOffer == null || this.#shutdown.signal.aborted) return
    let passed = false
    for (const p of this.#init.host.connectedPeers()) {
      const peer = this.peers.get(p)
      if (p === from || peer == null || peer.protocol !== 2) continue
      const items = fresh.filter((t) => peer.keep.keeps(t.ref.channel, t.ref.quality))
      if (items.length === 0) continue
      passed = true
      const pending = this.#passPending.get(p) ?? new Map<string, AnnouncedItem>()
      this.#passPending.set(p, pending)
      for (const t of items) {
        if (pending.size >= PASS_ON_MAX_PENDING) {
          this.#recheck(p, SPREAD_MS)
          break
        }
        pending.set(segmentRelPath(t.ref), t)
      }
    }
    if (passed) this.stats.tombstonesPassedOn += fresh.length
    if (this.#passTimer == null && this.#passPending.size > 0) {
      this.#passTimer = setTimeout(() => this.#flushPassOn(), PASS_ON_MS)
      this.#passTimer.unref()
    }
  }

  #flushPassOn(): void {
    this.#passTimer = null
    const connected = new Set(this.#init.host.connectedPeers())
    for (const [p, pending] of this.#passPending) if (connected.has(p)) this.#track(this.#offer(p, [...pending.values()]))
    this.#passPending.clear()
  }

  /**
   * Every tombstone from elsewhere comes through here. With an admin key, one without a valid
   * signature covering the segment is dropped, counted, and its sender (when known) scored down.
   * True when it was new here and is now applied.
   */
  async #applyTombstone(ref: SegmentRef, proof: string | undefined, peerId: string | null): Promise<boolean> {
    const key = this.#init.adminPublicKey
    if (key != null) {
      const verdict = verifyTombstone(proof, ref, key)
      if (!verdict.ok) {
        this.stats.tombstonesRejected++
        if (peerId != null && verdict.offence != null) this.#init.host.penalize?.(peerId, verdict.offence)
        this.#log.warn({ segment: segmentRelPath(ref), peer: peerId, why: verdict.reason }, 'refused a tombstone')
        return false
      }
    }
    const { created } = await this.#announcer.receiving(ref, async () => await this.#init.store.writeTombstone(ref, { proof }))
    if (created) this.stats.tombstonesApplied++
    return created
  }

  /**
   * Fetch a segment unless we have it or it is tombstoned, waiting out the grace period first.
   * `offeredBy`: the peer id that announced or listed the name at `peers[0]`, if known. True when
   * this call's download stored it.
   */
  async #want(ref: SegmentRef, peers: string[], offeredBy?: string | null): Promise<boolean> {
    const { index } = this.#init.store
    if (!this.#keep.keeps(ref.channel, ref.quality) || this.#init.evicted?.(ref) === true) return false
    if (index.getSegment(ref, { hidden: true }) != null || index.isTombstoned(ref)) return false
    // Outside the window (which the node narrows to retention): what retention removed stays removed.
    if (ref.start < this.#windowStart) return false
    if (nameLearnedChannel.hasSubscribers)
      nameLearnedChannel.publish({ segmentsDir: this.#init.store.segmentsDir, path: segmentRelPath(ref) } satisfies NameLearnedMessage)
    const grace = (this.#init.graceMs ?? 0) * 1000
    const age = Date.now() * 1000 - ref.start
    if (age < grace) {
      if (this.#graceWaits.size >= MAX_GRACE_WAITS) {
        this.stats.wantsDropped++
        return false
      }
      await this.#graceWait(Math.ceil((grace - age) / 1000))
      if (this.#shutdown.signal.aborted) return false
    }
    const done = this.noteFetch(ref)
    let outcome: FetchOutcome
    try {
      // Cancelled by stop(): otherwise stop() would wait out the backoff of unreachable peers. The
      // fetcher puts one listener on the shared signal, however many wants wait.
      outcome = await this.#init.fetcher.want(ref, peers, { signal: this.#shutdown.signal })
    } finally {
      done()
    }
    // Failures are logged by the fetcher, summed up per peer. A peer that offered the name and had
    // nothing is judged once a tombstone has had time to explain it.
    if (outcome.status === 'failed' && offeredBy != null && outcome.notFound?.includes(peers[0]!) === true)
      this.unserved.note(offeredBy, ref)
    return outcome.status === 'stored'
  }

  /** A timer, not a listener on the shutdown signal: stop() wakes every waiter at once. */
  async #graceWait(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer)
        this.#graceWaits.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.#graceWaits.add(wake)
    })
  }

  // --- repair -----------------------------------------------------------------------------

  #repair(peer: PeerState): void {
    const running = this.#sessions.get(peer.peerId)
    if (running != null) {
      running.again = true
      return
    }
    // Disk (or budget) full: no listings, no downloads; the next digest round after room returns repairs.
    if (Date.now() < peer.backoffUntil || this.#init.store.writesPaused) return
    // Only with a peer we are connected to (a digest relayed from elsewhere names any URL it
    // likes: we dial its author, and the hello on that connection repairs), and a few at a time.
    if (this.#sessions.size >= MAX_REPAIR_SESSIONS || !this.#init.host.connectedPeers().includes(peer.peerId)) {
      this.stats.repairsSkipped++
      // All sessions busy (a heal reconnects many peers at once): ask again soon, not a whole interval later.
      if (this.#sessions.size >= MAX_REPAIR_SESSIONS) this.#recheck(peer.peerId)
      return
    }
    const session = { again: false }
    this.#sessions.set(peer.peerId, session)
    this.#track(
      (async () => {
        try {
          do {
            session.again = false
            await this.#repairSession(peer)
          } while (session.again && !this.#shutdown.signal.aborted)
          peer.failures = 0
        } catch (err) {
          this.stats.repairErrors++
          peer.failures++
          peer.backoffUntil = Date.now() + backoffMs(peer.failures, REPAIR_BACKOFF)
          if (!this.#shutdown.signal.aborted) this.#log.info({ err, peer: peer.peerId, url: peer.url }, 'repair session failed')
        } finally {
          this.#sessions.delete(peer.peerId)
        }
      })()
    )
  }

  async #repairSession(peer: PeerState): Promise<void> {
    this.stats.repairs++
    peer.repairs++
    if (peer.protocol === 2) await this.#rangeRepairSession(peer)
    else await this.#hourRepair.session(peer, this.#ourDigests())
  }

  /** Repair by range fingerprints (range-repair.ts): what moves grows with what differs. */
  async #rangeRepairSession(peer: PeerState): Promise<void> {
    const signal = this.#shutdown.signal
    const ours = this.#ourDigests()
    // Every channel/quality whose roots differ, including those only one side has anything of.
    const keys = [...new Set([...peer.roots.keys(), ...ours.rootByKey.keys()])].filter(
      (key) => (peer.roots.get(key) ?? '') !== (ours.rootByKey.get(key) ?? '') && this.#keep.keepsKey(key) && peer.keep.keepsKey(key)
    )
    const windowEnd = hourStart(Date.now() * 1000) + MICROS_PER_HOUR
    const pair = this.#rootPair(peer, ours.rootByKey)
    const sources = this.#sources(peer)
    let stored = 0
    let wanted = 0
    const tombstones: AnnouncedItem[] = []
    let result: Awaited<ReturnType<typeof repairByRanges>>
    try {
      result = await repairByRanges(
        {
          local: localRanges(this.#init.store.index),
          remote: peerRanges(async (path) => await this.#init.fetcher.getJson(peer.url, path, { signal })),
          applyTombstone: async (ref, proof) => {
            if (await this.#applyTombstone(ref, proof, peer.peerId))
              tombstones.push({ kind: 'tombstone', ref, ...(proof != null ? { proof } : {}) })
          },
          want: async (ref) => {
            wanted++
            if (await this.#want(ref, sources(ref), peer.peerId)) stored++
          },
          queueAhead: QUEUE_AHEAD,
          // Hours either side evicted: the evicting side wants none of them back, and holds only tombstones there.
          skipHour: (key, hour) => {
            const slash = key.indexOf('/')
            return (
              peer.evicted.has(`${key}/${hour}`) ||
              this.#init.evicted?.({ channel: key.slice(0, slash), quality: key.slice(slash + 1), start: hour }) === true
            )
          },
          ...(this.#init.host.sendOffer != null ? { offer: async (items: AnnouncedItem[]) => await this.#offer(peer.peerId, items) } : {}),
          signal
        },
        keys,
        ours.windowStart,
        windowEnd
      )
    } finally {
      // Also after a walk that failed part way: what it applied is not new here any more.
      this.#spread(peer.peerId, stored)
      if (wanted === 0) this.#passOn(peer.peerId, tombstones)
    }
    peer.quietRoots = result.lacked === 0 && result.tombstones === 0 && result.offered === 0 ? pair : ''
    this.stats.offered += result.offered
    if (result.offered > 0) peer.offeredAt = Date.now()
    this.stats.rangesRepaired += result.ranges
    this.stats.rangeRequests += result.partRequests + result.nameRequests
    peer.lagSeconds = result.newest === 0 ? 0 : Math.max(0, Math.round((Date.now() * 1000 - result.newest) / MICROS_PER_SECOND))
  }

  /**
   * Where to fetch names a walk of `walked` (or its offer) found missing: it first, then connected
   * peers whose last root for the name's channel/quality equals its own (they held the same names
   * then), found once per channel/quality. The fetcher sends each download to the least busy
   * candidate, so a heal does not make the walked peer everyone's only source.
   */
  #sources(walked: PeerState): (ref: SegmentRef) => string[] {
    const byKey = new Map<string, string[]>()
    return (ref) => {
      const key = `${ref.channel}/${ref.quality}`
      let urls = byKey.get(key)
      if (urls == null) {
        urls = [walked.url]
        const root = walked.roots.get(key)
        for (const id of root == null || root === '' ? [] : this.#init.host.connectedPeers()) {
          const p = id === walked.peerId ? undefined : this.peers.get(id)
          if (p != null && p.roots.get(key) === root && urls.length <= MAX_EXTRA_HOLDERS) urls.push(p.url)
        }
        byKey.set(key, urls)
      }
      return urls
    }
  }

  /** Tell a peer, alone, what it lacks (batched as announcements); a failure only costs its own walk later. */
  async #offer(peerId: string, items: AnnouncedItem[]): Promise<void> {
    for (const m of announceMessages(this.#self, items)) {
      try {
        await this.#init.host.sendOffer!(peerId, encodeMessage(m), { signal: this.#shutdown.signal })
      } catch (err) {
        this.#log.debug({ err, peer: peerId }, 'offer not sent')
        return
      }
    }
  }
}
