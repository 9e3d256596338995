/**
 * A seeded PRNG (xoshiro128**, seeded through splitmix32) so the same seed replays the same run.
 * Every consumer takes its own stream with fork(label): adding a new random choice somewhere
 * never shifts the choices made elsewhere.
 */

function splitmix32(state: number): () => number {
  return () => {
    state = (state + 0x9e3779b9) | 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
}

/** FNV-1a over the label, so forks are stable across runs and platforms. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193)
  return h >>> 0
}

export class Rng {
  readonly seed: number
  readonly #s: Uint32Array

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new TypeError(`seed must be an integer, got ${seed}`)
    this.seed = seed
    const mix = splitmix32((seed ^ Math.floor(seed / 2 ** 32)) >>> 0)
    this.#s = new Uint32Array([mix(), mix(), mix(), mix()])
    if (this.#s.every((x) => x === 0)) this.#s[0] = 1
  }

  /** A 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.#s
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0
    const t = s[1]! << 9
    s[2]! ^= s[0]!
    s[3]! ^= s[1]!
    s[1]! ^= s[2]!
    s[0]! ^= s[3]!
    s[2]! ^= t
    s[3] = rotl(s[3]!, 11)
    return result
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextU32() / 2 ** 32
  }

  /** An integer in [0, n). */
  int(n: number): number {
    if (!(n >= 1)) throw new RangeError(`int(${n})`)
    return Math.floor(this.next() * n)
  }

  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list')
    return items[this.int(items.length)]!
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items]
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const x = out[i]!
      out[i] = out[j]!
      out[j] = x
    }
    return out
  }

  /** An independent stream named `label`, derived from this one's seed (not its position). */
  fork(label: string): Rng {
    return new Rng((this.seed * 31 + hashLabel(label)) % Number.MAX_SAFE_INTEGER)
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}
