/**
 * Membership and peer exchange: which peers this node knows and which it keeps connections to.
 *
 * - Every hello answer carries a random sample of the peers this node knows (`sample`), so a node
 *   that joins through one bootstrap knows up to MAX_HELLO_PEERS others after one round trip
 *   (the first answer on a connection; later ones carry a few). Connected peers come first
 *   (proven alive), then others heard from lately.
 * - What a hello names is only learned (`learn`) when it is new: a third party cannot rewrite
 *   the URL or addresses of a peer this node already knows, and the peer table's bound holds.
 * - Kept connections (`maintain`) go to peers picked at random among those known, not to the first
 *   heard, so joins spread over the network instead of piling onto whoever spoke first. A node that
 *   keeps some channels (--keep) picks among peers that store one of them first (or whose hello it
 *   has not heard yet): gossip reaches it through peers subscribed to its channels' topics
 *   (replication/topics.ts), and one whose kept peers all keep other channels would hear nothing.
 */
import { randomSample } from '../lib/random-sample.ts'
import { KeepFilter } from './keep.ts'
import { P2P_DEFAULTS } from './host-defaults.ts'
import { type KnownPeer, MAX_HELLO_PEERS } from './messages.ts'
import type { PeerTable } from './peer-table.ts'

export interface MembershipHost {
  readonly peerId: string
  connectedPeers: () => string[]
  keepConnected: (peerId: string, addrs: string[]) => Promise<void>
  keptPeers?: () => string[]
  /** This node's bootstrap peers: dialled to join, never kept (each joiner keeping one made it everyone's hub). */
  isBootstrap?: (peerId: string) => boolean
}

export const MEMBERSHIP_DEFAULTS = Object.freeze({
  /** A peer not connected is passed on only if heard from within this. */
  freshMs: 10 * 60_000,
  /** Kept connections wanted: the host's own bound (it enforces it). */
  keep: P2P_DEFAULTS.maxKeptPeers,
  /**
   * Peers in a hello answer after the first on a connection: the first gives a joining node the
   * network (MAX_HELLO_PEERS); later ones, every interval, only keep membership fresh, and are
   * most of a node's idle traffic.
   */
  refreshPeers: 3,
  /** Addresses passed on per peer (a node listening on every interface may have many). */
  addrsPassedOn: 4
})

export class Membership {
  readonly #host: MembershipHost
  readonly #peers: PeerTable
  readonly #keep: number
  readonly #stores: KeepFilter
  /** Peers learned through peer exchange (not yet heard from themselves). */
  learned = 0

  /** `stores`: what this node keeps (everything by default). */
  constructor(init: { host: MembershipHost; peers: PeerTable; stores?: KeepFilter }) {
    this.#host = init.host
    this.#peers = init.peers
    this.#keep = MEMBERSHIP_DEFAULTS.keep
    this.#stores = init.stores ?? KeepFilter.ALL
  }

  /** Up to `n` known peers for a hello answer to `asker`, never the asker itself. */
  sample(asker: string, n = MAX_HELLO_PEERS): KnownPeer[] {
    const connected = new Set(this.#host.connectedPeers())
    const fresh = Date.now() - MEMBERSHIP_DEFAULTS.freshMs
    const live = []
    const recent = []
    for (const p of this.#peers.all()) {
      if (p.peerId === asker || p.addrs.length === 0) continue
      if (connected.has(p.peerId)) live.push(p)
      else if (p.lastSeen >= fresh) recent.push(p)
    }
    const chosen = randomSample(live, n)
    chosen.push(...randomSample(recent, n - chosen.length))
    return chosen.map((p) => ({
      peerId: p.peerId,
      url: p.url,
      addrs: p.addrs.slice(0, MEMBERSHIP_DEFAULTS.addrsPassedOn),
      lastSeen: p.lastSeen
    }))
  }

  /** Peers a hello named: the new ones are added to the table. Returns how many were new. */
  learn(peers: readonly KnownPeer[]): number {
    let added = 0
    for (const p of peers) {
      if (p.peerId === this.#host.peerId) continue
      if (this.#peers.heardOf(p)) added++
    }
    this.learned += added
    return added
  }

  /**
   * Offer the host random known peers until enough kept peers are connected (kept peers that are
   * down do not count: the host keeps them aside and redials them); resolves when those dials end.
   */
  async maintain(): Promise<void> {
    const kept = this.#host.keptPeers?.() ?? []
    const connected = new Set(this.#host.connectedPeers())
    const up = kept.filter((p) => connected.has(p)).length
    if (up >= this.#keep) return
    const skip = new Set([...kept, this.#host.peerId])
    const candidates = this.#peers
      .all()
      .filter((p) => !skip.has(p.peerId) && p.addrs.length > 0 && this.#host.isBootstrap?.(p.peerId) !== true)
    const sharing: string[] = []
    const others: string[] = []
    for (const p of candidates) (p.keep.overlaps(this.#stores) ? sharing : others).push(p.peerId)
    const picks = randomSample(sharing, this.#keep - up)
    picks.push(...randomSample(others, this.#keep - up - picks.length))
    await Promise.all(picks.map(async (peerId) => await this.#host.keepConnected(peerId, this.#peers.get(peerId)?.addrs ?? [])))
  }
}
