/**
 * Every option a node understands: its config-file key, CLI flag, environment variable, type,
 * default and help text. The loader, `--help` and the docs all read this one table, and the
 * `Config` type is derived from it. A default a component also has is that component's exported
 * defaults object, referred to here, never a second copy of the number.
 */
import { NETWORK_LISTINGS_DEFAULTS } from '../http/network-listings.ts'
import { CONNECTION_CAP_DEFAULTS } from '../http/connection-cap.ts'
import { CUT_JOB_DEFAULTS } from '../cutter/jobs.ts'
import { SEGMENT_WORKER_DEFAULTS } from '../http/segment-worker.ts'
import { UPLOAD_SLOT_DEFAULTS } from '../http/upload-slots.ts'
import { VIEWER_STREAM_DEFAULTS } from '../http/viewer-streams.ts'
import { INGEST_DEFAULTS } from '../ingest/constants.ts'
import { FETCHER_DEFAULTS } from '../replication/fetch-options.ts'
import { P2P_DEFAULTS } from '../replication/host-defaults.ts'
import { PEER_SCORE_DEFAULTS } from '../replication/peer-score.ts'
import { REPLICATOR_DEFAULTS } from '../replication/replicator.ts'
import type { DiskBudgetLimit } from '../storage/disk-budget.ts'
import { DISK_SPACE_DEFAULTS } from '../storage/disk-space.ts'
import { SEGMENT_INDEX_DEFAULTS } from '../storage/segment-index.ts'

const MiB = 1024 ** 2

export type OptionKind = 'string' | 'int' | 'bool' | 'list'

export interface OptionSpec {
  /** Key in the config file and in the resolved config. */
  key: string
  kind: OptionKind
  /** null means "derived from other options" (explained in `describe`). */
  default: string | number | boolean | string[] | null
  describe: string
  min?: number
  max?: number
  /** Masked when the effective config is printed. */
  secret?: boolean
  /** CLI flag without dashes, when it is not the kebab-case key. */
  flag?: string
  /** A path: resolved against the working directory the config was loaded from. */
  path?: boolean
  /** The null default is filled in from other options after loading (config/load.ts says how). */
  derived?: boolean
}

/** What `config print` shows for a secret that is set; never accepted as a value. */
export const MASKED_SECRET = '********'

/** A channel this node records itself. */
export interface RecordChannel {
  channel: string
  /** Master or media playlist URL. */
  url: string
  qualities: string[]
  /** Faster retry while the stream is down, louder logs. */
  important: boolean
}

const TABLE = [
  {
    key: 'dataDir',
    flag: 'data',
    kind: 'string',
    path: true,
    default: './data',
    describe: "folder for the node's own state (index, keys)"
  },
  {
    key: 'segmentsDir',
    kind: 'string',
    default: null,
    path: true,
    derived: true,
    describe: 'segment tree CHANNEL/QUALITY/HOUR/FILE (default: <data-dir>/segments; may be an existing wubloader folder)'
  },
  { key: 'logLevel', kind: 'string', default: 'info', describe: 'fatal, error, warn, info, debug, trace or silent' },
  { key: 'tempGraceSeconds', kind: 'int', default: 600, min: 0, describe: 'age after which a leftover temp file is recovered as partial' },
  {
    key: 'rescanIntervalSeconds',
    kind: 'int',
    default: 300,
    min: 0,
    describe: 'full rescan of the segment tree behind the watcher (0 = never)'
  },
  { key: 'watch', kind: 'bool', default: true, describe: 'watch the live hours for segments written by other programs' },
  {
    key: 'indexMapSizeMb',
    kind: 'int',
    default: SEGMENT_INDEX_DEFAULTS.mapSize / MiB,
    min: 16,
    describe: 'upper bound of the LMDB index size, MiB (sparse; costs nothing until used)'
  },
  { key: 'httpHost', kind: 'string', default: '0.0.0.0', describe: 'address the HTTP API listens on' },
  { key: 'httpPort', kind: 'int', default: 8080, min: 0, max: 65535, describe: 'HTTP API port (0 = any free port)' },
  {
    key: 'httpWorkers',
    kind: 'int',
    default: SEGMENT_WORKER_DEFAULTS.workers,
    min: 0,
    max: SEGMENT_WORKER_DEFAULTS.maxWorkers,
    describe:
      'worker processes that serve the HTTP port: held segments straight from disk, the rest relayed to the node ' +
      '(use the number of cores on a node that serves many viewers); 0 = the node serves HTTP itself'
  },
  {
    key: 'httpMaxConnections',
    kind: 'int',
    default: CONNECTION_CAP_DEFAULTS.maxConnections,
    min: 16,
    describe:
      'connections the HTTP listener holds at once; at the cap a new one replaces the one idle longest, ' +
      'or is closed when every connection is answering (with --http-workers, each worker holds its share)'
  },
  {
    key: 'httpPeerKeepalive',
    kind: 'int',
    default: CONNECTION_CAP_DEFAULTS.peerKeepAlive,
    min: 0,
    describe:
      "peers' connections kept open between their requests (with --http-workers, each worker keeps its share); " +
      'past it an answer to a peer closes its connection ' +
      "(peers fetch in bursts from many nodes; idle sockets kept for each were most of a busy node's sockets)"
  },
  { key: 'metrics', kind: 'bool', default: true, describe: 'serve Prometheus metrics at /metrics' },
  { key: 'shutdownGraceSeconds', kind: 'int', default: 20, min: 0, describe: 'on SIGTERM/SIGINT, time in-flight responses get to finish' },
  {
    key: 'adminHost',
    kind: 'string',
    default: null,
    describe: 'serve the /admin routes only on this address (with --admin-port), not on the public HTTP listener'
  },
  {
    key: 'adminPort',
    kind: 'int',
    default: 8081,
    min: 0,
    max: 65535,
    describe: 'port of the separate admin listener, when --admin-host is set (0 = any free port)'
  },
  {
    key: 'adminSigningKey',
    kind: 'string',
    default: null,
    path: true,
    describe: "admin Ed25519 private key file (PEM, mode 0600): sign tombstones made through this node's admin API"
  },
  { key: 'replication', kind: 'bool', default: true, describe: 'join the peer-to-peer network and replicate segments and tombstones' },
  {
    key: 'p2pHost',
    kind: 'string',
    default: null,
    derived: true,
    describe: 'address libp2p listens on (default: --http-host, so a node whose HTTP is local only is not on the network unless asked)'
  },
  { key: 'p2pPort', kind: 'int', default: 4001, min: 0, max: 65535, describe: 'libp2p TCP port (0 = any free port)' },
  {
    key: 'p2pSameIpPeers',
    kind: 'int',
    default: P2P_DEFAULTS.sameIpPeers,
    min: 0,
    describe:
      'peers on one IP that gossip scores as usual; past it they all lose score, a Sybil defence (0 = no limit: many nodes on one host)'
  },
  {
    key: 'p2pPingSeconds',
    kind: 'int',
    default: P2P_DEFAULTS.pingIntervalMs / 1000,
    min: 1,
    describe:
      "how often each end pings each libp2p connection; one that fails to answer is closed (libp2p: 10; most of an idle node's traffic)"
  },
  {
    key: 'p2pInboundPerIpPerSecond',
    kind: 'int',
    default: P2P_DEFAULTS.inboundConnectionsPerIpPerSecond,
    min: 1,
    describe: 'new inbound libp2p connections accepted per second from one IP'
  },
  {
    key: 'p2pAnnounceHost',
    kind: 'string',
    default: null,
    describe: 'host or IP peers should dial for libp2p, when not the listen address'
  },
  {
    key: 'publicUrl',
    kind: 'string',
    default: null,
    describe: 'HTTP base URL peers fetch from (default: derived from --http-host/--http-port)'
  },
  {
    key: 'bootstrap',
    kind: 'list',
    default: [],
    describe: 'multiaddr(s) with /p2p/<peer id> of nodes to join through; repeat the flag or comma-separate'
  },
  {
    key: 'windowHours',
    kind: 'int',
    default: REPLICATOR_DEFAULTS.windowHours,
    min: 1,
    describe: 'hours of the past compared and backfilled (14 days)'
  },
  {
    key: 'retentionDays',
    kind: 'int',
    default: 0,
    min: 0,
    describe:
      'remove segments (then their tombstones) of hours older than this many days, and never backfill them again; ' +
      'also narrows --window-hours (0 = keep everything)'
  },
  {
    key: 'backfillGraceSeconds',
    kind: 'int',
    default: 0,
    min: 0,
    describe: 'do not fetch segments from peers until they are this old (leave them to a local recorder)'
  },
  {
    key: 'digestIntervalSeconds',
    kind: 'int',
    default: REPLICATOR_DEFAULTS.digestIntervalMs / 1000,
    min: 1,
    describe: 'mean period (jittered) of the push-pull digest exchange with one random peer (longer past 32 peers: x2 at 64, x6 at 1000)'
  },
  {
    key: 'fetchConcurrency',
    kind: 'int',
    default: FETCHER_DEFAULTS.concurrency,
    min: 1,
    describe: 'downloads from peers at once, in total'
  },
  { key: 'fetchPerPeer', kind: 'int', default: FETCHER_DEFAULTS.perPeerConcurrency, min: 1, describe: 'downloads at once from one peer' },
  {
    key: 'readThrough',
    kind: 'bool',
    default: true,
    describe:
      'serve what this node lacks from its peers: segments fetched as they are asked for (and stored), ' +
      'listings, playlists, cuts and frames over what the peers hold too'
  },
  {
    key: 'keep',
    kind: 'list',
    default: [],
    describe:
      'keep only these on disk: CHANNEL or CHANNEL/QUALITY, repeat the flag or comma-separate (default: everything); ' +
      'the rest is not backfilled, and is served read-through without being stored'
  },
  {
    key: 'maxDiskBytes',
    kind: 'string',
    default: null,
    describe:
      'keep the segment tree under this many bytes (500G, 2T, binary units) or this share of its disk (40%) ' +
      'by evicting whole hours, oldest first, only those at least --min-copies other nodes hold; ' +
      'tombstones stay, and evicted hours are not fetched back (default: no budget)'
  },
  {
    key: 'minCopies',
    kind: 'int',
    default: NETWORK_LISTINGS_DEFAULTS.minCopies,
    min: 1,
    describe:
      'nodes that should hold each hour: hours held by fewer (this node and its connected peers) ' +
      'are counted in /status, /copies and metrics'
  },
  {
    key: 'peerUploadSlots',
    kind: 'int',
    default: UPLOAD_SLOT_DEFAULTS.slots,
    min: 1,
    describe:
      'segment downloads by peers served at once; past it a peer is told who else fetched the segment from here (viewers are not counted)'
  },
  {
    key: 'peerReferAfter',
    kind: 'int',
    default: UPLOAD_SLOT_DEFAULTS.referAfter,
    min: 0,
    max: UPLOAD_SLOT_DEFAULTS.holdersListed,
    describe:
      'peers a live segment (held here under 10 s) is served to in full before the next are sent to them, even with slots free; 0: never (small segments on a fast LAN spread faster from the recorder alone)'
  },
  {
    key: 'peerUploadShare',
    kind: 'int',
    default: VIEWER_STREAM_DEFAULTS.share,
    min: 0,
    max: 90,
    describe:
      'percent of segment streams kept for peers while they download from this node, ' +
      'so viewers cannot starve a backfill (viewers over it wait their turn); 0 turns it off'
  },
  {
    key: 'peerBanSeconds',
    kind: 'int',
    default: PEER_SCORE_DEFAULTS.cooldownMs / 1000,
    min: 1,
    describe:
      'how long a misbehaving peer (bad bytes, forged tombstones, malformed or flooding gossip) is disconnected and blocked; ' +
      "also how long a peer that sent bytes not matching a segment's name is not asked for that segment again"
  },
  {
    key: 'announce',
    kind: 'bool',
    default: true,
    describe: 'gossip new segments and tombstones at once (digests converge without it, more slowly)'
  },
  { key: 'legacyPeers', kind: 'list', default: [], describe: 'wubloader restreamer URLs to backfill from over HTTP' },
  {
    key: 'networkKey',
    kind: 'string',
    default: null,
    path: true,
    describe: 'swarm key file (segmesh keygen --out FILE): only nodes with the same key can connect'
  },
  {
    key: 'maxSegmentMb',
    kind: 'int',
    default: FETCHER_DEFAULTS.maxSegmentBytes / MiB,
    min: 1,
    describe: 'largest segment downloaded from a peer, MiB: a bigger body is aborted and that peer not asked for it again'
  },
  {
    key: 'adminPublicKey',
    kind: 'string',
    default: null,
    path: true,
    describe: 'admin Ed25519 public key file (PEM, from segmesh keygen --admin): accept tombstones from peers only when signed by it'
  },
  {
    key: 'cutConcurrency',
    kind: 'int',
    default: CUT_JOB_DEFAULTS.concurrency,
    min: 1,
    describe: 'cut and frame jobs running ffmpeg at once; more are answered 503 with Retry-After'
  },
  {
    key: 'cutMaxMibPerSecond',
    kind: 'int',
    default: 64,
    min: 0,
    describe: 'MiB a second all cut downloads share, so that bulk downloads leave the cores to viewers (0 = no limit)'
  },
  {
    key: 'cutTempDir',
    kind: 'string',
    default: null,
    path: true,
    describe: 'folder for cut temp files: re-encoded edges, MP4s being spooled (default: the OS temp folder)'
  },
  {
    key: 'minFreeBytes',
    kind: 'int',
    default: DISK_SPACE_DEFAULTS.minFreeBytes,
    min: 0,
    describe:
      'pause fetching and recording while the segments folder has less free space than this, bytes (1 GiB); ' +
      'they also pause on ENOSPC and resume when space returns'
  },
  {
    key: 'record',
    kind: 'list',
    default: [],
    describe:
      'record a live HLS stream: NAME=URL of a master or media playlist; repeat the flag. ' +
      'A config file may give { NAME: { url, qualities, important } }'
  },
  {
    key: 'qualities',
    kind: 'list',
    default: ['source'],
    describe: 'qualities to record for channels that name none: variant names of the master playlist (source, 720p60, ...)'
  },
  {
    key: 'recordPollMs',
    kind: 'int',
    default: INGEST_DEFAULTS.pollMs,
    min: 100,
    max: 60000,
    describe: 'mean period of live playlist polls while recording, ms'
  },
  {
    key: 'adminToken',
    kind: 'string',
    default: null,
    secret: true,
    describe:
      'bearer token for the /admin HTTP routes (tombstone, purge); unset disables them. Prefer the environment variable: flags show in ps'
  }
] as const satisfies readonly OptionSpec[]

type Spec = (typeof TABLE)[number]
/** An option's value type, from its kind and default: a null default means "may be unset", unless derived. */
type ValueOf<S extends Spec> = S extends { derived: true }
  ? string
  : S extends { kind: 'int' }
    ? number
    : S extends { kind: 'bool' }
      ? boolean
      : S extends { kind: 'list' }
        ? string[]
        : S extends { default: null }
          ? string | null
          : string
type FromTable = { -readonly [S in Spec as S['key']]: ValueOf<S> }

/** The resolved config: one field per option of the table, typed from it (three refined by hand). */
export type Config = Omit<FromTable, 'logLevel' | 'record' | 'maxDiskBytes'> & {
  logLevel: (typeof LOG_LEVELS)[number]
  /** The disk budget (storage/disk-budget.ts), null for none. */
  maxDiskBytes: DiskBudgetLimit | null
  /** Live HLS streams this node records itself (ingest/). */
  record: RecordChannel[]
}

/** The table, each entry seen as an OptionSpec naming a key of Config. */
export const OPTIONS: ReadonlyArray<OptionSpec & { key: keyof Config }> = TABLE

export const LOG_LEVELS = Object.freeze(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const)

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

/** The CLI flag without dashes: `segmentsDir` → `segments-dir`. */
export function flagName(spec: OptionSpec): string {
  return spec.flag ?? kebab(spec.key)
}

/** `dataDir` → `SEGMESH_DATA_DIR`. */
export function envName(spec: OptionSpec): string {
  return `SEGMESH_${kebab(spec.key).replace(/-/g, '_').toUpperCase()}`
}
