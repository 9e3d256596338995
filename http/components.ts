import type { ConnectionCap } from './connection-cap.ts'
import type { KeyObject } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Registry } from 'prom-client'
import type { Cutter } from '../cutter/cutter.ts'
import type { SegmentSelector } from '../storage/best-segments.ts'
import type { DiskBudget } from '../storage/disk-budget.ts'
import type { RetentionReport } from '../storage/retention.ts'
import type { SegmentIndex } from '../storage/segment-index.ts'
import type { SegmentStore } from '../storage/segment-store.ts'
import type { LoopbackCheck } from './loopback.ts'
import type { MediaPlaylistWriterInit } from './playlist-cache.ts'
import type { NetworkListings } from './network-listings.ts'
import type { ReadThrough } from './read-through.ts'
import type { UploadSlots } from './upload-slots.ts'
import type { RunningDownloads } from '../replication/running-downloads.ts'
import type { ViewerStreams } from './viewer-streams.ts'

/** Replication numbers for /metrics; counters are totals since start. */
export interface ReplicationCounters {
  peersKnown: number
  peersConnected: number
  /** Peers in the gossip mesh of each announcement topic subscribed to (a gauge). */
  gossipMeshPeers: Record<string, number>
  messagesIn: number
  messagesOut: number
  messagesInvalid: number
  gossipBytesOut: number
  digestsCompared: number
  repairs: number
  repairErrors: number
  tombstonesApplied: number
  tombstonesPassedOn: number
  segmentsFetched: number
  bytesFetched: number
  hashMismatches: number
  fetchErrors: Record<string, number>
  fetchQueued: number
  /** Age of the newest segment a peer had that we lacked, over all peers. */
  maxLagSeconds: number
  /** Tombstones from peers refused for a missing or bad admin signature. */
  tombstonesRejected: number
  /** Gossip over a peer's rate limit, dropped. */
  gossipRateLimited: number
  /** Penalties counted against peers, by offence (replication/peer-score.ts). */
  peerPenalties: Record<string, number>
  /** Peers disconnected and blocked for misbehaving, since start. */
  peerBans: number
  /** Downloads the fetch queue's bounds turned away or evicted. */
  fetchDropped: number
  /** Segment requests a peer answered busy (its upload slots full): it named other holders. */
  fetchBusy: number
  /** Repair sessions not started: the limit on sessions at once was reached, or the peer is not connected. */
  repairsSkipped: number
  /** Peers learned through peer exchange (hello answers). */
  peersLearned: number
  /** Hello answers from peers of the first protocol version. */
  legacyHellos: number
}

/** A read-only view of replication, filled in once it runs. */
export interface ReplicationView {
  /** Fields merged into /status: peerId, multiaddrs, bootstrap (each --bootstrap peer's state and last error), peers. */
  status: () => Record<string, unknown>
  counters: () => ReplicationCounters | null
  /** A peer (the URL its requests carry) asked for our ranges or names: it is walking us. */
  walkedBy?: (peerUrl: string) => void
}

/** The recorder (ingest/), when the node records streams: /status lists its workers, /metrics serves its registry. */
export interface IngestView {
  status: () => unknown[]
  registry: Registry
}

/** What the HTTP layer needs from the rest of the node. Read-only use, except the /admin routes. */
export interface HttpComponents {
  index: SegmentIndex
  store: SegmentStore
  selector: SegmentSelector
  /** Peer id, peers and replication counters, when the node replicates. */
  replication?: ReplicationView
  /** Runs /cut and /frame jobs; without one, those routes are not served. */
  cutter?: Cutter
  /** The recorder, when the node records live streams. */
  ingest?: IngestView
  /** What retention removed since start, when the node runs it. */
  retention?: { readonly totals: RetentionReport }
  /** The disk budget (--max-disk-bytes), when the node has one: /status and /metrics show it. */
  budget?: Pick<DiskBudget, 'state' | 'promise'>
  /** Peer downloads served at once (http/upload-slots.ts); none: peers are served like viewers. */
  uploads?: UploadSlots
  /**
   * Segments this node is downloading from peers (replication/running-downloads.ts): a peer asking
   * for one waits for the download to end rather than getting a 404.
   */
  downloads?: Pick<RunningDownloads, 'ended'>
  /** Segment bodies to viewers at once, a share kept for peers (http/viewer-streams.ts); none: no gate. */
  viewers?: ViewerStreams
  /** Segments this node lacks, fetched from peers as they are asked for (http/read-through.ts). */
  readThrough?: ReadThrough
  /**
   * What the connected peers hold (http/network-listings.ts): listings, playlists and cuts cover it
   * when `readThrough` is there too; /copies and the copies metric count from it.
   */
  network?: NetworkListings
  /** The bound on the main listener's connections (http/connection-cap.ts): /metrics shows it. */
  connections?: ConnectionCap
  /** The worker processes serving the HTTP port (--http-workers); absent: this app serves it. */
  workers?: HttpWorkersView
}

/** The node's HTTP worker processes (node/http-workers.ts), for metrics and /status. */
export interface HttpWorkersView {
  readonly running: number
  readonly connections: number
  readonly totals: Readonly<{
    served: number
    bytes: number
    relayed: number
    relayFailed: number
    refused: number
    evicted: number
    peerClosed: number
    dropped: number
    restarts: number
  }>
}

export interface HttpInit {
  /** Serve `/metrics` and record request metrics. @default true */
  metrics?: boolean
  /** A pino logger; none means silent. */
  logger?: FastifyBaseLogger
  /** Data folder reported in `/status`. */
  dataDir?: string
  /** Bearer token for `/admin/*`; unset means the admin routes answer 404. */
  adminToken?: string
  /** Signs tombstones made through the admin API (http/admin-signing.ts). */
  adminSigningKey?: KeyObject
  /** Tombstone proofs sent by clients must verify against it; unsigned requests are refused. */
  adminPublicKey?: KeyObject
  /** Bounds of the `/replication/*` quota per client address (http/peer-quota.ts). */
  peerQuota?: { ratePerSecond?: number; burst?: number }
  /**
   * Which client addresses are this machine: spared the replication quota, and shown the node's
   * folders in `/status`. @default loopback addresses (http/loopback.ts)
   */
  isLoopback?: LoopbackCheck
  /** Bytes a second all cut responses share (http/bulk-rate.ts); 0 or unset: no limit. */
  cutBytesPerSecond?: number
  /** Bounds of the rendered media playlist cache (http/playlist-cache.ts). */
  playlistCache?: MediaPlaylistWriterInit
  /**
   * Which routes this app serves: everything (the default), all but `/admin/*` (the public
   * listener when admin has its own), or only `/admin/*` (that separate admin listener).
   */
  routes?: 'all' | 'public' | 'admin'
  /**
   * The app is reached only through the node's HTTP workers (http/segment-worker.ts), on a private
   * socket: each request's client is the last `x-forwarded-for` address, which the worker set.
   */
  behindWorkers?: boolean
}
