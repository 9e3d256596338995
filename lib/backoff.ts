/**
 * The one backoff of every retry loop (fetcher items and peers, repair sessions, the recorder's
 * playlist polls, redials of a flapping peer): the delay doubles per failure up to a ceiling, and
 * is spread so that parts that failed together do not all retry in the same instant.
 */
export interface BackoffPolicy {
  /** The delay after the first failure. */
  baseMs: number
  /** No delay is longer (a base above it wins). */
  maxMs: number
  /** The delay is multiplied by a uniform draw from [low, high]; [1, 1] when not given. */
  spread?: readonly [number, number]
}

/** Delay after failure number `attempt` (1-based), in whole ms. */
export function backoffMs(attempt: number, policy: BackoffPolicy): number {
  const doublings = Math.min(Math.max(attempt - 1, 0), 30)
  const ceiling = Math.min(policy.baseMs * 2 ** doublings, Math.max(policy.maxMs, policy.baseMs))
  const [low, high] = policy.spread ?? [1, 1]
  return Math.round(ceiling * (low + Math.random() * (high - low)))
}
