/**
 * The composition root: builds the parts and starts them in one order (lib/lifecycle.ts), index →
 * disk space → cutter → (reconcile) → retention → disk budget → watcher → read-through → network
 * listings → HTTP → admin HTTP → libp2p host → fetcher → replicator → recorder. Stopping stops
 * every listener accepting first, then each part in reverse, the HTTP drain bounded by the grace
 * time. A start that fails halfway stops what it had started.
 */
import { mkdtemp, rm, statfs } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { KeyObject } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type pino from 'pino'
import type { Config } from '../config/options.ts'
import { Cutter } from '../cutter/cutter.ts'
import { buildHttpApp } from '../http/app.ts'
import { HttpListener, type HttpListenerInit } from '../http/listener.ts'
import { ConnectionCap } from '../http/connection-cap.ts'
import { HttpWorkers } from './http-workers.ts'
import { NetworkListings } from '../http/network-listings.ts'
import { KeepFilter } from '../replication/keep.ts'
import { ReadThrough } from '../http/read-through.ts'
import { UploadSlots } from '../http/upload-slots.ts'
import { ViewerStreams } from '../http/viewer-streams.ts'
import { type NodeCreateMessage, nodeCreateChannel } from '../lib/diagnostics.ts'
import { StartOrder } from '../lib/lifecycle.ts'
import { randomSample } from '../lib/random-sample.ts'
import { Recorder } from '../ingest/recorder.ts'
import { SegmentSelector } from '../storage/best-segments.ts'
import { DiskBudget } from '../storage/disk-budget.ts'
import { DiskSpace } from '../storage/disk-space.ts'
import { Reconciler } from '../storage/reconcile.ts'
import { Retention } from '../storage/retention.ts'
import { SegmentIndex } from '../storage/segment-index.ts'
import { SegmentStore } from '../storage/segment-store.ts'
import { TreeWatcher } from '../storage/watcher.ts'
import type { ReplicationCounters, ReplicationView } from '../http/components.ts'
import { Fetcher } from '../replication/fetcher.ts'
import { P2PHost } from '../replication/host.ts'
import { decodeGossip } from '../replication/messages.ts'
import { KNOWN_TOPICS, LEGACY_TOPIC } from '../replication/topics.ts'
import { LmdbDatastore } from '../replication/lmdb-datastore.ts'
import { loadOrCreateNodeKey } from '../replication/node-key.ts'
import type { Offence } from '../replication/peer-score.ts'
import { readNetworkKey } from '../replication/pnet.ts'
import { readAdminKeys } from '../replication/tombstone-signature.ts'
import { Replicator } from '../replication/replicator.ts'
import { RunningDownloads } from '../replication/running-downloads.ts'
import type { NodeHooks } from './hooks.ts'

export interface SegmeshNodeInit {
  config: Readonly<Config>
  log: pino.Logger
  hooks?: NodeHooks
}

export class SegmeshNode {
  readonly config: Readonly<Config>
  readonly log: pino.Logger
  /** Built (without side effects) by the constructor; opened and started by `start()`. */
  readonly index: SegmentIndex
  readonly store: SegmentStore
  /** Pauses segment writes while the segments folder is (nearly) full. */
  readonly space: DiskSpace
  readonly selector: SegmentSelector
  readonly cutter: Cutter
  host: P2PHost | null = null
  fetcher: Fetcher | null = null
  replicator: Replicator | null = null
  /** Segments being downloaded from peers: the replicator's, seen by the segment route. */
  #downloads: RunningDownloads | null = null
  /** Records the configured live streams (`--record`); null when there are none. */
  recorder: Recorder | null = null
  retention: Retention | null = null
  /** Keeps the segment tree under --max-disk-bytes; null without a budget. */
  budget: DiskBudget | null = null
  /** Listings over what peers hold, and the copies count eviction asks; null without replication. */
  network: NetworkListings | null = null
  /** Every part that runs, started in order and stopped in reverse (lib/lifecycle.ts). */
  readonly #parts = new StartOrder()
  #http: HttpListener | null = null
  /** The processes serving the HTTP address (--http-workers); null: #http serves it. */
  httpWorkers: HttpWorkers | null = null
  /** The admin-only listener, when --admin-host is set. */
  #adminHttp: HttpListener | null = null
  #adminPublicKey: KeyObject | undefined
  #drainMs: number
  /** Read when the parts are built; a `segmesh:node:create` subscriber may add to it before. */
  readonly #hooks: NodeHooks

  /** What this node keeps on its disk (--keep); the rest is served read-through only. */
  readonly keep: KeepFilter

  constructor(init: SegmeshNodeInit) {
    this.config = init.config
    this.log = init.log
    this.#drainMs = init.config.shutdownGraceSeconds * 1000
    this.keep = new KeepFilter(init.config.keep)
    this.#hooks = { ...init.hooks }
    const { config, log } = this
    this.index = new SegmentIndex(join(config.dataDir, 'index'), { mapSize: config.indexMapSizeMb * 1024 * 1024 })
    this.space = new DiskSpace({ dir: config.segmentsDir, minFreeBytes: config.minFreeBytes, log: log.child({ component: 'disk-space' }) })
    this.store = new SegmentStore({ segmentsDir: config.segmentsDir, index: this.index, space: this.space })
    this.selector = new SegmentSelector(this.index)
    this.cutter = new Cutter({
      store: this.store,
      tempDir: config.cutTempDir ?? undefined,
      concurrency: config.cutConcurrency,
      log: log.child({ component: 'cutter' })
    })
    if (nodeCreateChannel.hasSubscribers)
      nodeCreateChannel.publish({ node: this, hooks: this.#hooks } satisfies NodeCreateMessage<SegmeshNode, NodeHooks>)
  }

  /** The HTTP base URL once started. */
  get url(): string {
    if (this.#http == null) throw new Error('node not started')
    return this.httpWorkers?.url ?? this.#http.url
  }

  /** Start every part in order; if one fails, the ones already started are stopped before the error is thrown. */
  async start(): Promise<void> {
    try {
      await this.#start()
    } catch (err) {
      await this.#parts.stop().catch((stopErr: unknown) => this.log.error({ err: stopErr }, 'stopping after a failed start'))
      throw err
    }
  }

  async #start(): Promise<void> {
    const { config, log } = this
    const parts = this.#parts
    await parts.start('index', this.index)
    await parts.start('disk-space', this.space)
    await parts.start('cutter', this.cutter)
    const reconciler = new Reconciler(this.store, log.child({ component: 'reconcile' }))
    const started = performance.now()
    const report = await reconciler.reconcileAll({
      tempGraceMs: config.tempGraceSeconds * 1000,
      onProgress: (p) => log.info(p, 'reconcile progress')
    })
    log.info({ ...report, seconds: Math.round(performance.now() - started) / 1000 }, 'index reconciled with disk')
    if (config.retentionDays > 0) {
      this.retention = await parts.start(
        'retention',
        new Retention({ store: this.store, reconciler, days: config.retentionDays, log: log.child({ component: 'retention' }) })
      )
    }
    if (config.maxDiskBytes != null) {
      this.budget = await parts.start(
        'disk-budget',
        new DiskBudget({
          store: this.store,
          reconciler,
          limit: config.maxDiskBytes,
          stateFile: join(config.dataDir, 'evicted-hours.json'),
          // Without replication no other node is known to hold anything: nothing is evicted.
          othersKeep: async (channel, quality, hour) => (await this.network?.othersKeep(channel, quality, hour)) ?? false,
          diskBytes: async () => {
            const fs = await statfs(config.segmentsDir)
            return fs.blocks * fs.bsize
          },
          log: log.child({ component: 'disk-budget' })
        })
      )
    }
    if (config.watch) {
      await parts.start(
        'watcher',
        new TreeWatcher({
          segmentsDir: config.segmentsDir,
          reconciler,
          log: log.child({ component: 'watcher' }),
          rescanIntervalMs: config.rescanIntervalSeconds * 1000,
          tempGraceMs: config.tempGraceSeconds * 1000,
          inflight: this.store.inflight
        })
      )
    }
    if (config.record.length > 0) {
      this.recorder = new Recorder({
        channels: config.record,
        store: this.store,
        log: log.child({ component: 'ingest' }),
        options: { pollMs: config.recordPollMs },
        paused: () => this.space.full
      })
    }
    const adminKeys = await readAdminKeys({ signing: config.adminSigningKey, public: config.adminPublicKey })
    this.#adminPublicKey = adminKeys.adminPublicKey
    // Holders named in busy answers are peers whose hello gave their URL, never a header's word alone.
    const knownPeer = (url: string): boolean => this.replicator?.peers.byUrl(url) != null
    const uploads = config.replication
      ? new UploadSlots({ slots: config.peerUploadSlots, referAfter: config.peerReferAfter, knownPeer })
      : undefined
    if (config.replication) this.#downloads = new RunningDownloads()
    // With workers, the app listens on a socket in a folder only this user can enter; they serve the address.
    const upstream = config.httpWorkers > 0 ? join(await mkdtemp(join(tmpdir(), 'segmesh-http-')), 'node.sock') : null
    if (upstream != null) {
      await parts.start('http-socket-dir', {
        start: async () => {},
        stop: async () => await rm(dirname(upstream), { recursive: true, force: true })
      })
      this.httpWorkers = new HttpWorkers({
        host: config.httpHost,
        port: config.httpPort,
        count: config.httpWorkers,
        worker: {
          indexPath: join(config.dataDir, 'index'),
          mapSize: config.indexMapSizeMb * 1024 * 1024,
          segmentsDir: config.segmentsDir,
          upstream,
          // The node's bounds, shared: each worker holds its part of the connections.
          maxConnections: Math.ceil(config.httpMaxConnections / config.httpWorkers),
          peerKeepAlive: Math.ceil(config.httpPeerKeepalive / config.httpWorkers)
        },
        drainMs: () => this.#drainMs,
        log: log.child({ component: 'http' })
      })
    }
    // With workers, the app's socket carries only their relays (each worker bounds its own
    // connections): bounding or closing those would only refuse or churn the workers' requests.
    const connections =
      upstream == null
        ? new ConnectionCap({ maxConnections: config.httpMaxConnections, peerKeepAlive: config.httpPeerKeepalive })
        : new ConnectionCap({ maxConnections: Number.POSITIVE_INFINITY, peerKeepAlive: Number.POSITIVE_INFINITY })
    const components = {
      connections,
      workers: this.httpWorkers ?? undefined,
      index: this.index,
      store: this.store,
      selector: this.selector,
      cutter: this.cutter,
      replication: this.#replicationView(),
      ingest: this.recorder ?? undefined,
      retention: this.retention ?? undefined,
      budget: this.budget ?? undefined,
      uploads,
      downloads: this.#downloads ?? undefined,
      viewers: uploads == null ? undefined : new ViewerStreams({ peerUploads: () => uploads.active, share: config.peerUploadShare }),
      readThrough: config.replication && config.readThrough ? await parts.start('read-through', this.#readThrough()) : undefined,
      network: config.replication ? (this.network = await parts.start('network-listings', this.#networkListings())) : undefined
    }
    const httpLog = log.child({ component: 'http' })
    const httpInit = {
      metrics: config.metrics,
      logger: httpLog,
      dataDir: config.dataDir,
      adminToken: config.adminToken ?? undefined,
      cutBytesPerSecond: config.cutMaxMibPerSecond * 1024 ** 2,
      ...adminKeys
    }
    const listener = (listen: HttpListenerInit['listen'], build: () => Promise<FastifyInstance>, cap?: ConnectionCap): HttpListener =>
      new HttpListener({ build, listen, cap, drainMs: () => this.#drainMs, log: httpLog })
    const routes = config.adminHost != null ? 'public' : 'all'
    this.#http = await parts.start(
      'http',
      listener(
        upstream == null ? { host: config.httpHost, port: config.httpPort } : { path: upstream },
        async () => await buildHttpApp(components, { ...httpInit, routes, behindWorkers: upstream != null }),
        connections
      )
    )
    if (this.httpWorkers != null) await parts.start('http-workers', this.httpWorkers)
    if (config.adminHost != null) {
      this.#adminHttp = await parts.start(
        'admin-http',
        listener(
          { host: config.adminHost, port: config.adminPort },
          async () => await buildHttpApp(components, { ...httpInit, metrics: false, routes: 'admin' })
        )
      )
      log.info({ url: this.#adminHttp.url }, 'admin API on its own listener')
    }
    if (config.replication) await this.#startReplication()
    // Last, after replication, so the first recorded segments are announced.
    if (this.recorder != null) await parts.start('recorder', this.recorder)
  }

  /** Where the admin routes are served: the separate admin listener, or the main one. */
  get adminUrl(): string {
    return this.#adminHttp?.url ?? this.url
  }

  /** The HTTP URL peers fetch from. */
  get publicUrl(): string {
    return this.config.publicUrl?.replace(/\/+$/, '') ?? this.url
  }

  async #startReplication(): Promise<void> {
    const { config, log } = this
    const privateKey = await loadOrCreateNodeKey(config.dataDir, { log })
    // The address book lives beside the index, so a restart (even on new ports) finds the peers
    // again; closed after the host stops and before the index does.
    const addressBook = new LmdbDatastore(this.index.sideDatabase('p2p-address-book'))
    await this.#parts.start('address-book', { start: async () => {}, stop: async () => addressBook.close() })
    const host = await this.#parts.start(
      'p2p',
      new P2PHost({
        privateKey,
        listenHost: config.p2pHost,
        listenPort: config.p2pPort,
        bootstrap: config.bootstrap,
        topics: [LEGACY_TOPIC],
        knownTopics: KNOWN_TOPICS,
        log: log.child({ component: 'p2p' }),
        announceHost: config.p2pAnnounceHost ?? undefined,
        networkKey: config.networkKey == null ? undefined : await readNetworkKey(config.networkKey),
        datastore: addressBook,
        banCooldownMs: config.peerBanSeconds * 1000,
        sameIpPeers: config.p2pSameIpPeers,
        pingIntervalMs: config.p2pPingSeconds * 1000,
        inboundConnectionsPerIpPerSecond: config.p2pInboundPerIpPerSecond,
        gossipGate: this.#hooks.gossipGate,
        blockedPeers: this.#hooks.blockedPeers?.(),
        validateMessage: (data) => {
          const decoded = decodeGossip(data)
          return decoded.ok ? null : decoded.reason
        }
      })
    )
    this.host = host
    const fetcher = await this.#parts.start(
      'fetcher',
      new Fetcher({
        store: this.store,
        log: log.child({ component: 'fetcher' }),
        concurrency: config.fetchConcurrency,
        perPeerConcurrency: config.fetchPerPeer,
        maxSegmentBytes: config.maxSegmentMb * 1024 * 1024,
        badHashForgetMs: config.peerBanSeconds * 1000,
        // Peers are scored by id; the fetcher knows them by the URL they gossiped.
        onHashMismatch: (url) => this.#penalizeUrl(url, 'bad_hash'),
        onSlowTransfer: (url) => this.#penalizeUrl(url, 'slow_transfer'),
        unwanted: (ref) => this.budget?.isEvicted(ref) === true,
        ownUrl: this.publicUrl,
        interceptors: this.#hooks.fetchInterceptors
      })
    )
    this.fetcher = fetcher
    this.replicator = await this.#parts.start(
      'replicator',
      new Replicator({
        store: this.store,
        host,
        fetcher,
        url: this.publicUrl,
        downloads: this.#downloads ?? undefined,
        log: log.child({ component: 'replication' }),
        // Never compare or backfill an hour retention removes: it would only come back.
        windowHours: config.retentionDays > 0 ? Math.min(config.windowHours, config.retentionDays * 24) : config.windowHours,
        digestIntervalMs: config.digestIntervalSeconds * 1000,
        graceMs: config.backfillGraceSeconds * 1000,
        announce: config.announce,
        legacyPeers: config.legacyPeers,
        keep: this.keep,
        evicted: (ref) => this.budget?.isEvicted(ref) === true,
        evictedHours: () => this.budget?.evictedKeys() ?? [],
        adminPublicKey: this.#adminPublicKey
      })
    )
  }

  /**
   * Segments asked for that this node lacks come from its connected peers, in random order (each
   * miss asks a few; the holders' upload slots point to others). Stopped after the HTTP listener.
   */
  #readThrough(): ReadThrough {
    return new ReadThrough({
      store: this.store,
      ownUrl: () => this.publicUrl,
      log: this.log.child({ component: 'read-through' }),
      // Peers that hold the channel/quality (by their last roots; connected ones first), then the
      // other connected peers: with partial replicas most peers hold none of a given channel.
      candidates: (ref) => {
        const replicator = this.replicator
        if (replicator == null || this.host == null) return []
        const key = `${ref.channel}/${ref.quality}`
        const connected = new Set(this.host.connectedPeers())
        const tiers: string[][] = [[], [], []]
        for (const p of replicator.peers.all()) {
          if (p.url == null || p.url === '') continue
          const tier = p.roots.has(key) ? (connected.has(p.peerId) ? 0 : 1) : connected.has(p.peerId) ? 2 : -1
          if (tier >= 0) tiers[tier]!.push(p.url)
        }
        // Peers heard to hold it before, when none we know the roots of does.
        if (tiers[0]!.length + tiers[1]!.length === 0) tiers[1]!.push(...replicator.peers.holders(key))
        return tiers.flatMap((urls) => randomSample(urls, urls.length))
      },
      onFetch: (ref) => this.replicator?.noteFetch(ref) ?? (() => {}),
      // Not kept, or no room under the disk budget: streamed to the client and checked, not stored.
      keeps: (ref) => this.keep.keeps(ref.channel, ref.quality) && this.store.budget?.full !== true,
      interceptors: this.#hooks.fetchInterceptors
    })
  }

  /**
   * Listings and playlists over what the connected peers hold too: the peers' roots from their last
   * exchange with the replicator say which ones hold something we do not.
   */
  #networkListings(): NetworkListings {
    return new NetworkListings({
      index: this.index,
      selector: this.selector,
      ownUrl: () => this.publicUrl,
      log: this.log.child({ component: 'network-listings' }),
      peers: () => {
        const replicator = this.replicator
        if (replicator == null || this.host == null) return []
        const connected = new Set(this.host.connectedPeers())
        return replicator.peers
          .all()
          .flatMap((p) => (p.url == null || p.url === '' ? [] : [{ url: p.url, roots: p.roots, connected: connected.has(p.peerId) }]))
      },
      holders: (key) => this.replicator?.peers.holders(key) ?? [],
      heldKeys: () => this.replicator?.peers.heldKeys() ?? [],
      ourRoots: () => this.replicator?.ourRoots().rootByKey ?? new Map(),
      windowStart: () => this.replicator?.ourRoots().windowStart ?? 0,
      minCopies: this.config.minCopies,
      evicted: (channel, quality, hour) => this.budget?.isEvicted({ channel, quality, start: hour }) === true,
      onUnderHeld: (channel, quality, hour) => {
        this.budget?.unevict(channel, quality, hour).catch((err: unknown) => this.log.error({ err }, 'could not un-evict an hour'))
      },
      interceptors: this.#hooks.fetchInterceptors
    })
  }

  /** Score down the peer that serves `url` (the one that gossiped it last). */
  #penalizeUrl(url: string, offence: Offence): void {
    const peer = this.replicator?.peers.byUrl(url)
    if (peer != null) this.host?.penalize(peer.peerId, offence)
  }

  /** Read-only replication facts for /status and /metrics (empty until replication starts). */
  #replicationView(): ReplicationView {
    return {
      walkedBy: (url) => this.replicator?.walkedBy(url),
      status: () => {
        const host = this.host
        const replicator = this.replicator
        if (host == null || replicator == null) return {}
        const connected = new Set(host.connectedPeers())
        const kept = new Set(host.keptPeers())
        return {
          peerId: host.peerId,
          multiaddrs: host.multiaddrs(),
          publicUrl: this.publicUrl,
          bootstrap: host.bootstrapStatus().map((b) => ({ ...b, since: new Date(b.since).toISOString() })),
          peers: replicator.peers.all().map((p) => ({
            peerId: p.peerId,
            url: p.url,
            addrs: p.addrs,
            connected: connected.has(p.peerId),
            kept: kept.has(p.peerId),
            lastSeen: new Date(p.lastSeen).toISOString(),
            lagSeconds: p.lagSeconds,
            repairs: p.repairs
          }))
        }
      },
      counters: (): ReplicationCounters | null => {
        const { host, replicator, fetcher } = this
        if (host == null || replicator == null || fetcher == null) return null
        const f = fetcher.stats()
        const r = replicator.stats
        const peers = replicator.peers.all()
        const scores = host.scoreStats()
        return {
          peersKnown: peers.length,
          peersConnected: host.connectedPeers().length,
          gossipMeshPeers: Object.fromEntries(replicator.topics.topics.map((t) => [t, host.meshPeers(t)])),
          messagesIn: r.messagesIn,
          messagesOut: r.messagesOut,
          messagesInvalid: r.messagesInvalid + host.gossipDropped.malformed + host.gossipDropped.oversized,
          gossipBytesOut: r.bytesOut,
          digestsCompared: r.digestsCompared,
          repairs: r.repairs,
          repairErrors: r.repairErrors,
          tombstonesApplied: r.tombstonesApplied,
          tombstonesPassedOn: r.tombstonesPassedOn,
          segmentsFetched: f.segmentsFetched,
          bytesFetched: f.bytesFetched,
          hashMismatches: f.hashMismatches,
          fetchErrors: { ...f.fetchErrors },
          fetchQueued: f.queued,
          maxLagSeconds: Math.max(0, ...peers.map((p) => p.lagSeconds)),
          tombstonesRejected: r.tombstonesRejected,
          gossipRateLimited: host.gossipDropped.rateLimited,
          peersLearned: r.peersLearned,
          legacyHellos: r.legacyHellos,
          peerPenalties: scores.penalties,
          peerBans: scores.bans,
          fetchDropped: f.queueDropped,
          fetchBusy: f.busy,
          repairsSkipped: r.repairsSkipped
        }
      }
    }
  }

  /**
   * Stop accepting, let in-flight responses finish for up to `graceMs`, then stop every part in
   * reverse start order: recording first (its last segments are still indexed and announced), the
   * index last. Whatever ffmpeg the drain left running (an MP4 still spooling) is killed by the
   * cutter, which stops after the listeners.
   */
  async stop(graceMs = this.config.shutdownGraceSeconds * 1000): Promise<void> {
    this.#drainMs = graceMs
    await this.#parts.stop()
  }
}
