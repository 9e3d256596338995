/** Up to `n` of `items`, chosen uniformly at random (a partial Fisher–Yates shuffle of a copy). */
export function randomSample<T>(items: Iterable<T>, n: number): T[] {
  const copy = [...items]
  const k = Math.max(0, Math.min(n, copy.length))
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(Math.random() * (copy.length - i))
    const t = copy[i]!
    copy[i] = copy[j]!
    copy[j] = t
  }
  return copy.slice(0, k)
}
