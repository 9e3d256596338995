/** Maps of key → expiry time (ms since the epoch), as the short memories of misses, liars and promises keep them. */

/** Whether `key` has an entry in `map` that has not expired (an expired one is removed). */
export function unexpired(map: Map<string, number>, key: string): boolean {
  const until = map.get(key)
  if (until == null) return false
  if (until > Date.now()) return true
  map.delete(key)
  return false
}

/**
 * Drop the expired entries at the front of `map`. Right for a map kept in expiry order: every entry
 * lives as long, and a renewal deletes the key before setting it again (so it moves to the end).
 */
export function pruneExpired(map: Map<string, number>): void {
  const now = Date.now()
  for (const [key, until] of map) {
    if (until > now) return
    map.delete(key)
  }
}
