/**
 * Token buckets keyed by peer id: `ratePerSecond` sustained, `burst` at once. Memory is bounded:
 * past `maxKeys` the least recently refilled bucket is forgotten (a forgotten peer starts full,
 * which only ever lets through one extra burst). One bucket costs about 300 B of heap with its
 * 52-character peer id key (measured with 4,096 to 65,536 keys, before and after a flood of
 * three times as many fresh ones): the default 4,096 ≈ 1.2 MiB.
 */
export interface RateLimitInit {
  ratePerSecond: number
  burst: number
  /** @default 4096 */
  maxKeys?: number
  /** Clock in ms (tests). */
  now?: () => number
}

export class RateLimiter {
  readonly rate: number
  readonly #burst: number
  readonly #maxKeys: number
  readonly #now: () => number
  /** key → [tokens, last refill ms]; Map order is least recently used first. */
  readonly #buckets = new Map<string, [number, number]>()
  dropped = 0

  constructor(init: RateLimitInit) {
    if (!(init.ratePerSecond > 0) || !(init.burst >= 1)) throw new RangeError('rate limit: ratePerSecond > 0 and burst >= 1 are required')
    this.rate = init.ratePerSecond
    this.#burst = init.burst
    this.#maxKeys = init.maxKeys ?? 4096
    this.#now = init.now ?? Date.now
  }

  /** Buckets held now (at most maxKeys). */
  get size(): number {
    return this.#buckets.size
  }

  /** Whether `key` has a bucket (was seen and not yet forgotten). */
  has(key: string): boolean {
    return this.#buckets.has(key)
  }

  /** Take one token for `key`; false (and counted as dropped) when its bucket is empty. */
  take(key: string): boolean {
    const now = this.#now()
    const bucket = this.#buckets.get(key)
    let tokens = this.#burst
    if (bucket != null) {
      tokens = Math.min(this.#burst, bucket[0] + ((now - bucket[1]) / 1000) * this.rate)
      this.#buckets.delete(key)
    } else if (this.#buckets.size >= this.#maxKeys) {
      this.#buckets.delete(this.#buckets.keys().next().value!)
    }
    const allowed = tokens >= 1
    this.#buckets.set(key, [allowed ? tokens - 1 : tokens, now])
    if (!allowed) this.dropped++
    return allowed
  }
}
