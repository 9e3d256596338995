/** Readings taken from every node of a cluster at a moment: counters, CPU, and what they served. */
import type { Cluster } from './cluster.ts'
import type { NodeCounters } from './counters.ts'
import type { ProbeEvent } from './probe.ts'
import { sumCounters } from './report.ts'

export async function totals(cluster: Cluster): Promise<{ sum: NodeCounters; each: NodeCounters[] }> {
  const each = await Promise.all(cluster.nodes.map(async (n) => await n.counters()))
  return { sum: sumCounters(each), each }
}

/** CPU seconds used so far: this process's in one process, else each child's (a restart resets it). */
export async function cpuSeconds(cluster: Cluster): Promise<number[]> {
  const each = await Promise.all(cluster.nodes.map(async (n) => await n.cpuSeconds()))
  if (each.every((c) => c == null)) {
    const { user, system } = process.cpuUsage()
    return [(user + system) / 1e6]
  }
  return each.map((c) => c ?? 0)
}

/** CPU used between two cpuSeconds() readings (a process that restarted counts from 0). */
export function cpuBetween(a: readonly number[], b: readonly number[]): number {
  return b.reduce((sum, x, i) => sum + (x >= (a[i] ?? 0) ? x - (a[i] ?? 0) : x), 0)
}

/**
 * Segment requests each node served (busy answers, which send no bytes, not counted): a recorder
 * every node fetches from carries the fan-out.
 */
export function requestsAnswered(cluster: Cluster, events: readonly ProbeEvent[]): number[] {
  const nodeOf = new Map(cluster.nodes.map((n) => [new URL(n.publicUrl).origin, n.id]))
  const answered = cluster.nodes.map(() => 0)
  for (const e of events) {
    const id = (e.type === 'fetch-request' || e.type === 'fetch-busy') && e.peer != null ? nodeOf.get(new URL(e.peer).origin) : undefined
    if (id != null) answered[id]! += e.type === 'fetch-request' ? 1 : -1
  }
  return answered
}
