/**
 * How the connection graph forms, as replication/membership.ts and host.ts build it: a node dials
 * its bootstrap, learns peers from hello answers (16 in a connection's first, 3 later: connected
 * peers first, then others heard from in the last 10 minutes), keeps 4 picked at random among those
 * it knows (never its bootstrap), and lets the bootstrap go once 4 kept peers are connected.
 * Concurrent `maintain` calls may each pick before their dials end, up to 8 kept peers, as the
 * product's do.
 */
import type { Rng } from '../prng.ts'
import { PROTOCOL } from './constants.ts'
import type { Micros } from './events.ts'
import type { Network } from './topology.ts'

/** Up to `n` of `items` at random (a partial Fisher–Yates shuffle in place). */
export function sampleInPlace(rng: Rng, items: number[], n: number): number[] {
  const k = Math.max(0, Math.min(n, items.length))
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(items.length - i)
    const t = items[i]!
    items[i] = items[j]!
    items[j] = t
  }
  items.length = k
  return items
}

export interface SampledPeer {
  peer: number
  lastSeen: Micros
}

export class Membership {
  readonly #net: Network
  readonly #rng: Rng

  constructor(net: Network) {
    this.#net = net
    this.#rng = net.rng.fork('membership')
  }

  /** A hello answer's peers: connected ones first (proven alive, so fresh), then others heard from lately. */
  sample(node: number, asker: number, n: number): SampledPeer[] {
    const self = this.#net.nodes[node]!
    const now = this.#net.now
    const live: number[] = []
    for (const p of self.links.keys()) if (p !== asker && self.peers.has(p)) live.push(p)
    const out: SampledPeer[] = sampleInPlace(this.#rng, live, n).map((peer) => ({ peer, lastSeen: now }))
    if (out.length < n) {
      const recent: number[] = []
      const fresh = now - PROTOCOL.freshUs
      const { ids, seen } = self.peers
      for (let i = 0; i < self.peers.size; i++) {
        const p = ids[i]!
        if (p !== asker && seen[i]! >= fresh && !self.links.has(p)) recent.push(i)
      }
      for (const i of sampleInPlace(this.#rng, recent, n - out.length)) out.push({ peer: ids[i]!, lastSeen: seen[i]! })
    }
    return out
  }

  learn(node: number, sampled: readonly SampledPeer[]): void {
    const self = this.#net.nodes[node]!
    const connected = (p: number): boolean => self.links.has(p)
    for (const s of sampled) self.peers.heardOf(s.peer, Math.min(s.lastSeen, this.#net.now), connected)
  }

  /** Random known peers offered to the host until enough kept peers are connected. */
  maintain(node: number): void {
    const self = this.#net.nodes[node]!
    const up = self.keptConnected()
    if (up >= PROTOCOL.keptPeers) return
    const candidates: number[] = []
    const { ids } = self.peers
    for (let i = 0; i < self.peers.size; i++) {
      const p = ids[i]!
      if (!self.kept.has(p) && p !== self.bootstrap) candidates.push(p)
    }
    for (const pick of sampleInPlace(this.#rng, candidates, PROTOCOL.keptPeers - up)) this.keepConnected(node, pick)
  }

  keepConnected(node: number, peer: number): void {
    const self = this.#net.nodes[node]!
    if (peer === node || peer === self.bootstrap || self.kept.has(peer)) return
    if (self.kept.size >= 2 * PROTOCOL.keptPeers || self.keptConnected() >= PROTOCOL.keptPeers) return
    self.kept.add(peer)
    if (self.links.has(peer)) {
      this.shedBootstrap(node)
      return
    }
    this.#net.dial(node, peer, (ok) => {
      if (!ok) self.kept.delete(peer)
      else this.shedBootstrap(node)
    })
  }

  /** Enough kept peers: close our own connection to the bootstrap (its side redials if it keeps us). */
  shedBootstrap(node: number): void {
    const self = this.#net.nodes[node]!
    if (self.shed || self.bootstrap < 0 || self.keptConnected() < PROTOCOL.keptPeers) return
    self.shed = true
    const b = self.bootstrap
    const link = self.links.get(b)
    if (link == null || link.inbound) return
    this.#net.close(node, b)
    const other = this.#net.nodes[b]!
    // libp2p's reconnect for a peer tagged keep-alive: first retry after 500 ms.
    if (other.kept.has(node)) this.#net.queue.after(500_000, () => this.#net.dial(b, node, () => {}))
  }

  /** The redial timer (×0.5–1.5 of 10 s): kept peers that are down, and the bootstrap under 4 kept. */
  redialLoop(node: number): void {
    const rng = this.#rng
    const tick = (): void => {
      const self = this.#net.nodes[node]!
      for (const p of self.kept) if (!self.links.has(p)) this.#net.dial(node, p, () => this.shedBootstrap(node))
      if (self.bootstrap >= 0 && self.keptConnected() < PROTOCOL.keptPeers) {
        self.shed = false
        this.#net.dial(node, self.bootstrap, () => {})
      }
      this.#net.queue.after(Math.round(PROTOCOL.redialIntervalUs * (0.5 + rng.next())), tick)
    }
    this.#net.queue.after(Math.round(PROTOCOL.redialIntervalUs * (0.5 + rng.next())), tick)
  }
}
