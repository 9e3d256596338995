/**
 * One node's probe: what it recorded (events and counters) and the faults it is under (gossip
 * loss and delay, peers and HTTP origins it must not reach). instrument.ts feeds it from patched
 * prototypes; the node it belongs to is found through AsyncLocalStorage (every in-process node is
 * started inside runAs(), and its timers, sockets and handlers inherit it) or, in a child process
 * that is one node, through the default probe.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type { Fetcher } from '../replication/fetcher.ts'
import type { P2PHost } from '../replication/host.ts'
import type { Replicator } from '../replication/replicator.ts'
import { Rng } from './prng.ts'

export type ProbeEventType = 'segment' | 'tombstone' | 'fetch-request' | 'fetch-stored' | 'fetch-duplicate' | 'fetch-refused'

export interface ProbeEvent {
  /** ms since the epoch. */
  t: number
  node: number
  type: ProbeEventType
  /** CHANNEL/QUALITY/HOUR/FILE of the segment. */
  path: string
  bytes?: number
  /** For fetch-request: the origin asked (`http://host:port`). */
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
  http: Record<HttpKind, { requests: number, bytes: number }>
  /** Bytes this node wrote to libp2p sockets, as HTTP server, and as HTTP client. */
  wire: { p2p: number, httpServed: number, httpRequested: number }
}

export type HttpKind = 'digests' | 'listing' | 'segment' | 'other'

function emptyProbeCounters (): ProbeCounters {
  return {
    gossipIn: 0,
    gossipInBytes: 0,
    gossipDropped: 0,
    gossipDelayed: 0,
    gossipInDigests: 0,
    gossipInDigestBytes: 0,
    http: { digests: { requests: 0, bytes: 0 }, listing: { requests: 0, bytes: 0 }, segment: { requests: 0, bytes: 0 }, other: { requests: 0, bytes: 0 } },
    wire: { p2p: 0, httpServed: 0, httpRequested: 0 }
  }
}

export class NodeProbe {
  readonly node: number
  counters: ProbeCounters = emptyProbeCounters()

  faults: GossipFaults = { loss: 0, delayMs: 0 }
  /** The node's live parts, set when they are created or started (instrument.ts). */
  host: P2PHost | null = null
  fetcher: Fetcher | null = null
  replicator: Replicator | null = null
  readonly #blockedPeers = new Set<string>()
  readonly #blockedUrls = new Set<string>()
  readonly #rng: Rng
  readonly #onEvent: (event: ProbeEvent) => void

  constructor (node: number, seed: number, onEvent: (event: ProbeEvent) => void) {
    this.node = node
    this.#rng = new Rng(seed).fork(`gossip-faults-${node}`)
    this.#onEvent = onEvent
  }

  /** A new incarnation of the node (a restart): counters start again, faults stay. */
  restarted (): void {
    this.counters = emptyProbeCounters()
    this.host = null
    this.fetcher = null
    this.replicator = null
  }

  record (type: ProbeEventType, path: string, bytes?: number, peer?: string): void {
    this.#onEvent({ t: Date.now(), node: this.node, type, path, ...(bytes != null ? { bytes } : {}), ...(peer != null ? { peer } : {}) })
  }

  get blockedPeers (): string[] {
    return [...this.#blockedPeers]
  }

  get blockedUrls (): string[] {
    return [...this.#blockedUrls]
  }

  /**
   * Cut this node's side of every link to these peers (libp2p peer ids and HTTP URLs), lifting
   * earlier cuts not listed. Kept across restarts: a new host or fetcher starts blocked.
   */
  async setBlocked (peerIds: readonly string[], urls: readonly string[]): Promise<void> {
    const unblockPeers = [...this.#blockedPeers].filter((p) => !peerIds.includes(p))
    const unblockUrls = [...this.#blockedUrls].filter((u) => !urls.includes(u))
    this.#blockedPeers.clear()
    this.#blockedUrls.clear()
    for (const p of peerIds) this.#blockedPeers.add(p)
    for (const u of urls) this.#blockedUrls.add(u)
    this.fetcher?.unblock(unblockUrls)
    this.fetcher?.block([...urls])
    this.host?.unblock(unblockPeers)
    await this.host?.block([...peerIds])
  }

  /** Deliver a received gossip message through the faults. */
  gate (deliver: () => void, data: Uint8Array): void {
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
export function currentProbe (): NodeProbe | null {
  return als.getStore() ?? fallback
}

/** Run `fn` (a node's start) so that everything it sets in motion is attributed to `probe`. */
export function runAs<T> (probe: NodeProbe, fn: () => T): T {
  return als.run(probe, fn)
}

/**
 * Make `resource` (an async resource such as a socket handle) carry `probe` as its context.
 * Node 20 gives a connection accepted by a server no context at all (its handle is created from
 * libuv, outside any JS call), so everything that follows on that socket would be anonymous.
 * AsyncLocalStorage keeps a resource's store under its own `kResourceStore` symbol.
 */
export function bindResource (resource: object, probe: NodeProbe): void {
  const key = (als as unknown as { kResourceStore?: symbol }).kResourceStore
  if (key != null) (resource as Record<symbol, unknown>)[key] = probe
}

/** In a child process: everything belongs to this one node. */
export function setDefaultProbe (probe: NodeProbe): void {
  fallback = probe
}
