/** A tiny promise limiter: at most `n` of the functions given to it run at once, in call order. */
export function limit (n: number): <T>(fn: () => Promise<T>) => Promise<T> {
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
