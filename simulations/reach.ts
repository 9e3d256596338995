/**
 * What a node should already hold when the faults end, given who it could reach: every write and
 * tombstone acknowledged before the last partition began, and those acknowledged on a node it
 * could still reach during it (through any path the grudge allowed), all at least `settleMs`
 * before the heal. Convergence inside a side is not promised, but a node that misses what its own
 * side had long held shows a weakness worth knowing. Only defined for runs without kills.
 */
import { reachable } from './grudge.ts'
import type { History } from './history.ts'

export function expectedWithinReach(history: History, nodes: number, healAt: number, settleMs: number): Array<Set<string>> | null {
  if (history.ops.some((o) => o.op.op === 'kill' || o.op.op === 'stop' || o.op.op === 'restart')) return null
  let cut: { t: number; grudge: Map<number, Set<number>> } | null = null
  for (const o of history.ops) {
    if (o.op.op === 'partition') cut = { t: o.t, grudge: new Map(Object.entries(o.op.grudge).map(([k, v]) => [Number(k), new Set(v)])) }
  }
  const all = Array.from({ length: nodes }, (_, i) => i)
  const items: Array<{ node: number; t: number; path: string; tombstone: boolean }> = [
    ...[...history.writes.values()].filter((w) => w.ok).map((w) => ({ node: w.node, t: w.ackAt, path: w.path, tombstone: false })),
    ...history.tombstones.filter((x) => x.ok).map((x) => ({ node: x.node, t: x.at, path: x.path, tombstone: true }))
  ]
  return all.map((n) => {
    const out = new Set<string>()
    for (const item of items) {
      if (item.t > healAt - settleMs) continue
      if (cut != null && item.t >= cut.t && !reachable(cut.grudge, all, item.node, n)) continue
      out.add(item.tombstone ? `${item.path} tombstone` : item.path)
    }
    return out
  })
}
