/**
 * What each node holds of the names written during a run, and how far that is from the end state.
 * A node's view is its visible segments plus its tombstones (a tombstone hides its segment), the
 * set the product's digests sum; two nodes' roots are equal when their views are. Kept as one byte
 * per (node, item) and an XOR hash per node, updated as names arrive.
 */
import type { Micros } from './events.ts'

export interface Item {
  kind: 'segment' | 'tombstone'
  /** For a tombstone: the segment item it hides. */
  of: number
  /** Written at, µs. */
  at: Micros
}

const HELD = 1

export class Replicas {
  readonly items: Item[] = []
  /** Per node: a byte per item (HELD), grown as items are written. */
  readonly #held: Uint8Array[]
  /** Per node: tombstones it holds, by the segment they hide. */
  readonly #hidden: Array<Set<number>>
  readonly viewHash: Uint32Array
  /** Items of the end state (set by `freeze`); per node, how many items its view differs by. */
  #target: Uint8Array | null = null
  readonly mismatch: Int32Array
  /** When each node's mismatch last reached 0 (µs; -1 while it differs). */
  readonly matchedAt: Float64Array
  #capacity = 64

  constructor(nodes: number) {
    this.#held = Array.from({ length: nodes }, () => new Uint8Array(this.#capacity))
    this.#hidden = Array.from({ length: nodes }, () => new Set<number>())
    this.viewHash = new Uint32Array(nodes)
    this.mismatch = new Int32Array(nodes)
    this.matchedAt = new Float64Array(nodes).fill(-1)
  }

  add(item: Item): number {
    if (this.items.length === this.#capacity) {
      this.#capacity *= 2
      for (let n = 0; n < this.#held.length; n++) {
        const grown = new Uint8Array(this.#capacity)
        grown.set(this.#held[n]!)
        this.#held[n] = grown
      }
    }
    this.items.push(item)
    return this.items.length - 1
  }

  holds(node: number, item: number): boolean {
    return this.#held[node]![item] === HELD
  }

  /** In the node's view: a tombstone it holds, or a segment it holds and no tombstone of it. */
  inView(node: number, item: number): boolean {
    return this.holds(node, item) && (this.items[item]!.kind === 'tombstone' || !this.#hidden[node]!.has(item))
  }

  /** A segment the node would fetch: not held, not tombstoned here. */
  wants(node: number, item: number): boolean {
    return !this.holds(node, item) && !this.#hidden[node]!.has(item)
  }

  /** The node stored `item` at `now`; returns whether its view changed. */
  gain(node: number, item: number, now: Micros): boolean {
    if (this.holds(node, item)) return false
    const it = this.items[item]!
    if (it.kind === 'segment' && this.#hidden[node]!.has(item)) return false
    this.#held[node]![item] = HELD
    this.#flip(node, item, now)
    if (it.kind === 'tombstone') {
      const wasVisible = this.holds(node, it.of)
      this.#hidden[node]!.add(it.of)
      if (wasVisible) this.#flip(node, it.of, now)
    }
    return true
  }

  #flip(node: number, item: number, now: Micros): void {
    this.viewHash[node]! ^= hash(item)
    const target = this.#target
    if (target == null) return
    // The item entered or left the view: one more or one fewer difference from the end state.
    const inView = this.inView(node, item)
    const wanted = target[item] === 1
    this.mismatch[node]! += inView === wanted ? -1 : 1
    if (this.mismatch[node] === 0) this.matchedAt[node] = now
    else this.matchedAt[node] = -1
  }

  /** The end state is known (no more writes): count each node's differences from it. */
  freeze(now: Micros): void {
    const target = new Uint8Array(this.items.length)
    const tombstoned = new Set(this.items.filter((i) => i.kind === 'tombstone').map((i) => i.of))
    this.items.forEach((it, i) => {
      target[i] = it.kind === 'tombstone' || !tombstoned.has(i) ? 1 : 0
    })
    this.#target = target
    for (let n = 0; n < this.mismatch.length; n++) {
      let m = 0
      for (let i = 0; i < this.items.length; i++) if (this.inView(n, i) !== (target[i] === 1)) m++
      this.mismatch[n] = m
      this.matchedAt[n] = m === 0 ? now : -1
    }
  }

  /** Items in `from`'s view that `to` lacks (segments it would fetch, tombstones it lacks). */
  lacking(to: number, from: number): number[] {
    const out: number[] = []
    for (let i = 0; i < this.items.length; i++) {
      if (!this.inView(from, i)) continue
      const it = this.items[i]!
      if (it.kind === 'tombstone' ? !this.holds(to, i) : this.wants(to, i)) out.push(i)
    }
    return out
  }

  /** The node's newest visible segments, newest first (a first hello answer's `recent`). */
  newest(node: number, n: number): number[] {
    const out: number[] = []
    for (let i = this.items.length - 1; i >= 0 && out.length < n; i--)
      if (this.items[i]!.kind === 'segment' && this.inView(node, i)) out.push(i)
    return out
  }
}

function hash(item: number): number {
  let x = Math.imul(item + 0x9e3779b9, 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}
