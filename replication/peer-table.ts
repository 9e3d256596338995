/**
 * What this node knows about other nodes: learned from gossip and hello, never from a list.
 * Bounded: past `maxPeers` a new peer evicts the one not connected that was seen longest ago
 * (connected peers and those heard from lately are the useful ones). A peer's roots are kept only
 * while it is connected: only a connected peer is repaired from, and roots are the large part of
 * an entry (up to a 64 KiB digest's worth), so an entry of a peer we merely heard of is its id, URL
 * and at most 16 addresses: ≤ about 5 KiB.
 * What outlives a connection is who held what: per channel/quality, the URLs of the last
 * `holdersPerKey` peers whose roots had anything of it (read-through asks them when no connected
 * peer holds a channel), for `maxHolderKeys` keys: ≤ about 2.5 MiB.
 */
import { KeepFilter } from './keep.ts'
import type { PeerInfo, RootDigest } from './messages.ts'

export interface PeerState {
  peerId: string
  url: string
  addrs: string[]
  /** ms since the epoch of the last message or hello from it. */
  lastSeen: number
  /** Its roots from the last digest, keyed `channel/quality`. */
  roots: Map<string, string>
  /** Age (s) of the newest segment it had that we lacked at the last repair; 0 when in sync. */
  lagSeconds: number
  repairs: number
  /** Consecutive failed repair sessions (drives backoff). */
  failures: number
  /** No repair before this time (ms), after failures. */
  backoffUntil: number
  /** Its hello's protocol version: 2 repairs by ranges, 1 by whole-window digests and hour listings. */
  protocol: 1 | 2
  /** What it keeps, from its hello (everything until it says otherwise). */
  keep: KeepFilter
  /** Hours it evicted under its disk budget (`channel/quality/hourStart`), from its hello: not walked. */
  evicted: ReadonlySet<string>
  /** When a difference was first left to the peer's walk (replicator.ts); 0: none pending. */
  deferredAt: number
  /** When (ms) it last asked this node for ranges or names: it is walking us; 0 if never. */
  walkingUsAt: number
  /** When (ms) our last walk of it ended having offered it names; 0 if never. */
  offeredAt: number
  /**
   * The roots (ours and its) for which the last walk of it found nothing to fetch or offer; the
   * same pair is not walked again (evicted hours keep roots apart for good). '': none.
   */
  quietRoots: string
}

export const PEER_TABLE_DEFAULTS = Object.freeze({
  /** Peers remembered: ≤ about 5 MiB of entries not connected, beyond the connected ones' roots. */
  maxPeers: 1024,
  holdersPerKey: 8,
  /** Past it the key heard of longest ago is forgotten. */
  maxHolderKeys: 4096
})

export interface PeerTableInit {
  /** Peers with an open connection (host.connectedPeers). */
  connectedPeers?: () => readonly string[]
  maxPeers?: number
}

export class PeerTable {
  readonly #peers = new Map<string, PeerState>()
  readonly #connectedPeers: () => readonly string[]
  readonly #maxPeers: number
  /** Peers forgotten to make room. */
  evicted = 0
  /** `channel/quality` → URLs of peers that held something of it, the last heard first. */
  readonly #holders = new Map<string, string[]>()

  constructor(init: PeerTableInit = {}) {
    this.#connectedPeers = init.connectedPeers ?? (() => [])
    this.#maxPeers = init.maxPeers ?? PEER_TABLE_DEFAULTS.maxPeers
  }

  get size(): number {
    return this.#peers.size
  }

  /** Record what a peer said about itself; returns its state. */
  /** `connected`: the caller knows it is (a hello answered over the connection, which libp2p may not list yet). */
  seen(info: PeerInfo, roots?: readonly RootDigest[], connected = false): PeerState {
    let peer = this.#peers.get(info.peerId)
    if (peer == null) {
      if (this.#peers.size >= this.#maxPeers) this.#evict()
      peer = this.#add(info, 0)
    }
    peer.url = info.url
    if (info.addrs.length > 0) peer.addrs = info.addrs
    peer.lastSeen = Date.now()
    if (roots != null) {
      peer.roots =
        connected || this.#connectedPeers().includes(info.peerId)
          ? new Map(roots.map((r) => [`${r.channel}/${r.quality}`, r.root]))
          : new Map()
      if (info.url !== '') for (const r of roots) if (r.root !== '') this.#holds(`${r.channel}/${r.quality}`, info.url)
    }
    return peer
  }

  /** URLs of the last peers whose roots had anything of `key` (`channel/quality`), connected or not. */
  holders(key: string): readonly string[] {
    return this.#holders.get(key) ?? []
  }

  /** Every `channel/quality` some peer was heard to hold. */
  heldKeys(): IterableIterator<string> {
    return this.#holders.keys()
  }

  #holds(key: string, url: string): void {
    const urls = this.#holders.get(key)?.filter((u) => u !== url) ?? []
    this.#holders.delete(key)
    if (this.#holders.size >= PEER_TABLE_DEFAULTS.maxHolderKeys) this.#holders.delete(this.#holders.keys().next().value!)
    this.#holders.set(key, [url, ...urls].slice(0, PEER_TABLE_DEFAULTS.holdersPerKey))
  }

  /**
   * A peer another node named (peer exchange): added if unknown, with its claimed last sighting
   * (never in the future). A known peer is left as it is. Returns whether it was added.
   */
  heardOf(info: PeerInfo & { lastSeen: number }): boolean {
    if (this.#peers.has(info.peerId)) return false
    if (this.#peers.size >= this.#maxPeers) this.#evict()
    this.#add(info, Math.min(info.lastSeen, Date.now()))
    return true
  }

  #add(info: PeerInfo, lastSeen: number): PeerState {
    const peer: PeerState = {
      peerId: info.peerId,
      url: info.url,
      addrs: info.addrs,
      lastSeen,
      roots: new Map(),
      lagSeconds: 0,
      repairs: 0,
      failures: 0,
      backoffUntil: 0,
      protocol: 1,
      keep: KeepFilter.ALL,
      evicted: new Set(),
      deferredAt: 0,
      walkingUsAt: 0,
      offeredAt: 0,
      quietRoots: ''
    }
    this.#peers.set(info.peerId, peer)
    return peer
  }

  get(peerId: string): PeerState | undefined {
    return this.#peers.get(peerId)
  }

  /** The peer that gossiped this URL most recently, if any. */
  byUrl(url: string): PeerState | undefined {
    let found: PeerState | undefined
    for (const peer of this.#peers.values()) if (peer.url === url && (found == null || peer.lastSeen > found.lastSeen)) found = peer
    return found
  }

  delete(peerId: string): void {
    this.#peers.delete(peerId)
  }

  all(): PeerState[] {
    return [...this.#peers.values()]
  }

  /** Forget the peer seen longest ago, a connected one only when every peer is connected. */
  #evict(): void {
    const online = new Set(this.#connectedPeers())
    let victim: PeerState | undefined
    let victimConnected = true
    for (const peer of this.#peers.values()) {
      const connected = online.has(peer.peerId)
      if (victim == null || (victimConnected && !connected) || (victimConnected === connected && peer.lastSeen < victim.lastSeen)) {
        victim = peer
        victimConnected = connected
      }
    }
    if (victim == null) return
    this.#peers.delete(victim.peerId)
    this.evicted++
  }
}
