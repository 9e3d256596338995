/**
 * Bounded concurrency, in the two shapes callers have: a gate for calls that arrive over time, and
 * a pool of workers for a list known up front (no promise held per waiting job).
 */

/** A gate: at most `n` of the functions given to it run at once, in call order. */
export function limit(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0
  const waiting: Array<() => void> = []
  const next = (): void => {
    while (running < n && waiting.length > 0) {
      running++
      waiting.shift()!()
    }
  }
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    await new Promise<void>((resolve) => {
      waiting.push(resolve)
      next()
    })
    try {
      return await fn()
    } finally {
      running--
      next()
    }
  }
}

/** Run `jobs` with at most `n` in flight. */
export async function runLimited(jobs: Array<() => Promise<void>>, n: number): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < jobs.length) await jobs[next++]!()
  }
  await Promise.all(Array.from({ length: Math.min(n, jobs.length) }, worker))
}
