/**
 * Prometheus metrics. Labels are bounded: route templates (never a raw path), methods, status
 * classes, and channel/quality pairs from the index capped at MAX_PAIRS (the rest are summed
 * under `other`). Hours are labelled by how many hours ago they were, never by their value.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { SegmentSelector } from '../storage/best-segments.ts'
import type { DiskBudgetState } from '../storage/disk-budget.ts'
import type { DiskSpace } from '../storage/disk-space.ts'
import type { HttpComponents, HttpWorkersView, ReplicationView } from './components.ts'
import type { ConnectionCap } from './connection-cap.ts'
import type { NetworkListings } from './network-listings.ts'
import type { ReadThrough } from './read-through.ts'
import type { UploadSlots } from './upload-slots.ts'
import type { ViewerStreams } from './viewer-streams.ts'
import { hourCoverage } from '../storage/coverage.ts'
import type { HourSummary, SegmentIndex } from '../storage/segment-index.ts'
import { MICROS_PER_HOUR, hourStart } from '../storage/time.ts'

/** Channel/quality pairs that get their own label values. */
const MAX_PAIRS = 32
/** Coverage gauges cover the current hour and this many before it. */
const COVERAGE_HOURS = 3

const ROUTE_UNMATCHED = 'unmatched'

export interface HttpMetrics {
  registry: Registry
}

function statusClass(code: number): string {
  return `${Math.floor(code / 100)}xx`
}

function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? ROUTE_UNMATCHED
}

/** The channel/quality pairs used as labels: the first MAX_PAIRS in index order. */
function labelPairs(index: SegmentIndex): Array<[string, string]> {
  const pairs: Array<[string, string]> = []
  for (const channel of index.channels()) {
    for (const quality of index.qualities(channel)) pairs.push([channel, quality])
  }
  return pairs
}

export function registerMetrics(
  app: FastifyInstance,
  index: SegmentIndex,
  selector: SegmentSelector,
  replication?: ReplicationView,
  retention?: HttpComponents['retention']
): HttpMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })

  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from request arrival to the last byte of the response (or the client leaving)',
    labelNames: ['route', 'method', 'status_class'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600],
    registers: [registry]
  })
  const bytesSent = new Counter({
    name: 'http_response_bytes_total',
    help: 'Response bytes written to the socket (headers and body)',
    labelNames: ['route', 'method', 'status_class'],
    registers: [registry]
  })
  const inFlight = new Gauge({
    name: 'http_requests_in_flight',
    help: 'Requests being handled or streamed',
    labelNames: ['route', 'method'],
    registers: [registry]
  })

  const pairLabels = (): Array<{ channel: string; quality: string; pair: [string, string] }> => {
    const pairs = labelPairs(index)
    return pairs.map((pair, i) =>
      i < MAX_PAIRS ? { channel: pair[0], quality: pair[1], pair } : { channel: 'other', quality: 'other', pair }
    )
  }

  // One gauge per index total; each sums the hour summaries of every labelled pair.
  const indexGauge = (name: string, help: string, of: (hour: HourSummary) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['channel', 'quality'],
      registers: [registry],
      collect() {
        this.reset()
        for (const { channel, quality, pair } of pairLabels()) {
          let n = 0
          for (const h of index.hourSummaries(pair[0], pair[1])) n += of(h)
          this.inc({ channel, quality }, n)
        }
      }
    })
  }
  indexGauge('segmesh_index_segments', 'Visible (not tombstoned) segments in the index', (h) => h.segments)
  indexGauge('segmesh_index_hours', 'Hours with segments or tombstones in the index', () => 1)
  indexGauge('segmesh_index_tombstones', 'Tombstones in the index', (h) => h.tombstones)

  const coverageLabels = ['channel', 'quality', 'hours_ago']
  // The first coverage gauge's collect fills all four (prom-client collects in registration
  // order), so each hour is computed once per scrape.
  const covered: Gauge = new Gauge({
    name: 'segmesh_coverage_covered_seconds',
    help: 'Seconds of the hour covered by best segments (the current hour up to now)',
    labelNames: coverageLabels,
    registers: [registry],
    collect() {
      for (const g of [covered, holes, overlaps, byType]) g.reset()
      const now = Date.now() * 1000
      const current = hourStart(now)
      for (const { channel, quality, pair } of pairLabels().slice(0, MAX_PAIRS)) {
        for (let ago = 0; ago < COVERAGE_HOURS; ago++) {
          const c = hourCoverage(index, selector, pair[0], pair[1], current - ago * MICROS_PER_HOUR, now)
          const labels = { channel, quality, hours_ago: String(ago) }
          covered.set(labels, c.covered / 1e6)
          holes.set(labels, c.holes)
          overlaps.set(labels, c.overlaps)
          for (const type of ['full', 'suspect', 'partial'] as const) byType.set({ ...labels, type }, c.types[type])
        }
      }
    }
  })
  const holes = new Gauge({
    name: 'segmesh_coverage_holes',
    help: 'Gaps longer than 10 ms in the hour',
    labelNames: coverageLabels,
    registers: [registry]
  })
  const overlaps = new Gauge({
    name: 'segmesh_coverage_overlaps',
    help: 'Best segments overlapping their predecessor by more than 10 ms',
    labelNames: coverageLabels,
    registers: [registry]
  })
  const byType = new Gauge({
    name: 'segmesh_coverage_segments',
    help: 'Segments in the hour by type',
    labelNames: [...coverageLabels, 'type'],
    registers: [registry]
  })

  if (replication != null) registerReplicationMetrics(registry, replication)
  if (retention != null) {
    for (const [what, help] of [
      ['segments', 'Segment files removed by retention'],
      ['tombstones', 'Tombstones removed by retention (after their segments)'],
      ['bytes', 'Bytes of segments removed by retention']
    ] as const) {
      new Counter({
        name: `segmesh_retention_removed_${what}_total`,
        help,
        registers: [registry],
        collect() {
          this.reset()
          this.inc(retention.totals[what])
        }
      })
    }
  }

  // Request timing: observed once, when the response finishes or the client goes away.
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const started = process.hrtime.bigint()
    const route = routeOf(request)
    const method = request.method
    // Requests on one keep-alive socket are sequential, so the socket's byte counter brackets
    // this response exactly, streams included, without touching the body.
    const socket = request.raw.socket
    const bytesBefore = socket.bytesWritten
    inFlight.inc({ route, method })
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      inFlight.dec({ route, method })
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const labels = { route, method, status_class: statusClass(reply.raw.statusCode) }
      duration.observe(labels, seconds)
      bytesSent.inc(labels, Math.max(0, socket.bytesWritten - bytesBefore))
    }
    reply.raw.once('finish', finish)
    reply.raw.once('close', finish)
  })

  return { registry }
}

/**
 * Replication figures, read from the replicator and fetcher at scrape time. Totals are exposed as
 * counters (they only grow while the process lives).
 */
function registerReplicationMetrics(registry: Registry, view: ReplicationView): void {
  const read = (pick: (c: NonNullable<ReturnType<ReplicationView['counters']>>) => number) =>
    function (this: Gauge | Counter) {
      const c = view.counters()
      this.reset()
      if (c != null) (this as Gauge).inc(pick(c))
    }
  const gauge = (name: string, help: string, pick: (c: NonNullable<ReturnType<ReplicationView['counters']>>) => number): void => {
    new Gauge({ name, help, registers: [registry], collect: read(pick) })
  }
  const counter = (name: string, help: string, pick: (c: NonNullable<ReturnType<ReplicationView['counters']>>) => number): void => {
    new Counter({ name, help, registers: [registry], collect: read(pick) })
  }
  /** A counter per key of a `{ key: total }` figure, the key as the label's value. */
  const counterBy = (
    name: string,
    help: string,
    label: string,
    pick: (c: NonNullable<ReturnType<ReplicationView['counters']>>) => Record<string, number>
  ): void => {
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        const c = view.counters()
        this.reset()
        for (const [key, n] of Object.entries(c == null ? {} : pick(c))) this.inc({ [label]: key }, n)
      }
    })
  }
  gauge('segmesh_peers_known', 'Peers known: from hello, peer exchange and gossip', (c) => c.peersKnown)
  gauge('segmesh_peers_connected', 'Peers with an open libp2p connection', (c) => c.peersConnected)
  new Gauge({
    name: 'segmesh_gossip_mesh_peers',
    help: 'Peers in the gossip mesh of each announcement topic subscribed to (0: new names arrive late, by lazy gossip or push-pull)',
    labelNames: ['topic'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [topic, n] of Object.entries(view.counters()?.gossipMeshPeers ?? {})) this.set({ topic }, n)
    }
  })
  counter('segmesh_gossip_messages_in_total', 'Valid gossip messages received', (c) => c.messagesIn)
  counter('segmesh_gossip_messages_out_total', 'Gossip messages published', (c) => c.messagesOut)
  counter('segmesh_gossip_messages_invalid_total', 'Malformed or oversized messages dropped', (c) => c.messagesInvalid)
  counter('segmesh_gossip_bytes_out_total', 'Bytes of gossip published', (c) => c.gossipBytesOut)
  counter('segmesh_digests_compared_total', 'Peer digests compared with ours', (c) => c.digestsCompared)
  counter('segmesh_repairs_total', 'Repair sessions started with a peer whose digest differed', (c) => c.repairs)
  counter('segmesh_repair_errors_total', 'Repair sessions that failed', (c) => c.repairErrors)
  counter('segmesh_tombstones_applied_total', 'Tombstones received from peers and written', (c) => c.tombstonesApplied)
  counter(
    'segmesh_tombstones_passed_on_total',
    'Tombstones a walk or an offer brought, offered on to the other connected peers (they missed the announcement)',
    (c) => c.tombstonesPassedOn
  )
  counter('segmesh_segments_fetched_total', 'Segments backfilled from peers', (c) => c.segmentsFetched)
  counter('segmesh_bytes_fetched_total', 'Bytes backfilled from peers', (c) => c.bytesFetched)
  counter('segmesh_hash_mismatches_total', 'Downloads discarded because the bytes did not match the name', (c) => c.hashMismatches)
  gauge('segmesh_fetch_queued', 'Segments waiting to be fetched', (c) => c.fetchQueued)
  counter(
    'segmesh_tombstones_rejected_total',
    'Tombstones from peers refused: unsigned or not signed by the admin key',
    (c) => c.tombstonesRejected
  )
  counter('segmesh_gossip_rate_limited_total', "Gossip messages over their sender's rate limit, dropped", (c) => c.gossipRateLimited)
  counter('segmesh_peer_bans_total', 'Peers disconnected and blocked for a cool-down after misbehaving', (c) => c.peerBans)
  counterBy('segmesh_peer_penalties_total', 'Offences counted against peers, by offence', 'offence', (c) => c.peerPenalties)
  gauge('segmesh_replication_lag_seconds', 'Age of the newest segment a peer had that we lacked at the last repair', (c) => c.maxLagSeconds)
  counterBy('segmesh_fetch_errors_total', 'Failed fetch attempts by kind', 'kind', (c) => c.fetchErrors)
  counter(
    'segmesh_fetch_dropped_total',
    "Downloads turned away or evicted by the fetch queue's bounds (per peer and in all)",
    (c) => c.fetchDropped
  )
  counter(
    'segmesh_fetch_busy_total',
    'Segment requests a peer answered busy (its upload slots were full, or it named peers that have the segment)',
    (c) => c.fetchBusy
  )
  counter(
    'segmesh_repairs_skipped_total',
    'Repair sessions not started: as many as allowed were running, or the peer is not connected',
    (c) => c.repairsSkipped
  )
  counter('segmesh_peers_learned_total', 'Peers learned through peer exchange (hello answers)', (c) => c.peersLearned)
  counter('segmesh_legacy_hellos_total', 'Hello answers from peers of the first protocol version', (c) => c.legacyHellos)
}

/** A gauge read at scrape time. */
function registerGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read())
    }
  })
}

/** A gauge and counters read from a part's own figures when scraped. */
function registerFigures(
  registry: Registry,
  gauge: readonly [name: string, help: string, read: () => number],
  counters: ReadonlyArray<readonly [name: string, help: string, read: () => number]>
): void {
  registerGauge(registry, ...gauge)
  for (const [name, help, read] of counters) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset()
        this.inc(read())
      }
    })
  }
}

/** Peer downloads served and turned away busy (http/upload-slots.ts). */
export function registerUploadMetrics(registry: Registry, uploads: UploadSlots): void {
  registerFigures(
    registry,
    ['segmesh_peer_uploads_active', 'Segment downloads by peers being served now (bounded by --peer-upload-slots)', () => uploads.active],
    [
      ['segmesh_peer_uploads_total', 'Segment downloads by peers admitted to an upload slot', () => uploads.stats.uploads],
      ['segmesh_peer_uploads_busy_total', 'Segment downloads by peers answered busy, naming other holders', () => uploads.stats.busy],
      [
        'segmesh_peer_uploads_referred_total',
        'Of those, answered while a slot was free: enough peers had the segment from here already',
        () => uploads.stats.referred
      ]
    ]
  )
}

/** The bound on the listener's connections (http/connection-cap.ts). */
export function registerConnectionMetrics(registry: Registry, cap: ConnectionCap): void {
  registerGauge(registry, 'segmesh_http_peer_connections', "Of those, connections that carried a peer's request", () => cap.peerConnections)
  registerFigures(
    registry,
    ['segmesh_http_connections', 'Connections the HTTP listener holds (bounded by --http-max-connections)', () => cap.connections],
    [
      [
        'segmesh_http_connections_evicted_total',
        'Idle connections closed to make room for a new one (at --http-max-connections)',
        () => cap.stats.evicted
      ],
      [
        'segmesh_http_connections_refused_total',
        'New connections closed at once: at the cap, every connection was answering',
        () => cap.stats.refused
      ],
      [
        'segmesh_http_peer_connections_closed_total',
        'Answers to peers that closed their connection (over --http-peer-keepalive)',
        () => cap.stats.peerClosed
      ]
    ]
  )
}

/** Segment streams to viewers, a share kept for peers (http/viewer-streams.ts). */
export function registerViewerStreamMetrics(registry: Registry, viewers: ViewerStreams): void {
  registerGauge(
    registry,
    'segmesh_viewer_streams_waiting',
    'Viewer segment requests waiting for a stream (the share kept for downloading peers is full)',
    () => viewers.waiting
  )
  registerFigures(
    registry,
    [
      'segmesh_viewer_streams_active',
      'Segment bodies being sent to viewers now (limited while peers download: --peer-upload-share)',
      () => viewers.active
    ],
    [
      ['segmesh_viewer_streams_waited_total', 'Viewer segment requests that waited for a stream', () => viewers.stats.waited],
      [
        'segmesh_viewer_streams_busy_total',
        'Viewer segment requests answered 503 after waiting too long or with too many waiting',
        () => viewers.stats.busy
      ]
    ]
  )
}

/** Segments read through from peers (http/read-through.ts). */
export function registerReadThroughMetrics(registry: Registry, readThrough: ReadThrough): void {
  const { stats } = readThrough
  registerFigures(
    registry,
    ['segmesh_read_through_active', 'Segments being fetched from peers for a client now', () => readThrough.active],
    [
      ['segmesh_read_through_fetches_total', 'Segments asked for that this node lacked, fetched from peers', () => stats.fetches],
      ['segmesh_read_through_stored_total', 'Segments read through and stored', () => stats.stored],
      [
        'segmesh_read_through_passed_total',
        'Segments of channels this node does not keep (--keep) streamed to a client and checked, not stored',
        () => stats.passed
      ],
      ['segmesh_read_through_mismatches_total', 'Read-through bodies cut because the bytes did not match the name', () => stats.mismatches],
      ['segmesh_read_through_misses_total', 'Segments no peer asked had', () => stats.misses],
      ['segmesh_read_through_busy_total', 'Requests answered 503 because the read-through limit was reached', () => stats.busy]
    ]
  )
}

export function registerNetworkListingMetrics(registry: Registry, network: NetworkListings): void {
  const { stats } = network
  new Gauge({
    name: 'segmesh_hours_below_min_copies',
    help:
      'Hours of the replication window this node holds that fewer than --min-copies nodes hold ' +
      '(this one and its connected peers), as of the last check (every minute)',
    labelNames: ['channel', 'quality'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [key, hours] of network.belowMinCopies) {
        const [channel, quality] = key.split('/') as [string, string]
        this.set({ channel, quality }, hours)
      }
    }
  })
  registerFigures(
    registry,
    [
      'segmesh_network_listing_cache_bytes',
      "Peers' hour digests and listings kept for read-through listings, as counted against their bound",
      () => network.cacheUsage.bytes
    ],
    [
      ['segmesh_network_listing_requests_total', "Requests to peers for their hour digests or an hour's listing", () => stats.requests],
      ['segmesh_network_listing_failures_total', 'Those that failed or were invalid', () => stats.failures],
      ['segmesh_network_listing_hits_total', "Peers' digests or listings answered from the cache", () => stats.hits],
      ['segmesh_network_listing_merged_total', "Playlist selections that took segments from peers' listings", () => stats.merged],
      [
        'segmesh_network_listing_busy_total',
        'Listings and playlists answered 503 because the limit of requests to peers was reached',
        () => stats.busy
      ]
    ]
  )
}

/** The disk budget (storage/disk-budget.ts): limit, use, whether it is full, what was evicted. */
export function registerBudgetMetrics(registry: Registry, budget: { state: () => DiskBudgetState }): void {
  const gauges: Array<[string, string, (s: DiskBudgetState) => number]> = [
    ['segmesh_disk_budget_bytes', 'The disk budget of the segment tree (--max-disk-bytes), bytes', (s) => s.maxBytes],
    ['segmesh_disk_budget_used_bytes', 'Bytes of the segments the index holds, counted against the disk budget', (s) => s.usedBytes],
    [
      'segmesh_disk_budget_full',
      '1 when the budget is reached and no hour may be evicted (too few other nodes hold them): fetching paused',
      (s) => (s.full ? 1 : 0)
    ]
  ]
  for (const [name, help, read] of gauges) registerGauge(registry, name, help, () => read(budget.state()))
  registerFigures(
    registry,
    ['segmesh_evicted_hours', 'Hours remembered as evicted (not fetched back by replication)', () => budget.state().evictedHours],
    [
      ['segmesh_evictions_total', 'Hours evicted to stay under the disk budget', () => budget.state().evictions.hours],
      ['segmesh_evicted_bytes_total', 'Segment bytes evicted to stay under the disk budget', () => budget.state().evictions.bytes]
    ]
  )
}

/** Disk-full state (storage/disk-space.ts): whether segment writes are paused, and why. */
export function registerDiskMetrics(registry: Registry, space: DiskSpace): void {
  registerGauge(
    registry,
    'segmesh_disk_full',
    'Segment writes (fetching, recording) paused: 1 when free space is under --min-free-bytes or a write failed with ENOSPC/EDQUOT',
    () => (space.full ? 1 : 0)
  )
  registerGauge(
    registry,
    'segmesh_disk_free_bytes',
    'Free bytes in the segments folder at the last disk-space probe',
    () => space.state().freeBytes ?? 0
  )
  new Counter({
    name: 'segmesh_disk_full_pauses_total',
    help: 'Times segment writes paused for lack of disk space',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(space.state().pauses)
    }
  })
}

/** The HTTP worker processes (--http-workers; node/http-workers.ts), as they last reported. */
export function registerWorkerMetrics(registry: Registry, workers: HttpWorkersView): void {
  registerGauge(registry, 'segmesh_http_worker_connections', 'Connections the HTTP workers hold', () => workers.connections)
  registerFigures(
    registry,
    ['segmesh_http_workers', 'HTTP worker processes running (--http-workers)', () => workers.running],
    [
      ['segmesh_http_worker_segments_total', 'Segment answers the HTTP workers sent from disk themselves', () => workers.totals.served],
      ['segmesh_http_worker_bytes_total', 'Segment body bytes the HTTP workers sent from disk', () => workers.totals.bytes],
      ['segmesh_http_worker_relayed_total', 'Requests the HTTP workers relayed to the node', () => workers.totals.relayed],
      ['segmesh_http_worker_relay_failed_total', 'Relayed requests the node did not answer (502)', () => workers.totals.relayFailed],
      [
        'segmesh_http_worker_refused_total',
        'Connections an HTTP worker closed at once: at its cap with every connection answering, or too many pipelined requests',
        () => workers.totals.refused
      ],
      [
        'segmesh_http_worker_evicted_total',
        'Idle connections an HTTP worker closed to make room for a new one (at its share of --http-max-connections)',
        () => workers.totals.evicted
      ],
      [
        'segmesh_http_worker_peer_connections_closed_total',
        'Answers to peers an HTTP worker relayed that closed their connection (over its share of --http-peer-keepalive)',
        () => workers.totals.peerClosed
      ],
      ['segmesh_http_worker_dropped_total', 'Connections closed because no HTTP worker was running', () => workers.totals.dropped],
      ['segmesh_http_worker_restarts_total', 'HTTP workers started again after one exited', () => workers.totals.restarts]
    ]
  )
}
