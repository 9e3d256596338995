/**
 * One node's peer table as replication/peer-table.ts bounds it: at most 1,024 peers, the one not
 * connected that was heard from longest ago evicted first. Kept as flat arrays plus a bit set
 * shared by all nodes (N² bits: 12.5 MB at 10,000 nodes) so 10,000 tables fit and membership is O(1).
 */
import type { Micros } from './events.ts'

export class KnownBits {
  readonly #bits: Uint8Array
  readonly #n: number

  constructor(nodes: number) {
    this.#n = nodes
    this.#bits = new Uint8Array(Math.ceil((nodes * nodes) / 8))
  }

  has(node: number, peer: number): boolean {
    const i = node * this.#n + peer
    return (this.#bits[i >> 3]! & (1 << (i & 7))) !== 0
  }

  set(node: number, peer: number, on: boolean): void {
    const i = node * this.#n + peer
    if (on) this.#bits[i >> 3]! |= 1 << (i & 7)
    else this.#bits[i >> 3]! &= ~(1 << (i & 7))
  }
}

export class PeerTable {
  readonly #bits: KnownBits
  readonly #self: number
  readonly #max: number
  /** Peer ids, in insertion order but for evictions (swap-removed). */
  ids: Int32Array
  /** When each was last heard from (µs), as the product's lastSeen. */
  seen: Float64Array
  size = 0

  constructor(bits: KnownBits, self: number, max: number) {
    this.#bits = bits
    this.#self = self
    this.#max = max
    this.ids = new Int32Array(8)
    this.seen = new Float64Array(8)
  }

  has(peer: number): boolean {
    return this.#bits.has(this.#self, peer)
  }

  /** Added if unknown (a known peer is left as it is, as peer exchange does); true if added. */
  heardOf(peer: number, lastSeen: Micros, connected: (p: number) => boolean): boolean {
    if (peer === this.#self || this.has(peer)) return false
    if (this.size >= this.#max) this.#evict(connected)
    if (this.size === this.ids.length) this.#grow()
    this.ids[this.size] = peer
    this.seen[this.size] = lastSeen
    this.size++
    this.#bits.set(this.#self, peer, true)
    return true
  }

  /** The peer spoke to us (a hello): added if unknown, its lastSeen set to now. */
  sawDirectly(peer: number, now: Micros, connected: (p: number) => boolean): void {
    if (!this.heardOf(peer, now, connected)) {
      for (let i = 0; i < this.size; i++) if (this.ids[i] === peer) this.seen[i] = now
    }
  }

  #grow(): void {
    const ids = new Int32Array(Math.min(this.ids.length * 2, this.#max))
    ids.set(this.ids)
    const seen = new Float64Array(ids.length)
    seen.set(this.seen)
    this.ids = ids
    this.seen = seen
  }

  /** Forget the peer heard from longest ago, a connected one only when every peer is connected. */
  #evict(connected: (p: number) => boolean): void {
    let victim = -1
    let victimConnected = true
    for (let i = 0; i < this.size; i++) {
      const c = connected(this.ids[i]!)
      if (victim < 0 || (victimConnected && !c) || (victimConnected === c && this.seen[i]! < this.seen[victim]!)) {
        victim = i
        victimConnected = c
      }
    }
    if (victim < 0) return
    this.#bits.set(this.#self, this.ids[victim]!, false)
    this.size--
    this.ids[victim] = this.ids[this.size]!
    this.seen[victim] = this.seen[this.size]!
  }
}
