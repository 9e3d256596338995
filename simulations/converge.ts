/**
 * Convergence after the heal: poll every node's per-hour digests until each equals the digests of
 * the expected final state. A node's lag is the time from the heal until it matched (and kept
 * matching: a node that drifts away again starts over).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { sameDigests } from './history.ts'
import type { DigestMap, SimNode } from './sim-node.ts'

export async function awaitConvergence(
  nodes: readonly SimNode[],
  expected: DigestMap,
  healAt: number,
  timeoutMs: number,
  pollMs: number
): Promise<Map<number, number | null>> {
  const lag = new Map<number, number | null>(nodes.map((n) => [n.id, null]))
  const deadline = healAt + timeoutMs
  while (true) {
    const now = Date.now()
    await Promise.all(
      nodes.map(async (n) => {
        const digests = n.up ? await n.digests().catch(() => null) : null
        const matches = digests != null && sameDigests(digests, expected)
        if (!matches) lag.set(n.id, null)
        else if (lag.get(n.id) == null) lag.set(n.id, now - healAt)
      })
    )
    if ([...lag.values()].every((l) => l != null) || Date.now() > deadline) return lag
    await sleep(pollMs)
  }
}
