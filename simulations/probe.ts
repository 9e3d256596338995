/**
 * One node's probe: what it recorded (events and counters) and the faults it is under (gossip
 * loss and delay, peers and HTTP origins it must not reach). The faults reach the node through
 * its hooks (hooks(), node/hooks.ts); instrument.ts feeds the records from diagnostics channels.
 * Store events name their node by folder. Sockets and HTTP requests are found through
 * AsyncLocalStorage (every in-process node is started inside runAs(), its timers inherit it, and
 * gossip and peer requests re-enter it through the hooks) or, in a child process that is one node,
 * through the default probe.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type net from 'node:net'
import type { NodeHooks } from '../node/hooks.ts'
import type { SegmeshNode } from '../node/segmesh-node.ts'
import type { Dispatcher } from 'undici'
import { Rng } from './prng.ts'
import { SocketBytes } from './socket-bytes.ts'

/** `fetch-busy`: a segment request answered 503 (the peer's upload slots were full). */
/** `name`: replication learned a name this node lacks (before fetching it). */
export type ProbeEventType =
  | 'segment'
  | 'tombstone'
  | 'name'
  | 'fetch-request'
  | 'fetch-busy'
  | 'fetch-stored'
  | 'fetch-duplicate'
  | 'fetch-refused'

export interface ProbeEvent {
  /** ms since the epoch. */
  t: number
  node: number
  type: ProbeEventType
  /** CHANNEL/QUALITY/HOUR/FILE of the segment. */
  path: string
  bytes?: number
  /** For fetch-request and fetch-busy: the origin asked (`http://host:port`). */
  peer?: string
}

export interface GossipFaults {
  /** Probability that a received gossip message is dropped. */
  loss: number
  /** Added delay before a received message is handled, ms (uniform in [½, 1½] of it). */
  delayMs: number
}

export interface ProbeCounters {
  gossipIn: number
  gossipInBytes: number
  gossipDropped: number
  gossipDelayed: number
  /** Of those received: digest messages and their bytes (the rest are announcements). */
  gossipInDigests: number
  gossipInDigestBytes: number
  /** HTTP requests this node made to peers, and the response bytes announced, by kind. */
  http: Record<HttpKind, { requests: number; bytes: number }>
}

/** Bytes this node wrote to libp2p sockets, as HTTP server, and as HTTP client. */
export type WireCounters = Record<WireKind, number>
export type WireKind = 'p2p' | 'httpServed' | 'httpRequested'
const WIRE_KINDS: readonly WireKind[] = ['p2p', 'httpServed', 'httpRequested']

export type HttpKind = 'digests' | 'listing' | 'segment' | 'other'

export function emptyProbeCounters(): ProbeCounters {
  return {
    gossipIn: 0,
    gossipInBytes: 0,
    gossipDropped: 0,
    gossipDelayed: 0,
    gossipInDigests: 0,
    gossipInDigestBytes: 0,
    http: {
      digests: { requests: 0, bytes: 0 },
      listing: { requests: 0, bytes: 0 },
      segment: { requests: 0, bytes: 0 },
      other: { requests: 0, bytes: 0 }
    }
  }
}

export class NodeProbe {
  readonly node: number
  counters: ProbeCounters = emptyProbeCounters()

  faults: GossipFaults = { loss: 0, delayMs: 0 }
  /** The node's current incarnation, once constructed: its parts are read from it. */
  segmesh: SegmeshNode | null = null
  readonly #blockedPeers = new Set<string>()
  /** Origins (`http://host:port`) of the blocked URLs. */
  readonly #blockedOrigins = new Set<string>()
  /** What this incarnation's sockets wrote. */
  readonly #wire = new SocketBytes<WireKind>()
  readonly #rng: Rng
  readonly #onEvent: (event: ProbeEvent) => void

  constructor(node: number, seed: number, onEvent: (event: ProbeEvent) => void) {
    this.node = node
    this.#rng = new Rng(seed).fork(`gossip-faults-${node}`)
    this.#onEvent = onEvent
  }

  /** A new incarnation of the node (a restart): counters start again, faults stay. */
  restarted(): void {
    this.counters = emptyProbeCounters()
    this.#wire.reset()
  }

  /** What the node's hooks do: gossip through the faults, requests to blocked origins refused. */
  hooks(): NodeHooks {
    return {
      gossipGate: (deliver, data) => this.gate(() => runAs(this, deliver), data),
      fetchInterceptors: [refuseOrigins(this.#blockedOrigins), (dispatch) => (opts, handler) => runAs(this, () => dispatch(opts, handler))],
      blockedPeers: () => this.blockedPeers
    }
  }

  /** Count what `socket` writes as `kind`. */
  trackSocket(socket: net.Socket, kind: WireKind): void {
    this.#wire.track(socket, kind)
  }

  wire(): WireCounters {
    return this.#wire.totals(WIRE_KINDS)
  }

  /** Sockets this incarnation holds open now, by kind, leaving out those `skip` names. */
  sockets(skip?: (socket: net.Socket, kind: WireKind) => boolean): Record<WireKind, number> {
    return this.#wire.openByKind(WIRE_KINDS, skip)
  }

  /** The most sockets the node held at once, over all its incarnations (the harness's own included). */
  get socketsMax(): number {
    return this.#wire.maxOpen
  }

  /** Those sockets by kind, at the moment there were most. */
  get socketsMaxByKind(): Record<WireKind, number> {
    return this.#wire.maxOpenByKind(WIRE_KINDS)
  }

  record(type: ProbeEventType, path: string, bytes?: number, peer?: string): void {
    this.#onEvent({ t: Date.now(), node: this.node, type, path, ...(bytes != null ? { bytes } : {}), ...(peer != null ? { peer } : {}) })
  }

  get blockedPeers(): string[] {
    return [...this.#blockedPeers]
  }

  /**
   * Cut this node's side of every link to these peers (libp2p peer ids and HTTP URLs), lifting
   * earlier cuts not listed. Kept across restarts: a new host or fetcher starts blocked.
   */
  async setBlocked(peerIds: readonly string[], urls: readonly string[]): Promise<void> {
    const unblockPeers = [...this.#blockedPeers].filter((p) => !peerIds.includes(p))
    this.#blockedPeers.clear()
    this.#blockedOrigins.clear()
    for (const p of peerIds) this.#blockedPeers.add(p)
    for (const u of urls) this.#blockedOrigins.add(new URL(u).origin)
    // The host's own blocking, as for a ban: connections open now are closed as well.
    const host = this.segmesh?.host
    host?.unblock(unblockPeers)
    await host?.block([...peerIds])
  }

  /** Deliver a received gossip message through the faults. */
  gate(deliver: () => void, data: Uint8Array): void {
    const bytes = data.byteLength
    this.counters.gossipIn++
    this.counters.gossipInBytes += bytes
    // The encoder writes {"v":1,"type":"digest"|"announce",...: byte 15 tells them apart.
    if (data[15] === 0x64) {
      this.counters.gossipInDigests++
      this.counters.gossipInDigestBytes += bytes
    }
    if (this.faults.loss > 0 && this.#rng.chance(this.faults.loss)) {
      this.counters.gossipDropped++
      return
    }
    if (this.faults.delayMs > 0) {
      this.counters.gossipDelayed++
      setTimeout(deliver, this.faults.delayMs * (0.5 + this.#rng.next())).unref()
      return
    }
    deliver()
  }
}

const als = new AsyncLocalStorage<NodeProbe>()
let fallback: NodeProbe | null = null

/** The probe of the node whose code is running. */
export function currentProbe(): NodeProbe | null {
  return als.getStore() ?? fallback
}

/** Run `fn` (a node's start) so that everything it sets in motion is attributed to `probe`. */
export function runAs<T>(probe: NodeProbe, fn: () => T): T {
  return als.run(probe, fn)
}

/** In a child process: everything belongs to this one node. */
export function setDefaultProbe(probe: NodeProbe): void {
  fallback = probe
}

/** The child process's one probe, or null in a process of many nodes. */
export function defaultProbe(): NodeProbe | null {
  return fallback
}

/**
 * An interceptor that fails requests to `blocked` origins before any socket is used, with the
 * error a refused connection gives (the fetcher counts it as a connect failure).
 */
export function refuseOrigins(blocked: ReadonlySet<string>): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) => {
    const origin = opts.origin == null ? '' : new URL(String(opts.origin)).origin
    if (blocked.has(origin))
      throw Object.assign(new Error(`connect ECONNREFUSED ${origin} (simulated partition)`), { code: 'ECONNREFUSED' })
    return dispatch(opts, handler)
  }
}
