/**
 * Jepsen's grudges (jepsen-io/jepsen `nemesis.clj`): node → the nodes it must not reach. Every
 * grudge here is symmetric, because a partition is applied on both ends of each link.
 */
import type { Rng } from './prng.ts'

export type Grudge = Map<number, Set<number>>
export type GrudgeKind = 'halves' | 'isolate' | 'majorities-ring' | 'bridge'
export const GRUDGE_KINDS: readonly GrudgeKind[] = ['halves', 'isolate', 'majorities-ring', 'bridge']

/** Every node in `a` drops every node in `b` and the reverse. */
export function cut(a: readonly number[], b: readonly number[], into: Grudge = new Map()): Grudge {
  for (const x of a) for (const y of b) drop(into, x, y)
  return into
}

function drop(g: Grudge, x: number, y: number): void {
  if (x === y) return
  if (!g.has(x)) g.set(x, new Set())
  if (!g.has(y)) g.set(y, new Set())
  g.get(x)!.add(y)
  g.get(y)!.add(x)
}

/** Two random halves (the smaller first), cut apart. */
export function randomHalves(nodes: readonly number[], rng: Rng): { grudge: Grudge; sides: number[][] } {
  const shuffled = rng.shuffle(nodes)
  const k = Math.floor(shuffled.length / 2)
  const sides = [shuffled.slice(0, k).sort(byNumber), shuffled.slice(k).sort(byNumber)]
  return { grudge: cut(sides[0]!, sides[1]!), sides }
}

/** One random node cut off from all others. */
export function isolateOne(nodes: readonly number[], rng: Rng): { grudge: Grudge; sides: number[][] } {
  const lone = rng.pick(nodes)
  const rest = nodes.filter((n) => n !== lone)
  return { grudge: cut([lone], rest), sides: [[lone], rest] }
}

/**
 * Jepsen's majorities ring: nodes on a shuffled ring; each sees itself and its k nearest
 * neighbours on either side, k = ⌈⌊n/2⌋/2⌉, so every node sees a majority and no two nodes
 * see the same one (for n ≥ 5). Everything else is dropped.
 */
export function majoritiesRing(nodes: readonly number[], rng: Rng): { grudge: Grudge; sides: number[][] } {
  const ring = rng.shuffle(nodes)
  const n = ring.length
  const k = Math.ceil(Math.floor(n / 2) / 2)
  const grudge: Grudge = new Map()
  const sides: number[][] = []
  for (let i = 0; i < n; i++) {
    const sees = new Set<number>()
    for (let d = -k; d <= k; d++) sees.add(ring[(i + d + n) % n]!)
    sides.push([...sees].sort(byNumber))
    for (const other of ring) if (!sees.has(other)) drop(grudge, ring[i]!, other)
  }
  return { grudge, sides }
}

/** Two halves cut apart but for one node in the middle that reaches both. */
export function bridge(nodes: readonly number[], rng: Rng): { grudge: Grudge; sides: number[][] } {
  const shuffled = rng.shuffle(nodes)
  const middle = shuffled[0]!
  const rest = shuffled.slice(1)
  const k = Math.floor(rest.length / 2)
  const a = rest.slice(0, k).sort(byNumber)
  const b = rest.slice(k).sort(byNumber)
  return { grudge: cut(a, b), sides: [[...a, middle].sort(byNumber), [...b, middle].sort(byNumber)] }
}

export function makeGrudge(kind: GrudgeKind, nodes: readonly number[], rng: Rng): { grudge: Grudge; sides: number[][] } {
  switch (kind) {
    case 'halves':
      return randomHalves(nodes, rng)
    case 'isolate':
      return isolateOne(nodes, rng)
    case 'majorities-ring':
      return majoritiesRing(nodes, rng)
    case 'bridge':
      return bridge(nodes, rng)
  }
}

/** Whether `a` can reach `b` through nodes the grudge allows (a path, not only a direct link). */
export function reachable(grudge: Grudge, nodes: readonly number[], a: number, b: number): boolean {
  const seen = new Set([a])
  const queue = [a]
  while (queue.length > 0) {
    const x = queue.shift()!
    if (x === b) return true
    for (const y of nodes) {
      if (!seen.has(y) && grudge.get(x)?.has(y) !== true) {
        seen.add(y)
        queue.push(y)
      }
    }
  }
  return false
}

/** The grudge as plain JSON: node → sorted list it drops. */
export function grudgeJson(grudge: Grudge): Record<string, number[]> {
  const out: Record<string, number[]> = {}
  for (const [k, v] of [...grudge].sort((x, y) => x[0] - y[0])) out[String(k)] = [...v].sort(byNumber)
  return out
}

function byNumber(a: number, b: number): number {
  return a - b
}
