/**
 * Every option a node understands: its config-file key, CLI flag, environment variable, type,
 * default and help text. The loader, `--help` and the docs all read this one table.
 */

export type OptionKind = 'string' | 'int' | 'bool' | 'list'

export interface OptionSpec {
  /** Key in the config file and in the resolved config. */
  key: keyof Config
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
}

/** What `config print` shows for a secret that is set; never accepted as a value. */
export const MASKED_SECRET = '********'

export interface Config {
  /** Node state: the index, keys. */
  dataDir: string
  /** Segment tree (wubloader layout). */
  segmentsDir: string
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** Leftover `temp` files older than this are recovered as `partial` by reconcile. */
  tempGraceSeconds: number
  /** Full rescan of the tree as a safety net behind the watcher; 0 turns it off. */
  rescanIntervalSeconds: number
  /** Watch the live hours for files other programs write. */
  watch: boolean
  /** Maximum size of the LMDB map, in MiB. */
  indexMapSizeMb: number
  httpHost: string
  /** 0 picks a free port. */
  httpPort: number
  /** Serve /metrics and record request metrics. */
  metrics: boolean
  /** On SIGTERM/SIGINT, in-flight responses get this long to finish before sockets are closed. */
  shutdownGraceSeconds: number
  /** Bearer token for the /admin routes; null leaves them disabled (404). */
  adminToken: string | null
  /** Serve /admin only on this address (and --admin-port), not on the public listener. */
  adminHost: string | null
  adminPort: number
  /** Swarm key file: only nodes holding the same key can connect (libp2p private network). */
  networkKey: string | null
  /** A download from a peer larger than this is aborted (and the peer not asked for it again). */
  maxSegmentMb: number
  /** Admin Ed25519 public key (PEM): tombstones from peers must be signed by it. */
  adminPublicKey: string | null
  /** Admin Ed25519 private key (PEM, 0600): tombstones made through this node's admin API are signed. */
  adminSigningKey: string | null
  /** Join the network and replicate. */
  replication: boolean
  p2pHost: string
  /** 0 picks a free port. */
  p2pPort: number
  /** Host peers should dial for libp2p, when it is not the listen address (NAT, containers). */
  p2pAnnounceHost: string | null
  /** HTTP base URL peers fetch from; derived from the HTTP listen address when null. */
  publicUrl: string | null
  /** Multiaddrs (with /p2p/<id>) of nodes to join through. */
  bootstrap: string[]
  /** Hours compared and backfilled (the retention window). */
  windowHours: number
  /** Segment files of hours older than this many days are removed (tombstones last); 0 keeps everything. */
  retentionDays: number
  /** Segments younger than this are not fetched from peers yet. */
  backfillGraceSeconds: number
  /** Mean period of digest publishing and direct digest exchange. */
  digestIntervalSeconds: number
  /** Downloads from peers at once, in total. */
  fetchConcurrency: number
  /** Downloads at once from one peer. */
  fetchPerPeer: number
  /** How long a misbehaving peer is blocked, and a peer that sent bad bytes for a name not asked for it. */
  peerBanSeconds: number
  /** Publish gossip announcements of new segments and tombstones (digests alone also converge). */
  announce: boolean
  /** wubloader restreamer URLs to backfill from over HTTP. */
  legacyPeers: string[]
  /** Cut and frame jobs running ffmpeg at once; past that, 503. */
  cutConcurrency: number
  /** Folder for cut temp files (re-encoded edges, spooled MP4); null means the OS temp folder. */
  cutTempDir: string | null
  /** Segment writes (fetching, recording) pause while the segments folder has less free space. */
  minFreeBytes: number
  /** Live HLS streams this node records itself (ingest/). */
  record: RecordChannel[]
  /** Qualities recorded for a channel that names none of its own. */
  qualities: string[]
  /** Mean period of live media playlist polls, ms. */
  recordPollMs: number
}

/** A channel this node records itself. */
export interface RecordChannel {
  channel: string
  /** Master or media playlist URL. */
  url: string
  qualities: string[]
  /** Faster retry while the stream is down, louder logs. */
  important: boolean
}

export const OPTIONS: readonly OptionSpec[] = [
  { key: 'dataDir', flag: 'data', kind: 'string', default: './data', describe: 'folder for the node\'s own state (index, keys)' },
  { key: 'segmentsDir', kind: 'string', default: null, describe: 'segment tree CHANNEL/QUALITY/HOUR/FILE (default: <data-dir>/segments; may be an existing wubloader folder)' },
  { key: 'logLevel', kind: 'string', default: 'info', describe: 'fatal, error, warn, info, debug, trace or silent' },
  { key: 'tempGraceSeconds', kind: 'int', default: 600, min: 0, describe: 'age after which a leftover temp file is recovered as partial' },
  { key: 'rescanIntervalSeconds', kind: 'int', default: 300, min: 0, describe: 'full rescan of the segment tree behind the watcher (0 = never)' },
  { key: 'watch', kind: 'bool', default: true, describe: 'watch the live hours for segments written by other programs' },
  { key: 'indexMapSizeMb', kind: 'int', default: 16384, min: 16, describe: 'upper bound of the LMDB index size, MiB (sparse; costs nothing until used)' },
  { key: 'httpHost', kind: 'string', default: '0.0.0.0', describe: 'address the HTTP API listens on' },
  { key: 'httpPort', kind: 'int', default: 8080, min: 0, max: 65535, describe: 'HTTP API port (0 = any free port)' },
  { key: 'metrics', kind: 'bool', default: true, describe: 'serve Prometheus metrics at /metrics' },
  { key: 'shutdownGraceSeconds', kind: 'int', default: 20, min: 0, describe: 'on SIGTERM/SIGINT, time in-flight responses get to finish' },
  { key: 'adminHost', kind: 'string', default: null, describe: 'serve the /admin routes only on this address (with --admin-port), not on the public HTTP listener' },
  { key: 'adminPort', kind: 'int', default: 8081, min: 0, max: 65535, describe: 'port of the separate admin listener, when --admin-host is set (0 = any free port)' },
  { key: 'adminSigningKey', kind: 'string', default: null, describe: 'admin Ed25519 private key file (PEM, mode 0600): sign tombstones made through this node\'s admin API' },
  { key: 'replication', kind: 'bool', default: true, describe: 'join the peer-to-peer network and replicate segments and tombstones' },
  { key: 'p2pHost', kind: 'string', default: null, describe: 'address libp2p listens on (default: --http-host, so a node whose HTTP is local only is not on the network unless asked)' },
  { key: 'p2pPort', kind: 'int', default: 4001, min: 0, max: 65535, describe: 'libp2p TCP port (0 = any free port)' },
  { key: 'p2pAnnounceHost', kind: 'string', default: null, describe: 'host or IP peers should dial for libp2p, when not the listen address' },
  { key: 'publicUrl', kind: 'string', default: null, describe: 'HTTP base URL peers fetch from (default: derived from --http-host/--http-port)' },
  { key: 'bootstrap', kind: 'list', default: [], describe: 'multiaddr(s) with /p2p/<peer id> of nodes to join through; repeat the flag or comma-separate' },
  { key: 'windowHours', kind: 'int', default: 336, min: 1, describe: 'hours of the past compared and backfilled (14 days)' },
  { key: 'retentionDays', kind: 'int', default: 0, min: 0, describe: 'remove segments (then their tombstones) of hours older than this many days, and never backfill them again; also narrows --window-hours (0 = keep everything)' },
  { key: 'backfillGraceSeconds', kind: 'int', default: 0, min: 0, describe: 'do not fetch segments from peers until they are this old (leave them to a local recorder)' },
  { key: 'digestIntervalSeconds', kind: 'int', default: 30, min: 1, describe: 'mean period (jittered) of digest gossip and direct digest exchange' },
  { key: 'fetchConcurrency', kind: 'int', default: 8, min: 1, describe: 'downloads from peers at once, in total' },
  { key: 'fetchPerPeer', kind: 'int', default: 3, min: 1, describe: 'downloads at once from one peer' },
  { key: 'peerBanSeconds', kind: 'int', default: 600, min: 1, describe: 'how long a misbehaving peer (bad bytes, forged tombstones, malformed or flooding gossip) is disconnected and blocked; also how long a peer that sent bytes not matching a segment\'s name is not asked for that segment again' },
  { key: 'announce', kind: 'bool', default: true, describe: 'gossip new segments and tombstones at once (digests converge without it, more slowly)' },
  { key: 'legacyPeers', kind: 'list', default: [], describe: 'wubloader restreamer URLs to backfill from over HTTP' },
  { key: 'networkKey', kind: 'string', default: null, describe: 'swarm key file (segmesh keygen --out FILE): only nodes with the same key can connect' },
  { key: 'maxSegmentMb', kind: 'int', default: 256, min: 1, describe: 'largest segment downloaded from a peer, MiB: a bigger body is aborted and that peer not asked for it again' },
  { key: 'adminPublicKey', kind: 'string', default: null, describe: 'admin Ed25519 public key file (PEM, from segmesh keygen --admin): accept tombstones from peers only when signed by it' },
  { key: 'cutConcurrency', kind: 'int', default: 2, min: 1, describe: 'cut and frame jobs running ffmpeg at once; more are answered 503 with Retry-After' },
  { key: 'cutTempDir', kind: 'string', default: null, describe: 'folder for cut temp files: re-encoded edges, MP4s being spooled (default: the OS temp folder)' },
  { key: 'minFreeBytes', kind: 'int', default: 1024 ** 3, min: 0, describe: 'pause fetching and recording while the segments folder has less free space than this, bytes (1 GiB); they also pause on ENOSPC and resume when space returns' },
  { key: 'record', kind: 'list', default: [], describe: 'record a live HLS stream: NAME=URL of a master or media playlist; repeat the flag. A config file may give { NAME: { url, qualities, important } }' },
  { key: 'qualities', kind: 'list', default: ['source'], describe: 'qualities to record for channels that name none: variant names of the master playlist (source, 720p60, ...)' },
  { key: 'recordPollMs', kind: 'int', default: 2000, min: 100, max: 60000, describe: 'mean period of live playlist polls while recording, ms' },
  { key: 'adminToken', kind: 'string', default: null, secret: true, describe: 'bearer token for the /admin HTTP routes (tombstone, purge); unset disables them. Prefer the environment variable: flags show in ps' }
]

export const LOG_LEVELS: ReadonlyArray<Config['logLevel']> = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function kebab (key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

/** The CLI flag without dashes: `segmentsDir` → `segments-dir`. */
export function flagName (spec: OptionSpec): string {
  return spec.flag ?? kebab(spec.key)
}

/** `dataDir` → `SEGMESH_DATA_DIR`. */
export function envName (spec: OptionSpec): string {
  return `SEGMESH_${kebab(spec.key).replace(/-/g, '_').toUpperCase()}`
}
